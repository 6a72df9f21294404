"""Speech emotion analyser: categories with probabilities and valence/arousal/dominance estimates.

The bundled model (``affectlab/weights/speech_emodb.npz`` + ``.json``, card ``speech_emodb.md``)
is a multinomial logistic regression on standardised openSMILE ComParE 2016 functionals,
trained on all of Berlin EmoDB (German, acted, 10 speakers) by
``benchmarks/train_speech_model.py``. Its valence/arousal/dominance are the expected
Warriner et al. (2013) ratings of the category words under the predicted probabilities
(``sum_c p(c) * norm(c)``, 1-9 scales): a proxy derived from the categories, not a model trained
on dimensional ratings. Weights are plain arrays (``.npz``) and JSON; nothing is unpickled.

Examples
--------
>>> analyzer = SpeechAnalyzer()  # doctest: +SKIP
>>> result = analyzer.analyze_path("speech.wav")  # doctest: +SKIP
>>> result.label, round(result.arousal, 2)  # doctest: +SKIP
('anger', 5.71)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.audio._deps import require
from affectlab.audio.io import check_signal, read_audio
from affectlab.audio.opensmile import opensmile_functionals
from affectlab.errors import AffectLabError, ModelError

__all__ = [
    "DEFAULT_SPEECH_WEIGHTS",
    "SpeechAnalyzer",
    "SpeechModel",
    "SpeechResult",
    "load_speech_model",
    "save_speech_model",
    "softmax",
]

#: The bundled model's weights (its metadata is the ``.json`` next to it).
DEFAULT_SPEECH_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "speech_emodb.npz"


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large values.

    >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]])).round(3).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class SpeechModel:
    """A linear softmax model on standardised functionals, with the V/A/D of each class.

    ``probabilities = softmax(((x - mean) / scale) @ coef.T + intercept)``.
    """

    name: str
    feature_set: str
    sample_rate: int
    classes: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    vad: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` of feature rows ``(n, d)``."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.mean.size:
            raise ModelError(f"model {self.name!r} expects {self.mean.size} features, got {X.shape[1]}")
        return softmax(((X - self.mean) / self.scale) @ self.coef.T + self.intercept)

    def vad_of(self, probabilities: np.ndarray) -> np.ndarray:
        """Expected valence/arousal/dominance ``(n, 3)`` under ``probabilities``."""
        return np.asarray(probabilities, dtype=np.float64) @ self.vad


def save_speech_model(model: SpeechModel, path: str | Path) -> tuple[Path, Path]:
    """Write ``<path>.npz`` (arrays) and ``<path>.json`` (names and metadata)."""
    path = Path(path).with_suffix("")
    npz, meta = path.with_suffix(".npz"), path.with_suffix(".json")
    np.savez_compressed(npz, mean=model.mean.astype(np.float32), scale=model.scale.astype(np.float32),
                        coef=model.coef.astype(np.float32), intercept=model.intercept.astype(np.float32),
                        vad=model.vad.astype(np.float32))
    info = {"name": model.name, "feature_set": model.feature_set, "sample_rate": model.sample_rate,
            "classes": list(model.classes), **model.meta}
    meta.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return npz, meta


def load_speech_model(path: str | Path | None = None) -> SpeechModel:
    """Read a model written by :func:`save_speech_model` (default: the bundled EmoDB model).

    Raises
    ------
    ModelError
        Missing or inconsistent files (named in the message).
    """
    npz = Path(path) if path is not None else DEFAULT_SPEECH_WEIGHTS
    npz = npz.with_suffix(".npz")
    meta_path = npz.with_suffix(".json")
    for file in (npz, meta_path):
        if not file.is_file():
            raise ModelError(f"{file}: speech model file not found")
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept", "vad")}
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{npz}: not a speech model ({exc})") from None
    classes = [str(c) for c in meta.get("classes", [])]
    k, d = arrays["coef"].shape
    if len(classes) != k or arrays["mean"].size != d or arrays["scale"].size != d or arrays["intercept"].size != k \
            or arrays["vad"].shape != (k, 3):
        raise ModelError(f"{npz}: array shapes do not match {len(classes)} classes and {d} features")
    extra = {key: v for key, v in meta.items() if key not in ("name", "feature_set", "sample_rate", "classes")}
    return SpeechModel(name=str(meta.get("name", npz.stem)), feature_set=str(meta["feature_set"]),
                       sample_rate=int(meta.get("sample_rate", 16000)), classes=classes, meta=extra, **arrays)


@dataclass
class SpeechResult:
    """What the analyser says about one audio input (``status``: ``"ok"`` or ``"error"``)."""

    source: str
    status: str
    model: str
    label: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (probabilities rounded to 4 decimals, V/A/D to 3)."""
        out: dict[str, Any] = {"source": self.source, "status": self.status, "kind": "speech", "model": self.model}
        if self.status == "ok":
            out["label"] = self.label
            out["probabilities"] = {k: round(v, 4) for k, v in self.probabilities.items()}
            out["valence"] = round(float(self.valence), 3) if self.valence is not None else None
            out["arousal"] = round(float(self.arousal), 3) if self.arousal is not None else None
            out["dominance"] = round(float(self.dominance), 3) if self.dominance is not None else None
            out["vad_note"] = "expected Warriner et al. 2013 ratings (1-9) of the category words: a proxy"
        else:
            out["error"] = self.error
        return out


class SpeechAnalyzer:
    """Categories + V/A/D of speech files with a :class:`SpeechModel`.

    Parameters
    ----------
    weights
        A model written by :func:`save_speech_model` (default: the bundled EmoDB model).

    Raises
    ------
    ModelError
        The model files are missing or unusable.
    ConfigError
        openSMILE is not installed (the message says ``pip install 'affectlab[speech]'``).
    """

    def __init__(self, weights: str | Path | None = None) -> None:
        require("opensmile", "speech analysis")
        require("soundfile", "speech analysis")
        self.model = load_speech_model(weights)

    def analyze_signal(self, signal: np.ndarray, *, source: str = "<signal>") -> SpeechResult:
        """Analyse a mono signal at the model's sample rate (errors raise :class:`~affectlab.errors.MediaReadError`).

        ``signal`` is float in [-1, 1] or integer PCM (scaled by :func:`~affectlab.audio.io.check_signal`).
        """
        x = check_signal(signal, self.model.sample_rate, source=source)
        features = opensmile_functionals(x, feature_set=self.model.feature_set, sample_rate=self.model.sample_rate,
                                         source=source)
        p = self.model.predict_proba(features[None, :])[0]
        v, a, d = self.model.vad_of(p[None, :])[0]
        best = int(np.argmax(p))
        return SpeechResult(source=source, status="ok", model=self.model.name, label=self.model.classes[best],
                            probabilities={c: float(q) for c, q in zip(self.model.classes, p)},
                            valence=float(v), arousal=float(a), dominance=float(d))

    def analyze_path(self, path: str | Path) -> SpeechResult:
        """Analyse one file; a bad file gives ``status="error"`` with the reason, never an exception."""
        try:
            signal = read_audio(path, sample_rate=self.model.sample_rate)
            return self.analyze_signal(signal, source=str(path))
        except AffectLabError as exc:
            return SpeechResult(source=str(path), status="error", model=self.model.name, error=str(exc))

    def analyze_many(self, paths: Iterable[str | Path]) -> Iterator[SpeechResult]:
        """:meth:`analyze_path` for each path, in order."""
        for path in paths:
            yield self.analyze_path(path)
