"""The fooling figure: original | difference map | adversarial (RGB uint8).

Examples
--------
>>> import numpy as np
>>> original = np.zeros((48, 48)); adversarial = original.copy(); adversarial[10, 10] = 0.15
>>> fooling_figure(original, adversarial, cell=96).shape
(124, 288, 3)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from affectlab.explain.fooling import difference_map
from affectlab.viz.heatmap import to_uint8
from affectlab.viz.overlay import save_rgb
from affectlab.viz.panel import text_cell

__all__ = ["fooling_figure", "save_fooling_figure"]


def _as_display(image: np.ndarray) -> np.ndarray:
    """``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` in [0, 1] or uint8 -> RGB uint8."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    u8 = arr if arr.dtype == np.uint8 else to_uint8(arr)
    return u8 if u8.ndim == 3 else cv2.cvtColor(u8, cv2.COLOR_GRAY2RGB)


def _channels_last(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    return arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr


def fooling_figure(original: np.ndarray, adversarial: np.ndarray, *, cell: int = 192,
                   titles: tuple[str, str, str] = ("original", "difference", "adversarial"),
                   scale: str | float | None = "rank") -> np.ndarray:
    """Three cells side by side with titles: original, :func:`difference_map`, adversarial.

    Images are ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` floats in ``[0, 1]`` (or uint8); ``scale``
    is passed to :func:`~affectlab.explain.difference_map` (default: the changes' ranks).
    """
    colours = difference_map(_channels_last(original).astype(np.float64),
                             _channels_last(adversarial).astype(np.float64), scale=scale)
    cells = [_as_display(original), colours, _as_display(adversarial)]
    cells = [cv2.resize(c, (cell, cell), interpolation=cv2.INTER_NEAREST) for c in cells]
    header = np.concatenate([text_cell(t, (28, cell), background=(0, 0, 0)) for t in titles], axis=1)
    return np.concatenate([header, np.concatenate(cells, axis=1)], axis=0)


def save_fooling_figure(path: str | Path, original: np.ndarray, adversarial: np.ndarray, **kwargs) -> Path:
    """Write :func:`fooling_figure` to ``path`` (format from the suffix)."""
    return save_rgb(fooling_figure(original, adversarial, **kwargs), path)
