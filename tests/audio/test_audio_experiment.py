from __future__ import annotations

import json

import pytest
import yaml

from affectlab.errors import ConfigError
from affectlab.experiments.speech import load_speech_config, run_speech_experiment

pytest.importorskip("opensmile")

EMOTIONS = {"W": 140.0, "T": 90.0, "F": 200.0}  # anger, sadness, happiness: pitch differs by class


@pytest.fixture
def mini_emodb(tmp_path, write_wav, make_tone):
    """4 speakers x 3 emotions x 2 texts of synthetic 'speech' named like EmoDB files."""
    for s, speaker in enumerate(("03", "08", "09", "10")):
        for letter, f0 in EMOTIONS.items():
            for t, text in enumerate(("a01", "b02")):
                amplitude = 0.5 if letter == "W" else 0.15
                write_wav(f"emo/wav/{speaker}{text}{letter}a.wav",
                          make_tone(0.6, freq=f0 * (1 + 0.04 * s), amplitude=amplitude, seed=10 * s + t))
    return tmp_path / "emo"


def _config(source):
    return {
        "kind": "speech", "name": "mini", "data": {"source": str(source), "format": "emodb"},
        "protocol": {"kind": "logo"}, "normalisation": ["per_speaker", "global"],
        "features": [{"name": "egemaps_v02", "label": "eGeMAPS"}],
        "classifiers": [{"name": "linear_svm", "C_grid": [0.01, 1.0], "inner_splits": 3}],
        "regressors": [{"name": "rbf_svr", "C_grid": [0.1, 10.0], "inner_splits": 3}],
        "tasks": [{"name": "3class"},
                  {"name": "arousal", "map": {"high": ["anger", "happiness"], "low": ["sadness"]},
                   "normalisation": ["per_speaker"]},
                  {"name": "dim_proxy", "type": "regression", "norm": "warriner2013"}],
        "featurewise": {"features": ["eGeMAPS"], "top_k": 5},
    }


def test_run_folder_rows_and_report(mini_emodb, tmp_path):
    result = run_speech_experiment(_config(mini_emodb), tmp_path / "run", progress=False, cache=tmp_path / "cache")
    out = result.out_dir
    metrics = json.loads((out / "metrics.json").read_text())
    tasks = {(r["task"], r["normalisation"]) for r in metrics["rows"]}
    assert tasks == ({(t, n) for t in ("3class", "dim_valence_proxy", "dim_arousal_proxy", "dim_dominance_proxy")
                      for n in ("per_speaker", "global")} | {("arousal", "per_speaker")})
    assert result.n_folds == 4 and len(result.rows) == 9
    by = {(r["task"], r["normalisation"]): r for r in metrics["rows"]}
    assert by["3class", "per_speaker"]["uar"] > 0.6  # pitch separates the synthetic classes
    assert by["3class", "per_speaker"]["n_test"] == 24
    assert by["dim_arousal_proxy", "global"]["proxy"] is True and "ccc" in by["dim_arousal_proxy", "global"]
    assert set(by["3class", "global"]["chosen"]["C"]["per_fold"]) <= {0.01, 1.0}
    report = (out / "report.md").read_text()
    assert "PROXY" in report and "per speaker" in report and "global" in report
    assert (out / "featurewise_eGeMAPS_scatter.png").is_file() and (out / "featurewise_eGeMAPS_top5.md").is_file()
    assert "F0semitone" in (out / "featurewise_eGeMAPS.csv").read_text()
    assert (out / "predictions.csv").read_text().count("\n") == 1 + 9 * 24
    assert "| 3class | eGeMAPS | linear_svm | per_speaker |" in result.table()
    # a second run reads the features from the cache
    again = run_speech_experiment(_config(mini_emodb), tmp_path / "run2", progress=False, cache=tmp_path / "cache")
    assert json.loads((again.out_dir / "metrics.json").read_text())["features"]["eGeMAPS"]["cache"] == "hit"
    assert [r["uar"] for r in again.rows if "uar" in r] == [r["uar"] for r in result.rows if "uar" in r]


def test_yaml_path_and_experiment_dispatch(mini_emodb, tmp_path):
    from affectlab.experiments import run_experiment

    cfg = _config("emo")
    cfg["tasks"] = cfg["tasks"][:1]
    cfg["normalisation"] = "per_speaker"
    cfg.pop("featurewise")
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = run_experiment(path, tmp_path / "run", progress=False)
    assert [r["task"] for r in result.rows] == ["3class"]


@pytest.mark.parametrize("change, message", [
    ({"colour": 1}, "'colour' is not a key"),
    ({"features": [{"name": "mfcc"}]}, "features\\[0\\].name 'mfcc' is unknown"),
    ({"features": [{"name": "egemaps"}, {"name": "fusion", "of": ["egemaps_v02", "x"]}]}, "fusion part 'x'"),
    ({"normalisation": ["per_utterance"]}, "normalisation 'per_utterance' is unknown"),
    ({"tasks": [{"name": "a", "map": {"high": ["anger"], "low": ["anger"]}}]}, "mapped twice"),
    ({"tasks": [{"name": "d", "type": "regression", "dimensions": ["pleasure"]}]}, "dimensions must be"),
    ({"featurewise": {"features": ["nope"]}}, "featurewise.features: 'nope'"),
    ({"tasks": [{"name": "t", "features": ["nope"]}]}, "tasks: t: feature 'nope'"),
    ({"classifiers": [{"name": "linear_svm", "only": {"normalisation": ["global"], "speed": 1}}]}, "only.speed"),
])
def test_config_errors(mini_emodb, change, message):
    cfg = {**_config(mini_emodb), **change}
    with pytest.raises(ConfigError, match=message):
        load_speech_config(cfg)


def test_unmapped_class_is_named(mini_emodb, tmp_path):
    cfg = _config(mini_emodb)
    cfg["tasks"] = [{"name": "arousal", "map": {"high": ["anger"], "low": ["sadness"]}}]
    with pytest.raises(ConfigError, match="happiness"):
        run_speech_experiment(cfg, tmp_path / "run", progress=False)


def test_manifest_session_groups_and_real_ratings(mini_emodb, tmp_path):
    """Leave-one-session-group-out on a CSV manifest whose valence/arousal columns are real targets."""
    rows = ["path,label,subject,split,session,valence,arousal"]
    for i, wav in enumerate(sorted((mini_emodb / "wav").glob("*.wav"))):
        letter = wav.stem[5]
        valence = {"W": 2.0, "T": 3.0, "F": 8.0}[letter] + 0.1 * (i % 3)
        rows.append(f"{wav},{ {'W': 'anger', 'T': 'sadness', 'F': 'happiness'}[letter] },{wav.stem[:2]},,"
                    f"s{int(wav.stem[:2]) % 2},{valence},{valence / 2}")
    manifest = tmp_path / "m.csv"
    manifest.write_text("\n".join(rows) + "\n")
    cfg = _config(manifest)
    cfg["data"] = {"source": str(manifest), "format": "manifest"}
    cfg["protocol"] = {"kind": "logo", "group_by": "session"}
    cfg["normalisation"] = ["global"]
    cfg["tasks"] = [{"name": "dims", "type": "regression", "targets": "extras", "dimensions": ["valence", "arousal"]}]
    cfg.pop("featurewise")
    result = run_speech_experiment(cfg, tmp_path / "run", progress=False)
    assert result.n_folds == 2 and [r["task"] for r in result.rows] == ["dim_valence", "dim_arousal"]
    assert not any(r["proxy"] for r in result.rows)
    assert "leave-one-session-group-out" in (result.out_dir / "report.md").read_text()


@pytest.mark.slow
def test_ssl_feature_from_a_local_tiny_model(mini_emodb, tmp_path):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    config = transformers.WavLMConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                                      conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2),
                                      num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    transformers.WavLMModel(config).save_pretrained(tmp_path / "tiny-wavlm")
    cfg = _config(mini_emodb)
    cfg["features"] = [{"name": "ssl", "label": "WavLM", "model_dir": str(tmp_path / "tiny-wavlm"), "layer": 1,
                        "device": "cpu"},
                       {"name": "egemaps", "label": "eGeMAPS"},
                       {"name": "fusion", "label": "WavLM+eGeMAPS", "of": ["WavLM", "eGeMAPS"]}]
    cfg["tasks"] = cfg["tasks"][:1]
    cfg["normalisation"] = "per_speaker"
    cfg.pop("featurewise")
    result = run_speech_experiment(cfg, tmp_path / "run", progress=False, cache=tmp_path / "cache")
    dims = {r["feature"]: r["feature_dim"] for r in result.rows}
    assert dims == {"WavLM": 16, "eGeMAPS": 88, "WavLM+eGeMAPS": 104}
