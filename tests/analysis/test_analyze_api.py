"""The analysis pipeline on the built-in sample, bad files and batches (random-weight model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectlab import EXPRESSIONS, ExpressionAnalyzer, sample_photo
from affectlab.models import create_model, save_weights


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    torch.manual_seed(0)
    return save_weights(create_model("mini_xception"), tmp_path_factory.mktemp("w") / "random.pt")


@pytest.fixture(scope="module")
def analyzer(random_weights):
    return ExpressionAnalyzer(weights=random_weights, device="cpu")


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
