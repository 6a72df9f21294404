"""Face front-end: detection, eye-based alignment, cropping and normalisation.

Inputs are RGB ``(H, W, 3)`` or gray ``(H, W)`` numpy arrays, uint8 or float in ``[0, 1]``.

Examples
--------
>>> from affectlab.data.media import sample_photo
>>> from affectlab.face import FacePreprocessor
>>> [face] = FacePreprocessor(size=48, color="rgb")(sample_photo())
>>> face.image.shape
(48, 48, 3)
"""

from __future__ import annotations

from affectlab.face.align import (
    FER2013_EYE_FRAMING,
    FER2013_FRAMING,
    AlignedFace,
    BoxFraming,
    EyeFraming,
    align_face,
    align_to_box,
    align_to_eyes,
    crop_face,
    crop_region,
    eye_angle,
)
from affectlab.face.detect import (
    EyePair,
    FaceBox,
    FaceDetector,
    HaarCascadeDetector,
    as_uint8_image,
    create_detector,
    list_detectors,
    register_detector,
)
from affectlab.face.dlib_detector import DlibFrontEnd
from affectlab.face.landmarks import eye_centres, head_pose
from affectlab.face.preprocess import FacePreprocessor, normalize_minmax

__all__ = [
    "FER2013_EYE_FRAMING",
    "FER2013_FRAMING",
    "AlignedFace",
    "BoxFraming",
    "DlibFrontEnd",
    "EyeFraming",
    "EyePair",
    "FaceBox",
    "FaceDetector",
    "FacePreprocessor",
    "HaarCascadeDetector",
    "align_face",
    "align_to_box",
    "align_to_eyes",
    "as_uint8_image",
    "create_detector",
    "crop_face",
    "crop_region",
    "eye_angle",
    "eye_centres",
    "head_pose",
    "list_detectors",
    "normalize_minmax",
    "register_detector",
]
