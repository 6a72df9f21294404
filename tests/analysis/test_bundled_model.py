"""The bundled expression model: present, loads offline, and behaves on real faces."""

from __future__ import annotations

import numpy as np
import pytest

from affectlab import ExpressionAnalyzer, list_models, sample_photo
from affectlab.data import load_dataset, read_image
from affectlab.labels import canonical_expression


@pytest.fixture(scope="module")
def analyzer():
    return ExpressionAnalyzer(device="cpu")


def test_default_model_ships_with_weights():
    assert "mini_xception" in list_models(pretrained=True)


def test_sample_photo_smile_is_happy(analyzer):
    result = analyzer.analyze(sample_photo(), source="astronaut")
    assert result.status == "ok" and len(result.faces) == 1
    assert result.faces[0].label == "happy"
    assert result.faces[0].probabilities["happy"] > 0.5


@pytest.mark.shared_data
@pytest.mark.slow
def test_cross_dataset_ckplus48_well_above_chance(analyzer, dataset_path):
    """Trained on FER2013 only; CK+48's 6 shared classes (contempt has no counterpart).

    Measured: accuracy 0.667, UAR 0.575 on the 927 crops (chance: 1/6 UAR).
    """
    data = load_dataset(dataset_path("ckplus48"))
    keep = [s for s in data if s.label != "contempt"]
    crops = np.stack([read_image(s.path, mode="gray") for s in keep])
    pred = np.array(analyzer.class_names)[analyzer.classify_crops(crops).argmax(1)]
    true = np.array([canonical_expression(s.label) for s in keep])
    assert len(true) == 927
    assert np.mean(pred == true) > 0.6
    assert np.mean(pred[true == "happy"] == "happy") > 0.9
