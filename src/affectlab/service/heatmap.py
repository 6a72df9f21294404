"""Grad-CAM overlays for the service: one transparent PNG the size of the image, maps on the faces."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from affectlab.data.media import to_gray

__all__ = ["face_heatmaps", "png_data_url"]


def face_heatmaps(
    analyzer: Any, image: np.ndarray, explainer: Any, *, boxes: Sequence[Sequence[int]] | None = None
) -> np.ndarray:
    """RGBA uint8 ``(H, W, 4)``: each face box holds its Grad-CAM map (JET colours, opaque), the rest is clear.

    ``explainer`` is the explainer class (e.g. :class:`affectlab.explain.GradCAM`); each map explains
    the predicted class of its face. Maps of aligned (rotated) crops are drawn upright in the box.
    ``boxes`` (``[x, y, w, h]`` each): only the faces with these boxes get a map (all when ``None``).
    """
    from affectlab.viz.heatmap import colorize

    height, width = image.shape[:2]
    overlay = np.zeros((height, width, 4), np.uint8)
    faces = analyzer.preprocess(image)
    if boxes is not None:
        wanted = {tuple(int(v) for v in box) for box in boxes}
        faces = [f for f in faces if tuple(f.box.as_list()) in wanted]
    if not faces:
        return overlay
    crops = np.stack([f.image for f in faces])
    if analyzer.model.config.channels == 1 and crops.ndim == 4:
        crops = np.stack([to_gray(c) for c in crops])
    if crops.ndim == 4:  # (N, H, W, C) -> (N, C, H, W)
        crops = crops.transpose(0, 3, 1, 2)
    with explainer(analyzer.model) as cam:
        maps = cam(crops).maps
    for face, heat in zip(faces, maps):
        x, y, w, h = face.box.as_list()
        w, h = min(w, width - x), min(h, height - y)
        if w < 1 or h < 1:
            continue
        colored = colorize(cv2.resize(np.asarray(heat, np.float32), (w, h), interpolation=cv2.INTER_LINEAR))
        overlay[y : y + h, x : x + w, :3] = colored
        overlay[y : y + h, x : x + w, 3] = 255
    return overlay


def png_data_url(image: np.ndarray) -> str:
    """An RGB or RGBA uint8 image as a ``data:image/png;base64,...`` URL.

    >>> png_data_url(np.zeros((2, 2, 4), np.uint8))[:22]
    'data:image/png;base64,'
    """
    code = cv2.COLOR_RGBA2BGRA if image.shape[-1] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, code))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 PNG
        raise ValueError("could not encode the heatmap as PNG")
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode("ascii")
