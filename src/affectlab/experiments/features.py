"""``kind: features`` experiments: load images once, compute each feature once, fit every (feature,
classifier) on every fold's training part, pool the test predictions and write a run folder.

Stateless features are computed once for all images (in parallel chunks, ``n_jobs``) and cached
on disk (:mod:`affectlab.features.cache`); features that learn (``stateless=False``) are fitted
on each fold's training part only (cached per fold). The folds of every feature run in
parallel over ``n_jobs`` processes; each fold fits all classifiers on the same features.

Examples
--------
>>> from affectlab.experiments import run_experiment
>>> result = run_experiment("configs/ckplus48-baseline.yaml", "runs/ck")  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from affectlab.classify.registry import create_classifier
from affectlab.errors import ConfigError, ProtocolError
from affectlab.evaluate.protocols import Fold, make_protocol
from affectlab.experiments import runs
from affectlab.experiments.config import ExperimentConfig, load_config
from affectlab.experiments.runs import ExperimentResult
from affectlab.experiments.stages import (
    fold_of_sample,
    label_order,
    load_gray_images,
    open_feature_cache,
    pool_grid,
    standardise_per_group,
    test_classifier,
    warn_missing_classes,
)
from affectlab.features.cache import FeatureCache, images_fingerprint, parallel_transform
from affectlab.features.registry import create_feature, feature_info
from affectlab.parallel import run_tasks, worker_deaths_explained

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset

__all__ = [
    "ImageRun",
    "fold_feature_matrix",
    "image_members",
    "load_experiment_dataset",
    "prepare_image_run",
    "run_features_experiment",
    "stateless_feature_matrices",
]


def load_experiment_dataset(cfg: ExperimentConfig, dataset: Dataset | None) -> Dataset:
    """The config's labelled image dataset (``dataset`` when given, else ``cfg.source`` loaded)."""
    if dataset is None:
        from affectlab.data.loader import load_dataset

        options = {k: v for k, v in cfg.data.items() if k not in ("source", "format")}
        dataset = load_dataset(cfg.source, format=cfg.data.get("format", "auto"), **options)
    if dataset.kind != "image":
        raise ConfigError(f"data.source {cfg.source}: a {dataset.kind} dataset; experiments run on images for now")
    labelled = [i for i, s in enumerate(dataset.samples) if s.label is not None]
    if not labelled:
        raise ConfigError(f"data.source {cfg.source}: no labelled samples")
    if len(labelled) < len(dataset):
        dataset = dataset.subset(labelled)
    return dataset


def _normalisation_text(cfg: ExperimentConfig) -> str:
    scaler = (
        "Each feature is standardised (zero mean, unit variance) with statistics of the training part"
        " of each fold only (the standardisation is part of every classifier)."
    )
    if cfg.normalisation == "per_subject":
        return ("Per-subject: before classification every subject's features are z-scored with that"
                " subject's own mean and standard deviation (no labels used). " + scaler)
    return "Global (no per-subject normalisation). " + scaler


def fold_feature_matrix(
    feature: tuple[str, str, Any],
    images: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    fold: Fold,
    *,
    per_subject: bool = False,
    cache_dir: str | None = None,
    images_hash: str | None = None,
) -> tuple[np.ndarray, str | None, float]:
    """A learning feature ``(label, name, extractor)`` fitted on ``fold.train`` only, applied to all images.

    Returns the ``(N, D)`` float32 matrix (z-scored per subject when ``per_subject``), the cache
    status (``"hit"``, ``"miss"`` or ``None``) and the seconds spent.
    """
    from sklearn.base import clone


    label, name, extractor = feature
    started = time.perf_counter()

    def compute() -> np.ndarray:
        fitted = clone(extractor).fit(images[fold.train], y[fold.train])
        return np.asarray(fitted.transform(images), dtype=np.float32)

    status = None
    if cache_dir is not None and images_hash is not None:
        cache = FeatureCache(cache_dir)
        key = cache.key(name, extractor, images_hash, fit_on=(fold.train, y[fold.train]))
        X, hit = cache.get_or_compute(key, compute, {"feature": name, "label": label, "fold": fold.name})
        status = "hit" if hit else "miss"
    else:
        X = compute()
    if per_subject and groups is not None:
        X = standardise_per_group(X, groups)
    return X, status, time.perf_counter() - started


def _fold_task(
    task: tuple[str, int],
    feature: tuple[str, str, Any],
    X: np.ndarray | None,
    images: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    fold: Fold,
    classifiers: list[tuple[str, Any]],
    labels: list[str],
    per_subject: bool,
    cache_dir: str | None,
    images_hash: str | None,
) -> dict[str, Any]:
    """One fold of one feature: (fit the feature,) fit every classifier, predict the test part."""
    out: dict[str, Any] = {"task": task, "cache": None, "feature_seconds": 0.0}
    if X is None:  # a feature that learns: fit on this fold's training part only
        try:
            X, out["cache"], out["feature_seconds"] = fold_feature_matrix(
                feature, images, y, groups, fold, per_subject=per_subject, cache_dir=cache_dir,
                images_hash=images_hash)
        except (TypeError, ValueError) as exc:  # a bad parameter or data the extractor refuses
            raise ConfigError(f"feature {feature[0]!r}, fold {fold.name}: {exc}") from None
    out["dim"] = int(X.shape[1])
    out["results"] = [test_classifier(label, template, X, y, fold, groups, labels, feature=feature[0])
                      for label, template in classifiers]
    return out


def stateless_feature_matrices(
    cfg: ExperimentConfig,
    images: np.ndarray,
    *,
    cache: Any,
    images_hash: str | None,
    n_jobs: int | None,
    progress: bool,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Every stateless feature for all images (from the cache when there), and how each was got."""

    matrices, info = {}, {}
    for i, feat in enumerate(cfg.features):
        if not feature_info(feat.name).stateless:
            continue
        started = time.perf_counter()
        extractor = create_feature(feat.name, **feat.params)

        def compute(extractor: Any = extractor, label: str = feat.label, i: int = i) -> np.ndarray:
            try:
                return parallel_transform(extractor, images, n_jobs=n_jobs, fit_chunks=True, progress=progress,
                                          desc=f"feature {label}")
            except (TypeError, ValueError) as exc:  # a bad parameter, or images too small for the descriptor
                raise ConfigError(f"features[{i}] ({label}): {exc}") from None

        if cache is not None:
            key = cache.key(feat.name, extractor, images_hash)
            X, hit = cache.get_or_compute(key, compute, {"feature": feat.name, "label": feat.label,
                                                         "params": feat.params, "images": images_hash,
                                                         "shape": list(images.shape)})
            status = "hit" if hit else "miss"
        else:
            X, status = compute(), None
        matrices[feat.label] = np.asarray(X, dtype=np.float32)
        info[feat.label] = {"stateless": True, "dim": int(X.shape[1]), "cache": status,
                            "seconds": round(time.perf_counter() - started, 3)}
    return matrices, info


@dataclass
class ImageRun:
    """What the stages before the members settle for an image experiment (kinds ``features`` and ``fusion``):
    the run folder (checked, not created), the labelled dataset, the protocol and its folds, labels, subjects
    (``None`` unless every sample has one), the class order, the ``run`` provenance, processes and cache."""

    cfg: ExperimentConfig
    run: runs.RunFolder
    ds: Dataset
    protocol: Any
    folds: list[Fold]
    y: np.ndarray
    groups: np.ndarray | None
    labels: list[str]
    provenance: dict[str, Any]
    jobs: int
    feature_cache: Any

    @property
    def per_subject(self) -> bool:
        return self.cfg.normalisation == "per_subject"


def prepare_image_run(cfg: ExperimentConfig, out_dir: str | Path, *, dataset: Dataset | None = None,
                      overwrite: bool = False, n_jobs: int | None = None, cache: Any = None) -> ImageRun:
    """Dataset and protocol stages: check the run folder, load the labelled dataset, make the folds (leaks and
    impossible splits raise here, before any work), warn of classes a training part lacks."""
    from joblib import effective_n_jobs

    run = runs.RunFolder(out_dir, overwrite=overwrite)
    ds = load_experiment_dataset(cfg, dataset)
    protocol = make_protocol(cfg.protocol)
    folds: list[Fold] = protocol.folds(ds)  # raises ProtocolError on leakage before any work
    used = np.unique(np.concatenate([np.concatenate([f.train, f.test, f.validation]) for f in folds]))
    if used.size < len(ds):  # e.g. FER2013's PrivateTest under a Training -> PublicTest protocol
        ds = ds.subset(used)
        folds = protocol.folds(ds)
    y = ds.labels.astype(str)
    warn_missing_classes(cfg.name, folds, y)
    groups = ds.groups
    known_groups = groups if all(g is not None for g in groups) else None
    if cfg.normalisation == "per_subject" and known_groups is None:
        raise ProtocolError("normalisation per_subject needs a subject id for every sample")
    feature_cache = open_feature_cache(cache)
    jobs = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    source = cfg.data["source"] if dataset is None else (str(ds.root) if ds.root is not None else ds.name)
    provenance = run.provenance(
        config_path=cfg.path, dataset=ds, source=source, protocol=protocol, folds=folds, n_jobs=jobs,
        feature_cache=None if feature_cache is None else str(feature_cache.directory))
    return ImageRun(cfg, run, ds, protocol, folds, y, known_groups, label_order(ds.classes, y), provenance, jobs,
                    feature_cache)


def image_members(s: ImageRun, *, progress: bool) -> tuple[np.ndarray, str | None, dict[str, np.ndarray],
                                                             dict[str, dict[str, Any]]]:
    """Members stage of image kinds: every image read once (gray, the config's size), every stateless feature
    computed once (from the cache when there; z-scored per subject when the config says so).

    Returns the images, their fingerprint (``None`` without a cache), the stateless matrices by label and
    how each was got. Runs before the run folder exists, so an unreadable file leaves nothing behind.
    """

    images = load_gray_images(s.ds, s.cfg.image_size, progress=progress)
    images_hash = images_fingerprint(images) if s.feature_cache is not None else None
    with worker_deaths_explained():
        matrices, info = stateless_feature_matrices(s.cfg, images, cache=s.feature_cache, images_hash=images_hash,
                                                    n_jobs=s.jobs, progress=progress)
    if s.per_subject:
        matrices = {k: standardise_per_group(X, s.ds.groups) for k, X in matrices.items()}
    return images, images_hash, matrices, info


def run_features_experiment(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    dataset: Dataset | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: str | Path | Any | None = None,
) -> ExperimentResult:
    """Run a ``kind: features`` experiment (descriptors x classifiers) and write its run folder.

    The parameters are those of :func:`affectlab.experiments.run_experiment`, which reads the
    file and calls this runner for ``kind: features`` (or no kind).
    """
    from joblib import delayed


    cfg = load_config(config, data=data, check_source=dataset is None)
    s = prepare_image_run(cfg, out_dir, dataset=dataset, overwrite=overwrite, n_jobs=n_jobs, cache=cache)
    images, images_hash, matrices, feature_info = image_members(s, progress=progress)
    resolved = {**cfg.to_dict(), "run": s.provenance}
    resolved["data"]["source"] = s.provenance["dataset"]["path"]
    out = s.run.create()
    s.run.write_config(resolved)

    classifiers = [(c.label, create_classifier(c.name, **c.params)) for c in cfg.classifiers]
    cache_dir = None if s.feature_cache is None else str(s.feature_cache.directory)
    tasks = [
        delayed(_fold_task)((feat.label, k), (feat.label, feat.name, create_feature(feat.name, **feat.params)),
                            matrices.get(feat.label), images, s.y, s.groups, fold, classifiers, s.labels,
                            s.per_subject, cache_dir, images_hash)
        for feat in cfg.features for k, fold in enumerate(s.folds)
    ]
    outcomes = {outcome["task"]: outcome for outcome in run_tasks(tasks, s.jobs, progress=progress)}
    for feat in cfg.features:
        if feat.label not in feature_info:
            feature_info[feat.label] = _learned_feature_info([outcomes[feat.label, k] for k in range(len(s.folds))])
    rows, predictions, decisions = pool_grid(
        outcomes, [(f.label, {"name": f.name, **f.params}) for f in cfg.features],
        [(c.label, {"name": c.name, **c.params}) for c in cfg.classifiers], s.folds, s.y,
        ids=[x.id for x in s.ds.samples], subjects=[x.subject for x in s.ds.samples], labels=s.labels, out=out)
    return _write_outputs(s, resolved, rows, predictions, decisions, feature_info)


def _learned_feature_info(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """How a feature fitted on each training part was got: dimension, cache hits and misses, seconds."""
    statuses = [o["cache"] for o in per_fold]
    return {"stateless": False, "dim": per_fold[0]["dim"],
            "cache": None if statuses[0] is None else {"hits": statuses.count("hit"),
                                                       "misses": statuses.count("miss")},
            "seconds": round(sum(o["feature_seconds"] for o in per_fold), 3)}


def _write_outputs(s: ImageRun, resolved: dict[str, Any], rows: list[dict[str, Any]],
                   predictions: list[dict[str, Any]], decisions: dict[tuple[str, str], np.ndarray],
                   feature_info: dict[str, dict[str, Any]]) -> ExperimentResult:
    """The run folder's predictions, decision values, metrics and report; the run's result."""
    cfg, run, ds, folds = s.cfg, s.run, s.ds, s.folds
    run.write_predictions(predictions)
    run.write_decisions(ids=[x.id for x in ds.samples], true=s.y, classes=s.labels, folds=[f.name for f in folds],
                        fold_of_sample=fold_of_sample(folds, len(ds)), decisions=decisions)
    elapsed = run.elapsed
    run.write_metrics({"name": cfg.name, "dataset": resolved["run"]["dataset"],
                       "protocol": {**cfg.protocol, "description": s.protocol.describe(), "n_folds": len(folds)},
                       "normalisation": cfg.normalisation, "labels": s.labels, "rows": rows,
                       "features": feature_info, "n_jobs": s.jobs, "seconds": round(elapsed, 3)})
    summary = ds.summary()
    counts = ", ".join(f"{c} {n}" for c, n in summary["classes"].items())
    size = f"{cfg.image_size[0]}x{cfg.image_size[1]}" if cfg.image_size else "original size"
    sections = [
        ("Data", (f"- source: `{resolved['data']['source']}` ({ds.name}, {ds.kind})\n"
                  f"- {len(ds)} labelled samples, {summary['subjects']} subjects\n"
                  f"- classes: {counts}\n- images: gray, {size}")),
        ("Protocol", f"{s.protocol.describe()}; {len(folds)} fold(s)."),
        ("Normalisation", _normalisation_text(cfg)),
        ("Hyper-parameters", _selection_text(rows)),
        ("Features", _features_text(feature_info)),
    ]
    generated = f"affectlab {resolved['run']['affectlab']}, {resolved['run']['timestamp']}"
    run.write_report(title=f"{cfg.name} ({generated})", sections=sections, rows=rows)
    return run.result(rows, resolved, n_folds=len(folds), seconds=elapsed)


def _selection_text(rows: list[dict[str, Any]]) -> str:
    if not any("selected_params" in r for r in rows):
        return "Hyper-parameters were fixed in the config (none chosen on test data)."
    lines = [("Hyper-parameters were chosen on the training part of each fold only (inner cross-validation"
              " by subject where subjects are known, or the validation split); the values chosen per fold"
              " are in metrics.json (`chosen`), their medians in the table."), ""]
    for r in rows:
        if r.get("inner_cv"):
            lines.append(f"- {r['feature']} / {r['classifier']}: {r['inner_cv']}; chosen (median)"
                         f" {runs.format_chosen(r.get('chosen'))}")
    return "\n".join(lines)


def _features_text(info: dict[str, dict[str, Any]]) -> str:
    lines = []
    for label, entry in info.items():
        how = "computed once for all images" if entry["stateless"] else "fitted on each training part"
        cache = entry.get("cache")
        if isinstance(cache, dict):
            cache = f"cache {cache['hits']} hit(s), {cache['misses']} miss(es)"
        elif cache is not None:
            cache = f"cache {cache}"
        else:
            cache = "not cached"
        lines.append(f"- {label}: {entry['dim']} dimensions, {how}, {cache}, {entry['seconds']:.1f} s")
    return "\n".join(lines) + "\n\nDecision values of every test fold are in decisions.npz."
