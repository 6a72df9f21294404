"""Text drawn into image cells: the titles and labels of panels and figures.

>>> text_cell("happy", (24, 80)).shape
(24, 80, 3)
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["FONT", "text_cell"]

#: The font of every caption.
FONT = cv2.FONT_HERSHEY_SIMPLEX


def text_cell(text: str, size: tuple[int, int], *, color: tuple[int, int, int] = (255, 255, 255),
              background: tuple[int, int, int] = (30, 30, 30)) -> np.ndarray:
    """A ``size`` = (height, width) RGB cell with ``text`` centred, shrunk to fit."""
    h, w = size
    cell = np.empty((h, w, 3), np.uint8)
    cell[:] = background
    scale, thickness = max(0.35, h / 160), max(1, round(h / 100))
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    while tw > w - 6 and scale > 0.3:
        scale *= 0.9
        (tw, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    cv2.putText(cell, text, ((w - tw) // 2, (h + th) // 2), FONT, scale, color, thickness, cv2.LINE_AA)
    return cell
