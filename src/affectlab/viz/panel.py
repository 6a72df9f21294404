"""Explanation panels and grids (RGB uint8 out, drawn from arrays).

:func:`explanation_panel` draws one row per face: face | predicted label | probability | guided
backpropagation | Grad-CAM overlay | guided Grad-CAM. :func:`filter_grid` and
:func:`activation_grid` tile first-layer filters or a layer's maps; :func:`side_by_side` puts
two such pictures next to each other with titles (e.g. the same layer of two networks).

Examples
--------
>>> import numpy as np
>>> row = PanelRow(face=np.zeros((48, 48), np.uint8), label="happy", probability=0.9,
...                guided=np.full((48, 48), 0.5), gradcam=np.zeros((48, 48)),
...                guided_gradcam=np.full((48, 48), 0.5))
>>> explanation_panel([row], cell=96).shape
(124, 576, 3)
>>> filter_grid(np.random.rand(8, 1, 3, 3), cell=24).shape[2]
3
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from affectlab.data.media import to_rgb
from affectlab.viz.heatmap import gray_display, overlay_heatmap, to_uint8, upscale
from affectlab.viz.overlay import EXPRESSION_COLORS
from affectlab.viz.text import FONT as _FONT
from affectlab.viz.text import text_cell

__all__ = ["PanelRow", "PANEL_COLUMNS", "explanation_panel", "filter_grid", "activation_grid", "side_by_side",
           "text_cell", "titled"]

#: Column titles of :func:`explanation_panel`.
PANEL_COLUMNS = ("face", "predicted label", "probability", "guided backprop", "Grad-CAM", "guided Grad-CAM")
_HEADER = 28


@dataclass
class PanelRow:
    """One face of an explanation panel; maps are ``(H, W)`` in ``[0, 1]``."""

    face: np.ndarray
    label: str
    probability: float
    guided: np.ndarray
    gradcam: np.ndarray
    guided_gradcam: np.ndarray


def _probability_cell(p: float, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    cell = text_cell(f"{p:.2f}", size)
    bar_h = max(4, h // 12)
    cv2.rectangle(cell, (6, h - 2 * bar_h), (w - 6, h - bar_h), (90, 90, 90), -1)
    cv2.rectangle(cell, (6, h - 2 * bar_h), (6 + round((w - 12) * float(np.clip(p, 0, 1))), h - bar_h),
                  (80, 200, 80), -1)
    return cell


def explanation_panel(rows: Sequence[PanelRow], *, cell: int = 144,
                      captions: Sequence[str] | None = None) -> np.ndarray:
    """One row per face with the columns of :data:`PANEL_COLUMNS` under a header line.

    ``captions`` (one per row, e.g. the source file) are written on the face cell.
    """
    if not rows:
        raise ValueError("explanation_panel: no rows")
    lines = [np.concatenate([text_cell(t, (_HEADER, cell), background=(0, 0, 0)) for t in PANEL_COLUMNS], 1)]
    for i, row in enumerate(rows):
        face = upscale(to_rgb(np.asarray(row.face, np.uint8)), cell)
        face = (cv2.resize(face, (cell, cell), interpolation=cv2.INTER_NEAREST) if face.shape[:2] != (cell, cell)
                else face)
        shown = np.ascontiguousarray(face.copy())
        if captions is not None and captions[i]:
            cv2.putText(shown, captions[i][:24], (3, cell - 5), _FONT, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
        resized = [cv2.resize(np.asarray(m, np.float32), (cell, cell), interpolation=cv2.INTER_LINEAR)
                   for m in (row.guided, row.gradcam, row.guided_gradcam)]
        cells = [
            shown,
            text_cell(row.label, (cell, cell), color=EXPRESSION_COLORS.get(row.label, (255, 255, 255))),
            _probability_cell(row.probability, (cell, cell)),
            gray_display(resized[0]),
            overlay_heatmap(face, resized[1]),
            gray_display(resized[2]),
        ]
        lines.append(np.concatenate(cells, axis=1))
    return np.concatenate(lines, axis=0)


def _tile(tiles: list[np.ndarray], columns: int, pad: int = 2) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = tile
    return canvas


def filter_grid(filters: np.ndarray, *, cell: int = 32, columns: int | None = None) -> np.ndarray:
    """Tile ``(K, C, kh, kw)`` filters; each is min-max scaled on its own (gray, or RGB when C=3)."""
    f = np.asarray(filters, dtype=np.float64)
    if f.ndim != 4:
        raise ValueError(f"filter_grid: expected (K, C, kh, kw) weights, got shape {f.shape}")
    tiles = []
    for k in range(len(f)):
        w = f[k]
        span = w.max() - w.min()
        w = (w - w.min()) / span if span > 0 else np.zeros_like(w)
        img = to_uint8(w.transpose(1, 2, 0)) if w.shape[0] == 3 else to_rgb(to_uint8(w.mean(0)))
        tiles.append(cv2.resize(img, (cell, cell), interpolation=cv2.INTER_NEAREST))
    return _tile(tiles, columns or int(np.ceil(np.sqrt(len(tiles)))))


def activation_grid(maps: np.ndarray, *, cell: int = 48, columns: int | None = None,
                    limit: int | None = 64) -> np.ndarray:
    """Tile the ``(K, h, w)`` maps of one image (each min-max scaled on its own, gray)."""
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 3:
        raise ValueError(f"activation_grid: expected (K, h, w) maps of one image, got shape {m.shape}")
    m = m[:limit] if limit else m
    tiles = []
    for k in range(len(m)):
        span = m[k].max() - m[k].min()
        img = (m[k] - m[k].min()) / span if span > 0 else np.zeros_like(m[k])
        tiles.append(cv2.resize(gray_display(img), (cell, cell), interpolation=cv2.INTER_NEAREST))
    return _tile(tiles, columns or int(np.ceil(np.sqrt(len(tiles)))))


def titled(image: np.ndarray, title: str) -> np.ndarray:
    """``image`` (RGB uint8) under a title line."""
    return np.concatenate([text_cell(title, (_HEADER, image.shape[1]), background=(0, 0, 0)), image], 0)


def side_by_side(images: Sequence[np.ndarray], titles: Sequence[str], *, gap: int = 8) -> np.ndarray:
    """Titled RGB pictures next to each other (padded to the tallest), e.g. two networks' maps."""
    if len(images) != len(titles) or not images:
        raise ValueError("side_by_side: give one title per image, at least one image")
    framed = [titled(to_rgb(np.asarray(im, np.uint8)), t) for im, t in zip(images, titles)]
    height = max(f.shape[0] for f in framed)
    padded = []
    for f in framed:
        out = np.full((height, f.shape[1] + gap, 3), 255, np.uint8)
        out[: f.shape[0], : f.shape[1]] = f
        padded.append(out)
    return np.concatenate(padded, axis=1)[:, :-gap]
