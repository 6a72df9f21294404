"""Configuration of speech emotion experiments (``kind: speech``): validation and resolved form.

:func:`load_speech_config` checks a ``kind: speech`` mapping (read from the YAML) and returns a
:class:`SpeechConfig` naming its data, audio settings, protocol, normalisations, feature entries
(:class:`SpeechFeature`), tasks (:class:`SpeechTask`) and models; :meth:`SpeechConfig.to_dict` gives
the resolved config written to the run folder. The runner is
:func:`affectlab.experiments.speech.run_speech_experiment`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectlab.classify.registry import create_classifier
from affectlab.errors import ConfigError
from affectlab.experiments.config import _components as components
from affectlab.experiments.config import names_the_file, resolve_source

__all__ = [
    "SPEECH_CONFIG_KEYS",
    "SpeechConfig",
    "SpeechFeature",
    "SpeechTask",
    "load_speech_config",
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
            raise ConfigError(f"{key}: a {kind} task needs a "
                              f"'{'classifiers' if kind == 'classification' else 'regressors'}' list")
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


@names_the_file
def load_speech_config(raw: Mapping[str, Any], *, data: str | Path | None = None) -> SpeechConfig:
    """Validate a ``kind: speech`` mapping (``raw["_path"]``: the YAML's path, for relative paths)."""
    from affectlab.audio.normalise import check_normalisation

    raw = dict(raw)
    path = raw.pop("_path", None)
    path = Path(path) if path is not None else None
    unknown = sorted(set(raw) - set(SPEECH_CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a key of a speech experiment"
                          f" (known: {', '.join(SPEECH_CONFIG_KEYS)})")
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
        featurewise = {"top_k": 20, "norm": "warriner2013", "targets": "auto",
                       **_mapping(raw["featurewise"], "featurewise")}
        bad = sorted(set(featurewise) - {"features", "top_k", "norm", "targets", "dimensions"})
        if bad:
            raise ConfigError(f"featurewise.{bad[0]} is unknown (known: features, top_k, norm, targets, dimensions)")
        if featurewise["targets"] not in ("auto", "norm", "extras"):
            raise ConfigError("featurewise.targets must be 'auto' (ratings when every sample has them, else the "
                              "norm), 'norm' (category coordinates, a proxy) or 'extras' (per-utterance ratings), "
                              f"got {featurewise['targets']!r}")
        from affectlab.audio.norms import DIMENSIONS

        dims = featurewise.get("dimensions")
        if dims is not None:
            dims = [dims] if isinstance(dims, str) else dims
            if (not isinstance(dims, list) or not dims or not set(map(str, dims)) <= set(DIMENSIONS)
                    or len(set(dims)) != len(dims)):
                raise ConfigError(f"featurewise.dimensions must be a subset of {', '.join(DIMENSIONS)}, got {dims!r}")
            featurewise["dimensions"] = [str(d) for d in dims]
        labels = [f.label for f in features]
        wanted = featurewise.get("features") or [f.label for f in features if f.name in ("compare_2016", "egemaps_v02")]
        for label in wanted:
            if label not in labels:
                raise ConfigError(f"featurewise.features: {label!r} is not a feature label"
                                  f" (known: {', '.join(labels)})")
        featurewise["features"] = list(wanted)
    return SpeechConfig(name=name, source=source, data={k: v for k, v in data_cfg.items() if k != "source"},
                        audio=audio, protocol=protocol, group_by=group_by, normalisations=normalisations,
                        features=features, tasks=tasks, classifiers=classifiers, regressors=regressors,
                        featurewise=featurewise, description=raw.get("description"), path=path)
