"""Confusion-matrix figures: counts in the cells, colours by row-normalised recall."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_confusion_matrix", "save_confusion_matrix"]


def plot_confusion_matrix(
    cm: np.ndarray | Sequence[Sequence[int]],
    labels: Sequence[str],
    *,
    title: str | None = None,
    cmap: str = "Blues",
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Draw a confusion matrix (rows: true class, columns: predicted class).

    Each cell shows its count; its colour is the row-normalised fraction on a fixed 0-1 scale
    (the diagonal is then the per-class recall). Uses the Agg canvas, no pyplot state.

    Parameters
    ----------
    cm
        Square count matrix ``(K, K)``.
    labels
        ``K`` class names, in the matrix's order.
    title
        Figure title.
    cmap
        Matplotlib colour map for the fractions.
    figsize
        Figure size in inches; grows with ``K`` by default.

    Examples
    --------
    >>> fig = plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b"])
    >>> fig.axes[0].get_xlabel()
    'predicted'
    """
    counts = np.asarray(cm)
    labels = [str(label) for label in labels]
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {counts.shape}")
    if counts.shape[0] != len(labels):
        raise ValueError(f"{len(labels)} labels for a {counts.shape[0]}x{counts.shape[0]} matrix")
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    k = len(labels)
    side = max(3.5, 0.6 * k + 2.0)
    fig = Figure(figsize=figsize or (side + 1.0, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(fractions, cmap=cmap, vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=9,
                    color="white" if fractions[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title)
    return fig


def save_confusion_matrix(
    cm: np.ndarray | Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Draw with :func:`plot_confusion_matrix` and write a PNG to ``path``."""
    from affectlab.viz.figure import save_figure

    return save_figure(plot_confusion_matrix(cm, labels, title=title), path, dpi=dpi)
