"""Speech emotion experiments (``kind: speech``): features x normalisations x tasks x models.

A config names the audio data, the speaker-independent protocol, the normalisation schemes, the
feature sets (openSMILE ComParE 2016 / eGeMAPS v02, self-supervised embeddings from a local
checkpoint, early fusion of other entries), the tasks (categorical, a relabelling of the
categories, or a dimensional proxy from an affective norm) and the models. Each feature is
extracted once (cached on disk, keyed by the audio files' contents and the extractor settings);
every (feature, normalisation) pair is then evaluated fold by fold, the predictions of all test
folds are pooled, and ``metrics.json`` gets one row per (task, feature, model, normalisation):
accuracy (WA), UAR, macro-F1 and the confusion matrix for categories, CCC, RMSE and Pearson's r
for dimensions. Hyper-parameters are chosen inside each training part only, by inner folds over
its speakers (``inner_splits`` >= training speakers gives leave-one-speaker-out).

Example config (``configs/emodb-loso.yaml``)::

    kind: speech
    name: emodb-loso
    data: {source: ../../shared/datasets/emodb, format: emodb}
    audio: {sample_rate: 16000, min_duration: 0.25, nan_policy: raise}
    protocol: {kind: logo}                      # leave-one-speaker-out
    normalisation: [per_speaker, global]
    features:
      - {name: compare_2016, label: ComParE}
      - {name: egemaps_v02, label: eGeMAPS}
      - {name: fusion, label: ComParE+eGeMAPS, of: [ComParE, eGeMAPS]}
      - {name: ssl, label: WavLM, model_dir: /models/wavlm-base-plus, layer: null}
    classifiers: [{name: linear_svm, C_grid: auto, inner_splits: 9}]
    regressors: [{name: rbf_svr, C_grid: auto, inner_splits: 9}]
    tasks:
      - {name: 7class}
      - {name: arousal, map: {high: [anger, fear, happiness], low: [boredom, disgust, neutral, sadness]}}
      - {name: dim_proxy, type: regression, norm: warriner2013}
    featurewise: {features: [ComParE], top_k: 20, norm: warriner2013}
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from affectlab.errors import ConfigError, ProtocolError
from affectlab.evaluate.experiment import ExperimentResult, fit_with_groups
from affectlab.parallel import run_tasks

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset

__all__ = [
    "SPEECH_CONFIG_KEYS",
    "SpeechConfig",
    "SpeechExperimentResult",
    "SpeechFeature",
    "SpeechTask",
    "load_speech_config",
    "run_speech_experiment",
    "speech_table",
]

SPEECH_CONFIG_KEYS = ("kind", "name", "description", "data", "audio", "protocol", "normalisation", "features",
                      "tasks", "classifiers", "regressors", "featurewise", "run")
_EXTRACTORS = ("compare_2016", "egemaps_v02", "ssl", "fusion")


@dataclass(frozen=True)
class SpeechFeature:
    """One feature entry: display ``label``, extractor ``name`` and its ``params``."""

    label: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpeechTask:
    """One task: ``classification`` (optionally relabelled by ``mapping``) or ``regression`` (a V/A/D proxy)."""

    name: str
    type: str = "classification"
    mapping: dict[str, str] | None = None
    models: tuple[str, ...] = ()
    norm: str = "warriner2013"
    dimensions: tuple[str, ...] = ("valence", "arousal", "dominance")
    features: tuple[str, ...] = ()
    normalisations: tuple[str, ...] = ()
    targets: str = "norm"

    @property
    def proxy(self) -> bool:
        """Regression on category coordinates from a norm (not on per-utterance ratings)."""
        return self.type == "regression" and self.targets == "norm"

    def applies(self, feature: str, normalisation: str) -> bool:
        """Whether the task runs on ``feature`` with ``normalisation`` (all when not restricted)."""
        return ((not self.features or feature in self.features)
                and (not self.normalisations or normalisation in self.normalisations))

    def row_names(self) -> list[str]:
        """Task names as they appear in ``metrics.json`` rows."""
        if self.type == "regression":
            return [f"dim_{d}_proxy" if self.proxy else f"dim_{d}" for d in self.dimensions]
        return [self.name]


@dataclass
class SpeechConfig:
    """A validated ``kind: speech`` experiment."""

    name: str
    source: Path
    data: dict[str, Any]
    audio: dict[str, Any]
    protocol: dict[str, Any]
    group_by: str
    normalisations: list[str]
    features: list[SpeechFeature]
    tasks: list[SpeechTask]
    classifiers: list[_Model]
    regressors: list[_Model]
    featurewise: dict[str, Any] | None = None
    description: str | None = None
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (``config.yaml`` of the run folder)."""
        out: dict[str, Any] = {"kind": "speech", "name": self.name}
        if self.description:
            out["description"] = self.description
        out["data"] = {**self.data, "source": str(self.source)}
        out["audio"] = dict(self.audio)
        out["protocol"] = {**self.protocol, "group_by": self.group_by}
        out["normalisation"] = list(self.normalisations)
        out["features"] = [{"name": f.name, "label": f.label, **f.params} for f in self.features]
        out["classifiers"] = [c.to_dict() for c in self.classifiers]
        out["regressors"] = [c.to_dict() for c in self.regressors]
        out["tasks"] = [_task_dict(t) for t in self.tasks]
        if self.featurewise is not None:
            out["featurewise"] = dict(self.featurewise)
        return out


def _task_dict(task: SpeechTask) -> dict[str, Any]:
    out: dict[str, Any] = {"name": task.name, "type": task.type}
    if task.mapping:
        grouped: dict[str, list[str]] = {}
        for label, target in task.mapping.items():
            grouped.setdefault(target, []).append(label)
        out["map"] = grouped
    if task.models:
        out["models"] = list(task.models)
    if task.features:
        out["features"] = list(task.features)
    if task.normalisations:
        out["normalisation"] = list(task.normalisations)
    if task.type == "regression":
        out["targets"] = task.targets
        if task.proxy:
            out["norm"] = task.norm
        out["dimensions"] = list(task.dimensions)
    return out


class SpeechExperimentResult(ExperimentResult):
    """:class:`~affectlab.evaluate.experiment.ExperimentResult` whose table shows tasks and normalisations."""

    def table(self) -> str:
        """The rows as a Markdown table."""
        return speech_table(self.rows)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def speech_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of speech rows (proxy rows are marked).

    >>> print(speech_table([{"task": "7class", "feature": "ComParE", "classifier": "linear_svm",
    ...                      "normalisation": "per_speaker", "accuracy": 0.8, "uar": 0.75, "n_test": 10}]))
    | task | feature | model | normalisation | WA | UAR | CCC | RMSE | n | chosen (median) |
    | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |
    | 7class | ComParE | linear_svm | per_speaker | 0.800 | 0.750 | - | - | 10 | - |
    """
    from affectlab.evaluate.runs import format_chosen

    lines = ["| task | feature | model | normalisation | WA | UAR | CCC | RMSE | n | chosen (median) |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        task = f"{r['task']} (proxy)" if r.get("proxy") else r["task"]
        lines.append(
            f"| {task} | {r['feature']} | {r['classifier']} | {r['normalisation']} | {_fmt(r.get('accuracy'))} | "
            f"{_fmt(r.get('uar'))} | {_fmt(r.get('ccc'))} | {_fmt(r.get('rmse'))} | {_fmt(r.get('n_test'))} | "
            f"{format_chosen(r.get('chosen'))} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- config

def _mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a mapping, got {type(value).__name__} {value!r}")
    return dict(value)


def _list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key} must be a non-empty list")
    return value


def _features(value: Any) -> list[SpeechFeature]:
    out: list[SpeechFeature] = []
    for i, entry in enumerate(_list(value, "features")):
        key = f"features[{i}]"
        entry = {"name": entry} if isinstance(entry, str) else _mapping(entry, key)
        name = str(entry.pop("name", "")).strip()
        if name.lower() in ("compare", "compare_2016", "egemaps", "egemaps_v02", "egemapsv02"):
            from affectlab.audio.opensmile import canonical_feature_set

            name = canonical_feature_set(name)
        if name not in _EXTRACTORS:
            raise ConfigError(f"{key}.name {name!r} is unknown (known: {', '.join(_EXTRACTORS)})")
        label = str(entry.pop("label", name))
        if any(f.label == label for f in out):
            raise ConfigError(f"{key}: label {label!r} is used twice (give each entry its own label)")
        if name == "fusion":
            parts = entry.get("of")
            if not isinstance(parts, list) or len(parts) < 2:
                raise ConfigError(f"{key}: fusion needs 'of: [label, label, ...]' naming two or more features above it")
            known = [f.label for f in out if f.name != "fusion"]
            for part in parts:
                if part not in known:
                    raise ConfigError(f"{key}: fusion part {part!r} is not an earlier feature label "
                                      f"(known: {', '.join(known) or 'none'})")
            allowed = {"of"}
        elif name == "ssl":
            if not entry.get("model_dir"):
                raise ConfigError(f"{key}: ssl needs model_dir (a local transformers model folder)")
            allowed = {"model_dir", "layer", "device", "batch_size", "max_seconds"}
        else:
            allowed = set()
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]} is not a setting of feature {name!r}"
                              f" (known: {', '.join(sorted(allowed)) or 'none'})")
        out.append(SpeechFeature(label=label, name=name, params=entry))
    return out


@dataclass(frozen=True)
class _Model:
    """A classifier/regressor entry plus the features and normalisations it is restricted to (``only``)."""

    name: str
    label: str
    params: dict[str, Any]
    features: tuple[str, ...] = ()
    normalisations: tuple[str, ...] = ()

    def applies(self, feature: str, normalisation: str) -> bool:
        return ((not self.features or feature in self.features)
                and (not self.normalisations or normalisation in self.normalisations))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": self.label, **self.params}
        only = {k: list(v) for k, v in (("features", self.features), ("normalisation", self.normalisations)) if v}
        if only:
            out["only"] = only
        return out


def _restriction(value: Any, key: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(features, normalisations)`` of an ``only: {features: [...], normalisation: [...]}`` mapping."""
    from affectlab.audio.normalise import check_normalisation

    if value is None:
        return (), ()
    only = _mapping(value, key)
    bad = sorted(set(only) - {"features", "normalisation"})
    if bad:
        raise ConfigError(f"{key}.{bad[0]} is unknown (known: features, normalisation)")
    features = only.get("features") or []
    norms = only.get("normalisation") or []
    features = [features] if isinstance(features, str) else list(features)
    norms = [norms] if isinstance(norms, str) else list(norms)
    return tuple(str(f) for f in features), tuple(check_normalisation(n) for n in norms)


def _components(value: Any, key: str) -> list[_Model]:
    from affectlab.classify.registry import create_classifier
    from affectlab.evaluate.config import _components as components

    entries = value if isinstance(value, list) else [value]
    cleaned, restrictions, labels = [], [], []
    for i, entry in enumerate(entries):
        entry = {"name": entry} if isinstance(entry, str) else dict(_mapping(entry, f"{key}[{i}]"))
        restrictions.append(_restriction(entry.pop("only", None), f"{key}[{i}].only"))
        labels.append(entry.get("label"))
        if entry.get("label") is not None:
            entry["label"] = f"{entry['label']}#{i}"  # same label allowed for disjoint feature sets (checked below)
        cleaned.append(entry)
    out = []
    for i, (c, r) in enumerate(zip(components(cleaned, key, create_classifier), restrictions)):
        out.append(_Model(c.name, c.label if labels[i] is None else str(labels[i]), dict(c.params), *r))
    for i, a in enumerate(out):
        for b in out[:i]:
            disjoint = a.features and b.features and not set(a.features) & set(b.features)
            if a.label == b.label and not disjoint:
                raise ConfigError(f"{key}: two entries are labelled {a.label!r} for the same features; give each a"
                                  " distinct 'label' or disjoint 'only: {features: [...]}'")
    return out


def _tasks(value: Any, classifiers: list[Any], regressors: list[Any]) -> list[SpeechTask]:
    from affectlab.audio.norms import DIMENSIONS, get_norm

    out: list[SpeechTask] = []
    for i, entry in enumerate(_list(value, "tasks")):
        key = f"tasks[{i}]"
        entry = {"name": entry} if isinstance(entry, str) else _mapping(entry, key)
        name = str(entry.get("name", "")).strip()
        if not name:
            raise ConfigError(f"{key}: missing 'name'")
        kind = entry.get("type", "classification")
        if kind not in ("classification", "regression"):
            raise ConfigError(f"{key}.type must be 'classification' or 'regression', got {kind!r}")
        unknown = sorted(set(entry) - {"name", "type", "map", "models", "norm", "dimensions", "features",
                                       "normalisation", "targets"})
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]} is not a task setting (known: name, type, map, models, norm,"
                              " dimensions, features, normalisation, targets)")
        targets = str(entry.get("targets", "norm"))
        if targets not in ("norm", "extras"):
            raise ConfigError(f"{key}.targets must be 'norm' (category coordinates, a proxy) or 'extras' (per-utterance"
                              f" ratings from the manifest columns), got {targets!r}")
        only_features, only_norms = _restriction(
            {"features": entry.get("features"), "normalisation": entry.get("normalisation")}, key)
        pool = classifiers if kind == "classification" else regressors
        if not pool:
            raise ConfigError(f"{key}: a {kind} task needs a '{'classifiers' if kind == 'classification' else 'regressors'}' list")
        models = tuple(str(m) for m in entry.get("models", []) or [])
        labels = [c.label for c in pool]
        for m in models:
            if m not in labels:
                raise ConfigError(f"{key}.models: {m!r} is not a {kind} model label (known: {', '.join(labels)})")
        mapping = None
        if entry.get("map") is not None:
            if kind != "classification":
                raise ConfigError(f"{key}.map applies to classification tasks only")
            mapping = {}
            for target, sources in _mapping(entry["map"], f"{key}.map").items():
                if not isinstance(sources, list) or not sources:
                    raise ConfigError(f"{key}.map.{target} must be a non-empty list of class names")
                for source in sources:
                    if str(source) in mapping:
                        raise ConfigError(f"{key}.map: class {source!r} is mapped twice")
                    mapping[str(source)] = str(target)
        norm = str(entry.get("norm", "warriner2013"))
        dims = tuple(entry.get("dimensions", DIMENSIONS))
        if kind == "regression":
            get_norm(norm)
            bad = [d for d in dims if d not in DIMENSIONS]
            if bad or not dims:
                raise ConfigError(f"{key}.dimensions must be a subset of {', '.join(DIMENSIONS)}, got {list(dims)}")
        task = SpeechTask(name=name, type=kind, mapping=mapping, models=models, norm=norm, dimensions=dims,
                          features=only_features, normalisations=only_norms, targets=targets)
        if any(set(t.row_names()) & set(task.row_names()) for t in out):
            raise ConfigError(f"{key}: task name {name!r} is used twice")
        out.append(task)
    return out


def load_speech_config(raw: Mapping[str, Any], *, data: str | Path | None = None) -> SpeechConfig:
    """Validate a ``kind: speech`` mapping (``raw["_path"]``: the YAML's path, for relative paths)."""
    from affectlab.audio.normalise import check_normalisation
    from affectlab.evaluate.config import resolve_source

    raw = dict(raw)
    path = raw.pop("_path", None)
    path = Path(path) if path is not None else None
    unknown = sorted(set(raw) - set(SPEECH_CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a key of a speech experiment (known: {', '.join(SPEECH_CONFIG_KEYS)})")
    name = str(raw.get("name") or (path.stem if path else "speech-experiment"))
    data_cfg = _mapping(raw.get("data", {}), "data")
    if data is not None:
        source = resolve_source(str(data), None, "--data")
    else:
        if "source" not in data_cfg:
            raise ConfigError("data.source is missing (the dataset folder or manifest)")
        source = resolve_source(data_cfg["source"], path.parent if path else None, "data.source")
    audio = {"sample_rate": 16000, "min_duration": 0.25, "nan_policy": "raise",
             **_mapping(raw.get("audio", {}), "audio")}
    bad_audio = sorted(set(audio) - {"sample_rate", "min_duration", "nan_policy"})
    if bad_audio:
        raise ConfigError(f"audio.{bad_audio[0]} is unknown (known: sample_rate, min_duration, nan_policy)")
    if audio["nan_policy"] not in ("raise", "zero"):
        raise ConfigError(f"audio.nan_policy must be 'raise' or 'zero', got {audio['nan_policy']!r}")
    protocol = _mapping(raw.get("protocol", {"kind": "logo"}), "protocol")
    group_by = str(protocol.pop("group_by", "speaker"))
    norms = raw.get("normalisation", ["per_speaker"])
    norms = [norms] if isinstance(norms, str) else list(norms or [])
    if not norms:
        raise ConfigError("normalisation must name at least one scheme (global, per_speaker)")
    normalisations = list(dict.fromkeys(check_normalisation(n) for n in norms))
    features = _features(raw.get("features"))
    classifiers = _components(raw["classifiers"], "classifiers") if raw.get("classifiers") else []
    regressors = _components(raw["regressors"], "regressors") if raw.get("regressors") else []
    tasks = _tasks(raw.get("tasks"), classifiers, regressors)
    labels = [f.label for f in features]
    for where, restricted in [*((f"tasks: {t.name}", t) for t in tasks),
                              *((f"classifiers: {c.label}", c) for c in classifiers),
                              *((f"regressors: {r.label}", r) for r in regressors)]:
        for label in restricted.features:
            if label not in labels:
                raise ConfigError(f"{where}: feature {label!r} is not a feature label (known: {', '.join(labels)})")
        for scheme in restricted.normalisations:
            if scheme not in normalisations:
                raise ConfigError(f"{where}: normalisation {scheme!r} is not in normalisation: {normalisations}")
    featurewise = None
    if raw.get("featurewise") is not None:
        featurewise = {"top_k": 20, "norm": "warriner2013", **_mapping(raw["featurewise"], "featurewise")}
        bad = sorted(set(featurewise) - {"features", "top_k", "norm"})
        if bad:
            raise ConfigError(f"featurewise.{bad[0]} is unknown (known: features, top_k, norm)")
        labels = [f.label for f in features]
        wanted = featurewise.get("features") or [f.label for f in features if f.name in ("compare_2016", "egemaps_v02")]
        for label in wanted:
            if label not in labels:
                raise ConfigError(f"featurewise.features: {label!r} is not a feature label (known: {', '.join(labels)})")
        featurewise["features"] = list(wanted)
    return SpeechConfig(name=name, source=source, data={k: v for k, v in data_cfg.items() if k != "source"},
                        audio=audio, protocol=protocol, group_by=group_by, normalisations=normalisations,
                        features=features, tasks=tasks, classifiers=classifiers, regressors=regressors,
                        featurewise=featurewise, description=raw.get("description"), path=path)


# ------------------------------------------------------------------------------------- features

def _code_hash(*modules: str) -> str:
    import importlib

    digest = hashlib.sha256()
    for name in modules:
        file = importlib.import_module(name).__file__
        if file:
            digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:16]


def _versions() -> dict[str, str]:
    from affectlab.evaluate import runs

    return runs.package_versions("opensmile", "soundfile", "soxr", "transformers", "torch")


def _model_fingerprint(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(model_dir).rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(model_dir)).encode())
        digest.update(str(file.stat().st_size).encode())
        with open(file, "rb") as handle:  # the head and tail of each file: fast, and changes with the weights
            digest.update(handle.read(1 << 20))
            handle.seek(max(file.stat().st_size - (1 << 20), 0))
            digest.update(handle.read())
    return digest.hexdigest()


def _extract(feature: SpeechFeature, paths: list[str], file_hashes: list[str], cfg: SpeechConfig, *,
             cache: Any, n_jobs: int, progress: bool) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """One extractor's matrix (from the cache when there), its column names and how it was got."""
    from affectlab.audio.io import file_sha256  # noqa: F401  (hashes are computed by the caller)

    started = time.perf_counter()
    audio = cfg.audio
    if feature.name == "ssl":
        from affectlab.audio.ssl import SSLEmbedder, resolve_device

        model_dir = Path(feature.params["model_dir"]).expanduser()
        if not model_dir.is_absolute() and cfg.path is not None and (cfg.path.parent / model_dir).is_dir():
            model_dir = cfg.path.parent / model_dir
        spec = {"extractor": "ssl", "model": _model_fingerprint(model_dir) if model_dir.is_dir() else str(model_dir),
                "layer": feature.params.get("layer"), "max_seconds": feature.params.get("max_seconds"),
                "code": _code_hash("affectlab.audio.io", "affectlab.audio.ssl")}

        def compute() -> np.ndarray:
            embedder = SSLEmbedder(model_dir, layer=feature.params.get("layer"),
                                   device=resolve_device(str(feature.params.get("device", "auto"))),
                                   batch_size=int(feature.params.get("batch_size", 8)),
                                   max_seconds=feature.params.get("max_seconds"))
            return embedder.embed_files(paths, progress=progress, min_duration=float(audio["min_duration"]))

        names_of: Any = None
    else:
        from affectlab.audio.opensmile import extract_opensmile, opensmile_feature_names

        spec = {"extractor": "opensmile", "set": feature.name, "sample_rate": audio["sample_rate"],
                "min_duration": audio["min_duration"], "nan_policy": audio["nan_policy"],
                "code": _code_hash("affectlab.audio.io", "affectlab.audio.opensmile"),
                "versions": {k: v for k, v in _versions().items() if k in ("opensmile", "soxr", "soundfile")}}

        def compute() -> np.ndarray:
            return extract_opensmile(paths, feature_set=feature.name, sample_rate=int(audio["sample_rate"]),
                                     nan_policy=audio["nan_policy"], min_duration=float(audio["min_duration"]),
                                     n_jobs=n_jobs, progress=progress)

        names_of = feature.name
    spec["files"] = hashlib.sha256("\n".join(file_hashes).encode()).hexdigest()
    status = None
    if cache is not None:
        key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
        X, hit = cache.get_or_compute(key, compute, {"feature": feature.label, **spec, "n_files": len(paths)})
        status = "hit" if hit else "miss"
    else:
        X = compute()
    X = np.asarray(X, dtype=np.float32)
    if names_of is not None:
        names = opensmile_feature_names(names_of)
    else:
        names = [f"{feature.label}_{i}" for i in range(X.shape[1])]
    info = {"extractor": feature.name, "dim": int(X.shape[1]), "cache": status,
            "seconds": round(time.perf_counter() - started, 3), **{k: v for k, v in feature.params.items()}}
    return X, names, info


# ----------------------------------------------------------------------------------------- folds

def _chosen(estimator: Any) -> dict[str, Any]:
    params = dict(getattr(estimator, "best_params_", {}) or {})
    return {k.split("__")[-1]: v for k, v in params.items()}


def _fold_job(job: tuple[int, int, int], X: np.ndarray, targets: dict[str, np.ndarray], groups: np.ndarray,
              train: np.ndarray, test: np.ndarray, models: list[tuple[str, str, str, Any]]) -> dict[str, Any]:
    """Fit every (task, model) on one fold's training part; predict its test part."""
    import warnings

    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    results = []
    for task, kind, label, template in models:
        started = time.perf_counter()
        estimator = clone(template)
        y = targets[task]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit_with_groups(estimator, X[train], y[train], groups[train])
        pred = np.asarray(estimator.predict(X[test]))
        results.append({"task": task, "kind": kind, "model": label, "pred": pred, "chosen": _chosen(estimator),
                        "inner_cv": getattr(estimator, "inner_cv_", None),
                        "seconds": time.perf_counter() - started})
    return {"job": job, "results": results}


# ------------------------------------------------------------------------------------------ runner

def _load_dataset(cfg: SpeechConfig) -> Dataset:
    from affectlab.data.loader import load_dataset

    options = {k: v for k, v in cfg.data.items() if k != "format"}
    ds = load_dataset(cfg.source, format=cfg.data.get("format", "auto"), **options)
    if ds.kind != "audio":
        raise ConfigError(f"data.source {cfg.source}: a {ds.kind} dataset; speech experiments need audio")
    keep = [i for i, s in enumerate(ds.samples) if s.label is not None and s.path is not None]
    if not keep:
        raise ConfigError(f"data.source {cfg.source}: no labelled audio files")
    return ds.subset(keep) if len(keep) < len(ds) else ds


def _groups(ds: Dataset, group_by: str) -> np.ndarray:
    values = []
    for sample in ds.samples:
        value = sample.subject if group_by in ("speaker", "subject") else sample.extras.get(group_by)
        if value is None or value == "":
            raise ProtocolError(f"protocol.group_by {group_by!r}: sample {sample.id!r} has no value "
                                "(use 'speaker', or a manifest column such as 'session')")
        values.append(str(value))
    return np.asarray(values)


def _targets(task: SpeechTask, labels: np.ndarray, ds: Dataset) -> tuple[dict[str, np.ndarray], list[str]]:
    """Target arrays per row-task name and the class order (classification) or dimension names."""
    from affectlab.audio.norms import DIMENSIONS, category_to_vad
    from affectlab.errors import DataError

    if task.type == "regression" and not task.proxy:
        values = np.full((len(ds), len(task.dimensions)), np.nan)
        for i, sample in enumerate(ds.samples):
            for j, dim in enumerate(task.dimensions):
                try:
                    values[i, j] = float(sample.extras[dim])
                except (KeyError, TypeError, ValueError):
                    raise DataError(f"task {task.name!r}: sample {sample.id!r} has no numeric {dim!r}"
                                    " (targets: extras reads per-utterance ratings from manifest columns)") from None
        return {task.name: values}, list(task.dimensions)
    if task.type == "regression":
        vad = category_to_vad(labels, task.norm)
        columns = [DIMENSIONS.index(d) for d in task.dimensions]
        return {task.name: vad[:, columns]}, list(task.dimensions)
    if task.mapping is None:
        return {task.name: labels.astype(str)}, []
    missing = sorted(set(labels.tolist()) - set(task.mapping))
    if missing:
        raise ConfigError(f"task {task.name!r}: map does not say where class(es) {', '.join(missing)} go")
    mapped = np.array([task.mapping[v] for v in labels.tolist()])
    return {task.name: mapped}, list(dict.fromkeys(task.mapping.values()))


def _write_predictions(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = ("id", "fold", "task", "feature", "model", "normalisation", "true", "pred", "subject")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _safe(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def run_speech_experiment(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: str | Path | Any | None = None,
) -> SpeechExperimentResult:
    """Run a ``kind: speech`` experiment and write its run folder.

    Parameters
    ----------
    config
        The mapping read from the YAML (``_path``: the file's path) or a YAML path.
    out_dir
        Run folder (absent or empty unless ``overwrite``).
    data
        Overrides ``data.source``.
    progress
        Progress bars on stderr.
    overwrite
        Allow a non-empty ``out_dir``.
    n_jobs
        Processes for feature extraction and folds (``None``: 1, ``-1``: all cores).
    cache
        Feature cache folder or :class:`~affectlab.features.cache.FeatureCache` (``None``: no cache).

    Returns
    -------
    SpeechExperimentResult
        ``rows``: one per (task, feature, model, normalisation), as in ``metrics.json``.
    """
    from joblib import delayed, effective_n_jobs

    from affectlab.audio.io import file_sha256
    from affectlab.audio.normalise import describe_normalisation, normalise
    from affectlab.evaluate import runs
    from affectlab.evaluate.experiment import summarise_chosen
    from affectlab.evaluate.kinds import read_experiment_file
    from affectlab.evaluate.metrics import classification_metrics, regression_metrics
    from affectlab.evaluate.protocols import make_protocol
    from affectlab.features.cache import FeatureCache
    from affectlab.viz.confusion import save_confusion_matrix

    started = time.perf_counter()
    if not isinstance(config, Mapping):
        raw, raw_path = read_experiment_file(config)
        raw["_path"] = raw_path
    else:
        raw = dict(config)
    cfg = load_speech_config(raw, data=data)
    runs.prepare_run_dir(out_dir, overwrite=overwrite, create=False)
    ds = _load_dataset(cfg)
    labels = np.array([s.label for s in ds.samples], dtype=str)
    speakers = np.array([s.subject if s.subject is not None else "" for s in ds.samples], dtype=object)
    groups = _groups(ds, cfg.group_by)
    protocol = make_protocol(cfg.protocol)
    folds = list(protocol.split(labels, groups=groups))
    if "per_speaker" in cfg.normalisations and any(s == "" for s in speakers):
        raise ProtocolError("normalisation per_speaker needs a speaker id for every sample")
    out = runs.prepare_run_dir(out_dir, overwrite=overwrite)
    jobs = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    feature_cache = None if cache is None or cache is False else (
        cache if isinstance(cache, FeatureCache) else FeatureCache(cache))

    targets: dict[str, np.ndarray] = {}
    orders: dict[str, list[str]] = {}
    for task in cfg.tasks:
        t, order = _targets(task, labels, ds)
        targets.update(t)
        orders[task.name] = order
    from affectlab.classify.registry import create_classifier

    models: list[tuple[str, str, str, Any]] = []
    model_of: list[tuple[SpeechTask, _Model]] = []
    for task in cfg.tasks:
        pool = cfg.classifiers if task.type == "classification" else cfg.regressors
        for component in pool:
            if task.models and component.label not in task.models:
                continue
            models.append((task.name, task.type, component.label, create_classifier(component.name, **component.params)))
            model_of.append((task, component))

    summary = ds.summary()
    resolved = cfg.to_dict()
    resolved["run"] = {
        **_versions(),
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "config_file": str(cfg.path.resolve()) if cfg.path is not None else None,
        "dataset": {"path": str(cfg.source), "name": ds.name, "samples": len(ds), "speakers": summary["subjects"],
                    "classes": summary["classes"]},
        "protocol": protocol.describe().replace("subject", "speaker") if cfg.group_by == "speaker"
        else f"leave-one-{cfg.group_by}-group-out",
        "n_folds": len(folds),
        "folds": [{"name": f.name, "train": int(f.train.size), "test": int(f.test.size)} for f in folds],
        "n_jobs": jobs,
        "feature_cache": None if feature_cache is None else str(feature_cache.directory),
    }
    runs.write_config(out, resolved)

    paths = [str(s.path if Path(s.path).is_absolute() or ds.root is None else ds.root / s.path) for s in ds.samples]
    file_hashes = [file_sha256(p) for p in paths] if feature_cache is not None else []
    matrices: dict[str, np.ndarray] = {}
    names: dict[str, list[str]] = {}
    feature_info: dict[str, dict[str, Any]] = {}
    for feature in cfg.features:
        if feature.name == "fusion":
            parts = feature.params["of"]
            matrices[feature.label] = np.hstack([matrices[p] for p in parts])
            names[feature.label] = [f"{p}:{n}" for p in parts for n in names[p]]
            feature_info[feature.label] = {"extractor": "fusion (early, concatenation)", "of": list(parts),
                                           "dim": int(matrices[feature.label].shape[1])}
            continue
        X, column_names, info = _extract(feature, paths, file_hashes, cfg, cache=feature_cache, n_jobs=jobs,
                                         progress=progress)
        matrices[feature.label], names[feature.label], feature_info[feature.label] = X, column_names, info

    active = {}
    for f in range(len(cfg.features)):
        for n in range(len(cfg.normalisations)):
            label, scheme = cfg.features[f].label, cfg.normalisations[n]
            use = [m for m, (task, component) in enumerate(model_of)
                   if task.applies(label, scheme) and component.applies(label, scheme)]
            if use:
                active[f, n] = use
    combos = list(active)
    normalised = {(f, n): normalise(matrices[cfg.features[f].label], speakers, cfg.normalisations[n])
                  for f, n in combos}
    tasks = [delayed(_fold_job)((f, n, k), normalised[f, n], targets, groups, fold.train, fold.test,
                                [models[m] for m in active[f, n]])
             for f, n in combos for k, fold in enumerate(folds)]
    outcomes = {outcome["job"]: outcome for outcome in run_tasks(tasks, jobs, progress=progress)}

    rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    for f, n in combos:
        feature, scheme = cfg.features[f], cfg.normalisations[n]
        for j, m in enumerate(active[f, n]):
            task_name, kind, model_label, _ = models[m]
            task = model_of[m][0]
            per_fold = [outcomes[f, n, k]["results"][j] for k in range(len(folds))]
            y = targets[task_name]
            pooled = np.empty(y.shape, dtype=y.dtype if kind == "classification" else np.float64)
            selected = []
            for k, fold in enumerate(folds):
                pooled[fold.test] = per_fold[k]["pred"]
                if per_fold[k]["chosen"]:
                    selected.append({"fold": fold.name, **per_fold[k]["chosen"]})
            common = {"feature": feature.label, "classifier": model_label, "normalisation": scheme,
                      "n_folds": len(folds), "feature_dim": int(matrices[feature.label].shape[1]),
                      "seconds": round(sum(r["seconds"] for r in per_fold), 3),
                      "inner_cv": per_fold[0]["inner_cv"]}
            if kind == "classification":
                order = orders[task_name] or [c for c in ds.classes if c in set(y.tolist())]
                metrics = classification_metrics(y, pooled, order)
                png = f"confusion_{_safe(task_name)}_{_safe(feature.label)}_{_safe(model_label)}_{scheme}.png"
                save_confusion_matrix(np.asarray(metrics["confusion"]), order, out / png,
                                      title=f"{task_name}: {feature.label} / {model_label} / {scheme}")
                row = {"task": task_name, **common, "accuracy": metrics["accuracy"], "uar": metrics["uar"],
                       "macro_f1": metrics["macro_f1"], "n_test": metrics["n"], "labels": order,
                       "confusion": metrics["confusion"], "per_class_recall": metrics["per_class_recall"],
                       "fold_uar": {fold.name: _fold_uar(y[fold.test], pooled[fold.test]) for fold in folds},
                       "confusion_png": png, "proxy": False}
                if selected:
                    row["chosen"] = summarise_chosen(selected)
                rows.append(row)
                for k, fold in enumerate(folds):
                    for idx in fold.test:
                        predictions.append({"id": ds.samples[idx].id, "fold": fold.name, "task": task_name,
                                            "feature": feature.label, "model": model_label, "normalisation": scheme,
                                            "true": y[idx], "pred": pooled[idx], "subject": speakers[idx]})
            else:
                for j, (dim, row_task) in enumerate(zip(task.dimensions, task.row_names())):
                    metrics = regression_metrics(y[:, j], pooled[:, j])
                    row = {"task": row_task, **common, "ccc": metrics["ccc"], "rmse": metrics["rmse"],
                           "pearson": metrics["pearson"], "n_test": metrics["n"], "proxy": task.proxy}
                    if task.proxy:
                        row["norm"] = task.norm
                        row["note"] = f"proxy: targets are the {task.norm} {dim} ratings of each utterance's category"
                    chosen_j = [{"fold": s["fold"], "C": (s["C"][j] if isinstance(s.get("C"), list) else s.get("C"))}
                                for s in selected if "C" in s]
                    if chosen_j:
                        row["chosen"] = summarise_chosen(chosen_j)
                    rows.append(row)
                    for k, fold in enumerate(folds):
                        for idx in fold.test:
                            predictions.append({"id": ds.samples[idx].id, "fold": fold.name,
                                                "task": row_task, "feature": feature.label,
                                                "model": model_label, "normalisation": scheme,
                                                "true": f"{y[idx, j]:.4f}", "pred": f"{pooled[idx, j]:.4f}",
                                                "subject": speakers[idx]})
    _write_predictions(out / "predictions.csv", predictions)

    featurewise_out = _featurewise(cfg, matrices, names, labels, out) if cfg.featurewise else []
    elapsed = time.perf_counter() - started
    norms_text = {s: describe_normalisation(s) for s in cfg.normalisations}
    runs.write_metrics(out, {
        "name": cfg.name, "kind": "speech", "dataset": resolved["run"]["dataset"],
        "protocol": {**cfg.protocol, "group_by": cfg.group_by, "description": resolved["run"]["protocol"],
                     "n_folds": len(folds)},
        "normalisation": norms_text, "rows": rows, "features": feature_info,
        "featurewise": featurewise_out, "n_jobs": jobs, "seconds": round(elapsed, 3),
        "pooling": "predictions of all test folds are pooled before computing each metric",
    })
    _write_report(out, cfg, resolved, rows, feature_info, norms_text, featurewise_out, summary)
    return SpeechExperimentResult(rows=rows, out_dir=out, config=resolved, n_folds=len(folds), seconds=elapsed)


def _fold_uar(true: np.ndarray, pred: np.ndarray) -> float:
    from affectlab.evaluate.metrics import uar

    return uar(true, pred)


def _featurewise(cfg: SpeechConfig, matrices: dict[str, np.ndarray], names: dict[str, list[str]],
                 labels: np.ndarray, out: Path) -> list[dict[str, Any]]:
    """Feature-wise CCC of each requested feature set against the V/A/D proxy of its labels."""
    from affectlab.audio.featurewise import analyse_featurewise, top_k_table
    from affectlab.audio.norms import DIMENSIONS, category_to_vad, get_norm
    from affectlab.viz.ccc import save_ccc_scatter

    assert cfg.featurewise is not None
    norm = str(cfg.featurewise["norm"])
    top_k = int(cfg.featurewise["top_k"])
    Y = category_to_vad(labels, norm)
    results = []
    for label in cfg.featurewise["features"]:
        result = analyse_featurewise(matrices[label], Y, names[label], DIMENSIONS, feature_set=label)
        stem = f"featurewise_{_safe(label)}"
        result.to_csv(out / f"{stem}.csv")
        table = top_k_table(result, top_k)
        (out / f"{stem}_top{top_k}.md").write_text(
            f"# Feature-wise CCC, {label} (top {top_k} by |CCC| per dimension)\n\n"
            f"Labels: {norm} valence/arousal/dominance of each utterance's category (a proxy: "
            f"{get_norm(norm).citation}). Features and labels min-max normalised over all "
            f"{matrices[label].shape[0]} utterances; CCC per feature per dimension.\n\n{table}\n", encoding="utf-8")
        save_ccc_scatter(result.ccc[:, 1], result.ccc[:, 0], out / f"{stem}_scatter.png", names=result.names,
                         top_k=10, title=f"Feature-wise CCC, {label} (V/A proxy labels, {norm})")
        results.append({"feature": label, "dim": int(matrices[label].shape[1]), "norm": norm, "proxy": True,
                        "csv": f"{stem}.csv", "scatter_png": f"{stem}_scatter.png", "top_k_md": f"{stem}_top{top_k}.md",
                        "top": {d: [{"feature": n, "ccc": round(v, 4)} for _, n, v in result.top(d, top_k)]
                                for d in DIMENSIONS},
                        "table": table})
    return results


def _write_report(out: Path, cfg: SpeechConfig, resolved: dict[str, Any], rows: list[dict[str, Any]],
                  feature_info: dict[str, dict[str, Any]], norms_text: dict[str, str],
                  featurewise_out: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    from affectlab.audio.norms import get_norm
    from affectlab.audio.opensmile import OPENSMILE_LICENCE

    counts = ", ".join(f"{c} {n}" for c, n in summary["classes"].items())
    lines = [f"# {cfg.name} (affectlab {resolved['run']['affectlab']}, {resolved['run']['timestamp']})", ""]
    if cfg.description:
        lines += [str(cfg.description).strip(), ""]
    lines += ["## Data", "", f"- source: `{cfg.source}`",
              (f"- {resolved['run']['dataset']['samples']} utterances, {summary['subjects']} speakers;"
               f" classes: {counts}"),
              (f"- audio: mono, resampled to {cfg.audio['sample_rate']} Hz (soxr), at least"
               f" {cfg.audio['min_duration']} s; NaN functionals: {cfg.audio['nan_policy']}"), ""]
    lines += ["## Protocol", "", (f"{resolved['run']['protocol']}; {resolved['run']['n_folds']} folds. The predictions"
              " of all test folds are pooled, then WA (accuracy) and UAR (mean per-class recall) or CCC and RMSE are"
              " computed once. Hyper-parameters (C, k) are chosen inside each training part only, by inner folds over"
              " its speakers; the values chosen per fold are in metrics.json (`chosen`)."), ""]
    lines += ["## Normalisation", ""] + [f"- **{k}**: {v}" for k, v in norms_text.items()] + [
        "", "Every row of the table names its normalisation.", ""]
    lines += ["## Features", ""]
    for label, info in feature_info.items():
        lines.append(f"- {label}: {info.get('extractor')} ({info.get('dim')} dims"
                     + (f", cache {info['cache']}" if info.get("cache") else "") + ")")
    if any(f.name in ("compare_2016", "egemaps_v02") for f in cfg.features):
        lines += ["", f"openSMILE licence: {OPENSMILE_LICENCE}"]
    lines += [""]
    tasks_text = []
    for task in cfg.tasks:
        if task.type == "regression" and not task.proxy:
            tasks_text.append(f"- {', '.join(task.row_names())}: per-utterance ratings from the manifest columns "
                              f"{', '.join(task.dimensions)}")
        elif task.type == "regression":
            tasks_text.append(f"- **{', '.join(task.row_names())}: dimensional PROXY.** Each utterance's target is the "
                              f"{task.norm} rating of the word naming its category ({get_norm(task.norm).citation}); "
                              "the targets are constant within a category, so these rows measure how well the model "
                              "orders the categories along each dimension, not agreement with dimensional ratings "
                              "of the utterances.")
        elif task.mapping:
            grouped = _task_dict(task)["map"]
            tasks_text.append(f"- {task.name}: " + "; ".join(f"{t} = {', '.join(s)}" for t, s in grouped.items()))
        else:
            tasks_text.append(f"- {task.name}: the dataset's categories")
    lines += ["## Tasks", ""] + tasks_text + [""]
    lines += ["## Results", "", speech_table(rows), ""]
    best = {}
    for r in rows:
        key = r["task"]
        score = r.get("uar") if r.get("uar") is not None else r.get("ccc")
        if score is not None and (key not in best or score > best[key][0]):
            best[key] = (score, r)
    if best:
        lines += ["Best row per task: " + "; ".join(
            f"{k}{' (proxy)' if r.get('proxy') else ''}: {r['feature']} / {r['classifier']} / {r['normalisation']} "
            f"{'UAR' if r.get('uar') is not None else 'CCC'} {s:.3f}" for k, (s, r) in best.items()), ""]
    pngs = [r for r in rows if r.get("confusion_png")]
    if pngs:
        lines += ["## Confusion matrices", "", "Counts in the cells; colours are row-normalised (recall).", ""]
        lines += [f"- [{r['task']}: {r['feature']} / {r['classifier']} / {r['normalisation']}]({r['confusion_png']})"
                  for r in pngs]
        lines.append("")
    if featurewise_out:
        lines += ["## Feature-wise CCC (proxy labels)", ""]
        for f in featurewise_out:
            lines += [f"### {f['feature']}", "", (f"Scatter: [{f['scatter_png']}]({f['scatter_png']}); all features:"
                      f" [{f['csv']}]({f['csv']}). Labels are the {f['norm']} V/A/D proxy of each category."), "",
                      f["table"], ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
