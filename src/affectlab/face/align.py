"""Face crops: square, margin-expanded, optionally rotated so the eyes are level.

Coordinates are continuous pixel coordinates of the input image: pixel ``(col, row)`` covers
``[col, col + 1) x [row, row + 1)``, so a :class:`~affectlab.face.FaceBox` ``(x, y, w, h)`` spans
``[x, x + w) x [y, y + h)`` and its centre is ``(x + w / 2, y + h / 2)``. Eye positions use the same
convention.

The crop region is the square of side ``max(w, h) * (1 + 2 * margin)`` centred on the box centre.
Parts of it outside the image are padded (black by default), so the output always has the
requested size.

Examples
--------
>>> import numpy as np
>>> from affectlab.face import FaceBox, crop_face
>>> img = np.arange(100, dtype=np.uint8).reshape(10, 10)
>>> crop_face(img, FaceBox(2, 3, 4, 4), size=4, margin=0.0).tolist()[0]
[32, 33, 34, 35]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from affectlab.checks import is_integer, is_number
from affectlab.data.media import to_gray, to_rgb
from affectlab.errors import ConfigError
from affectlab.face.detect import EyePair, FaceBox, as_uint8_image

__all__ = [
    "DOWNSCALES",
    "FER2013_EYE_FRAMING",
    "FER2013_FRAMING",
    "AlignedFace",
    "BoxFraming",
    "Downscale",
    "EyeFraming",
    "align_face",
    "align_to_box",
    "align_to_eyes",
    "crop_face",
    "crop_region",
    "eye_angle",
    "shrink",
]

ColorMode = Literal["gray", "rgb"]
BorderMode = Literal["constant", "replicate", "reflect"]
#: How a crop larger than its output is shrunk: "area" (OpenCV's INTER_AREA, a box filter) or "lanczos"
#: (Pillow's antialiased Lanczos-3, a windowed sinc: keeps more of the fine detail below the new Nyquist limit).
Downscale = Literal["area", "lanczos"]
DOWNSCALES = ("area", "lanczos")

_BORDERS = {
    "constant": cv2.BORDER_CONSTANT,
    "replicate": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT_101,
}


@dataclass
class AlignedFace:
    """One face ready for a feature extractor or network.

    Attributes
    ----------
    box : FaceBox
        The detection box in the ORIGINAL image (alignment never changes it).
    image : ndarray
        uint8 crop, ``(size, size)`` gray or ``(size, size, 3)`` RGB.
    eyes : ((float, float), (float, float)) or None
        Eye centres ``(left, right)`` in original-image coordinates (left = smaller x), if found.
    angle : float
        Degrees of in-plane rotation applied, in OpenCV's sense (positive = counter-clockwise as
        displayed); the face's measured roll is ``-angle``. 0 when not aligned.
    aligned : bool
        True when the crop was rotated using the eye positions.
    transform : ndarray or None
        2x3 affine matrix mapping original-image coordinates to crop coordinates (same
        continuous convention), e.g. to map a crop-space heatmap back onto the photo.
    landmarks : ndarray or None
        ``(N, 2)`` facial landmarks in original-image coordinates, when the detector gives them.
    pose : dict or None
        Head pose ``{"yaw", "pitch", "roll"}`` in degrees, when landmarks are known.
    """

    box: FaceBox
    image: np.ndarray
    eyes: EyePair | None
    angle: float
    aligned: bool
    transform: np.ndarray | None = field(default=None, repr=False)
    landmarks: np.ndarray | None = field(default=None, repr=False)
    pose: dict[str, float] | None = None

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` original-image points into crop coordinates."""
        if self.transform is None:
            raise ValueError("this AlignedFace carries no transform")
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return pts @ self.transform[:, :2].T + self.transform[:, 2]


@dataclass(frozen=True)
class EyeFraming:
    """Where the eyes land in a square crop, as fractions of its side.

    ``eye_x``, ``eye_y``: the midpoint between the eye centres; ``eye_distance``: the distance
    between them. :data:`FER2013_EYE_FRAMING` is where FER2013's faces have their eyes.
    """

    eye_x: float
    eye_y: float
    eye_distance: float

    def __post_init__(self) -> None:
        for name in ("eye_x", "eye_y", "eye_distance"):
            value = getattr(self, name)
            if not is_number(value) or not 0.0 < float(value) < 1.0:
                raise ConfigError(f"{name} must be a number in (0, 1), got {value!r}")

    def with_margin(self, margin: float) -> EyeFraming:
        """The same framing with ``margin`` (a fraction of the side) added on every side.

        >>> EyeFraming(0.5, 0.4, 0.36).with_margin(0.5)
        EyeFraming(eye_x=0.5, eye_y=0.45, eye_distance=0.18)
        """
        k = 1.0 + 2.0 * float(margin)
        return EyeFraming(0.5 + (self.eye_x - 0.5) / k, 0.5 + (self.eye_y - 0.5) / k, self.eye_distance / k)


#: Where FER2013 puts the eyes in its 48x48 faces (medians over 1,168 Training faces whose
#: landmarks were found; ``benchmarks/calibrate_framing.py``).
FER2013_EYE_FRAMING = EyeFraming(eye_x=0.5, eye_y=0.3993, eye_distance=0.3647)


@dataclass(frozen=True)
class BoxFraming:
    """A square crop placed on a detector box, the eye tilt beyond ``keep_tilt`` degrees levelled.

    The square's centre is the box centre moved by ``(dx, dy)`` box widths; its side is ``side``
    box widths. :data:`FER2013_FRAMING` frames dlib boxes as FER2013 framed its faces.

    >>> BoxFraming(0.0, -0.1, 1.2).square(FaceBox(10, 10, 50, 50))
    (35.0, 30.0, 60.0)
    """

    dx: float
    dy: float
    side: float
    keep_tilt: float = 0.0

    def __post_init__(self) -> None:
        for name in ("dx", "dy", "side", "keep_tilt"):
            if not is_number(getattr(self, name)) or not math.isfinite(float(getattr(self, name))):
                raise ConfigError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        if not 0.1 <= self.side <= 10.0 or not 0.0 <= self.keep_tilt <= 90.0:
            raise ConfigError(f"side must be in [0.1, 10] and keep_tilt in [0, 90], got {self.side!r}, "
                              f"{self.keep_tilt!r}")

    def square(self, box: FaceBox, margin: float = 0.0) -> tuple[float, float, float]:
        """``(cx, cy, side)`` of the crop square for ``box`` (``margin``: extra side, per side)."""
        cx, cy = box.center
        return (cx + self.dx * box.w, cy + self.dy * box.w, self.side * box.w * (1.0 + 2.0 * margin))


#: The framing the bundled expression models see: the square a Haar cascade (frontalface_alt2)
#: gives a face, placed from dlib's box of it (the fitted Haar -> dlib box map inverted), and only
#: the eye tilt beyond 10 degrees levelled, as FER2013's faces are upright within about that
#: (``benchmarks/calibrate_framing.py --compare``: on 1,099 pasted FER2013 Training faces it agreed
#: best with the model on the original crops).
FER2013_FRAMING = BoxFraming(dx=0.0028, dy=-0.0936, side=1.1249, keep_tilt=10.0)


def _check_params(size: int, margin: float, color: str, border: str) -> None:
    if not is_integer(size) or size < 1:
        raise ConfigError(f"size must be a positive int, got {size!r}")
    if not is_number(margin) or not 0.0 <= float(margin) <= 5.0:
        raise ConfigError(f"margin must be a number in [0, 5], got {margin!r}")
    if color not in ("gray", "rgb"):
        raise ConfigError(f"color must be 'gray' or 'rgb', got {color!r}")
    if border not in _BORDERS:
        raise ConfigError(f"border must be one of {', '.join(_BORDERS)}, got {border!r}")


def _check_box(box: FaceBox) -> None:
    if not isinstance(box, FaceBox):
        raise ValueError(f"box: expected a FaceBox, got {type(box).__name__}")
    if box.w < 1 or box.h < 1:
        raise ValueError(f"box: width and height must be >= 1, got {box.as_list()}")


def _convert(image: np.ndarray, color: ColorMode) -> np.ndarray:
    img = as_uint8_image(image)
    return to_gray(img) if color == "gray" else to_rgb(img)


def crop_region(box: FaceBox, margin: float) -> tuple[float, float, float]:
    """``(cx, cy, side)`` of the margin-expanded square around ``box``.

    >>> crop_region(FaceBox(10, 20, 40, 50), 0.1)
    (30.0, 45.0, 60.0)
    """
    side = max(box.w, box.h) * (1.0 + 2.0 * float(margin))
    return box.x + box.w / 2.0, box.y + box.h / 2.0, side


def eye_angle(eyes: EyePair) -> float:
    """Tilt of the eye line in degrees (image y axis points down), left = smaller x.

    Positive when the right-hand eye (as seen) is lower; rotating by this angle with
    ``cv2.getRotationMatrix2D`` levels the eyes.

    >>> round(eye_angle(((0.0, 0.0), (10.0, 10.0))), 6)
    45.0
    """
    (lx, ly), (rx, ry) = sorted((tuple(map(float, eyes[0])), tuple(map(float, eyes[1]))))
    return math.degrees(math.atan2(ry - ly, rx - lx))


def _warp(img: np.ndarray, forward: np.ndarray, size: int, side: float,
          border: BorderMode, downscale: Downscale = "area") -> tuple[np.ndarray, np.ndarray]:
    """Warp with a 2x3 ``forward`` map (input -> native-resolution crop of width ``side``).

    Downscaling goes through a native-resolution warp and an antialiased resize (``downscale``);
    upscaling is a single bilinear warp. Returns the crop and the full input->output map.
    """
    native = max(1, int(round(side)))
    if native > size:
        fwd = forward.copy()
        fwd[:, :] *= native / side  # native-res crop exactly `native` px wide
        mid = _warp_affine(img, fwd, native, border)
        out = shrink(mid, size, downscale)
        total = fwd * (size / native)
    else:
        total = forward * (size / side)
        out = _warp_affine(img, total, size, border)
    return out, total


def shrink(img: np.ndarray, size: int, method: Downscale = "area") -> np.ndarray:
    """A uint8 image (gray or RGB) resized down to ``size`` x ``size`` with ``method`` (see :data:`Downscale`).

    >>> shrink(np.full((6, 6), 7, np.uint8), 3, "lanczos").tolist()
    [[7, 7, 7], [7, 7, 7], [7, 7, 7]]
    """
    if method == "area":
        return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    if method != "lanczos":
        raise ConfigError(f"downscale must be one of {', '.join(DOWNSCALES)}, got {method!r}")
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((size, size), Image.Resampling.LANCZOS))


def _warp_affine(img: np.ndarray, m: np.ndarray, size: int, border: BorderMode) -> np.ndarray:
    # m maps continuous (edge) coords; OpenCV uses pixel-centre coords: shift by half a pixel.
    m_cv = m.copy()
    m_cv[:, 2] += m[:, :2].sum(axis=1) * 0.5 - 0.5
    flags = cv2.INTER_LINEAR
    if np.allclose(m[:, :2], np.eye(2)) and np.allclose(m[:, 2], np.round(m[:, 2])):
        flags = cv2.INTER_NEAREST  # pure integer shift: exact copy
    return cv2.warpAffine(img, m_cv, (size, size), flags=flags, borderMode=_BORDERS[border], borderValue=0)


def _crop(img: np.ndarray, box: FaceBox, size: int, margin: float, border: BorderMode) -> tuple[np.ndarray, np.ndarray]:
    cx, cy, side = crop_region(box, margin)
    native = max(1, int(round(side)))
    x0 = round(cx - native / 2.0)
    y0 = round(cy - native / 2.0)
    forward = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]])
    return _warp(img, forward, size, float(native), border)


def crop_face(
    image: np.ndarray,
    box: FaceBox,
    *,
    size: int = 48,
    margin: float = 0.1,
    color: ColorMode = "gray",
    border: BorderMode = "constant",
) -> np.ndarray:
    """Square crop around ``box`` (no rotation), resized to ``(size, size)``.

    Parameters
    ----------
    image : ndarray
        RGB / RGBA / gray image, uint8 or float in ``[0, 1]``.
    box : FaceBox
        Face box in ``image`` coordinates; it may extend past the border.
    size : int
        Output side in pixels.
    margin : float
        Added on every side as a fraction of ``max(w, h)``.
    color : {"gray", "rgb"}
        Output colour mode.
    border : {"constant", "replicate", "reflect"}
        How the area outside the image is filled (constant = black).

    Returns
    -------
    ndarray
        uint8 ``(size, size)`` or ``(size, size, 3)``.
    """
    _check_params(size, margin, color, border)
    _check_box(box)
    out, _ = _crop(_convert(image, color), box, size, margin, border)
    return out


def align_face(
    image: np.ndarray,
    box: FaceBox,
    eyes: EyePair | None,
    *,
    size: int = 48,
    margin: float = 0.1,
    color: ColorMode = "gray",
    max_angle: float = 30.0,
    border: BorderMode = "constant",
    keep_tilt: float = 0.0,
) -> AlignedFace:
    """Rotate about the eye midpoint so the eyes are level, then crop like :func:`crop_face`.

    The crop is centred on where the box centre lands after the rotation; the rotation angle is
    :func:`eye_angle` less ``keep_tilt`` degrees (tilts up to that are left alone), clipped to
    ``[-max_angle, max_angle]``. Without ``eyes`` this is a plain
    :func:`crop_face` with ``aligned=False`` and ``angle=0``. The returned ``box`` is ``box``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((100, 100), np.uint8)
    >>> face = align_face(img, FaceBox(20, 20, 60, 60), ((35.0, 40.0), (65.0, 50.0)), size=32)
    >>> face.image.shape, face.aligned, round(face.angle, 2)
    ((32, 32), True, 18.43)
    """
    _check_params(size, margin, color, border)
    _check_box(box)
    if not 0.0 <= float(max_angle) <= 180.0:
        raise ConfigError(f"max_angle must be in [0, 180], got {max_angle!r}")
    img = _convert(image, color)
    if eyes is None:
        out, total = _crop(img, box, size, margin, border)
        return AlignedFace(box=box, image=out, eyes=None, angle=0.0, aligned=False, transform=total)
    try:
        left, right = sorted((tuple(map(float, eyes[0])), tuple(map(float, eyes[1]))))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"eyes: expected ((x, y), (x, y)), got {eyes!r}") from None
    if not all(map(math.isfinite, (*left, *right))):
        raise ValueError(f"eyes: coordinates must be finite, got {eyes!r}")
    tilt = eye_angle((left, right))
    angle = float(np.clip(math.copysign(max(abs(tilt) - keep_tilt, 0.0), tilt), -max_angle, max_angle))
    mid = ((left[0] + right[0]) / 2.0, (left[1] + right[1]) / 2.0)
    rot = cv2.getRotationMatrix2D(mid, angle, 1.0)  # valid in continuous coords (pure rotation)
    cx, cy, side = crop_region(box, margin)
    ccx, ccy = rot @ np.array([cx, cy, 1.0])
    forward = rot.copy()
    forward[:, 2] -= (ccx - side / 2.0, ccy - side / 2.0)
    out, total = _warp(img, forward, size, side, border)
    return AlignedFace(box=box, image=out, eyes=(left, right), angle=angle, aligned=True, transform=total)


def align_to_eyes(
    image: np.ndarray,
    box: FaceBox,
    eyes: EyePair,
    framing: EyeFraming,
    *,
    size: int = 48,
    color: ColorMode = "gray",
    max_angle: float = 45.0,
    keep_tilt: float = 0.0,
    border: BorderMode = "replicate",
    downscale: Downscale = "area",
) -> AlignedFace:
    """Rotate, scale and shift so the eyes land where ``framing`` puts them in a ``size`` crop.

    The crop is a similarity transform of the image: the eye line is turned towards level, all
    but ``keep_tilt`` degrees of its tilt (a model trained on faces that lean up to that much sees
    them as it was trained), and by at most ``max_angle``; ``box`` is only recorded. Parts outside
    the image are filled by ``border``; a face larger than ``size`` is shrunk with ``downscale``.

    Examples
    --------
    >>> img = np.zeros((100, 100), np.uint8)
    >>> face = align_to_eyes(img, FaceBox(20, 20, 60, 60), ((40.0, 40.0), (60.0, 40.0)),
    ...                      EyeFraming(0.5, 0.4, 0.5), size=40)
    >>> face.to_crop(np.array([[40.0, 40.0], [60.0, 40.0]])).tolist()
    [[10.0, 16.0], [30.0, 16.0]]
    """
    _check_params(size, 0.0, color, border)
    _check_box(box)
    try:
        left, right = sorted((tuple(map(float, eyes[0])), tuple(map(float, eyes[1]))))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"eyes: expected ((x, y), (x, y)), got {eyes!r}") from None
    distance = math.hypot(right[0] - left[0], right[1] - left[1])
    if not all(map(math.isfinite, (*left, *right))) or distance <= 0:
        raise ValueError(f"eyes: two distinct finite points expected, got {eyes!r}")
    tilt = eye_angle((left, right))
    angle = float(np.clip(math.copysign(max(abs(tilt) - keep_tilt, 0.0), tilt), -max_angle, max_angle))
    mid = ((left[0] + right[0]) / 2.0, (left[1] + right[1]) / 2.0)
    side = distance / framing.eye_distance  # crop side in input pixels
    forward = cv2.getRotationMatrix2D(mid, angle, 1.0)
    forward[:, 2] += (framing.eye_x * side - mid[0], framing.eye_y * side - mid[1])
    if downscale not in DOWNSCALES:
        raise ConfigError(f"downscale must be one of {', '.join(DOWNSCALES)}, got {downscale!r}")
    out, total = _warp(_convert(image, color), forward, size, side, border, downscale)
    return AlignedFace(box=box, image=out, eyes=(left, right), angle=angle, aligned=True, transform=total)


def align_to_box(
    image: np.ndarray,
    box: FaceBox,
    eyes: EyePair,
    framing: BoxFraming,
    *,
    size: int = 48,
    margin: float = 0.0,
    color: ColorMode = "gray",
    border: BorderMode = "replicate",
) -> AlignedFace:
    """Crop the square ``framing`` places on ``box``, its eye tilt beyond ``framing.keep_tilt`` levelled.

    Examples
    --------
    >>> img = np.zeros((100, 100), np.uint8)
    >>> face = align_to_box(img, FaceBox(30, 30, 40, 40), ((40.0, 45.0), (60.0, 45.0)), BoxFraming(0, 0, 1.5))
    >>> face.box.as_list(), face.aligned, face.to_crop(np.array([[50.0, 50.0]])).tolist()
    ([30, 30, 40, 40], True, [[24.0, 24.0]])
    """
    cx, cy, side = framing.square(box, margin)
    square = FaceBox(int(round(cx - side / 2)), int(round(cy - side / 2)), max(1, round(side)), max(1, round(side)))
    face = align_face(image, square, eyes, size=size, margin=0.0, color=color, max_angle=45.0, border=border,
                      keep_tilt=framing.keep_tilt)
    face.box = box
    return face
