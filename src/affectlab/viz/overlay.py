"""Drawing analysis results on images (RGB in, RGB out; BGR only at the file boundary)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from affectlab.errors import MediaReadError

__all__ = ["EXPRESSION_COLORS", "check_image_path", "draw_faces", "save_rgb"]

#: Fixed RGB colour per expression, so a label always has the same colour.
EXPRESSION_COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (220, 40, 40),
    "disgust": (120, 160, 40),
    "fear": (150, 60, 200),
    "happy": (250, 200, 0),
    "sad": (40, 110, 220),
    "surprise": (250, 120, 20),
    "neutral": (200, 200, 200),
}


def draw_faces(
    image: np.ndarray,
    boxes: Sequence[Sequence[int]],
    labels: Sequence[str],
    scores: Sequence[float] | None = None,
    landmarks: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """A copy of an RGB uint8 ``image`` with each ``[x, y, w, h]`` box and its label drawn.

    ``landmarks``: per face, ``(N, 2)`` points in image pixels (or ``None``), drawn as dots.
    """
    canvas = np.ascontiguousarray(image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))
    thickness = max(1, round(min(canvas.shape[:2]) / 250))
    font_scale = max(0.4, min(canvas.shape[:2]) / 900)
    for i, ((x, y, w, h), label) in enumerate(zip(boxes, labels)):
        color = EXPRESSION_COLORS.get(label, (0, 255, 0))
        cv2.rectangle(canvas, (int(x), int(y)), (int(x + w), int(y + h)), color, thickness)
        points = None if landmarks is None or i >= len(landmarks) else landmarks[i]
        if points is not None:
            radius = max(1, round(w / 60))
            for px, py in np.asarray(points, dtype=np.float64).reshape(-1, 2):
                # continuous coordinates -> the pixel the point lies in
                cv2.circle(canvas, (int(px), int(py)), radius, color, -1, cv2.LINE_AA)
        text = label if scores is None else f"{label} {scores[i]:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = max(0, int(y) - th - base - 2)
        cv2.rectangle(canvas, (int(x), top), (int(x) + tw + 4, top + th + base + 2), color, -1)
        cv2.putText(canvas, text, (int(x) + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                    thickness, cv2.LINE_AA)
    return canvas


def check_image_path(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` if OpenCV can write an image there by its suffix.

    Call it before long work so a bad output name fails at once.

    Raises
    ------
    MediaReadError
        The suffix names no format OpenCV writes (e.g. none, ``.txt``); the message names the path.

    >>> check_image_path("panel.png").name
    'panel.png'
    """
    path = Path(path)
    if not cv2.haveImageWriter(str(path)):
        raise MediaReadError(f"{path}: cannot write an image with suffix {path.suffix or '(none)'!r}; "
                             "use .png or .jpg")
    return path


def save_rgb(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB (or gray) uint8 image; the format follows the suffix.

    Raises :class:`~affectlab.errors.MediaReadError` naming the path when the suffix names no image
    format or the file cannot be written.
    """
    path = check_image_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MediaReadError(f"{path}: cannot create its folder ({exc.strerror or exc})") from None
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    try:
        written = cv2.imwrite(str(path), bgr)
    except cv2.error as exc:
        raise MediaReadError(f"{path}: could not write image ({str(exc).strip().splitlines()[-1]})") from None
    if not written:
        raise MediaReadError(f"{path}: could not write image")
    return path
