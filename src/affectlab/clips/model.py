"""A saved, named clip classifier: volume settings + a sequence feature + a classifier, in one file.

:class:`ClipModel` holds how a clip becomes a volume (:class:`~affectlab.clips.volume.VolumeSettings`),
a sequence feature (``lbp_top`` by default, any of :func:`~affectlab.features.temporal.list_sequence_features`)
and a classifier of the registry (``linear_svm`` by default, its C chosen by inner
cross-validation split by subject when the clips have subjects). :func:`fit_clip_model` fits one on
labelled clips, :func:`save_clip_model` / :func:`load_clip_model` keep it in a joblib file, and
:func:`predict_clip` gives a clip's label with a probability per class.

Probabilities come from the classifier's ``predict_proba`` when it has one, else they are the
softmax of its decision values (a ranking of the classes, not calibrated probabilities).

Examples
--------
>>> model = fit_clip_model("clips/manifest.csv", volume={"frames": 3, "size": 48})  # doctest: +SKIP
>>> save_clip_model(model, "ck-clips.joblib")  # doctest: +SKIP
>>> predict_clip("new.mp4", load_clip_model("ck-clips.joblib")).label  # doctest: +SKIP
'happy'
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.clips.dataset import ClipSet, load_clips
from affectlab.clips.volume import FaceVolume, VolumeBuilder, VolumeSettings
from affectlab.errors import ConfigError, DataError, ModelError

__all__ = ["CLIP_MODEL_FORMAT", "ClipModel", "ClipPrediction", "fit_clip_model", "load_clip_model", "predict_clip",
           "save_clip_model"]

#: The ``format`` field of a saved clip model, and its version.
CLIP_MODEL_FORMAT = ("affectlab-clip-model", 1)


@dataclass
class ClipPrediction:
    """A clip's predicted ``label``, a probability per class, and the volume it came from."""

    label: str
    probabilities: dict[str, float]
    volume: FaceVolume = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (the volume as its summary)."""
        return {"label": self.label, "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
                "volume": self.volume.summary()}


def _softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ClipModel:
    """A clip classifier: :class:`VolumeSettings`, a sequence feature and a classifier.

    Parameters
    ----------
    feature, feature_params
        A sequence feature and its parameters (:func:`~affectlab.features.temporal.create_sequence_feature`).
    classifier, classifier_params
        A classifier of the registry and its parameters (:func:`~affectlab.classify.create_classifier`).
    volume
        :class:`VolumeSettings` or a mapping of them.
    name
        A name for the model (reports, ``affectlab analyze``).

    Attributes
    ----------
    classes_
        Class names, in the order of the probabilities.
    feature_, classifier_
        The fitted feature and classifier.
    trained_on_
        ``{"clips", "refused", "subjects"}`` of the training data.
    """

    def __init__(self, feature: str = "lbp_top", feature_params: Mapping[str, Any] | None = None,
                 classifier: str = "linear_svm", classifier_params: Mapping[str, Any] | None = None,
                 volume: VolumeSettings | Mapping[str, Any] | None = None, name: str | None = None) -> None:
        from affectlab.classify.registry import create_classifier
        from affectlab.features.temporal import create_sequence_feature

        self.feature = feature
        self.feature_params = dict(feature_params or {})
        self.classifier = classifier
        self.classifier_params = dict(classifier_params or {})
        self.volume = volume if isinstance(volume, VolumeSettings) else VolumeSettings.from_mapping(volume)
        self.name = name or f"{feature}+{classifier}"
        create_sequence_feature(feature, **self.feature_params)  # checks now: ConfigError
        create_classifier(classifier, **self.classifier_params)
        self._builder: VolumeBuilder | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_builder"] = None  # the face front-end is rebuilt where the model is loaded
        return state

    def __repr__(self) -> str:
        return (f"ClipModel(name={self.name!r}, feature={self.feature!r}, classifier={self.classifier!r}, "
                f"frames={self.volume.frames}, size={self.volume.size})")

    def fit(self, clips: ClipSet | str | Path, *, cache: Any = None, n_jobs: int | None = None) -> ClipModel:
        """Fit on labelled clips (a :class:`ClipSet` read with these settings, or a source for one)."""
        from affectlab.classify.registry import create_classifier
        from affectlab.features.temporal import create_sequence_feature

        if not isinstance(clips, ClipSet):
            clips = load_clips(clips, self.volume, cache=cache, n_jobs=n_jobs)
        elif clips.settings != self.volume:
            raise ConfigError("the clips were read with other volume settings than the model's")
        if any(label is None for label in clips.labels):
            raise DataError("every training clip needs a label")
        y = clips.labels.astype(str)
        if len(set(y.tolist())) < 2:
            raise DataError(f"a clip model needs at least two classes, got {sorted(set(y.tolist()))}")
        groups = clips.subjects.astype(str)
        assert clips.volumes is not None
        self.feature_ = create_sequence_feature(self.feature, **self.feature_params).fit(clips.volumes, y)
        X = np.asarray(self.feature_.transform(clips.volumes), dtype=np.float32)
        self.classifier_ = create_classifier(self.classifier, **self.classifier_params)
        _fit(self.classifier_, X, y, groups)
        self.classes_ = [str(c) for c in self.classifier_.classes_]
        self.trained_on_ = {"clips": len(clips), "refused": len(clips.refused),
                            "subjects": len(set(groups.tolist()))}
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "classifier_"):
            raise ModelError(f"clip model {self.name!r} is not fitted: call fit() first")

    def predict_volumes(self, volumes: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Labels and ``(N, n_classes)`` probabilities of ``(N, T, H, W)`` volumes."""
        self._check_fitted()
        X = np.asarray(self.feature_.transform(volumes), dtype=np.float32)
        if hasattr(self.classifier_, "predict_proba"):
            P = np.asarray(self.classifier_.predict_proba(X), dtype=np.float64)
        else:
            scores = np.asarray(self.classifier_.decision_function(X), dtype=np.float64)
            P = _softmax(scores if scores.ndim == 2 else np.column_stack([-scores, scores]))
        return [self.classes_[i] for i in P.argmax(axis=1)], P

    def predict(self, path: str | Path) -> ClipPrediction:
        """The label of one clip (raises :class:`~affectlab.clips.errors.ClipRefused` for a refused one)."""
        self._check_fitted()
        if self._builder is None:
            self._builder = VolumeBuilder(self.volume)
        volume = self._builder(path)
        labels, P = self.predict_volumes(volume.volume[None])
        return ClipPrediction(labels[0], {c: float(p) for c, p in zip(self.classes_, P[0])}, volume)


def _fit(estimator: Any, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.validation import has_fit_parameter

    kwargs = {"groups": groups} if has_fit_parameter(estimator, "groups") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y, **kwargs)


def fit_clip_model(source: ClipSet | str | Path, *, feature: str = "lbp_top",
                   feature_params: Mapping[str, Any] | None = None, classifier: str = "linear_svm",
                   classifier_params: Mapping[str, Any] | None = None,
                   volume: VolumeSettings | Mapping[str, Any] | None = None, name: str | None = None,
                   cache: Any = None, n_jobs: int | None = None) -> ClipModel:
    """A :class:`ClipModel` fitted on the labelled clips of ``source`` (manifest, folder or :class:`ClipSet`).

    With a :class:`ClipSet` and no ``volume``, the model takes the clip set's settings.
    """
    if volume is None and isinstance(source, ClipSet):
        volume = source.settings
    model = ClipModel(feature, feature_params, classifier, classifier_params, volume, name)
    return model.fit(source, cache=cache, n_jobs=n_jobs)


def save_clip_model(model: ClipModel, path: str | Path) -> Path:
    """Write a fitted model to ``path`` (joblib); returns the path."""
    import joblib

    from affectlab import __version__

    model._check_fitted()
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise ConfigError(f"{path}: the folder {path.parent} does not exist")
    joblib.dump({"format": CLIP_MODEL_FORMAT[0], "version": CLIP_MODEL_FORMAT[1], "affectlab": __version__,
                 "name": model.name, "model": model}, path)
    return path


def load_clip_model(path: str | Path) -> ClipModel:
    """A model written by :func:`save_clip_model`.

    Only load files you trust: like any pickle, a joblib file runs code when it is read.

    Raises
    ------
    ModelError
        Missing file, not a clip model, or a format version this affectlab does not read.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: clip model file not found")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad model file
        raise ModelError(f"{path}: not a readable clip model ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CLIP_MODEL_FORMAT[0]:
        raise ModelError(f"{path}: not an affectlab clip model (save one with affectlab.clips.save_clip_model)")
    if payload.get("version") != CLIP_MODEL_FORMAT[1] or not isinstance(payload.get("model"), ClipModel):
        raise ModelError(f"{path}: clip model format version {payload.get('version')!r} is not readable here "
                         f"(this affectlab reads version {CLIP_MODEL_FORMAT[1]})")
    return payload["model"]


def predict_clip(path: str | Path, model: ClipModel | str | Path) -> ClipPrediction:
    """The label and class probabilities of the clip at ``path`` (``model``: a :class:`ClipModel` or its file).

    Raises
    ------
    ClipRefused
        The clip gives no face volume (one line naming the file and why).
    ModelError
        The model file is missing or not a clip model.
    """
    if not isinstance(model, ClipModel):
        model = load_clip_model(model)
    return model.predict(path)
