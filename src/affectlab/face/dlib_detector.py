"""The landmark front-end: dlib's HOG face detector, a Haar fallback, and 5- or 68-point landmarks.

Registered as the ``"dlib"`` detector (``pip install 'affectlab[landmarks]'``). Detection runs on
a gray copy scaled so that a face of ``min_face`` pixels fills dlib's 80 px detection window,
within a budget of ``max_pixels`` (the HOG scan costs time in proportion to the pixels scanned):
small images are upscaled, large ones scanned at a reduced size. When the HOG scan finds nothing,
the Haar cascade searches the full-resolution image (``fallback="haar"``), so the front-end finds
at least what the Haar path finds; its boxes are reframed the way dlib frames faces
(:func:`haar_to_hog_box`), on which the landmark model was trained. Landmarks are fitted inside
every box; the eyes for alignment are the means of the eye-corner points.

Examples
--------
>>> from affectlab.data.media import sample_photo
>>> det = DlibFrontEnd()
>>> [box] = det.detect(sample_photo())
>>> det.landmarks(sample_photo(), box).shape
(5, 2)
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import threading
from typing import Any

import cv2
import numpy as np

from affectlab.checks import is_integer, is_number
from affectlab.data.media import to_gray
from affectlab.errors import ConfigError
from affectlab.face.detect import (
    EyePair,
    FaceBox,
    HaarCascadeDetector,
    NativeHandles,
    as_uint8_image,
    register_detector,
)
from affectlab.face.landmarks import LANDMARK_MODELS, ShapePredictor, dlib_model_path, eye_centres, import_dlib

__all__ = [
    "ALWAYS_FOUND",
    "DETECTION_WINDOW",
    "DlibFrontEnd",
    "detection_scale",
    "dlib_available",
    "haar_to_hog_box",
    "make_frontend",
    "resolve_detector_name",
]

#: Side of dlib's HOG face window in pixels: faces much smaller than this are not found.
DETECTION_WINDOW = 80
#: Faces of this fraction of an image's shorter side are always in reach of the HOG scan.
ALWAYS_FOUND = 0.17

# A Haar box (frontalface_alt2) -> the box dlib's HOG detector gives the same face, as fractions of
# the Haar side: (dx, dy, scale). Fitted by benchmarks/calibrate_framing.py on FER2013 Training
# faces found by both detectors (1,111 of 1,500, seed 1); the landmark model was trained on boxes
# like dlib's.
_HAAR_TO_HOG = (0.053, 0.139, 0.889)


def _read_packed_int(data: bytes, at: int) -> tuple[int, int]:
    """One integer of dlib's serialisation (a size byte, bit 7 the sign, then little-endian bytes)."""
    head = data[at]
    size = head & 0x0F
    value = int.from_bytes(data[at + 1:at + 1 + size], "little")
    return (-value if head & 0x80 else value), at + 1 + size


@functools.lru_cache(maxsize=1)
def _split_filters() -> tuple[bytes, ...] | None:
    """dlib's frontal face detector cut into its five HOG filters, each a serialised detector.

    The filters look front, left, right, front rotated left and front rotated right; they share
    one HOG pyramid, which costs about 60 % of a scan, each filter about 8 %. ``None`` when the
    serialised layout is not the one this parser knows (then the whole detector runs at once).
    """
    dlib = import_dlib("the 'dlib' face detector")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "frontal.svm")
        dlib.get_frontal_face_detector().save(path)
        with open(path, "rb") as handle:
            data = handle.read()
    # The weight vectors close the file: their count (5) then each as a -3101 x -1 matrix of
    # doubles (10 x 10 cells x 31 HOG features + bias; each double a mantissa and an exponent).
    header = bytes([0x01, 0x05, 0x82, 0x1D, 0x0C, 0x81, 0x01])
    at = data.find(header)
    if at < 0 or data.count(header) != 1:
        return None
    cursor, starts = at + 2, []
    try:
        for _ in range(5):
            starts.append(cursor)
            rows, cursor = _read_packed_int(data, cursor)
            cols, cursor = _read_packed_int(data, cursor)
            for _ in range(abs(rows) * abs(cols) * 2):
                _, cursor = _read_packed_int(data, cursor)
    except IndexError:
        return None
    starts.append(cursor)
    if cursor != len(data):
        return None
    return tuple(data[:at] + bytes([0x01, 0x01]) + data[a:b] + data[cursor:] for a, b in zip(starts, starts[1:]))


def _load_detectors(blobs: tuple[bytes, ...]) -> list[Any]:
    dlib = import_dlib("the 'dlib' face detector")
    detectors = []
    with tempfile.TemporaryDirectory() as folder:
        for i, blob in enumerate(blobs):
            path = os.path.join(folder, f"filter{i}.svm")
            with open(path, "wb") as handle:
                handle.write(blob)
            detectors.append(dlib.fhog_object_detector(path))
    return detectors


def dlib_available() -> bool:
    """Whether the landmark front-end can run here (dlib and its model files are installed)."""
    try:
        import_dlib()
        dlib_model_path(LANDMARK_MODELS[5])
    except ConfigError:
        return False
    return True


def detection_scale(width: int, height: int, min_face: float, max_pixels: int) -> float:
    """Scale of the copy scanned by the HOG detector for a ``width`` x ``height`` image.

    ``DETECTION_WINDOW / min_face`` (so a ``min_face`` face fills the window), reduced so the copy
    has at most ``max_pixels`` pixels, but never so far that a face of :data:`ALWAYS_FOUND` of the
    shorter side no longer fills the window (large images get more pixels than ``max_pixels``).

    >>> detection_scale(256, 256, 50, 307_200)
    1.6
    >>> detection_scale(640, 480, 56, 307_200)
    1.0
    >>> round(detection_scale(1920, 1080, 56, 307_200), 3)
    0.436
    """
    budget = math.sqrt(max_pixels / float(width * height))
    floor = DETECTION_WINDOW / (ALWAYS_FOUND * min(width, height))
    return min(DETECTION_WINDOW / float(min_face), max(budget, floor))


def haar_to_hog_box(box: FaceBox) -> tuple[float, float, float, float]:
    """The box ``(x, y, w, h)`` dlib's detector would give for a face Haar found at ``box``.

    >>> [round(v, 1) for v in haar_to_hog_box(FaceBox(0, 0, 100, 100))]
    [5.3, 13.9, 88.9, 88.9]
    """
    dx, dy, s = _HAAR_TO_HOG
    return (box.x + dx * box.w, box.y + dy * box.h, s * box.w, s * box.h)


def _hog_like(box: FaceBox, shape: tuple[int, ...]) -> FaceBox:
    """A Haar box reframed as dlib's detector frames faces, clipped to the image."""
    x, y, w, h = haar_to_hog_box(box)
    H, W = shape[:2]
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(W, int(round(x + w))), min(H, int(round(y + h)))
    return FaceBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0), box.score)


def resolve_detector_name(name: str) -> str:
    """``"auto"`` -> ``"dlib"`` when the landmark extra is installed, else ``"haar"``; others as given."""
    if name != "auto":
        return name
    return "dlib" if dlib_available() else "haar"


def make_frontend(name: str = "auto", *, min_face_fraction: float | None = None) -> Any:
    """The face detector the commands use: ``name`` in {"auto", "dlib", "haar"}.

    ``min_face_fraction``: the smallest face searched, as a fraction of the image's shorter side
    (``None``: the detector's default; Haar's is 0.1, dlib's a 56 px face within a 640x480 budget).
    """
    name = resolve_detector_name(name)
    if name == "haar":
        return HaarCascadeDetector(min_size_fraction=0.1 if min_face_fraction is None else min_face_fraction)
    if name == "dlib":
        return DlibFrontEnd(min_face_fraction=min_face_fraction)
    raise ConfigError(f"unknown face front-end {name!r}; known: auto, dlib, haar")


@register_detector("auto")
def auto_detector(**params: Any) -> Any:
    """The landmark front-end (``"dlib"``) when its extra is installed, else the Haar cascade."""
    return DlibFrontEnd(**params) if dlib_available() else HaarCascadeDetector(**params)


@register_detector("dlib")
class DlibFrontEnd(NativeHandles):
    """dlib HOG detection (Haar fallback) with landmark-based eye location.

    The HOG scan is itself a cascade (``filters="cascade"``): dlib's frontal-face filter first,
    and its four other filters (faces turned left or right, rolled left or right) only when that
    finds nothing, which saves about 40 % of the scan for frontal faces. A turned face beside a
    frontal one in the same image is then missed; ``filters="all"`` runs all five at once.

    Parameters
    ----------
    min_face : float
        Smallest face (pixels of the input image, roughly the eyebrow-to-chin height) the HOG
        scan is sized to find; smaller faces are left to the fallback.
    min_face_fraction : float or None
        Instead of ``min_face`` and ``max_pixels``: the smallest face as a fraction of each image's
        shorter side, scanned whatever the pixels it takes.
    max_pixels : int
        Pixels the HOG scan may cover; larger images are scanned downscaled, so their smallest
        findable face grows to about ``75 / scale`` pixels, but never beyond 17 % of the shorter
        side (see :func:`detection_scale`).
    threshold : float
        Keep HOG detections scoring at least this (dlib's SVM score; 0 is dlib's own default).
    weak_threshold : float
        When no detection reaches ``threshold``, keep those scoring at least this instead, so a
        lone weak face is found while weak boxes beside a clear face (spacesuit patches, at
        -0.16 and -0.08 on the sample photograph) are not. -0.2 found 421 of 500 pasted FER2013
        Training faces where 0 found 393, and no face in 23 non-face scikit-image pictures
        (-0.4 found one, on ``camera``).
    points : {5, 68}
        Landmark model: 5 points (CC0) or 68 points (non-commercial training data).
    fallback : {"haar", "none"}
        What searches the full-resolution image when the HOG scan finds no face.
    upsample : int
        Extra 2x pyramid upsamplings inside dlib (0: none; each roughly quadruples the time).
    filters : {"cascade", "all"}
        How the five HOG filters run (see above).
    """

    def __init__(
        self,
        *,
        min_face: float = 56.0,
        min_face_fraction: float | None = None,
        max_pixels: int = 640 * 480,
        threshold: float = 0.0,
        weak_threshold: float = -0.2,
        points: int = 5,
        fallback: str = "haar",
        upsample: int = 0,
        filters: str = "cascade",
    ) -> None:
        if not is_number(min_face) or not 8.0 <= float(min_face) <= 10_000.0:
            raise ConfigError(f"min_face must be a number of pixels in [8, 10000], got {min_face!r}")
        if min_face_fraction is not None and (
            not is_number(min_face_fraction) or not 0.0 < float(min_face_fraction) <= 1.0
        ):
            raise ConfigError(f"min_face_fraction must be None or a number in (0, 1], got {min_face_fraction!r}")
        if not is_integer(max_pixels) or max_pixels < DETECTION_WINDOW**2:
            raise ConfigError(f"max_pixels must be an int >= {DETECTION_WINDOW**2}, got {max_pixels!r}")
        if not is_number(threshold) or not math.isfinite(float(threshold)):
            raise ConfigError(f"threshold must be a finite number, got {threshold!r}")
        if not is_number(weak_threshold) or not -math.inf < float(weak_threshold) <= float(threshold):
            raise ConfigError(f"weak_threshold must be a number <= threshold, got {weak_threshold!r}")
        if fallback not in ("haar", "none"):
            raise ConfigError(f"fallback must be 'haar' or 'none', got {fallback!r}")
        if not is_integer(upsample) or not 0 <= upsample <= 2:
            raise ConfigError(f"upsample must be 0, 1 or 2, got {upsample!r}")
        if filters not in ("cascade", "all"):
            raise ConfigError(f"filters must be 'cascade' or 'all', got {filters!r}")
        self.min_face = float(min_face)
        self.min_face_fraction = None if min_face_fraction is None else float(min_face_fraction)
        self.max_pixels = int(max_pixels)
        self.threshold = float(threshold)
        self.weak_threshold = float(weak_threshold)
        self.fallback = fallback
        self.upsample = int(upsample)
        self.filters = filters
        self.predictor = ShapePredictor(points)
        self.haar = HaarCascadeDetector() if fallback == "haar" else None
        self._init_runtime()

    @property
    def points(self) -> int:
        """Number of landmarks per face (5 or 68)."""
        return self.predictor.points

    # dlib objects are neither picklable nor documented thread-safe (see HaarCascadeDetector).
    _runtime_fields = ("_hog", "_stages", "_lock")

    def _init_runtime(self) -> None:
        self._hog = import_dlib("the 'dlib' face detector").get_frontal_face_detector()
        blobs = _split_filters() if self.filters == "cascade" else None
        self._stages = [] if blobs is None else _load_detectors(blobs)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"DlibFrontEnd(min_face={self.min_face:g}, max_pixels={self.max_pixels}, threshold={self.threshold:g}, "
            f"points={self.points}, fallback={self.fallback!r})"
        )

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Faces in an RGB / gray image, largest first (HOG scan, then the fallback if none)."""
        img = as_uint8_image(image)
        gray = to_gray(img)
        boxes = self._hog_scan(gray)
        if not boxes and self.haar is not None:
            boxes = [_hog_like(b, gray.shape) for b in self.haar.detect(gray)]
        boxes.sort(key=lambda b: (-b.area, -(b.score or 0.0)))
        return boxes

    def _hog_scan(self, gray: np.ndarray) -> list[FaceBox]:
        H, W = gray.shape
        if self.min_face_fraction is None:
            scale = detection_scale(W, H, self.min_face, self.max_pixels)
        else:  # asked for by the user: no pixel budget
            scale = DETECTION_WINDOW / max(8.0, self.min_face_fraction * min(H, W))
        scan = gray
        if abs(scale - 1.0) > 1e-3:
            size = (max(1, round(W * scale)), max(1, round(H * scale)))
            scan = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        sx, sy = scan.shape[1] / W, scan.shape[0] / H
        weak = self.weak_threshold
        with self._lock:
            if self._stages:  # the frontal filter, then the four others if it found nothing
                rects, scores, _ = self._stages[0].run(scan, self.upsample, weak)
                if not len(rects):
                    rects, scores, _ = self._hog.run_multiple(self._stages[1:], scan, self.upsample, weak)
            else:
                rects, scores, _ = self._hog.run(scan, self.upsample, weak)
        found = list(zip(rects, scores))
        if any(s >= self.threshold for _, s in found):  # weak boxes only count when nothing is clear
            found = [(r, s) for r, s in found if s >= self.threshold]
        boxes = []
        for r, s in found:
            x0, y0 = max(0, int(round(r.left() / sx))), max(0, int(round(r.top() / sy)))
            x1, y1 = min(W, int(round((r.right() + 1) / sx))), min(H, int(round((r.bottom() + 1) / sy)))
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                boxes.append(FaceBox(x0, y0, x1 - x0, y1 - y0, float(s)))
        return boxes

    def landmarks(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """``(points, 2)`` landmarks of the face in ``box`` (a box as dlib's detector frames faces)."""
        gray = to_gray(as_uint8_image(image))
        if not isinstance(box, FaceBox) or box.w < 1 or box.h < 1:
            raise ValueError(f"box: expected a FaceBox with positive width and height, got {box!r}")
        return self.predictor(gray, (box.x, box.y, box.w, box.h))

    def detect_eyes(self, image: np.ndarray, box: FaceBox) -> EyePair:
        """Eye centres ``(left, right)`` from the landmarks (always found)."""
        return eye_centres(self.landmarks(image, box))
