"""A clip classifier: fit, save, load, predict_clip."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from affectlab.clips import (
    ClipModel,
    ClipNoFace,
    fit_clip_model,
    load_clip_model,
    load_clips,
    predict_clip,
    save_clip_model,
)
from affectlab.errors import ConfigError, ModelError

from .conftest import write_training_clips


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """Six clips: the astronaut (label "plain") and mirrored (label "mirror"), three subjects each."""
    folder = tmp_path_factory.mktemp("train")
    write_training_clips(folder)
    return load_clips(folder / "manifest.csv", frames=3, size=32)


def test_fit_save_load_predict(training, clip_dir, tmp_path):
    model = fit_clip_model(training, feature="lbp_top", feature_params={"levels": 2},
                           classifier="linear_svm", classifier_params={"C": 1.0}, name="toy")
    assert model.classes_ == ["mirror", "plain"] and model.trained_on_["clips"] == 6
    path = save_clip_model(model, tmp_path / "toy.joblib")
    loaded = load_clip_model(path)
    assert repr(loaded).startswith("ClipModel(name='toy'")
    result = predict_clip(clip_dir / "face.avi", path)
    assert result.label == "plain" and set(result.probabilities) == {"mirror", "plain"}
    assert np.isclose(sum(result.probabilities.values()), 1.0)
    assert result.probabilities["plain"] > 0.5
    assert predict_clip(clip_dir / "mirrored.avi", loaded).label == "mirror"
    assert result.to_dict()["volume"]["frames"] == 8
    with pytest.raises(ClipNoFace):
        predict_clip(clip_dir / "blank.avi", loaded)


def test_bad_models(tmp_path, training):
    with pytest.raises(ModelError, match="not found"):
        load_clip_model(tmp_path / "absent.joblib")
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ModelError, match="not a readable clip model"):
        load_clip_model(tmp_path / "junk.joblib")
    import joblib

    joblib.dump({"something": 1}, tmp_path / "other.joblib")
    with pytest.raises(ModelError, match="not an affectlab clip model"):
        load_clip_model(tmp_path / "other.joblib")
    with pytest.raises(ModelError, match="not fitted"):
        save_clip_model(ClipModel(), tmp_path / "unfitted.joblib")
    with pytest.raises(ConfigError):
        ClipModel(feature="no_such_feature")
    with pytest.raises(ConfigError, match="other volume settings"):
        ClipModel(volume={"frames": 4}).fit(training)
    shutil.rmtree(tmp_path)
