"""The face front-end in one call: detect -> (eyes) -> align/crop -> resize, plus normalisation.

Examples
--------
>>> from affectlab.data.media import sample_photo
>>> from affectlab.face import FacePreprocessor, normalize_minmax
>>> faces = FacePreprocessor(size=48)(sample_photo())
>>> len(faces), faces[0].image.shape, faces[0].aligned
(1, (48, 48), True)
>>> x = normalize_minmax(faces[0].image)
>>> x.dtype, float(x.min()), float(x.max())
(dtype('float32'), 0.0, 1.0)
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from affectlab.checks import is_integer
from affectlab.data.media import to_gray, to_rgb
from affectlab.errors import ConfigError, NoFaceError
from affectlab.face.align import (
    FER2013_FRAMING,
    AlignedFace,
    BoxFraming,
    EyeFraming,
    _check_params,
    align_face,
    align_to_box,
    align_to_eyes,
)
from affectlab.face.detect import FaceBox, FaceDetector, as_uint8_image, create_detector
from affectlab.face.landmarks import eye_centres, head_pose

__all__ = ["FacePreprocessor", "normalize_minmax"]


def normalize_minmax(image: np.ndarray) -> np.ndarray:
    """Rescale to float32 in ``[0, 1]`` with the array's global min and max.

    A constant image maps to zeros (no division by zero). Any real dtype is accepted; the
    shape is kept.

    Raises
    ------
    ValueError
        Empty, non-numeric, or containing NaN / inf.

    Examples
    --------
    >>> normalize_minmax(np.array([[10, 20], [30, 50]], np.uint8)).tolist()
    [[0.0, 0.25], [0.5, 1.0]]
    >>> normalize_minmax(np.full((2, 2), 7, np.uint8)).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    arr = np.asarray(image)
    if arr.size == 0:
        raise ValueError("normalize_minmax: empty array")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"normalize_minmax: expected a real numeric array, got dtype {arr.dtype}")
    x = arr.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("normalize_minmax: array contains NaN or inf")
    lo, hi = x.min(), x.max()
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.float32)
    return ((x - lo) / (hi - lo)).astype(np.float32)


class FacePreprocessor:
    """Detect every face in an image and return aligned, cropped, resized faces.

    Parameters
    ----------
    detector : FaceDetector or str
        A detector object, or a registry name for :func:`~affectlab.face.create_detector`.
    size : int
        Side of the square output crops.
    margin : float
        Margin added on every side of the box, as a fraction of its side.
    align : bool
        Rotate so the eyes are level when the detector can locate them (``detect_eyes``);
        faces whose eyes are not found are cropped unrotated (``aligned=False``). A detector
        with landmarks (``landmarks(image, box)``, e.g. ``"dlib"``) gives every face its landmarks
        and head pose, and its crops are framed by ``framing`` with the landmarks' eyes.
    color : {"gray", "rgb"}
        Colour mode of the crops.
    max_faces : int or None
        Keep at most this many faces (the largest ones).
    whole_frame_fallback : bool
        When no face is found, return one unaligned face made of the whole frame resized to
        ``(size, size)`` (aspect ratio not kept) with ``box`` = the full image. Meant for inputs
        that are already face crops. When False (default), no face gives ``[]``.
    framing : BoxFraming or EyeFraming
        How crops are framed with landmarks (``margin`` widens it): a square on the detector box
        with only a large eye tilt levelled (the default, :data:`~affectlab.face.FER2013_FRAMING`,
        as the bundled expression models' training faces were framed), or the eyes put at fixed
        places (:class:`~affectlab.face.EyeFraming`, e.g. ``FER2013_EYE_FRAMING``).

    Examples
    --------
    >>> import numpy as np
    >>> pre = FacePreprocessor(whole_frame_fallback=True, size=8)
    >>> [f] = pre(np.zeros((20, 30), np.uint8))
    >>> f.box.as_list(), f.image.shape, f.aligned
    ([0, 0, 30, 20], (8, 8), False)
    """

    def __init__(
        self,
        detector: FaceDetector | str = "haar",
        *,
        size: int = 48,
        margin: float = 0.1,
        align: bool = True,
        color: Literal["gray", "rgb"] = "gray",
        max_faces: int | None = None,
        whole_frame_fallback: bool = False,
        framing: BoxFraming | EyeFraming = FER2013_FRAMING,
    ) -> None:
        _check_params(size, margin, color, "constant")
        if not isinstance(framing, (BoxFraming, EyeFraming)):
            raise ConfigError(f"framing must be a BoxFraming or an EyeFraming, got {framing!r}")
        if max_faces is not None and (not is_integer(max_faces) or max_faces < 1):
            raise ConfigError(f"max_faces must be None or a positive int, got {max_faces!r}")
        if isinstance(detector, str):
            detector = create_detector(detector)
        elif not callable(getattr(detector, "detect", None)):
            raise ConfigError(f"detector must be a registry name or have a detect() method, got {detector!r}")
        self.detector = detector
        self.size = int(size)
        self.margin = float(margin)
        self.align = bool(align)
        self.color: Literal["gray", "rgb"] = color
        self.max_faces = None if max_faces is None else int(max_faces)
        self.whole_frame_fallback = bool(whole_frame_fallback)
        self.framing = framing

    @property
    def has_landmarks(self) -> bool:
        """Whether the detector gives landmarks (and so the faces carry landmarks and pose)."""
        return callable(getattr(self.detector, "landmarks", None))

    def __repr__(self) -> str:
        return (
            f"FacePreprocessor({self.detector!r}, size={self.size}, margin={self.margin}, align={self.align}, "
            f"color={self.color!r}, max_faces={self.max_faces}, whole_frame_fallback={self.whole_frame_fallback})"
        )

    def __call__(self, image: np.ndarray) -> list[AlignedFace]:
        """Faces in ``image`` (RGB / gray, uint8 or float in [0, 1]), largest first.

        Returns
        -------
        list of AlignedFace
            ``[]`` when no face is found (unless ``whole_frame_fallback``).
        """
        img = as_uint8_image(image)
        boxes = list(self.detector.detect(img))
        if self.max_faces is not None:
            boxes = boxes[: self.max_faces]
        if not boxes:
            return [self._whole_frame(img)] if self.whole_frame_fallback else []
        if self.has_landmarks:
            return [self.from_landmarks(img, box, self.detector.landmarks(img, box)) for box in boxes]
        locate = getattr(self.detector, "detect_eyes", None) if self.align else None
        faces = []
        for box in boxes:
            eyes = locate(img, box) if locate is not None else None
            faces.append(align_face(img, box, eyes, size=self.size, margin=self.margin, color=self.color))
        return faces

    def from_landmarks(self, image: np.ndarray, box: FaceBox, landmarks: np.ndarray, *, size: int | None = None,
                       color: Literal["gray", "rgb"] | None = None) -> AlignedFace:
        """The face in ``box`` of a uint8 ``image``, framed with the eyes of its ``landmarks``.

        Used for every face of a landmark detector, and by trackers that refit landmarks in a
        tracked box without detecting again. ``size`` and ``color`` override the preprocessor's.
        """
        size = self.size if size is None else size
        color = self.color if color is None else color
        height, width = image.shape[:2]
        pose = head_pose(landmarks, (width, height))
        eyes = eye_centres(landmarks)
        if self.align and isinstance(self.framing, BoxFraming):
            face = align_to_box(image, box, eyes, self.framing, size=size, margin=self.margin, color=color)
        elif self.align:
            framing = self.framing.with_margin(self.margin) if self.margin else self.framing
            face = align_to_eyes(image, box, eyes, framing, size=size, color=color)
        else:
            face = align_face(image, box, None, size=size, margin=self.margin, color=color)
        face.landmarks = landmarks
        face.pose = pose
        return face

    def largest(self, image: np.ndarray) -> AlignedFace:
        """The largest face; raises :class:`~affectlab.errors.NoFaceError` when there is none."""
        faces = self(image)
        if not faces:
            raise NoFaceError(f"no face found in the {image.shape[1]}x{image.shape[0]} image")
        return faces[0]

    def _whole_frame(self, img: np.ndarray) -> AlignedFace:
        H, W = img.shape[:2]
        conv = to_gray(img) if self.color == "gray" else to_rgb(img)
        interp = cv2.INTER_AREA if min(H, W) > self.size else cv2.INTER_LINEAR
        out = cv2.resize(conv, (self.size, self.size), interpolation=interp)
        transform = np.array([[self.size / W, 0.0, 0.0], [0.0, self.size / H, 0.0]])
        return AlignedFace(
            box=FaceBox(0, 0, W, H), image=out, eyes=None, angle=0.0, aligned=False, transform=transform
        )

