"""Feature-wise CCC scatter: arousal CCC (x) against valence CCC (y), one point per feature.

Points use one fixed colour (``#1f77b4``) at alpha 0.35; the top-``k`` features by
``max(|CCC_arousal|, |CCC_valence|)`` are drawn in ``#d62728`` and named. Both axes span
[-1, 1] with the zero lines drawn, so plots of different feature sets compare directly.
Uses the Agg canvas (no pyplot state).

Examples
--------
>>> import numpy as np
>>> fig = plot_ccc_scatter(np.array([0.1, -0.4]), np.array([0.6, 0.2]), names=["a", "b"], top_k=1)
>>> fig.axes[0].get_xlabel()
'CCC with arousal'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["POINT_COLOR", "TOP_COLOR", "plot_ccc_scatter", "save_ccc_scatter"]

POINT_COLOR = "#1f77b4"
TOP_COLOR = "#d62728"


def plot_ccc_scatter(
    arousal_ccc: np.ndarray,
    valence_ccc: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    top_k: int = 10,
    title: str | None = None,
    figsize: tuple[float, float] = (6.5, 6.0),
) -> Figure:
    """Scatter of per-feature CCC with arousal (x) and valence (y); the top ``k`` are labelled."""
    x = np.asarray(arousal_ccc, dtype=float).ravel()
    y = np.asarray(valence_ccc, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"arousal and valence CCC differ in length ({x.size} != {y.size})")
    if names is not None and len(names) != x.size:
        raise ValueError(f"{len(names)} names for {x.size} features")
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.axvline(0.0, color="0.6", lw=0.8)
    ax.scatter(x, y, s=8, color=POINT_COLOR, alpha=0.35, linewidths=0, label=f"{x.size} features")
    k = min(max(int(top_k), 0), x.size)
    if k:
        top = np.argsort(-np.maximum(np.abs(x), np.abs(y)), kind="stable")[:k]
        ax.scatter(x[top], y[top], s=18, color=TOP_COLOR, label=f"top {k}")
        if names is not None:
            for i in top:
                ax.annotate(str(names[i]), (x[i], y[i]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlim(-1.0, 1.0)
    ax.set_ylim(-1.0, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("CCC with arousal")
    ax.set_ylabel("CCC with valence")
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def save_ccc_scatter(arousal_ccc: np.ndarray, valence_ccc: np.ndarray, path: str | Path, **kwargs: object) -> Path:
    """Draw with :func:`plot_ccc_scatter` and save (PNG by suffix, 150 dpi)."""
    path = Path(path)
    fig = plot_ccc_scatter(arousal_ccc, valence_ccc, **kwargs)  # type: ignore[arg-type]
    fig.savefig(path, dpi=150)
    return path
