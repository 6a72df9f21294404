"""Writing figures: one place that turns a matplotlib Figure into a PNG file."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

__all__ = ["save_figure"]


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG to ``path`` (its folder must exist); returns the path."""
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path
