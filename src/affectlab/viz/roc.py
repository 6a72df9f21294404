"""ROC curves of verifiers on the same pairs, each with its operating point marked.

One line per verifier (true-accept rate against false-accept rate, scikit-learn's ``roc_curve``),
its AUC in the legend, and a dot where its own decisions put it. Uses the Agg canvas
(no pyplot state).

Examples
--------
>>> import numpy as np
>>> same = np.array([1, 1, 0, 0], bool)
>>> scores = np.array([0.9, 0.6, 0.4, 0.2])
>>> fig = plot_roc({"net": (scores, same, scores >= 0.5)})
>>> fig.axes[0].get_legend().get_texts()[0].get_text()
'net (AUC 1.000)'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from affectlab.viz.figure import save_figure

__all__ = ["plot_roc", "save_roc"]


def plot_roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (5.5, 5.0),
) -> Figure:
    """``curves``: name -> (scores, same, decided): the pairs' scores (higher = more alike), the truth and
    the verifier's own same/different decisions (its operating point)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1)
    for name, (scores, same, decided) in curves.items():
        scores, same, decided = (np.asarray(scores, dtype=float), np.asarray(same, dtype=bool),
                                 np.asarray(decided, dtype=bool))
        fpr, tpr, _ = roc_curve(same, scores)
        line = ax.plot(fpr, tpr, linewidth=1.6, label=f"{name} (AUC {roc_auc_score(same, scores):.3f})")[0]
        ax.plot([decided[~same].mean()], [decided[same].mean()], "o", color=line.get_color(), markersize=6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-accept rate (different pairs called same)")
    ax.set_ylabel("true-accept rate")
    ax.set_title(title or "ROC on the test pairs (dots: each verifier's decision)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def save_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: str | Path, **kwargs) -> Path:
    """Draw :func:`plot_roc` and write it as a PNG."""
    return save_figure(plot_roc(curves, **kwargs), path)
