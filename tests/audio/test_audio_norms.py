from __future__ import annotations

import numpy as np
import pytest

from affectlab.audio.normalise import describe_normalisation, normalise
from affectlab.audio.norms import AFFECTIVE_NORMS, category_to_vad
from affectlab.data.emodb import EMODB_CLASSES
from affectlab.errors import ConfigError, DataError, ProtocolError


def test_every_emodb_class_has_warriner_coordinates():
    vad = category_to_vad(list(EMODB_CLASSES))
    assert vad.shape == (7, 3) and np.all((vad >= 1) & (vad <= 9))
    norm = AFFECTIVE_NORMS["warriner2013"]
    assert "Behavior Research Methods" in norm.citation
    happiness, sadness = category_to_vad(["happiness", "sadness"])
    assert happiness[0] > 8.0 and sadness[0] < 3.0  # valence
    assert category_to_vad(["boredom"])[0, 1] < category_to_vad(["anger"])[0, 1]  # arousal


def test_unknown_category_is_named():
    with pytest.raises(DataError, match="surprise"):
        category_to_vad(["anger", "surprise"])


def test_per_speaker_normalisation():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [10.0, 0.0], [30.0, 2.0]])
    Z = normalise(X, np.array(["a", "a", "b", "b"]), "per_speaker")
    assert Z[:, 0].tolist() == [-1.0, 1.0, -1.0, 1.0]
    assert Z[:2, 1].tolist() == [0.0, 0.0]  # constant within speaker a
    assert np.array_equal(normalise(X, None, "global"), X.astype(np.float32))
    with pytest.raises(ProtocolError):
        normalise(X, None, "per_speaker")
    with pytest.raises(ConfigError, match="unknown"):
        normalise(X, None, "per_utterance")
    assert "own mean" in describe_normalisation("per_subject")
