"""Face images for the identity networks: padded to a square frame, then resized.

ORL's originals are 92 x 112 (width x height). The 128 x 128 networks take them padded to 112 x 112
with their own edge values (10 columns left and right: the first and last column repeated, so no
black bars enter the input) and resized to 128 x 128 (``images: {size: [128, 128], square: edge}`` in
an experiment file). ``square: none`` resizes without padding (the aspect changes when the size's does
not match the image's).

Examples
--------
>>> img = np.arange(6, dtype=np.uint8).reshape(3, 2)
>>> square_frame(img).tolist()                   # one column added on the right, repeating the edge
[[0, 1, 1], [2, 3, 3], [4, 5, 5]]
>>> parse_images({"size": 128, "square": "edge"})
((128, 128), 'edge')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from affectlab.checks import is_integer
from affectlab.errors import ConfigError

__all__ = ["SQUARE_MODES", "parse_images", "prepare_faces", "square_frame"]

#: ``images.square`` values: ``edge`` pads the shorter side with the image's edge values; ``none`` does not pad.
SQUARE_MODES = ("edge", "none")


def square_frame(image: np.ndarray) -> np.ndarray:
    """Pad a gray ``(H, W)`` (or ``(H, W, C)``) image to a square with its edge values, centred (an odd
    difference puts the extra row or column at the bottom or right)."""
    h, w = image.shape[:2]
    if h == w:
        return image
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    pad = [(top, side - h - top), (left, side - w - left)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="edge")


def prepare_faces(images: np.ndarray | list[np.ndarray], size: tuple[int, int], square: str = "edge") -> np.ndarray:
    """Gray uint8 images (any sizes) -> ``(N, H, W)`` uint8 of ``size`` = (height, width), each first padded to a
    square when ``square == "edge"``; shrinking uses area averaging, enlarging bilinear interpolation."""
    import cv2

    if square not in SQUARE_MODES:
        raise ConfigError(f"images.square must be one of {', '.join(SQUARE_MODES)}, got {square!r}")
    out = []
    for image in images:
        framed = square_frame(np.asarray(image)) if square == "edge" else np.asarray(image)
        if framed.shape[:2] != tuple(size):
            shrink = framed.shape[0] > size[0] or framed.shape[1] > size[1]
            framed = cv2.resize(framed, (size[1], size[0]),
                                interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        out.append(framed)
    return np.stack(out) if out else np.zeros((0, *size), np.uint8)


def parse_images(value: Any, default_size: tuple[int, int] = (128, 128),
                 default_square: str = "edge") -> tuple[tuple[int, int], str]:
    """``(size, square)`` from an experiment file's ``images`` mapping (``size: 128`` or ``[h, w]``; ``square``)."""
    if value is None:
        return default_size, default_square
    if not isinstance(value, Mapping):
        raise ConfigError(f"images must be a mapping, got {value!r}")
    unknown = sorted(set(value) - {"size", "square"})
    if unknown:
        raise ConfigError(f"images: unknown key(s) {', '.join(unknown)} (known: size, square)")
    size = value.get("size", list(default_size))
    if is_integer(size) and size > 0:
        size = (int(size), int(size))
    elif isinstance(size, list | tuple) and len(size) == 2 and all(is_integer(v) and v > 0 for v in size):
        size = (int(size[0]), int(size[1]))
    else:
        raise ConfigError(f"images.size must be a positive integer or [height, width], got {size!r}")
    square = value.get("square", default_square)
    if square not in SQUARE_MODES:
        raise ConfigError(f"images.square must be one of {', '.join(SQUARE_MODES)}, got {square!r}")
    return size, square
