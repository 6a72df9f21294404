"""Heatmaps as colours: a fixed colour scale and overlays on faces (RGB uint8 out).

The colour scale is OpenCV's JET (0 = dark blue, 0.5 = green, 1 = dark red) for ``[0, 1]``
maps, and a gray scale for signed gradient displays (0.5 = no effect).

Examples
--------
>>> import numpy as np
>>> colorize(np.array([[0.0, 1.0]])).shape
(1, 2, 3)
>>> overlay_heatmap(np.zeros((4, 4), np.uint8), np.ones((2, 2))).shape
(4, 4, 3)
"""

from __future__ import annotations

import cv2
import numpy as np

from affectlab.data.media import to_rgb
from affectlab.viz.text import text_cell

__all__ = ["colorize", "overlay_heatmap", "to_uint8", "gray_display", "upscale", "pair_heatmap_figure"]


def to_uint8(values: np.ndarray) -> np.ndarray:
    """``[0, 1]`` floats -> uint8 (clipped, rounded)."""
    return np.clip(np.rint(np.asarray(values, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """An ``(H, W)`` map in ``[0, 1]`` as RGB uint8 with the JET colour scale."""
    bgr = cv2.applyColorMap(to_uint8(heatmap), cv2.COLORMAP_JET)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def gray_display(values: np.ndarray) -> np.ndarray:
    """An ``(H, W)`` map in ``[0, 1]`` as a gray RGB uint8 image."""
    return to_rgb(to_uint8(values))


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45) -> np.ndarray:
    """Blend the coloured ``heatmap`` over ``image`` (gray/RGB uint8), resizing the map to it."""
    base = to_rgb(np.asarray(image, dtype=np.uint8))
    h, w = base.shape[:2]
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    blended = (1.0 - alpha) * base.astype(np.float32) + alpha * colorize(heat).astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def upscale(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an image so its height is ``size`` pixels (nearest neighbour keeps pixels visible)."""
    h, w = image.shape[:2]
    if h == size:
        return image
    width = max(1, round(w * size / h))
    interp = cv2.INTER_NEAREST if size > h else cv2.INTER_AREA
    return cv2.resize(image, (width, size), interpolation=interp)


def pair_heatmap_figure(a: np.ndarray, b: np.ndarray, same_a: np.ndarray, same_b: np.ndarray,
                        different_a: np.ndarray, different_b: np.ndarray, *, probability: float | None = None,
                        truth: str | None = None, cell: int = 112) -> np.ndarray:
    """One pair as a strip: face A | face B | "same" on A | on B | "different" on A | on B.

    Faces are gray/RGB uint8 ``(H, W)``; maps ``(H, W)`` in ``[0, 1]``. A title line gives
    ``P(same)`` and the truth when known.
    """
    faces = [upscale(to_rgb(np.asarray(f, np.uint8)), cell) for f in (a, b)]
    cells = faces + [overlay_heatmap(faces[k % 2], m) for k, m in
                     enumerate((same_a, same_b, different_a, different_b))]
    width = cells[0].shape[1]
    titles = ("face A", "face B", "same: A", "same: B", "different: A", "different: B")
    header = np.concatenate([text_cell(t, (22, width), background=(0, 0, 0)) for t in titles], axis=1)
    strip = np.concatenate(cells, axis=1)
    lines = [header, strip]
    if probability is not None or truth is not None:
        text = " ".join(x for x in (f"P(same) = {probability:.2f}" if probability is not None else "",
                                    f"truth: {truth}" if truth else "") if x)
        lines.insert(0, text_cell(text, (24, strip.shape[1]), background=(40, 40, 40)))
    return np.concatenate(lines, axis=0)
