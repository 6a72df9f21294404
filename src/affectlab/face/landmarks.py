"""Facial landmarks and head pose from dlib's models (the optional ``landmarks`` extra).

The models come inside two registry packages, so nothing is downloaded at run time:
``dlib-bin`` (a prebuilt dlib wheel) and ``face-recognition-models`` (its model files:
the 5-point shape predictor, CC0; the 68-point predictor, trained on iBUG 300-W, whose images
are licensed for non-commercial research only). Install both with
``pip install 'affectlab[landmarks]'``.

Points are ``(N, 2)`` float arrays in the continuous pixel coordinates of the whole package
(pixel ``(col, row)`` covers ``[col, col + 1) x [row, row + 1)``). The 5-point model gives
the two corners of each eye and the base of the nose; :func:`eye_centres` averages the corners.

:func:`head_pose` fits a generic 3-D face to the points with ``cv2.solvePnP`` and returns
``yaw``, ``pitch`` and ``roll`` in degrees: yaw > 0 when the face turns towards the image's right,
pitch > 0 when it tilts down, roll > 0 when it leans clockwise as displayed (its right-hand eye,
as seen, lower). Mirroring an image flips the signs of yaw and roll and keeps pitch.

Examples
--------
>>> import numpy as np
>>> pts = np.array([[70., 40.], [60., 40.], [30., 40.], [40., 40.], [50., 60.]])
>>> eye_centres(pts)
((35.0, 40.0), (65.0, 40.0))
>>> pose = head_pose(pts, (100, 100))
>>> abs(pose["yaw"]) < 1 and abs(pose["roll"]) < 1
True
"""

from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from affectlab.errors import ConfigError
from affectlab.face.detect import NativeHandles

__all__ = [
    "LANDMARKS_EXTRA_HINT",
    "LANDMARK_MODELS",
    "ShapePredictor",
    "dlib_model_path",
    "eye_centres",
    "head_pose",
    "import_dlib",
]

LANDMARKS_EXTRA_HINT = "pip install 'affectlab[landmarks]' (dlib-bin and face-recognition-models)"

#: Point count -> model file inside ``face_recognition_models/models``.
LANDMARK_MODELS = {
    5: "shape_predictor_5_face_landmarks.dat",
    68: "shape_predictor_68_face_landmarks.dat",
}


def import_dlib(what: str = "the dlib face front-end") -> Any:
    """``dlib``, or a :class:`ConfigError` naming ``what`` and how to install it."""
    try:
        import dlib
    except ImportError:
        raise ConfigError(f"{what} needs dlib, which is not installed: {LANDMARKS_EXTRA_HINT}") from None
    return dlib


def dlib_model_path(filename: str, *, what: str = "the dlib face front-end") -> Path:
    """Path of a model file shipped by ``face-recognition-models``.

    The package is located without importing it (its ``__init__`` needs ``pkg_resources``, which
    recent setuptools no longer ship).

    Raises
    ------
    ConfigError
        The package or the file is missing; the message names ``what`` and how to install it.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise ConfigError(f"{what} needs face-recognition-models, which is not installed: {LANDMARKS_EXTRA_HINT}")
    for folder in folders:
        path = Path(folder) / "models" / filename
        if path.is_file():
            return path
    raise ConfigError(
        f"{what}: model file {filename} is missing from face-recognition-models in {folders[0]}; "
        f"reinstall it: {LANDMARKS_EXTRA_HINT}"
    )


class ShapePredictor(NativeHandles):
    """dlib's landmark model for ``points`` = 5 or 68, fitted inside a face box.

    Thread-safe (one lock) and picklable (the model is reloaded in the receiving process).

    Parameters
    ----------
    points : {5, 68}
        Which model: 5 points (eye corners and nose base, CC0) or 68 points (iBUG 300-W layout;
        the training images are for non-commercial research only).
    """

    def __init__(self, points: int = 5) -> None:
        if points not in LANDMARK_MODELS:
            raise ConfigError(f"points must be 5 or 68, got {points!r}")
        self.points = int(points)
        self._init_runtime()

    _runtime_fields = ("_dlib", "_model", "_lock")

    def _init_runtime(self) -> None:
        what = f"the {self.points}-point landmark model"
        dlib = import_dlib(what)
        self._dlib = dlib
        self._model = dlib.shape_predictor(str(dlib_model_path(LANDMARK_MODELS[self.points], what=what)))
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ShapePredictor(points={self.points})"

    def __call__(self, gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """``(points, 2)`` landmarks of the face in ``box`` = ``(x, y, w, h)`` of a uint8 gray image."""
        x, y, w, h = box
        rect = self._dlib.rectangle(
            int(round(x)), int(round(y)), int(round(x + w)) - 1, int(round(y + h)) - 1
        )
        with self._lock:
            shape = self._model(gray, rect)
        # dlib gives pixel indices; +0.5 moves them to the package's continuous coordinates.
        return np.array([(p.x + 0.5, p.y + 0.5) for p in shape.parts()], dtype=np.float64)


def eye_centres(landmarks: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """Eye centres ``(left, right)`` (left = smaller x) from 5 or 68 landmarks."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape == (5, 2):
        a, b = pts[0:2].mean(axis=0), pts[2:4].mean(axis=0)
    elif pts.shape == (68, 2):
        a, b = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
    else:
        raise ValueError(f"landmarks: expected shape (5, 2) or (68, 2), got {pts.shape}")
    left, right = sorted(((float(a[0]), float(a[1])), (float(b[0]), float(b[1]))))
    return left, right


# A generic face in millimetres, in OpenCV's camera axes when the face looks straight at the
# camera: x to the image's right, y down, z away from the camera; origin at the nose tip.
_EYE_Y, _EYE_Z = -35.0, 27.0
_GENERIC_5 = np.array(
    [
        [45.0, _EYE_Y, _EYE_Z],  # 0: outer corner of the eye on the image's right
        [16.0, _EYE_Y, _EYE_Z - 4.0],  # 1: its inner corner
        [-45.0, _EYE_Y, _EYE_Z],  # 2: outer corner of the eye on the image's left
        [-16.0, _EYE_Y, _EYE_Z - 4.0],  # 3: its inner corner
        [0.0, 12.0, 14.0],  # 4: base of the nose
    ]
)
# 68-point layout (iBUG): a subset with well-known depths, indices into the 68 points.
_IDX_68 = [30, 8, 36, 45, 39, 42, 48, 54, 33]
_GENERIC_68 = np.array(
    [
        [0.0, 0.0, 0.0],  # 30: nose tip
        [0.0, 66.0, 13.0],  # 8: chin
        [-45.0, _EYE_Y, _EYE_Z],  # 36: outer corner, image-left eye
        [45.0, _EYE_Y, _EYE_Z],  # 45: outer corner, image-right eye
        [-16.0, _EYE_Y, _EYE_Z - 4.0],  # 39: inner corner, image-left eye
        [16.0, _EYE_Y, _EYE_Z - 4.0],  # 42: inner corner, image-right eye
        [-28.0, 29.0, 24.0],  # 48: mouth corner, image left
        [28.0, 29.0, 24.0],  # 54: mouth corner, image right
        [0.0, 12.0, 14.0],  # 33: base of the nose
    ]
)


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> dict[str, float]:
    """Yaw, pitch and roll in degrees from 5 or 68 landmarks of an image of ``(width, height)``.

    A pinhole camera with focal length = the image's longer side and the principal point at the
    image centre; a generic (not the person's) 3-D face, so expect a few degrees of bias.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape == (5, 2):
        model, image_pts = _GENERIC_5, pts
        if np.allclose(pts[0], pts[2]):
            raise ValueError("landmarks: degenerate 5-point shape")
        # dlib's 5-point order: points 0-1 are the eye on the image's right when 0 is to the right of 2.
        if pts[0, 0] < pts[2, 0]:
            image_pts = pts[[2, 3, 0, 1, 4]]
    elif pts.shape == (68, 2):
        model, image_pts = _GENERIC_68, pts[_IDX_68]
    else:
        raise ValueError(f"landmarks: expected shape (5, 2) or (68, 2), got {pts.shape}")
    width, height = image_size
    focal = float(max(width, height))
    camera = np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])
    # Start from a frontal face at the distance the eye spacing implies, then refine.
    eye_px = max(float(np.linalg.norm(image_pts[0] - image_pts[2])), 1e-6)
    z0 = focal * 90.0 / eye_px
    centre = image_pts.mean(axis=0)
    t0 = np.array([(centre[0] - width / 2.0) * z0 / focal, (centre[1] - height / 2.0) * z0 / focal, z0])
    rvec = np.zeros((3, 1))
    tvec = t0.reshape(3, 1)
    ok, rvec, tvec = cv2.solvePnP(
        model, image_pts.reshape(-1, 1, 2), camera, None, rvec, tvec,
        useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:
        raise ValueError("landmarks: head pose could not be solved")
    rot, _ = cv2.Rodrigues(rvec)
    return _euler_degrees(rot)


def _euler_degrees(rot: np.ndarray) -> dict[str, float]:
    """Angles of ``rot = Rz(roll) @ Ry(-yaw) @ Rx(pitch)`` in camera axes (x right, y down, z away).

    The face looks along its own -z: a positive angle about y turns it to the image's left (hence
    the minus), a positive angle about x tilts it down, a positive angle about z lowers its
    right-hand eye as displayed.
    """
    yaw = -math.degrees(math.asin(float(np.clip(-rot[2, 0], -1.0, 1.0))))
    pitch = math.degrees(math.atan2(float(rot[2, 1]), float(rot[2, 2])))
    roll = math.degrees(math.atan2(float(rot[1, 0]), float(rot[0, 0])))
    return {"yaw": yaw, "pitch": pitch, "roll": roll}
