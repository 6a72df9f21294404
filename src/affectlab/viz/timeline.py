"""Emotion timelines: per-frame class probabilities of each tracked face over time.

One panel per track (time on x, probability 0..1 on y), one line per class in the fixed
:data:`~affectlab.viz.overlay.EXPRESSION_COLORS` (other class names get matplotlib's ``tab10``
colours in class order); a band under each panel shows the frame-by-frame winning class.

Examples
--------
>>> import numpy as np, tempfile
>>> from pathlib import Path
>>> t = np.arange(10) / 25.0
>>> p = np.tile([0.1, 0.6, 0.3], (10, 1))
>>> path = save_timeline([(1, t, p)], ["sad", "happy", "neutral"], Path(tempfile.mkdtemp()) / "tl.png")
>>> path.stat().st_size > 0
True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from affectlab.errors import ConfigError
from affectlab.viz.overlay import EXPRESSION_COLORS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["class_colors", "plot_timeline", "save_timeline"]

#: One track's series: ``(track id, times (n,), probabilities (n, n_classes))``.
Series = tuple[int, np.ndarray, np.ndarray]


def class_colors(class_names: Sequence[str]) -> list[tuple[float, float, float]]:
    """RGB colours in [0, 1] for ``class_names`` (fixed for the 7 expressions).

    >>> class_colors(["happy"])[0] == tuple(c / 255 for c in EXPRESSION_COLORS["happy"])
    True
    """
    from matplotlib import colormaps

    tab = colormaps["tab10"]
    out = []
    for i, name in enumerate(class_names):
        rgb = EXPRESSION_COLORS.get(str(name))
        out.append(tuple(c / 255.0 for c in rgb) if rgb is not None else tuple(tab(i % 10)[:3]))
    return out


def _check(series: Sequence[Series], class_names: Sequence[str]) -> list[Series]:
    checked = []
    for track_id, times, probs in series:
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2 or p.shape != (t.size, len(class_names)):
            raise ValueError(f"track {track_id}: expected probabilities of shape ({t.size}, {len(class_names)}), "
                             f"got {p.shape}")
        checked.append((int(track_id), t, p))
    return checked


def plot_timeline(
    series: Sequence[Series],
    class_names: Sequence[str],
    *,
    duration: float | None = None,
    title: str | None = None,
) -> Figure:
    """A figure with one probability-over-time panel per track (or a "no face" note).

    Parameters
    ----------
    series
        ``(track id, times, probabilities)`` per track; times in seconds.
    class_names
        Column order of the probabilities.
    duration
        Right end of the time axis (default: the last time).
    title
        Figure title (e.g. the video's file name).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    series = _check(series, class_names)
    colors = class_colors(class_names)
    rows = max(1, len(series))
    fig = Figure(figsize=(10, 1.2 + 2.2 * rows), dpi=100)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    end = duration if duration else max((float(t[-1]) for _, t, _ in series if t.size), default=1.0)
    end = max(end, 1e-3)
    if not series:
        axes[0].text(0.5, 0.5, "no face found", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_yticks([])
    for ax, (track_id, t, p) in zip(axes, series):
        for j, name in enumerate(class_names):
            ax.plot(t, p[:, j], color=colors[j], lw=1.4, label=name, marker="." if t.size < 30 else None)
        winner = p.argmax(axis=1)
        # a band below the curves: the winning class of each frame
        if t.size:
            edges = np.r_[t, t[-1] + (np.median(np.diff(t)) if t.size > 1 else end / 25.0)]
            for k in range(t.size):
                ax.axvspan(edges[k], edges[k + 1], ymin=0.0, ymax=0.05, color=colors[winner[k]], lw=0)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"track {track_id}\nprobability")
        ax.grid(alpha=0.3)
    axes[-1].set_xlim(0, end)
    axes[-1].set_xlabel("time (s)")
    handles = [Patch(color=colors[j], label=name) for j, name in enumerate(class_names)]
    fig.legend(handles=handles, loc="upper center", ncol=min(len(class_names), 7), frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    if title:
        fig.suptitle(title, y=0.02, fontsize=9, va="bottom")
    height = 1.2 + 2.2 * rows
    fig.tight_layout(rect=(0, 0.25 / height, 1, 1 - 0.35 / height))
    return fig


def save_timeline(
    series: Sequence[Series],
    class_names: Sequence[str],
    path: str | Path,
    *,
    duration: float | None = None,
    title: str | None = None,
) -> Path:
    """Draw :func:`plot_timeline` and write it as a PNG; returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"timeline {path}: the file name must end in .png")
    fig = plot_timeline(series, class_names, duration=duration, title=title)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    except OSError as exc:
        raise ConfigError(f"timeline {path}: cannot write ({exc.strerror or exc})") from None
    return path
