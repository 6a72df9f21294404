"""``POST /v1/speech`` with a tiny speech model built here (the route answers 501 without one)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient

from affectlab.analysis import ExpressionAnalyzer
from affectlab.service import ServiceSettings, create_app


@pytest.fixture(scope="module")
def analyzer() -> ExpressionAnalyzer:
    return ExpressionAnalyzer()


@pytest.fixture(scope="module")
def tiny_speech_model(tmp_path_factory):
    """A 2-class softmax model on eGeMAPS (88 functionals) with fixed random weights."""
    analyze = pytest.importorskip("affectlab.audio.analyze", reason="affectlab.audio is not part of this build")
    pytest.importorskip("opensmile", reason="openSMILE is not installed (speech extra)")
    rng = np.random.default_rng(0)
    model = analyze.SpeechModel(
        name="tiny", feature_set="egemaps_v02", sample_rate=16000, classes=["anger", "neutral"],
        mean=np.zeros(88), scale=np.full(88, 100.0), coef=rng.normal(size=(2, 88)), intercept=np.zeros(2),
        vad=np.array([[2.5, 6.2, 5.0], [5.0, 3.0, 5.0]]),
    )
    npz, _ = analyze.save_speech_model(model, tmp_path_factory.mktemp("speech") / "tiny")
    return npz


def _wav(seconds: float = 2.0, rate: int = 16000) -> bytes:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    signal = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    buffer = io.BytesIO()
    sf.write(buffer, signal.astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


def test_speech_gives_categories_and_vad(analyzer, tiny_speech_model, tmp_path):
    from affectlab.audio.analyze import SpeechAnalyzer

    wav = _wav()
    with TestClient(create_app(ServiceSettings(speech_weights=tiny_speech_model), analyzer=analyzer)) as client:
        assert client.get("/health").json()["capabilities"]["speech"] is True
        res = client.post("/v1/speech", files={"file": ("hello.wav", wav, "audio/wav")})
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["source"] == "hello.wav" and body["status"] == "ok" and body["model"] == "tiny"
        assert set(body["probabilities"]) == {"anger", "neutral"}
        assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        path = tmp_path / "hello.wav"  # the same answer as the library on the same file
        path.write_bytes(wav)
        direct = SpeechAnalyzer(tiny_speech_model).analyze_path(path).to_dict()
        assert body["label"] == direct["label"] and body["probabilities"] == direct["probabilities"]
        assert (body["valence"], body["arousal"], body["dominance"]) == (
            direct["valence"], direct["arousal"], direct["dominance"])

        short = client.post("/v1/speech", files={"file": ("blip.wav", _wav(0.05), "audio/wav")})
        assert short.status_code == 422 and short.json()["detail"].startswith("blip.wav: too short")
        bad = client.post("/v1/speech", files={"file": ("noise.wav", b"RIFF garbage", "audio/wav")})
        assert bad.status_code == 422 and "noise.wav" in bad.json()["detail"]
        text = client.post("/v1/speech", files={"file": ("notes.txt", b"hello", "text/plain")})
        assert text.status_code == 415


def test_speech_without_a_model_is_501_with_the_reason(analyzer, tmp_path):
    with TestClient(create_app(ServiceSettings(speech_weights=tmp_path / "absent.npz"), analyzer=analyzer)) as client:
        info = client.get("/health").json()
        assert info["capabilities"]["speech"] is False and info["unavailable"]["speech"]
        res = client.post("/v1/speech", files={"file": ("a.wav", _wav(), "audio/wav")})
    assert res.status_code == 501
    assert res.json()["detail"].startswith("speech analysis is not available: ")
