"""Fixtures of the speech tests: synthetic audio files written with soundfile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def tone(seconds: float = 1.0, rate: int = 16000, freq: float = 220.0, amplitude: float = 0.3,
         seed: int = 0) -> np.ndarray:
    """A harmonic tone with a little noise and an amplitude envelope (voice-like enough for openSMILE)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = freq * (1.0 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * t / max(t[-1], 1e-3))) if t.size > 1 else np.ones_like(t)
    return (amplitude * envelope * x / 2 + 0.01 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture
def write_wav(tmp_path: Path):
    """``write_wav(name, signal, rate)`` -> path of a 16-bit file in tmp_path (format from the suffix)."""
    sf = pytest.importorskip("soundfile")

    def _write(name: str, signal: np.ndarray, rate: int = 16000) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.asarray(signal), rate, subtype="PCM_16" if path.suffix in (".wav", ".flac") else None)
        return path

    return _write


@pytest.fixture
def make_tone():
    """The :func:`tone` generator, for tests."""
    return tone
