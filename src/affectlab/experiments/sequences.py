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

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.checks import is_integer
from affectlab.classify.registry import create_classifier
from affectlab.errors import ConfigError, ProtocolError
from affectlab.evaluate.protocols import Fold, make_protocol
from affectlab.experiments import runs
from affectlab.experiments.config import names_the_file, parse_components, parse_image_size, resolve_source
from affectlab.experiments.runs import ExperimentResult
from affectlab.experiments.stages import fold_of_sample, label_order, pool_grid, test_classifier
from affectlab.features.temporal import create_sequence_feature, sequence_feature_is_stateless
from affectlab.parallel import run_tasks
from affectlab.video.sequences import load_sequences

__all__ = ["SEQUENCE_CONFIG_KEYS", "run_sequence_experiment"]

SEQUENCE_CONFIG_KEYS = ("kind", "name", "description", "data", "images", "sequences", "protocol", "features",
                        "classifiers", "run", "_path")


@names_the_file
def _settings(raw: Mapping[str, Any], data: str | Path | None) -> dict[str, Any]:

    unknown = [k for k in raw if k not in SEQUENCE_CONFIG_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in the sequences config "
                          f"(known: {', '.join(SEQUENCE_CONFIG_KEYS[:-2])})")
    path = raw.get("_path")
    path = Path(path) if path is not None else None
    spec = raw.get("data")
    if spec is None and data is None:
        raise ConfigError("missing key 'data' (e.g. data: {source: path/to/ckplus48})")
    spec = {"source": spec} if isinstance(spec, str) else dict(spec or {})
    if data is not None:
        spec["source"] = str(data)
    if "source" not in spec:
        raise ConfigError("missing key 'data.source' (the dataset folder)")
    base = None if (data is not None or path is None) else path.parent
    spec["source"] = str(resolve_source(spec["source"], base, "data.source"))
    images = raw.get("images") or {}
    if not isinstance(images, Mapping) or set(images) - {"size"}:
        raise ConfigError("images must be a mapping with only 'size'")
    size = images.get("size", 48)
    if size is not None:  # one rule for every kind (True and 2.0 refused); kept as written: 48 or [h, w]
        height, width = parse_image_size({"size": size})
        size = int(height) if is_integer(size) else [int(height), int(width)]
    seq = raw.get("sequences") or {}
    if not isinstance(seq, Mapping) or set(seq) - {"pattern", "frames"}:
        raise ConfigError("sequences must be a mapping with 'pattern' and/or 'frames'")
    for key in ("features", "classifiers"):
        if key not in raw:
            raise ConfigError(f"missing key {key!r}")
    protocol = make_protocol(dict(raw.get("protocol") or {"kind": "group_kfold", "n_splits": 10}))
    name = raw.get("name") or (path.stem if path is not None else "sequences")
    return {
        "name": str(name), "description": raw.get("description"), "data": spec, "size": size,
        "sequences": {"pattern": seq.get("pattern", r"^(S\d+_\d+)_(\d+)$"), "frames": seq.get("frames")},
        "protocol": protocol, "path": path,
        "features": parse_components(raw["features"], "features", create_sequence_feature),
        "classifiers": parse_components(raw["classifiers"], "classifiers", create_classifier),
    }


def _fold_task(k: int, fold: Fold, feature: tuple[str, str, dict[str, Any]], X: np.ndarray | None,
               volumes: np.ndarray, y: np.ndarray, groups: np.ndarray,
               classifiers: list[tuple[str, Any]], labels: list[str]) -> dict[str, Any]:
    """One fold of one feature: (fit the feature on the training sequences,) fit each classifier, predict the test
    sequences."""

    started = time.perf_counter()
    if X is None:
        name, _, params = feature
        extractor = create_sequence_feature(name, **params).fit(volumes[fold.train], y[fold.train])
        X = np.asarray(extractor.transform(volumes), dtype=np.float32)
    feature_seconds = time.perf_counter() - started
    results = []
    for label, template in classifiers:
        result = test_classifier(label, template, X, y, fold, groups, labels, feature=feature[1])
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


    cfg = _settings(config, data)
    run = runs.RunFolder(out_dir, overwrite=overwrite)
    seqs, y, groups, folds = _sequences_and_folds(cfg, progress=progress)
    run.create()
    labels = label_order(seqs.classes, y)
    jobs = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    resolved = _resolved(cfg, run, seqs, folds, jobs)
    run.write_config(resolved)

    volumes = seqs.volumes
    assert volumes is not None
    matrices, feature_info = _stateless_features(cfg["features"], volumes)
    classifiers = [(label, create_classifier(name, **params)) for name, label, params in cfg["classifiers"]]
    tasks = [
        delayed(_fold_task)(k, fold, feat, matrices.get(feat[1]), volumes, y, groups, classifiers, labels)
        for feat in cfg["features"] for k, fold in enumerate(folds)
    ]
    keys = [(feat[1], k) for feat in cfg["features"] for k in range(len(folds))]
    outcomes = dict(zip(keys, run_tasks(tasks, jobs, progress=progress)))
    for _, label, _ in cfg["features"]:
        if label not in feature_info:
            per_fold = [outcomes[label, k] for k in range(len(folds))]
            feature_info[label] = {"stateless": False, "dim": per_fold[0]["dim"],
                                   "seconds": round(sum(o["feature_seconds"] for o in per_fold), 3)}
    rows, predictions, decisions = pool_grid(
        outcomes, [(label, {"name": name, **params}) for name, label, params in cfg["features"]],
        [(label, {"name": name, **params}) for name, label, params in cfg["classifiers"]], folds, y,
        ids=list(seqs.ids), subjects=list(groups), labels=labels, out=run.path, extra={"level": "sequence"})
    run.write_predictions(predictions)
    run.write_decisions(ids=seqs.ids, true=y, classes=labels, folds=[f.name for f in folds],
                        fold_of_sample=fold_of_sample(folds, len(y)), decisions=decisions)
    return _write_outputs(cfg, run, resolved, seqs, folds, labels, rows, feature_info, jobs)


def _sequences_and_folds(cfg: Mapping[str, Any], *, progress: bool) -> tuple[Any, np.ndarray, np.ndarray, list[Fold]]:
    """Dataset and protocol stages: the frames grouped into sequences, their labels and subjects, and the folds
    (checked once more: no subject in both parts)."""

    size = cfg["size"]
    seqs = load_sequences(cfg["data"]["source"], pattern=cfg["sequences"]["pattern"],
                          size=tuple(size) if isinstance(size, list) else size,
                          frames=cfg["sequences"]["frames"], progress=progress)
    y = seqs.labels.astype(str)
    groups = seqs.subjects.astype(str)
    folds = list(cfg["protocol"].split(y, groups))
    for fold in folds:  # the protocol checks it too; a sequence experiment must never leak subjects
        if set(groups[fold.train]) & set(groups[fold.test]):
            raise ProtocolError(f"fold {fold.name}: a subject is in both train and test")
    return seqs, y, groups, folds


def _resolved(cfg: Mapping[str, Any], run: runs.RunFolder, seqs: Any, folds: list[Fold], jobs: int) -> dict[str, Any]:
    """The config as run, with its provenance (the frames as read, with ids, labels and subjects, fingerprinted)."""
    protocol = cfg["protocol"]
    resolved: dict[str, Any] = {
        "kind": "sequences", "name": cfg["name"], **({"description": cfg["description"]} if cfg["description"] else {}),
        "data": cfg["data"], "images": {"size": cfg["size"]}, "sequences": cfg["sequences"],
        "protocol": protocol.to_dict(),
        "features": [{"name": n, **({"label": lab} if lab != n else {}), **p} for n, lab, p in cfg["features"]],
        "classifiers": [{"name": n, **({"label": lab} if lab != n else {}), **p} for n, lab, p in cfg["classifiers"]],
    }
    resolved["run"] = run.provenance(config_path=cfg["path"], protocol=protocol, folds=folds, n_jobs=jobs)
    resolved["run"]["dataset"] = {"path": cfg["data"]["source"], **seqs.summary()}
    resolved["run"]["data_sha256"] = runs.array_fingerprint(
        np.asarray(seqs.ids, dtype=object), seqs.labels, seqs.subjects,
        *([seqs.volumes] if seqs.volumes is not None else []))
    return resolved


def _stateless_features(features: list[tuple[str, str, dict[str, Any]]],
                        volumes: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Members stage: every sequence feature that learns nothing, computed once for all sequences."""

    matrices: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    for name, label, params in features:
        if sequence_feature_is_stateless(name, params):
            started = time.perf_counter()
            X = np.asarray(create_sequence_feature(name, **params).fit(volumes).transform(volumes), dtype=np.float32)
            matrices[label] = X
            info[label] = {"stateless": True, "dim": int(X.shape[1]),
                           "seconds": round(time.perf_counter() - started, 3)}
    return matrices, info


def _write_outputs(cfg: Mapping[str, Any], run: runs.RunFolder, resolved: dict[str, Any], seqs: Any,
                   folds: list[Fold], labels: list[str], rows: list[dict[str, Any]],
                   feature_info: dict[str, dict[str, Any]], jobs: int) -> ExperimentResult:
    """metrics.json and report.md of a sequence run; the run's result."""
    protocol, size, summary = cfg["protocol"], cfg["size"], seqs.summary()
    elapsed = run.elapsed
    run.write_metrics({"name": cfg["name"], "kind": "sequences", "level": "sequence",
                       "dataset": resolved["run"]["dataset"],
                       "protocol": {**protocol.to_dict(), "description": protocol.describe(), "n_folds": len(folds)},
                       "normalisation": "global", "labels": labels, "rows": rows, "features": feature_info,
                       "n_jobs": jobs, "seconds": round(elapsed, 3)})
    counts = ", ".join(f"{c} {n}" for c, n in summary["classes"].items())
    sections = [
        ("Data", (f"- source: `{cfg['data']['source']}`\n- {summary['sequences']} labelled sequences "
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
    run.write_report(title=f"{cfg['name']} ({generated})", sections=sections, rows=rows)
    return run.result(rows, resolved, n_folds=len(folds), seconds=elapsed)
