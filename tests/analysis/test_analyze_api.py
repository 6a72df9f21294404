"""The analysis pipeline on the built-in sample, bad files and batches (random-weight model)."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import torch

from affectlab import EXPRESSIONS, ExpressionAnalyzer, read_image, sample_photo
from affectlab.errors import ConfigError
from affectlab.models import create_model, save_weights


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    torch.manual_seed(0)
    return save_weights(create_model("mini_xception"), tmp_path_factory.mktemp("w") / "random.pt")


@pytest.fixture(scope="module")
def analyzer(random_weights):
    return ExpressionAnalyzer(weights=random_weights, device="cpu")


@pytest.fixture(scope="module")
def weights(random_weights):
    return str(random_weights)


def test_sample_photo_gives_one_face_with_all_probabilities(analyzer):
    result = analyzer.analyze(sample_photo(), source="astronaut")
    assert result.status == "ok"
    assert len(result.faces) == 1
    face = result.faces[0]
    assert set(face.probabilities) == set(EXPRESSIONS)
    assert abs(sum(face.probabilities.values()) - 1.0) < 1e-5
    assert face.label == max(face.probabilities, key=face.probabilities.get)
    x, y, w, h = face.box.as_list()
    assert 0 <= x and 0 <= y and x + w <= 512 and y + h <= 512 and w > 50
    record = result.to_dict()
    assert record["source"] == "astronaut" and record["status"] == "ok"
    assert list(record["faces"][0]) >= ["box", "label", "probabilities"]


def test_no_face_and_whole_frame(random_weights):
    blank = np.full((200, 200, 3), 128, np.uint8)
    strict = ExpressionAnalyzer(weights=random_weights, device="cpu")
    assert strict.analyze(blank).status == "no_face"
    assert strict.analyze(blank).faces == []
    lenient = ExpressionAnalyzer(weights=random_weights, device="cpu", whole_frame=True)
    result = lenient.analyze(blank)
    assert result.status == "ok" and result.faces[0].box.as_list() == [0, 0, 200, 200]


def test_gray_input_is_accepted(analyzer):
    gray = sample_photo().mean(axis=2).astype(np.uint8)
    assert analyzer.analyze(gray).status == "ok"


def test_batch_keeps_good_items_after_a_corrupt_file(analyzer, tmp_path):
    import cv2

    good = tmp_path / "good.png"
    cv2.imwrite(str(good), cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    missing = tmp_path / "missing.png"
    results = [r for r, _ in analyzer.analyze_many([corrupt, good, missing])]
    assert [r.status for r in results] == ["error", "ok", "error"]
    assert "corrupt.jpg" in results[0].error
    assert "missing.png" in results[2].error and "not found" in results[2].error


def test_classify_crops_matches_model(analyzer):
    crops = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    probs = analyzer.classify_crops(crops)
    assert probs.shape == (3, 7)
    with torch.no_grad():
        expected = torch.softmax(analyzer.model(torch.from_numpy(crops).float().div(255).unsqueeze(1)), 1)
    assert np.allclose(probs, expected.numpy(), atol=1e-6)


def test_read_image_refuses_an_unknown_mode(photo):
    with pytest.raises(ConfigError, match="mode must be 'rgb' or 'gray', got 'bgr'"):
        read_image(photo, mode="bgr")  # used to return BGR pixels silently


@pytest.mark.parametrize("array, problem", [
    (np.zeros((0, 0), np.uint8), "empty image"),
    (np.zeros((40, 40), bool), "dtype"),
    (np.zeros((40, 40), np.uint16), "dtype"),
])
def test_analyze_names_the_problem_of_a_bad_array(weights, array, problem):
    analyzer = ExpressionAnalyzer("mini_xception", weights=weights, device="cpu")
    with pytest.raises(ValueError, match=re.escape(problem)) as info:
        analyzer.analyze(array, source="frame7")
    assert "frame7" in str(info.value)


def test_rgba_and_one_channel_arrays_match_rgb(weights):
    analyzer = ExpressionAnalyzer("mini_xception", weights=weights, device="cpu")
    rgb = sample_photo()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    expected = analyzer.analyze(rgb).faces[0].probabilities
    for variant in (rgba, gray[..., None]):
        got = analyzer.analyze(variant).faces[0].probabilities
        assert got == pytest.approx(analyzer.analyze(gray).faces[0].probabilities if variant.shape[2] == 1
                                    else expected, abs=1e-6)
