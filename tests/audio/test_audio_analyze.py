from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from affectlab.audio.analyze import (
    DEFAULT_SPEECH_WEIGHTS,
    SpeechAnalyzer,
    SpeechModel,
    load_speech_model,
    save_speech_model,
    softmax,
)
from affectlab.audio.norms import category_to_vad
from affectlab.cli import cli
from affectlab.errors import ModelError

CLASSES = ["anger", "neutral", "sadness"]


def _tiny_model(tmp_path, dim=88):
    rng = np.random.default_rng(0)
    model = SpeechModel(name="tiny", feature_set="egemaps_v02", sample_rate=16000, classes=CLASSES,
                        mean=rng.normal(size=dim), scale=np.abs(rng.normal(size=dim)) + 0.5,
                        coef=0.1 * rng.normal(size=(3, dim)), intercept=np.zeros(3), vad=category_to_vad(CLASSES))
    npz, _ = save_speech_model(model, tmp_path / "tiny")
    return npz


def test_round_trip_and_vad_is_the_expected_rating(tmp_path):
    model = load_speech_model(_tiny_model(tmp_path))
    assert model.classes == CLASSES and model.coef.shape == (3, 88)
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    assert np.allclose(model.vad_of(p), [category_to_vad(["anger"])[0],
                                         category_to_vad(["anger", "sadness"]).mean(axis=0)])
    with pytest.raises(ModelError, match="expects 88 features"):
        model.predict_proba(np.zeros((1, 5)))


def test_missing_or_inconsistent_model(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_speech_model(tmp_path / "none.npz")
    npz = _tiny_model(tmp_path)
    meta = npz.with_suffix(".json")
    info = json.loads(meta.read_text())
    info["classes"] = ["a"]
    meta.write_text(json.dumps(info))
    with pytest.raises(ModelError, match="do not match"):
        load_speech_model(npz)


def test_softmax_rows_sum_to_one():
    assert np.allclose(softmax(np.random.default_rng(0).normal(size=(4, 3))).sum(axis=1), 1.0)


def test_analyzer_on_files(tmp_path, write_wav, make_tone):
    pytest.importorskip("opensmile")
    analyzer = SpeechAnalyzer(_tiny_model(tmp_path))
    good = analyzer.analyze_path(write_wav("voice.wav", make_tone(0.8)))
    assert good.status == "ok" and good.label in CLASSES
    assert sum(good.probabilities.values()) == pytest.approx(1.0)
    assert 1.0 <= good.valence <= 9.0 and 1.0 <= good.arousal <= 9.0 and 1.0 <= good.dominance <= 9.0
    bad = analyzer.analyze_path(write_wav("quiet.wav", np.zeros(16000, np.float32)))
    assert bad.status == "error" and "quiet.wav: silent audio" in bad.error
    row = good.to_dict()
    assert row["kind"] == "speech" and set(row["probabilities"]) == set(CLASSES) and row["model"] == "tiny"


@pytest.mark.skipif(not DEFAULT_SPEECH_WEIGHTS.is_file(), reason="bundled speech model not built yet")
def test_bundled_model_card_says_german_acted_speech():
    model = load_speech_model()
    assert model.feature_set == "compare_2016" and len(model.classes) == 7
    card = DEFAULT_SPEECH_WEIGHTS.with_suffix(".md").read_text()
    assert "German acted speech" in card


@pytest.mark.shared_data
@pytest.mark.skipif(not DEFAULT_SPEECH_WEIGHTS.is_file(), reason="bundled speech model not built yet")
def test_cli_analyze_speech_on_emodb(dataset_path, tmp_path):
    pytest.importorskip("opensmile")
    from affectlab.cli import cli

    wav = dataset_path("emodb/wav")
    files = [str(wav / name) for name in ("03a01Wa.wav", "03a02Ta.wav")]
    bad = tmp_path / "broken.wav"
    bad.write_text("nope")
    result = CliRunner().invoke(cli, ["analyze", *files, str(bad), "--no-progress"])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.exit_code == 1 and len(lines) == 3
    assert [line["status"] for line in lines] == ["ok", "ok", "error"]
    assert lines[0]["label"] in lines[0]["probabilities"] and "valence" in lines[0]
    assert "broken.wav: cannot read audio" in lines[2]["error"]


def test_speech_analyzer_gives_the_same_answer_for_int16_and_float(write_wav, make_tone):
    pytest.importorskip("opensmile")
    import soundfile as sf

    from affectlab.audio.analyze import SpeechAnalyzer

    path = write_wav("tone.wav", make_tone(1.0))
    analyzer = SpeechAnalyzer()
    as_float, _ = sf.read(str(path), dtype="float32")
    as_int16, _ = sf.read(str(path), dtype="int16")
    a, b = analyzer.analyze_signal(as_float), analyzer.analyze_signal(as_int16)
    assert a.label == b.label
    for c in a.probabilities:  # before: int16 amplitudes of +-30000 went to openSMILE unscaled
        assert b.probabilities[c] == pytest.approx(a.probabilities[c], abs=1e-3)


def test_cli_speech_output_into_a_missing_folder_is_created(tmp_path, write_wav, make_tone):
    pytest.importorskip("opensmile")
    good = write_wav("good.wav", make_tone(1.0))
    out = tmp_path / "new" / "r.jsonl"  # before: FileNotFoundError traceback
    result = CliRunner().invoke(cli, ["analyze", str(good), "--no-progress", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["status"] for line in out.read_text().splitlines()] == ["ok"]
