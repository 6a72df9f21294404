"""Experiment configuration: reading, validating and resolving the YAML format (kind ``features``), and the
helpers every kind's reader shares (:func:`read_raw_config`, :func:`resolve_source`, :func:`typed_entry`).

Example::

    name: ckplus48-baseline
    data: {source: ../../shared/datasets/ckplus48}   # relative: config folder first, then CWD
    images: {size: 48}                               # gray, resized to 48x48
    protocol: {kind: group_kfold, n_splits: 10}      # or {kind: logo}, {kind: fixed, train: .., test: ..}
    normalisation: global                            # or per_subject
    features: [{name: pixels}, {name: hog, pixels_per_cell: 8}]
    classifiers: [{name: linear_svm, C: 0.01}]
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from affectlab.checks import is_integer
from affectlab.errors import ConfigError

__all__ = [
    "CONFIG_KEYS",
    "integer_setting",
    "names_the_file",
    "section",
    "NORMALISATIONS",
    "Component",
    "ExperimentConfig",
    "check_estimator_params",
    "load_config",
    "parse_components",
    "parse_image_size",
    "read_raw_config",
    "resolve_source",
    "typed_entry",
]

#: Top-level keys of an experiment file (``run`` holds provenance written by a run; ignored).
CONFIG_KEYS = ("kind", "name", "description", "data", "images", "protocol", "normalisation", "features", "classifiers",
               "run")
NORMALISATIONS = ("global", "per_subject")
DEFAULT_PROTOCOL: dict[str, Any] = {"kind": "group_kfold", "n_splits": 10}


@dataclass(frozen=True)
class Component:
    """One feature or classifier entry: registry ``name``, display ``label`` and ``params``."""

    name: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.label != self.name:
            out["label"] = self.label
        out.update(self.params)
        return out


@dataclass
class ExperimentConfig:
    """A validated experiment; paths are absolute."""

    name: str
    data: dict[str, Any]
    protocol: dict[str, Any]
    features: list[Component]
    classifiers: list[Component]
    image_size: tuple[int, int] | None = None
    normalisation: str = "global"
    description: str | None = None
    path: Path | None = None

    @property
    def source(self) -> Path:
        """The dataset location."""
        return Path(self.data["source"])

    def to_dict(self) -> dict[str, Any]:
        """The config as a mapping that :func:`load_config` accepts again."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["data"] = dict(self.data)
        if self.image_size is not None:
            h, w = self.image_size
            out["images"] = {"size": h if h == w else [h, w]}
        out["protocol"] = dict(self.protocol)
        out["normalisation"] = self.normalisation
        out["features"] = [c.to_dict() for c in self.features]
        out["classifiers"] = [c.to_dict() for c in self.classifiers]
        return out


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a mapping, got {type(value).__name__} {value!r}")
    return dict(value)


def section(raw: Mapping[str, Any], key: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping under ``key`` with ``defaults`` filled in; refuses a non-mapping and keys ``defaults`` lacks.

    The defaults table declares a section's settings (every kind's sections are read through it).

    >>> section({"train": {"epochs": 3}}, "train", {"epochs": 12, "lr": 0.003})
    {'epochs': 3, 'lr': 0.003}
    >>> section({"train": {"epoch": 3}}, "train", {"epochs": 12})
    Traceback (most recent call last):
    ...
    affectlab.errors.ConfigError: train: unknown key(s) epoch (known: epochs)
    """
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a mapping, got {value!r}")
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ConfigError(f"{key}: unknown key(s) {', '.join(unknown)} (known: {', '.join(defaults)})")
    return {**defaults, **value}


def integer_setting(value: Any, key: str, low: int) -> int:
    """``value`` when it is an integer >= ``low`` (``True`` and ``2.0`` are not), else a ConfigError naming ``key``.

    >>> integer_setting(3, "protocol.n_folds", 2)
    3
    """
    if not is_integer(value) or value < low:
        raise ConfigError(f"{key} must be an integer >= {low}, got {value!r}")
    return value


def names_the_file(read: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a kind's read-config stage so that a :class:`ConfigError` it raises starts with the config file.

    The stage's first argument is the config: a YAML path, or the mapping read from it (whose ``_path`` is the
    file). Messages already naming the file, and mappings that came from no file, are left as they are.

    >>> @names_the_file
    ... def read(config):
    ...     raise ConfigError("protocol.n_split is not a setting")
    >>> read({"_path": "configs/x.yaml"})
    Traceback (most recent call last):
    ...
    affectlab.errors.ConfigError: configs/x.yaml: protocol.n_split is not a setting
    """

    @functools.wraps(read)
    def wrapper(config: Any, *args: Any, **kwargs: Any) -> Any:
        path = config.get("_path") if isinstance(config, Mapping) else config
        try:
            return read(config, *args, **kwargs)
        except ConfigError as exc:
            text = str(exc)
            if path is None or text.startswith(str(path)):
                raise
            raise ConfigError(f"{path}: {text}") from None

    return wrapper


def typed_entry(item: Any, key: str, settings: Mapping[str, set[str]], noun: str) -> str:
    """Check one ``{type: ..., ...}`` list entry: a mapping, a known type, only that type's keys; returns the type.

    ``settings`` maps each type to its allowed keys; ``noun`` names the entry in messages ("method").
    """
    if not isinstance(item, Mapping):
        raise ConfigError(f"{key}: expected a mapping with a 'type'")
    kind = item.get("type")
    if kind not in settings:
        raise ConfigError(f"{key}.type {kind!r} is unknown (known: {', '.join(settings)})")
    unknown = sorted(set(item) - settings[kind])
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]} is not a setting of a {kind} {noun} "
                          f"(known: {', '.join(sorted(settings[kind]))})")
    return str(kind)


def read_raw_config(config: Mapping[str, Any] | str | Path) -> tuple[dict[str, Any], Path | None]:
    """The mapping of a YAML experiment file (or a copy of a mapping) and the file's path (or None).

    A mapping that :func:`~affectlab.experiments.kinds.run_experiment` already read carries the file's
    path under ``_path``; it is taken out of the copy and returned, so a file is read once per run.
    """
    if isinstance(config, Mapping):
        raw = copy.deepcopy(dict(config))
        path = raw.pop("_path", None)
        return raw, None if path is None else Path(path)
    path = Path(config)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    if raw is None:
        raise ConfigError(f"{path}: empty config")
    return _mapping(raw, f"{path}: the config"), path


_read = read_raw_config


def resolve_source(source: Any, base: Path | None, key: str, *, what: str = "dataset") -> Path:
    """``source`` as an existing absolute path: relative to ``base`` (the config's folder), then the CWD.

    ``what`` names the thing in messages ("dataset", "weights file").
    """
    if not isinstance(source, str | os.PathLike) or not str(source).strip():
        raise ConfigError(f"{key} must be a path to a {what} file or folder, got {source!r}")
    raw = Path(os.path.expandvars(os.path.expanduser(str(source))))
    if raw.is_absolute():
        candidates = [raw]
    else:
        candidates = ([base / raw] if base is not None else []) + [Path.cwd() / raw]
    for candidate in candidates:
        if candidate.exists():
            return candidate.resolve()
    looked = " or ".join(str(c) for c in dict.fromkeys(candidates))
    raise ConfigError(f"{key}: {what} {str(source)!r} not found (looked for {looked})")


def _components(value: Any, key: str, create: Any) -> list[Component]:
    if isinstance(value, str | Mapping):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key} must be a non-empty list of names or {{name: ..., param: value}} mappings")
    parsed = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        entry = {"name": item} if isinstance(item, str) else _mapping(item, where)
        name = entry.pop("name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: missing 'name'")
        label = entry.pop("label", None)
        try:
            check_estimator_params(create(name, **entry))  # validates the name and the parameters
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:  # a value scikit-learn refuses (C: abc, C: -1)
            raise ConfigError(f"{where} ({name}): {exc}") from None
        parsed.append((name, label, entry))
    counts: dict[str, int] = {}
    for name, _, _ in parsed:
        counts[name] = counts.get(name, 0) + 1
    out, used = [], set()
    for name, label, params in parsed:
        if label is None:
            label = name
            if counts[name] > 1:
                label = name + "".join(f"_{k}{_short(v)}" for k, v in params.items()) if params else name
        label = str(label)
        if label in used:
            raise ConfigError(f"{key}: two entries are labelled {label!r}; give each a distinct 'label'")
        used.add(label)
        out.append(Component(name, label, params))
    return out


def check_estimator_params(estimator: Any) -> None:
    """Check ``estimator`` and the estimators inside it against scikit-learn's parameter constraints.

    A value scikit-learn would refuse only at ``fit`` (``C: abc``, ``C: -1``) then fails when the
    config is read, before any work. Objects without constraints pass unchecked.

    Raises
    ------
    ValueError, TypeError
        scikit-learn's ``InvalidParameterError`` naming the parameter and the estimator.
    """
    from sklearn.base import BaseEstimator

    if not isinstance(estimator, BaseEstimator):
        return
    nested = [v for v in estimator.get_params(deep=True).values() if isinstance(v, BaseEstimator)]
    for item in [estimator, *nested]:
        if getattr(type(item), "_parameter_constraints", None):
            item._validate_params()


def _short(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(value)).strip("-")


def parse_image_size(value: Any) -> tuple[int, int] | None:
    """``(height, width)`` from a config's ``images`` mapping (``size: 48`` or ``size: [h, w]``), or None."""
    if value is None:
        return None
    images = _mapping(value, "images")
    unknown = sorted(set(images) - {"size"})
    if unknown:
        raise ConfigError(f"images.{unknown[0]} is not a setting (known: size)")
    size = images.get("size")
    if size is None:
        return None
    if is_integer(size) and size > 0:
        return int(size), int(size)
    if (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(is_integer(v) and v > 0 for v in size)
    ):
        return int(size[0]), int(size[1])
    raise ConfigError(f"images.size must be a positive integer or [height, width], got {size!r}")


@names_the_file
def load_config(
    config: Mapping[str, Any] | str | Path,
    *,
    data: str | Path | None = None,
    check_source: bool = True,
) -> ExperimentConfig:
    """Read and validate an experiment config (a YAML file or a mapping).

    Parameters
    ----------
    config
        Path to a YAML file, or the mapping itself (relative paths then resolve against the CWD).
    data
        Overrides ``data.source``; a relative path resolves against the CWD.
    check_source
        Resolve ``data.source`` to an existing absolute path (else leave it as written).

    Raises
    ------
    ConfigError
        One message naming the first bad key (unknown feature/classifier names list the known).
    """
    from affectlab.classify.registry import create_classifier
    from affectlab.evaluate.protocols import make_protocol
    from affectlab.features.registry import create_feature

    raw, path = _read(config)
    if raw.get("kind", "features") != "features":
        raise ConfigError(f"kind {raw['kind']!r}: this reader is for kind 'features' (use affectlab.experiments.kinds)")
    unknown = [k for k in raw if k not in CONFIG_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in the config (known: {', '.join(CONFIG_KEYS[:-1])})")
    name = raw.get("name") or (path.stem if path is not None else "experiment")
    if not isinstance(name, str):
        raise ConfigError(f"name must be a string, got {name!r}")
    description = raw.get("description")

    data_spec = raw.get("data")
    if data_spec is None and data is None:
        raise ConfigError("missing key 'data' (e.g. data: {source: path/to/dataset})")
    data_spec = {"source": data_spec} if isinstance(data_spec, str) else _mapping(data_spec or {}, "data")
    if data is not None:
        data_spec["source"] = str(data)
    if "source" not in data_spec:
        raise ConfigError("missing key 'data.source' (the dataset file or folder)")
    if check_source:
        base = None if (data is not None or path is None) else path.parent
        data_spec["source"] = str(resolve_source(data_spec["source"], base, "data.source"))
    fmt = data_spec.setdefault("format", "auto")
    if not isinstance(fmt, str):
        raise ConfigError(f"data.format must be a string, got {fmt!r}")

    protocol_spec = raw.get("protocol", DEFAULT_PROTOCOL)
    protocol = make_protocol(_mapping(protocol_spec, "protocol")).to_dict()

    normalisation = raw.get("normalisation", "global")
    if normalisation not in NORMALISATIONS:
        raise ConfigError(f"normalisation {normalisation!r} is unknown (known: {', '.join(NORMALISATIONS)})")

    for key in ("features", "classifiers"):
        if key not in raw:
            raise ConfigError(f"missing key {key!r}")
    features = _components(raw["features"], "features", create_feature)
    classifiers = _components(raw["classifiers"], "classifiers", create_classifier)
    return ExperimentConfig(
        name=name,
        data=data_spec,
        protocol=protocol,
        features=features,
        classifiers=classifiers,
        image_size=parse_image_size(raw.get("images")),
        normalisation=normalisation,
        description=description if isinstance(description, str) else None,
        path=path,
    )


def parse_components(value: Any, key: str, create: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """``[(name, label, params)]`` from a config list of names or ``{name: ..., label: ..., param: value}`` mappings
    (``kind: sequences`` and ``kind: clips``), each checked by ``create(name, **params)``; a ``pooled`` feature is
    labelled ``<feature>_<pooling>pool``."""
    if isinstance(value, str | Mapping):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key} must be a non-empty list of names or {{name: ..., param: value}} mappings")
    out, used = [], set()
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        entry = {"name": item} if isinstance(item, str) else dict(item) if isinstance(item, Mapping) else None
        if entry is None:
            raise ConfigError(f"{where}: expected a name or a mapping, got {item!r}")
        name = entry.pop("name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: missing 'name'")
        label = entry.pop("label", None)
        try:
            create(name, **entry)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if label is None:
            label = name
            if name == "pooled":
                label = f"{entry.get('feature', 'hog')}_{entry.get('pooling', 'mean')}pool"
        label = re.sub(r"\s+", "_", str(label))
        if label in used:
            raise ConfigError(f"{key}: two entries are labelled {label!r}; give each a distinct 'label'")
        used.add(label)
        out.append((name, label, entry))
    return out
