"""The speech experiment's feature-wise CCC on real per-utterance ratings, not only on a norm's category proxy."""

from __future__ import annotations

import csv
import json

import pytest

from affectlab.errors import ConfigError, DataError
from affectlab.experiments.speech import load_speech_config, run_speech_experiment

pytest.importorskip("opensmile")

#: Categories no affective norm lists, with a pitch and a rating each.
STATES = {"frustrated": (140.0, 2.0), "content": (200.0, 7.5), "calm": (90.0, 6.0)}


@pytest.fixture
def rated_manifest(tmp_path, write_wav, make_tone):
    rows = ["path,label,subject,split,valence,arousal"]
    for s, speaker in enumerate(("s1", "s2", "s3")):
        for label, (f0, valence) in STATES.items():
            for t in range(2):
                wav = write_wav(f"rated/{speaker}_{label}_{t}.wav",
                                make_tone(0.5, freq=f0 * (1 + 0.03 * s), amplitude=0.3, seed=7 * s + t))
                rows.append(f"{wav},{label},{speaker},,{valence + 0.2 * t},{f0 / 40}")
    manifest = tmp_path / "rated.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def _config(manifest, **featurewise):
    return {"kind": "speech", "name": "rated", "data": {"source": str(manifest), "format": "manifest"},
            "protocol": {"kind": "logo"}, "normalisation": ["global"],
            "features": [{"name": "egemaps_v02", "label": "eGeMAPS"}],
            "classifiers": [{"name": "linear_svm", "C": 1.0}], "tasks": [{"name": "states"}],
            "featurewise": {"features": ["eGeMAPS"], "top_k": 3, **featurewise}}


def test_featurewise_ccc_uses_the_utterances_own_ratings(rated_manifest, tmp_path):
    # before: DataError "no warriner2013 valence/arousal/dominance for label(s) calm, content, frustrated"
    result = run_speech_experiment(_config(rated_manifest), tmp_path / "run", progress=False)
    out = result.out_dir
    (entry,) = json.loads((out / "metrics.json").read_text())["featurewise"]
    assert entry["proxy"] is False and entry["dimensions"] == ["valence", "arousal"] and "norm" not in entry
    with open(out / "featurewise_eGeMAPS.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["feature", "valence", "arousal"]
    by_name = {row["feature"]: row for row in rows}
    assert float(by_name["F0semitoneFrom27.5Hz_sma3nz_amean"]["arousal"]) > 0.9  # the arousal column is pitch / 40
    assert (out / "featurewise_eGeMAPS_scatter.png").is_file()
    assert "per-utterance ratings" in (out / "report.md").read_text()
    assert "own valence/arousal ratings" in (out / "featurewise_eGeMAPS_top3.md").read_text()


def test_one_rated_dimension_and_explicit_choices(rated_manifest, tmp_path):
    result = run_speech_experiment(_config(rated_manifest, targets="extras", dimensions=["valence"]),
                                   tmp_path / "run", progress=False)
    (entry,) = json.loads((result.out_dir / "metrics.json").read_text())["featurewise"]
    assert entry["dimensions"] == ["valence"] and entry["scatter_png"] is None
    with pytest.raises(DataError, match="numeric dominance rating"):  # refused before any feature is extracted
        run_speech_experiment(_config(rated_manifest, targets="extras", dimensions=["dominance"]),
                              tmp_path / "run2", progress=False)
    with pytest.raises(DataError, match="no warriner2013 valence/arousal/dominance for label"):
        run_speech_experiment(_config(rated_manifest, targets="norm"), tmp_path / "run3", progress=False)
    assert not (tmp_path / "run2").exists() and not (tmp_path / "run3").exists()


@pytest.mark.parametrize("change, message", [
    ({"targets": "ratings"}, "featurewise.targets must be"),
    ({"dimensions": ["pleasure"]}, "featurewise.dimensions must be a subset"),
])
def test_featurewise_config_errors(rated_manifest, change, message):
    with pytest.raises(ConfigError, match=message):
        load_speech_config(_config(rated_manifest, **change))
