"""``kind: sequences`` experiments: temporal descriptors of image sequences, subject-independent.

The runner groups a frame-per-file dataset into sequences (:mod:`affectlab.video.sequences`),
describes every sequence with each sequence feature (:mod:`affectlab.features.temporal`:
``lbp_top``, ``lpq_top``, ``sift_top``, ``sift_lbp``, ``pooled`` per-frame features), fits every
classifier on each fold's training sequences and reports sequence-level accuracy, UAR and
macro-F1 over the pooled test folds, in a run folder like the ``features`` kind's.

Config (see ``configs/ckplus48-sequences.yaml``)::

    kind: sequences
    name: ckplus48-sequences
    data: {source: ../../shared/datasets/ckplus48}
    images: {size: 48}
    sequences: {pattern: '^(S\\d+_\\d+)_(\\d+)$', frames: 3}
    protocol: {kind: group_kfold, n_splits: 10}
    features: [{name: lbp_top, levels: 3}, {name: pooled, feature: hog, pooling: mean}]
    classifiers: [{name: linear_svm, C_grid: auto}]

Features that learn (codebooks) are fitted on each fold's training sequences only; the
classifiers choose their hyper-parameters by inner cross-validation on the training part,
split by subject.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.checks import is_integer
from affectlab.classify.registry import create_classifier
from affectlab.errors import ConfigError, ProtocolError
from affectlab.evaluate.protocols import Fold, Protocol, make_protocol
from affectlab.experiments import runs
from affectlab.experiments.config import (
    Component,
    names_the_file,
    parse_components,
    parse_image_size,
    resolve_source,
)
from affectlab.experiments.runs import ExperimentResult
from affectlab.experiments.schema import integer, read_section, regex, section_dict, setting
from affectlab.experiments.stages import fold_of_sample, label_order, pool_grid, test_classifier
from affectlab.features.temporal import create_sequence_feature, sequence_feature_is_stateless
from affectlab.parallel import run_tasks
from affectlab.video.sequences import SEQUENCE_PATTERN, load_sequences

__all__ = ["SEQUENCE_CONFIG_KEYS", "SequenceConfig", "SequenceGrouping", "load_sequence_config",
           "run_sequence_experiment"]

SEQUENCE_CONFIG_KEYS = ("kind", "name", "description", "data", "images", "sequences", "protocol", "features",
                        "classifiers", "run", "_path")


@dataclass(frozen=True)
class SequenceGrouping:
    """``sequences``: how frame files group into sequences (``pattern`` on the file stem: group 1 the sequence id,
    group 2 the frame number) and how many frames each keeps (``frames``: the last N; null: all, which must
    then agree)."""

    pattern: str = setting(SEQUENCE_PATTERN, regex(2, "a regular expression with two groups (sequence id, "
                                                      "frame number)"))
    frames: int | None = setting(None, integer(1, noun="an integer").or_null())


@dataclass(frozen=True)
class SequenceConfig:
    """A validated ``kind: sequences`` file: the dataset folder (absolute), the frame size as written
    (``48`` or ``[h, w]``; None keeps the frames' own), the grouping, the protocol, the features and classifiers."""

    name: str
    source: Path
    size: int | list[int] | None
    sequences: SequenceGrouping
    protocol: Protocol
    features: tuple[Component, ...]
    classifiers: tuple[Component, ...]
    description: str | None = None
    path: Path | None = None

    @property
    def frame_size(self) -> int | tuple[int, int] | None:
        """``size`` as :func:`~affectlab.video.sequences.load_sequences` takes it."""
        return tuple(self.size) if isinstance(self.size, list) else self.size  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (``config.yaml`` of the run folder, without its ``run`` provenance)."""
        return {
            "kind": "sequences", "name": self.name, **({"description": self.description} if self.description else {}),
            "data": {"source": str(self.source)}, "images": {"size": copy.copy(self.size)},
            "sequences": section_dict(self.sequences), "protocol": self.protocol.to_dict(),
            "features": [c.to_dict() for c in self.features],
            "classifiers": [c.to_dict() for c in self.classifiers],
        }


def _frame_size(raw: Mapping[str, Any]) -> int | list[int] | None:
    """``images.size`` (default 48) as written, checked by the rule every kind uses (True and 2.0 refused)."""
    images = raw.get("images") or {}
    if not isinstance(images, Mapping) or set(images) - {"size"}:
        raise ConfigError(f"images must be a mapping with only 'size', got {images!r}")
    size = images.get("size", 48)
    if size is None:
        return None
    height, width = parse_image_size({"size": size})
    return int(height) if is_integer(size) else [int(height), int(width)]


@names_the_file
def load_sequence_config(raw: Mapping[str, Any], data: str | Path | None = None) -> SequenceConfig:
    """Read config stage: a ``kind: sequences`` mapping (``raw["_path"]``: the file, for relative paths) checked
    as a whole; ``data`` replaces ``data.source``."""
    unknown = [k for k in raw if k not in SEQUENCE_CONFIG_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in the sequences config "
                          f"(known: {', '.join(SEQUENCE_CONFIG_KEYS[:-2])})")
    path = Path(raw["_path"]) if raw.get("_path") is not None else None
    spec = raw.get("data")
    if spec is None and data is None:
        raise ConfigError("missing key 'data' (e.g. data: {source: path/to/ckplus48})")
    spec = {"source": spec} if isinstance(spec, str) else spec if spec is not None else {}
    if not isinstance(spec, Mapping) or set(spec) - {"source"}:
        raise ConfigError(f"data must be a dataset path or a mapping with only 'source', got {spec!r}")
    if data is None and "source" not in spec:
        raise ConfigError("missing key 'data.source' (the dataset folder)")
    base = None if (data is not None or path is None) else path.parent
    source = resolve_source(str(data) if data is not None else spec["source"], base, "data.source")
    size = _frame_size(raw)
    grouping = read_section(raw, "sequences", SequenceGrouping)
    for key in ("features", "classifiers"):
        if key not in raw:
            raise ConfigError(f"missing key {key!r}")
    protocol = make_protocol(dict(raw.get("protocol") or {"kind": "group_kfold", "n_splits": 10}))
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(f"description must be text, got {description!r}")
    return SequenceConfig(
        name=str(raw.get("name") or (path.stem if path is not None else "sequences")), source=source, size=size,
        sequences=grouping, protocol=protocol,
        features=tuple(Component(*c) for c in parse_components(raw["features"], "features", create_sequence_feature)),
        classifiers=tuple(Component(*c) for c in parse_components(raw["classifiers"], "classifiers",
                                                                  create_classifier)),
        description=description, path=path)


def _fold_task(k: int, fold: Fold, feature: Component, X: np.ndarray | None,
               volumes: np.ndarray, y: np.ndarray, groups: np.ndarray,
               classifiers: list[tuple[str, Any]], labels: list[str]) -> dict[str, Any]:
    """One fold of one feature: (fit the feature on the training sequences,) fit each classifier, predict the test
    sequences."""

    started = time.perf_counter()
    if X is None:
        extractor = create_sequence_feature(feature.name, **feature.params).fit(volumes[fold.train], y[fold.train])
        X = np.asarray(extractor.transform(volumes), dtype=np.float32)
    feature_seconds = time.perf_counter() - started
    results = []
    for label, template in classifiers:
        result = test_classifier(label, template, X, y, fold, groups, labels, feature=feature.label)
        del result["n_convergence"]  # sequence runs record no convergence counts (as before the stages were shared)
        results.append(result)
    return {"fold": k, "dim": int(X.shape[1]), "feature_seconds": feature_seconds, "results": results}


def run_sequence_experiment(
    config: Mapping[str, Any],
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: Any = None,
) -> ExperimentResult:
    """Run a ``kind: sequences`` experiment (see the module docstring) and write its run folder.

    ``cache`` is accepted for the common runner signature; sequence descriptors are not cached.

    Raises
    ------
    ConfigError, ProtocolError, DataError, MediaReadError
        Bad config key, leaking split, unreadable data; the message names it.
    """
    from joblib import delayed, effective_n_jobs


    cfg = load_sequence_config(config, data)
    run = runs.RunFolder(out_dir, overwrite=overwrite)
    seqs, y, groups, folds = _sequences_and_folds(cfg, progress=progress)
    run.create()
    labels = label_order(seqs.classes, y)
    jobs = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    resolved = _resolved(cfg, run, seqs, folds, jobs)
    run.write_config(resolved)

    volumes = seqs.volumes
    assert volumes is not None
    matrices, feature_info = _stateless_features(cfg.features, volumes)
    classifiers = [(c.label, create_classifier(c.name, **c.params)) for c in cfg.classifiers]
    tasks = [
        delayed(_fold_task)(k, fold, feat, matrices.get(feat.label), volumes, y, groups, classifiers, labels)
        for feat in cfg.features for k, fold in enumerate(folds)
    ]
    keys = [(feat.label, k) for feat in cfg.features for k in range(len(folds))]
    outcomes = dict(zip(keys, run_tasks(tasks, jobs, progress=progress)))
    for label in (f.label for f in cfg.features):
        if label not in feature_info:
            per_fold = [outcomes[label, k] for k in range(len(folds))]
            feature_info[label] = {"stateless": False, "dim": per_fold[0]["dim"],
                                   "seconds": round(sum(o["feature_seconds"] for o in per_fold), 3)}
    rows, predictions, decisions = pool_grid(
        outcomes, [(f.label, {"name": f.name, **f.params}) for f in cfg.features],
        [(c.label, {"name": c.name, **c.params}) for c in cfg.classifiers], folds, y,
        ids=list(seqs.ids), subjects=list(groups), labels=labels, out=run.path, extra={"level": "sequence"})
    run.write_predictions(predictions)
    run.write_decisions(ids=seqs.ids, true=y, classes=labels, folds=[f.name for f in folds],
                        fold_of_sample=fold_of_sample(folds, len(y)), decisions=decisions)
    return _write_outputs(cfg, run, resolved, seqs, folds, labels, rows, feature_info, jobs)


def _sequences_and_folds(cfg: SequenceConfig, *, progress: bool) -> tuple[Any, np.ndarray, np.ndarray, list[Fold]]:
    """Dataset and protocol stages: the frames grouped into sequences, their labels and subjects, and the folds
    (checked once more: no subject in both parts)."""

    seqs = load_sequences(str(cfg.source), pattern=cfg.sequences.pattern, size=cfg.frame_size,
                          frames=cfg.sequences.frames, progress=progress)
    y = seqs.labels.astype(str)
    groups = seqs.subjects.astype(str)
    folds = list(cfg.protocol.split(y, groups))
    for fold in folds:  # the protocol checks it too; a sequence experiment must never leak subjects
        if set(groups[fold.train]) & set(groups[fold.test]):
            raise ProtocolError(f"fold {fold.name}: a subject is in both train and test")
    return seqs, y, groups, folds


def _resolved(cfg: SequenceConfig, run: runs.RunFolder, seqs: Any, folds: list[Fold], jobs: int) -> dict[str, Any]:
    """The config as run, with its provenance (the frames as read, with ids, labels and subjects, fingerprinted)."""
    resolved = cfg.to_dict()
    resolved["run"] = run.provenance(config_path=cfg.path, protocol=cfg.protocol, folds=folds, n_jobs=jobs)
    resolved["run"]["dataset"] = {"path": str(cfg.source), **seqs.summary()}
    resolved["run"]["data_sha256"] = runs.array_fingerprint(
        np.asarray(seqs.ids, dtype=object), seqs.labels, seqs.subjects,
        *([seqs.volumes] if seqs.volumes is not None else []))
    return resolved


def _stateless_features(features: tuple[Component, ...],
                        volumes: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Members stage: every sequence feature that learns nothing, computed once for all sequences."""

    matrices: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    for feature in features:
        if sequence_feature_is_stateless(feature.name, feature.params):
            started = time.perf_counter()
            X = np.asarray(create_sequence_feature(feature.name, **feature.params).fit(volumes).transform(volumes),
                           dtype=np.float32)
            matrices[feature.label] = X
            info[feature.label] = {"stateless": True, "dim": int(X.shape[1]),
                           "seconds": round(time.perf_counter() - started, 3)}
    return matrices, info


def _write_outputs(cfg: SequenceConfig, run: runs.RunFolder, resolved: dict[str, Any], seqs: Any,
                   folds: list[Fold], labels: list[str], rows: list[dict[str, Any]],
                   feature_info: dict[str, dict[str, Any]], jobs: int) -> ExperimentResult:
    """metrics.json and report.md of a sequence run; the run's result."""
    protocol, size, summary = cfg.protocol, cfg.size, seqs.summary()
    elapsed = run.elapsed
    run.write_metrics({"name": cfg.name, "kind": "sequences", "level": "sequence",
                       "dataset": resolved["run"]["dataset"],
                       "protocol": {**protocol.to_dict(), "description": protocol.describe(), "n_folds": len(folds)},
                       "normalisation": "global", "labels": labels, "rows": rows, "features": feature_info,
                       "n_jobs": jobs, "seconds": round(elapsed, 3)})
    counts = ", ".join(f"{c} {n}" for c, n in summary["classes"].items())
    sections = [
        ("Data", (f"- source: `{cfg.source}`\n- {summary['sequences']} labelled sequences "
                  f"({summary['frames']} frames, {summary['frames_per_sequence']} per sequence), "
                  f"{summary['subjects']} subjects\n- classes: {counts}\n- frames: gray, {size}x{size} px"
                  if isinstance(size, int) else "")),
        ("Protocol", (f"{protocol.describe()}; {len(folds)} fold(s). Every metric is per sequence (one "
                      "prediction per sequence), pooled over the test folds.")),
        ("Normalisation", ("Each feature is standardised with statistics of the training part of each fold only "
                           "(part of every classifier); no per-subject normalisation.")),
        ("Hyper-parameters", ("Chosen on the training part of each fold only, by inner cross-validation split by "
                              "subject; the values per fold are in metrics.json (`chosen`).")),
        ("Features", "\n".join(
            f"- {lab}: {info['dim']} dimensions, "
            f"{'computed once for all sequences' if info['stateless'] else 'fitted on each training part'}, "
            f"{info['seconds']:.1f} s" for lab, info in feature_info.items())),
    ]
    generated = f"affectlab {resolved['run']['affectlab']}, {resolved['run']['timestamp']}"
    run.write_report(title=f"{cfg.name} ({generated})", sections=sections, rows=rows)
    return run.result(rows, resolved, n_folds=len(folds), seconds=elapsed)
