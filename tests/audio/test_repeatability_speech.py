"""``kind: speech`` repeats whatever global random state the process had, and with worker processes.

Features: eGeMAPS (openSMILE) and a self-supervised embedding from a tiny local wav2vec 2.0 model
(dropout layers present, so it must run in eval mode); models with inner searches (linear SVM, RBF
SVR). openSMILE extraction and the folds run in worker processes with ``n_jobs=2``. Predictions
(``predictions.csv``) and every metric must be identical.
"""

from __future__ import annotations

import pytest
import torch

from affectlab.experiments.speech import run_speech_experiment
from tests.random_state import disturb_global_random_state

pytest.importorskip("opensmile")
transformers = pytest.importorskip("transformers")

EMOTIONS = {"W": 140.0, "T": 90.0, "F": 200.0}  # anger, sadness, happiness: pitch differs by class


@pytest.fixture
def mini_emodb(tmp_path, write_wav, make_tone):
    """3 speakers x 3 emotions x 2 texts of synthetic 'speech' named like EmoDB files."""
    for s, speaker in enumerate(("03", "08", "09")):
        for letter, f0 in EMOTIONS.items():
            for t, text in enumerate(("a01", "b02")):
                amplitude = 0.5 if letter == "W" else 0.15
                write_wav(f"emo/wav/{speaker}{text}{letter}a.wav",
                          make_tone(0.5, freq=f0 * (1 + 0.04 * s), amplitude=amplitude, seed=10 * s + t))
    return tmp_path / "emo"


@pytest.fixture
def tiny_wav2vec2(tmp_path):
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=32, conv_dim=(8, 8), conv_kernel=(10, 3),
                                         conv_stride=(5, 2), num_conv_pos_embeddings=16,
                                         num_conv_pos_embedding_groups=2, hidden_dropout=0.2,
                                         attention_dropout=0.2, feat_proj_dropout=0.2)
    transformers.Wav2Vec2Model(config).save_pretrained(tmp_path / "tiny-w2v2")
    return tmp_path / "tiny-w2v2"


def _config(source, model_dir):
    return {
        "kind": "speech", "name": "repeat", "data": {"source": str(source), "format": "emodb"},
        "protocol": {"kind": "logo"}, "normalisation": ["per_speaker", "global"],
        "features": [{"name": "egemaps_v02", "label": "eGeMAPS"},
                     {"name": "ssl", "label": "w2v2", "model_dir": str(model_dir), "device": "cpu"}],
        "classifiers": [{"name": "linear_svm", "C_grid": [0.01, 1.0], "inner_splits": 2}],
        "regressors": [{"name": "rbf_svr", "C_grid": [0.1, 10.0], "inner_splits": 2}],
        "tasks": [{"name": "3class"}, {"name": "dim_proxy", "type": "regression", "norm": "warriner2013",
                                       "dimensions": ["arousal"]}],
    }


def _run(source, model_dir, out, *, n_jobs=None):
    result = run_speech_experiment(_config(source, model_dir), out, progress=False, n_jobs=n_jobs)
    drop = ("seconds", "time")
    rows = [{k: v for k, v in row.items() if not any(word in k for word in drop)} for row in result.rows]
    return (out / "predictions.csv").read_bytes(), rows


def test_a_speech_run_repeats_whatever_random_state_the_process_had_and_with_two_jobs(mini_emodb, tiny_wav2vec2,
                                                                                     tmp_path):
    disturb_global_random_state(7)
    predictions, rows = _run(mini_emodb, tiny_wav2vec2, tmp_path / "a")
    assert {r["feature"] for r in rows} == {"eGeMAPS", "w2v2"} and len(predictions.splitlines()) > 1
    disturb_global_random_state(123)
    assert _run(mini_emodb, tiny_wav2vec2, tmp_path / "b") == (predictions, rows)
    disturb_global_random_state(99)
    assert _run(mini_emodb, tiny_wav2vec2, tmp_path / "c", n_jobs=2) == (predictions, rows)


def test_a_model_folder_missing_weights_is_refused_not_filled_at_random(tiny_wav2vec2):
    """transformers would draw the missing tensors from the process's random state: embeddings that change
    from run to run. The embedder names the folder and what is missing instead."""
    from safetensors.torch import load_file, save_file

    from affectlab.audio.ssl import SSLEmbedder
    from affectlab.errors import ModelError

    weights = load_file(tiny_wav2vec2 / "model.safetensors")
    kept = {name: tensor for name, tensor in weights.items() if not name.startswith("encoder.layers.1.")}
    assert len(weights) - len(kept) == 16
    save_file(kept, tiny_wav2vec2 / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelError, match=r"tiny-w2v2: the weights lack 16 tensor\(s\) of the wav2vec2 model "
                                         r"\(encoder\.layers\.1\..*, \.\.\.\); the folder is incomplete"):
        SSLEmbedder(tiny_wav2vec2, device="cpu")
