"""Reading images from disk or memory with one clear error per bad file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from affectlab.errors import ConfigError, MediaReadError

__all__ = ["read_image", "to_gray", "to_rgb", "sample_photo", "pixel_values_problem", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"})
ColorMode = Literal["rgb", "gray"]


def read_image(path: str | Path, *, mode: ColorMode = "rgb") -> np.ndarray:
    """Read an image file as uint8, RGB ``(H, W, 3)`` or gray ``(H, W)``.

    Raises
    ------
    MediaReadError
        The file is missing, empty, not an image or corrupt; the message names the file.
    ConfigError
        ``mode`` is neither ``"rgb"`` nor ``"gray"``.

    Examples
    --------
    >>> import tempfile, cv2, numpy as np
    >>> p = tempfile.mktemp(suffix=".png"); _ = cv2.imwrite(p, np.zeros((4, 5, 3), np.uint8))
    >>> read_image(p).shape, read_image(p, mode="gray").shape
    ((4, 5, 3), (4, 5))
    """
    if mode not in ("rgb", "gray"):
        raise ConfigError(f"read_image: mode must be 'rgb' or 'gray', got {mode!r}")
    path = Path(path)
    if not path.exists():
        raise MediaReadError(f"{path}: file not found")
    if path.is_dir():
        raise MediaReadError(f"{path}: is a directory, expected an image file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise MediaReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise MediaReadError(f"{path}: empty file")
    flag = cv2.IMREAD_GRAYSCALE if mode == "gray" else cv2.IMREAD_COLOR
    image = cv2.imdecode(data, flag)
    if image is None:
        raise MediaReadError(f"{path}: not a readable image (corrupt or unsupported format)")
    if mode == "rgb":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def pixel_values_problem(images: np.ndarray) -> str | None:
    """Why an image array is not uint8 (0..255) or finite floats in ``[0, 1]``; ``None`` when it is.

    The one rule of every array input (detector, explainers, Siamese training): 0..255 floats or
    NaN would otherwise be read as nonsense without a word. Callers raise their own error with it.

    >>> pixel_values_problem(np.array([[0.0, 255.0]]))
    'float values must lie in [0, 1], got values in [0, 255] (divide 0..255 images by 255, or pass uint8)'
    >>> pixel_values_problem(np.zeros((2, 2), np.uint8)) is None
    True
    """
    if images.dtype == np.uint8:
        return None
    if not np.issubdtype(images.dtype, np.floating):
        return f"expected uint8 (0..255) or float in [0, 1], got dtype {images.dtype}"
    if images.size and not np.all(np.isfinite(images)):
        return "float values must be finite (NaN or inf found)"
    if images.size and (images.min() < 0.0 or images.max() > 1.0):
        return (f"float values must lie in [0, 1], got values in [{float(images.min()):g}, {float(images.max()):g}]"
                " (divide 0..255 images by 255, or pass uint8)")
    return None


def to_gray(image: np.ndarray) -> np.ndarray:
    """RGB ``(H, W, 3)`` or gray ``(H, W)`` uint8 -> gray ``(H, W)`` uint8."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        return cv2.cvtColor(np.ascontiguousarray(image), code)
    raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Gray ``(H, W)`` or RGB(A) uint8 -> RGB ``(H, W, 3)`` uint8."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")


def sample_photo() -> np.ndarray:
    """The built-in sample face: scikit-image's public-domain astronaut photograph (RGB uint8)."""
    from skimage import data

    return data.astronaut()
