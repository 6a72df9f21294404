"""FacePreprocessor end to end, normalize_minmax, and the ORL real-data detection rate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from affectlab.data.media import read_image, sample_photo
from affectlab.errors import ConfigError, NoFaceError
from affectlab.face import (
    FaceBox,
    FacePreprocessor,
    HaarCascadeDetector,
    normalize_minmax,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return sample_photo()


@pytest.fixture(scope="module")
def two_faces(astronaut) -> np.ndarray:
    canvas = np.zeros((512, 1024, 3), np.uint8)
    canvas[:, :512] = astronaut
    canvas[128:384, 600:856] = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    return canvas


def test_astronaut_one_aligned_face(astronaut):
    det = HaarCascadeDetector()
    faces = FacePreprocessor(det)(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert face.image.shape == (48, 48) and face.image.dtype == np.uint8
    assert face.aligned and face.eyes is not None and abs(face.angle) < 10
    assert face.box == det.detect(astronaut)[0]  # alignment never changes the box


def test_rgb_and_size(astronaut):
    face = FacePreprocessor("haar", size=64, color="rgb", margin=0.2)(astronaut)[0]
    assert face.image.shape == (64, 64, 3)


def test_align_false(astronaut):
    face = FacePreprocessor(align=False)(astronaut)[0]
    assert not face.aligned and face.angle == 0.0 and face.eyes is None


def test_multi_face_and_max_faces(two_faces):
    faces = FacePreprocessor()(two_faces)
    assert len(faces) == 2 and faces[0].box.area > faces[1].box.area
    capped = FacePreprocessor(max_faces=1)(two_faces)
    assert len(capped) == 1 and capped[0].box == faces[0].box


def test_no_face_and_fallback():
    blank = np.zeros((60, 80, 3), np.uint8)
    assert FacePreprocessor()(blank) == []
    with pytest.raises(NoFaceError):
        FacePreprocessor().largest(blank)
    [face] = FacePreprocessor(whole_frame_fallback=True, size=32)(blank)
    assert face.box == FaceBox(0, 0, 80, 60)
    assert face.image.shape == (32, 32) and not face.aligned and face.eyes is None


def test_fallback_not_used_when_face_found(astronaut):
    faces = FacePreprocessor(whole_frame_fallback=True)(astronaut)
    assert len(faces) == 1 and faces[0].box.w < 200


def test_custom_detector_object():
    class Fixed:
        def detect(self, image):
            return [FaceBox(2, 2, 10, 10)]

    [face] = FacePreprocessor(Fixed(), size=16)(np.zeros((20, 20), np.uint8))
    assert face.box == FaceBox(2, 2, 10, 10) and not face.aligned  # no detect_eyes -> unaligned


@pytest.mark.parametrize(
    "kwargs",
    [{"detector": "nope"}, {"detector": 42}, {"max_faces": 0}, {"size": -1}, {"color": "bgr"}, {"margin": -1}],
)
def test_bad_config(kwargs):
    with pytest.raises(ConfigError):
        FacePreprocessor(**kwargs)


def test_normalize_minmax_hand_cases():
    out = normalize_minmax(np.array([[10, 20], [30, 50]], np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.25], [0.5, 1.0]])
    np.testing.assert_array_equal(normalize_minmax(np.full((3, 3), 7, np.uint8)), np.zeros((3, 3)))
    np.testing.assert_allclose(normalize_minmax(np.array([-2.0, 0.0, 2.0])), [0.0, 0.5, 1.0])
    rgb = normalize_minmax(np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
    assert rgb.shape == (2, 2, 3) and rgb.min() == 0.0 and rgb.max() == 1.0
    with pytest.raises(ValueError):
        normalize_minmax(np.array([1.0, np.nan]))
    with pytest.raises(ValueError):
        normalize_minmax(np.array([]))


@pytest.mark.shared_data
@pytest.mark.slow
def test_orl_detection_rate(dataset_path):
    """ORL faces (this copy is 23x28 px, not 92x112): measured 400/400 exactly one face."""
    files = sorted(dataset_path("orl_faces").glob("s*/*.pgm"))
    assert len(files) == 400
    det = HaarCascadeDetector()
    counts = np.array([len(det.detect(read_image(f, mode="gray"))) for f in files])
    assert np.mean(counts == 1) >= 0.95
    assert np.mean(counts >= 1) >= 0.97
