"""Which face regions decide: shares of fooling changes and of CAM heat in fixed regions of aligned faces.

A *layout* places six regions (forehead, eyes, nose, cheeks, mouth, chin) as rectangles on an aligned
face, in fractions of its height and width (top, bottom, left, right); pixels in no region are ``other``
(hair, ears, background, jaw line). Where rectangles would overlap, the region listed first keeps the pixel.
Two layouts are defined, each read off the mean face of its dataset:

- ``face48``: tight face crops, eyes at about 0.38 of the height (FER2013's 48 x 48 faces, CK+48, the
  aligned crops of ``affectlab analyze``);
- ``orl128``: ORL's 92 x 112 head-and-shoulders photographs padded to a square with their edge values and
  resized to 128 x 128, eyes at about 0.45 of the height.

:func:`region_shares` gives, per face, the share of a non-negative map (a Grad-CAM heatmap, or a mask of
the top bands of a fooling difference map) that falls in each region; :func:`region_table` averages them
over faces beside each region's share of the area, so a region that takes more than its area is one
the model leans on.

Examples
--------
>>> masks = region_masks("face48", (48, 48))
>>> list(masks)
['forehead', 'eyes', 'nose', 'cheeks', 'mouth', 'chin', 'other']
>>> int(sum(m.sum() for m in masks.values()))       # every pixel in exactly one region
2304
>>> heat = np.zeros((1, 48, 48)); heat[0, masks["nose"]] = 1.0
>>> region_shares(heat, masks)[0].round(2).tolist()
[0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from affectlab.errors import ConfigError

__all__ = ["FACE_REGIONS", "REGION_LAYOUTS", "RegionTable", "region_masks", "region_shares", "region_table"]

#: The six face regions, in the order of tables and plots (``other`` comes last).
FACE_REGIONS: tuple[str, ...] = ("forehead", "eyes", "nose", "cheeks", "mouth", "chin")

#: layout -> region -> rectangles ``(top, bottom, left, right)`` in fractions of the face's height and width.
REGION_LAYOUTS: dict[str, dict[str, tuple[tuple[float, float, float, float], ...]]] = {
    "face48": {
        "forehead": ((0.04, 0.30, 0.20, 0.80),),
        "eyes": ((0.30, 0.46, 0.14, 0.86),),
        "nose": ((0.46, 0.64, 0.38, 0.62),),
        "cheeks": ((0.46, 0.70, 0.12, 0.38), (0.46, 0.70, 0.62, 0.88)),
        "mouth": ((0.64, 0.82, 0.30, 0.70),),
        "chin": ((0.82, 1.00, 0.30, 0.70),),
    },
    "orl128": {
        "forehead": ((0.16, 0.38, 0.28, 0.72),),
        "eyes": ((0.38, 0.52, 0.24, 0.76),),
        "nose": ((0.52, 0.68, 0.40, 0.60),),
        "cheeks": ((0.52, 0.72, 0.24, 0.40), (0.52, 0.72, 0.60, 0.76)),
        "mouth": ((0.68, 0.80, 0.36, 0.64),),
        "chin": ((0.80, 0.94, 0.36, 0.64),),
    },
}


def region_masks(layout: str | Mapping[str, Sequence[Sequence[float]]], size: tuple[int, int]
                 ) -> dict[str, np.ndarray]:
    """Boolean ``(H, W)`` masks of the regions of ``layout`` (a name of :data:`REGION_LAYOUTS` or such a mapping)
    for faces of ``size`` = (height, width), plus ``other``; every pixel is in exactly one mask."""
    if isinstance(layout, str):
        if layout not in REGION_LAYOUTS:
            raise ConfigError(f"regions.layout {layout!r} is unknown (known: {', '.join(REGION_LAYOUTS)})")
        layout = REGION_LAYOUTS[layout]
    h, w = int(size[0]), int(size[1])
    taken = np.zeros((h, w), bool)
    masks: dict[str, np.ndarray] = {}
    for name, rects in layout.items():
        mask = np.zeros((h, w), bool)
        for rect in rects:
            top, bottom, left, right = (float(v) for v in rect)
            if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
                raise ConfigError(f"region {name}: rectangle {list(rect)} must be fractions 0 <= top < bottom <= 1, "
                                  "0 <= left < right <= 1")
            mask[round(top * h): round(bottom * h), round(left * w): round(right * w)] = True
        masks[name] = mask & ~taken
        taken |= mask
    masks["other"] = ~taken
    return masks


def region_shares(maps: np.ndarray, masks: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(N, R)``: for each of ``N`` non-negative maps ``(N, H, W)``, the share of its total in each of the ``R``
    masks (in the masks' order); a map with total 0 gives a row of NaN."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    shape = next(iter(masks.values())).shape
    if maps.ndim != 3 or maps.shape[1:] != shape:
        raise ConfigError(f"region shares: maps of shape {maps.shape[1:]} but region masks of {shape}")
    if np.any(maps < 0):
        raise ConfigError("region shares: maps must be non-negative")
    total = maps.sum(axis=(1, 2))
    sums = np.stack([(maps * m).sum(axis=(1, 2)) for m in masks.values()], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[:, None] > 0, sums / total[:, None], np.nan)


@dataclass
class RegionTable:
    """Mean region shares of several maps of the same faces.

    Attributes
    ----------
    regions
        Region names (the layout's, then ``other``).
    area
        ``(R,)`` each region's share of the face's pixels.
    shares
        source name (e.g. ``"fooling top bands"``, ``"Grad-CAM"``) -> ``(R,)`` mean share over the faces.
    n_faces
        source name -> number of faces averaged (faces whose map is all zero are left out).
    """

    regions: list[str]
    area: np.ndarray
    shares: dict[str, np.ndarray] = field(default_factory=dict)
    n_faces: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """One mapping per region: ``region``, ``area`` and per source its share and its ``/area`` ratio."""
        out = []
        for r, name in enumerate(self.regions):
            row: dict[str, Any] = {"region": name, "area": round(float(self.area[r]), 4)}
            for source, values in self.shares.items():
                row[source] = round(float(values[r]), 4)
                row[f"{source} / area"] = round(float(values[r] / self.area[r]), 3) if self.area[r] else None
            out.append(row)
        return out

    def markdown(self) -> str:
        """The table in Markdown: region, area %, then per source its % and its ratio to the area."""
        sources = list(self.shares)
        head = "| region | area % | " + " | ".join(f"{s} % | {s} / area" for s in sources) + " |"
        rule = "| --- | ---: | " + " | ".join("---: | ---:" for _ in sources) + " |"
        lines = [head, rule]
        for r, name in enumerate(self.regions):
            cells = [f"{100 * self.shares[s][r]:.1f} | {self.shares[s][r] / self.area[r]:.2f}" for s in sources]
            lines.append(f"| {name} | {100 * self.area[r]:.1f} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def region_table(masks: Mapping[str, np.ndarray], maps: Mapping[str, np.ndarray]) -> RegionTable:
    """Average :func:`region_shares` of each named stack of maps ``(N, H, W)`` over its faces.

    Examples
    --------
    >>> masks = region_masks("orl128", (128, 128))
    >>> table = region_table(masks, {"uniform": np.ones((2, 128, 128))})
    >>> bool(np.allclose(table.shares["uniform"], table.area))   # a flat map takes each region's area
    True
    """
    names = list(masks)
    area = np.array([m.mean() for m in masks.values()])
    table = RegionTable(names, area)
    for source, stack in maps.items():
        shares = region_shares(stack, masks)
        kept = ~np.isnan(shares).any(axis=1)
        table.shares[source] = shares[kept].mean(axis=0) if kept.any() else np.full(len(names), np.nan)
        table.n_faces[source] = int(kept.sum())
    return table
