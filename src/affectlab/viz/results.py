"""Results bar charts: one bar per method, for ``affectlab report --plot``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_results"]


def plot_results(table: Sequence[dict[str, Any]], metric: str = "accuracy", *, title: str | None = None) -> Figure:
    """Horizontal bars of ``metric`` per row (``run: method``), in the table's order, top first.

    Rows without the metric are left out. For accuracy, the fold standard deviation
    (``fold_accuracy_std``) is drawn as an error bar where the row has it.

    Examples
    --------
    >>> rows = [{"run": "ck", "method": "hog / svm", "accuracy": 0.9, "fold_accuracy_std": 0.03},
    ...         {"run": "ck", "method": "lbp / svm", "accuracy": 0.85}]
    >>> [t.get_text() for t in plot_results(rows).axes[0].get_yticklabels()]
    ['ck: hog / svm', 'ck: lbp / svm']
    """
    rows = [r for r in table if isinstance(r.get(metric), int | float)]
    if not rows:
        raise ValueError(f"no row has {metric!r}")
    labels = [_shorten(f"{r['run']}: {r['method']}") for r in rows]
    values = np.array([float(r[metric]) for r in rows])
    errors = None
    if metric == "accuracy":
        errors = np.array([float(r.get("fold_accuracy_std", np.nan)) for r in rows])
        errors = None if np.all(np.isnan(errors)) else np.nan_to_num(errors)
    fig = Figure(figsize=(11.0, max(2.0, 0.32 * len(rows) + 1.0)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = np.arange(len(rows))
    ax.barh(positions, values, xerr=errors, color="#4c72b0", ecolor="#333333", capsize=2)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.invert_yaxis()
    reach = values + (0.0 if errors is None else errors)
    for y, v, end in zip(positions, values, reach):
        ax.text(end, y, f"  {v:.3f}", va="center", fontsize=7)
    low, high = float(values.min()), float(reach.max())
    if 0.0 <= low and high <= 1.0:
        ax.set_xlim(max(0.0, low - 0.1), high + 0.04)
    ax.set_xlabel(metric + (" (bars: fold sd)" if errors is not None else ""))
    if title:
        ax.set_title(title)
    return fig


def _shorten(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"
