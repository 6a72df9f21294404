"""Fusion-network weight maps: which member the fused decision trusts for which class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_fusion_weights"]


def plot_fusion_weights(
    weights: np.ndarray | Sequence[Sequence[float]],
    members: Sequence[str],
    classes: Sequence[str],
    *,
    title: str | None = None,
) -> Figure:
    """Draw a fusion network's weights ``W`` (members x classes) with the value in each cell.

    The colour scale is diverging and symmetric about 0 (red positive, blue negative), so a row
    shows the classes a member is trusted for. The weights multiply each member's scaled decision
    values, so they compare members only as far as those scales agree.

    Examples
    --------
    >>> fig = plot_fusion_weights([[1.0, 0.2], [0.1, 0.9]], ["lbp/svm", "hog/svm"], ["happy", "sad"])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['lbp/svm', 'hog/svm']
    """
    W = np.asarray(weights, dtype=float)
    if W.ndim != 2 or W.shape != (len(members), len(classes)):
        raise ValueError(f"weights of shape {W.shape} for {len(members)} members x {len(classes)} classes")
    m, n = W.shape
    limit = float(np.abs(W).max()) or 1.0
    fig = Figure(figsize=(max(4.0, 0.75 * n + 3.0), max(2.5, 0.35 * m + 1.5)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(W, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="weight")
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=45, ha="right")
    ax.set_yticks(range(m), [str(s) for s in members])
    ax.set_xlabel("class")
    ax.set_ylabel("member")
    for i in range(m):
        for j in range(n):
            ax.text(j, i, f"{W[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(W[i, j]) > 0.6 * limit else "black")
    if title:
        ax.set_title(title)
    return fig

