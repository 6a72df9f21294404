"""Face detection: Haar detector on the built-in astronaut, blanks, multi-face, tilt, bad input."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from affectlab.data.media import sample_photo
from affectlab.errors import ConfigError
from affectlab.face import (
    FaceBox,
    FaceDetector,
    HaarCascadeDetector,
    create_detector,
    eye_angle,
    list_detectors,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return sample_photo()


@pytest.fixture(scope="module")
def detector() -> HaarCascadeDetector:
    return HaarCascadeDetector()


def rotate(image: np.ndarray, angle: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def two_faces_canvas(astronaut: np.ndarray) -> np.ndarray:
    """Full-size astronaut on the left, a half-size copy on the right of a 512x1024 canvas."""
    canvas = np.zeros((512, 1024, 3), np.uint8)
    canvas[:, :512] = astronaut
    canvas[128:384, 600:856] = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    return canvas


def test_astronaut_exactly_one_face(detector, astronaut):
    boxes = detector.detect(astronaut)
    assert len(boxes) == 1
    box = boxes[0]
    cx, cy = box.center
    # measured: [175, 65, 98, 98], centre (224, 114)
    assert 200 <= cx <= 250 and 90 <= cy <= 140
    assert 70 <= box.w <= 140 and box.w == box.h
    assert isinstance(box.score, float)
    assert box.as_list() == [box.x, box.y, box.w, box.h]
    assert all(type(v) is int for v in box.as_list())


def test_gray_rgba_and_float_inputs_agree(detector, astronaut):
    ref = detector.detect(astronaut)[0].as_list()
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    rgba = cv2.cvtColor(astronaut, cv2.COLOR_RGB2RGBA)
    assert detector.detect(gray)[0].as_list() == ref
    assert detector.detect(rgba)[0].as_list() == ref
    assert detector.detect(gray[..., None])[0].as_list() == ref
    assert detector.detect(astronaut.astype(np.float32) / 255.0)[0].as_list() == ref


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((100, 100), np.uint8),
        np.full((240, 320, 3), 128, np.uint8),
        np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 256, (28, 23), dtype=np.uint8),
    ],
    ids=["black", "gray", "noise", "tiny-noise"],
)
def test_no_face_on_blank_or_noise(detector, image):
    assert detector.detect(image) == []


def test_two_faces_largest_first(detector, astronaut):
    boxes = detector.detect(two_faces_canvas(astronaut))
    assert len(boxes) == 2
    big, small = boxes
    assert big.area > small.area
    assert big.center[0] < 512 < small.center[0]
    assert 0.4 < small.w / big.w < 0.7


def test_small_input_is_upscaled(detector, astronaut):
    # a tight face crop shrunk to ORL's 23x28 size: below the cascade window without upscaling
    face = astronaut[55:190, 165:285]
    tiny = cv2.resize(face, (23, 28), interpolation=cv2.INTER_AREA)
    boxes = detector.detect(tiny)
    assert len(boxes) == 1
    b = boxes[0]
    assert 0 <= b.x and 0 <= b.y and b.x + b.w <= 23 and b.y + b.h <= 28


def test_eyes_on_astronaut(detector, astronaut):
    box = detector.detect(astronaut)[0]
    eyes = detector.detect_eyes(astronaut, box)
    assert eyes is not None
    (lx, ly), (rx, ry) = eyes
    assert box.x < lx < box.center[0] < rx < box.x + box.w
    assert box.y < ly < box.center[1] and box.y < ry < box.center[1]
    assert abs(eye_angle(eyes)) < 10


@pytest.mark.parametrize("angle", [-15, 15])
def test_rotated_astronaut_detected_and_angle_measured(detector, astronaut, angle):
    base = eye_angle(detector.detect_eyes(astronaut, detector.detect(astronaut)[0]))  # own tilt, ~3.4 deg
    image = rotate(astronaut, angle)
    boxes = detector.detect(image)
    assert len(boxes) == 1
    eyes = detector.detect_eyes(image, boxes[0])
    assert eyes is not None
    # cv2 rotates counter-clockwise for positive angles, so the eye line tilts by -angle
    assert abs(eye_angle(eyes) + angle) < 5.0
    assert abs(eye_angle(eyes) - (base - angle)) < 2.5


def test_rotation_fallback(astronaut):
    tilted = rotate(astronaut, -25)
    assert HaarCascadeDetector(rotations=()).detect(tilted) == []
    boxes = HaarCascadeDetector().detect(tilted)
    assert len(boxes) == 1
    assert 200 <= boxes[0].center[0] <= 330 and 60 <= boxes[0].center[1] <= 180


def test_registry():
    assert "haar" in list_detectors()
    det = create_detector("haar", min_neighbors=5)
    assert isinstance(det, HaarCascadeDetector) and det.min_neighbors == 5
    assert isinstance(det, FaceDetector)
    with pytest.raises(ConfigError, match="haar"):
        create_detector("retinaface")
    with pytest.raises(ConfigError, match="min_neigbors"):
        create_detector("haar", min_neigbors=3)


@pytest.mark.parametrize(
    "params",
    [
        {"scale_factor": 1.0},
        {"min_neighbors": -1},
        {"min_size_fraction": 1.5},
        {"cascade": "no_such_cascade"},
        {"nms_threshold": 2},
        {"rotations": 5},
    ],
)
def test_bad_parameters(params):
    with pytest.raises(ConfigError):
        HaarCascadeDetector(**params)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((10, 10), np.int32), "dtype"),
        (np.zeros((10, 10), np.uint16), "dtype"),
        (np.full((10, 10), 2.0), r"\[0, 1\]"),
        (np.full((10, 10), np.nan), "NaN"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        (np.zeros(10, np.uint8), "shape"),
        (np.zeros((0, 10), np.uint8), "empty"),
        ([[0, 1], [2, 3]], "numpy array"),
    ],
)
def test_bad_images(detector, image, match):
    with pytest.raises(ValueError, match=match):
        detector.detect(image)


def test_pickle_roundtrip(detector, astronaut):
    clone = pickle.loads(pickle.dumps(detector))
    assert clone.detect(astronaut)[0].as_list() == detector.detect(astronaut)[0].as_list()


def test_facebox_is_frozen():
    box = FaceBox(1, 2, 3, 4)
    with pytest.raises(AttributeError):
        box.x = 5  # type: ignore[misc]
    assert box.score is None and box.area == 12 and box.center == (2.5, 4.0)
