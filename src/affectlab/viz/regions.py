"""Drawing the face-region analysis: grouped bars of region shares, and the regions over a face.

Examples
--------
>>> import numpy as np
>>> from affectlab.explain.regions import region_masks, region_table
>>> masks = region_masks("face48", (48, 48))
>>> table = region_table(masks, {"Grad-CAM": np.random.default_rng(0).random((3, 48, 48))})
>>> plot_region_table(table).axes[0].get_ylabel()
'share of the map (%)'
>>> region_layout_image(np.full((48, 48), 128, np.uint8), masks, cell=96).shape
(96, 96, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

from affectlab.explain.regions import RegionTable
from affectlab.viz.figure import save_figure

__all__ = ["REGION_COLOURS", "plot_region_table", "region_layout_image", "save_region_plot"]

#: RGB colour of each region in :func:`region_layout_image` (``other`` is left undrawn).
REGION_COLOURS: dict[str, tuple[int, int, int]] = {
    "forehead": (31, 119, 180), "eyes": (255, 127, 14), "nose": (44, 160, 44), "cheeks": (214, 39, 40),
    "mouth": (148, 103, 189), "chin": (140, 86, 75),
}


def plot_region_table(table: RegionTable, *, title: str | None = None) -> Figure:
    """Grouped bars per region: its share of the area, then each source's mean share (in %)."""
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    series = {"area": table.area, **table.shares}
    x = np.arange(len(table.regions))
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, 100 * np.asarray(values), width,
               label=name if name == "area" else f"{name} (n={table.n_faces.get(name, 0)})",
               color="0.75" if name == "area" else None)
    ax.set_xticks(x, table.regions)
    ax.set_ylabel("share of the map (%)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def save_region_plot(table: RegionTable, path: str | Path, *, title: str | None = None) -> Path:
    """Write :func:`plot_region_table` as a PNG."""
    return save_figure(plot_region_table(table, title=title), path)


def region_layout_image(face: np.ndarray, masks: Mapping[str, np.ndarray], *, cell: int = 256) -> np.ndarray:
    """A gray face ``(H, W)`` (uint8) enlarged to ``cell`` pixels with each region's outline and name drawn in its
    colour; RGB uint8."""
    rgb = cv2.cvtColor(cv2.resize(np.asarray(face, np.uint8), (cell, cell), interpolation=cv2.INTER_LINEAR),
                       cv2.COLOR_GRAY2RGB)
    for name, mask in masks.items():
        if name not in REGION_COLOURS or not mask.any():
            continue
        big = cv2.resize(mask.astype(np.uint8), (cell, cell), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(rgb, contours, -1, REGION_COLOURS[name], 1)
        ys, xs = np.nonzero(big)
        cv2.putText(rgb, name, (int(xs.min()) + 2, int(ys.min()) + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3,
                    REGION_COLOURS[name], 1, cv2.LINE_AA)
    return rgb
