"""Run an experiment: load images once, compute each feature once, fit every (feature,
classifier) on every fold's training part, pool the test predictions and write a run folder.

Stateless features are computed once for all images (in parallel chunks, ``n_jobs``) and cached
on disk (:mod:`affectlab.features.cache`); features that learn (``stateless=False``) are fitted
on each fold's training part only (cached per fold). The folds of every feature run in
parallel over ``n_jobs`` processes; each fold fits all classifiers on the same features.

Examples
--------
>>> from affectlab.evaluate import run_experiment
>>> result = run_experiment("configs/ckplus48-baseline.yaml", "runs/ck")  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from affectlab._checks import is_number
from affectlab.errors import ConfigError, ProtocolError
from affectlab.evaluate import runs
from affectlab.evaluate.config import ExperimentConfig, load_config
from affectlab.evaluate.metrics import classification_metrics
from affectlab.evaluate.protocols import Fold, make_protocol
from affectlab.parallel import run_tasks, worker_deaths_explained

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset

__all__ = [
    "ExperimentResult",
    "classes_missing_from_training",
    "decision_values",
    "fit_with_groups",
    "fold_feature_matrix",
    "load_experiment_dataset",
    "load_gray_images",
    "open_feature_cache",
    "pool_fold_results",
    "run_experiment",
    "standardise_per_group",
    "stateless_feature_matrices",
    "summarise_chosen",
]


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` produced.

    Attributes
    ----------
    rows
        One mapping per (feature, classifier): ``feature``, ``classifier``, ``accuracy``, ``uar``,
        ``macro_f1``, ``n_test``, ``params``, ``chosen`` (hyper-parameters chosen per fold and
        their median)... (as in ``metrics.json``).
    out_dir
        The run folder.
    config
        The resolved config with provenance (as in ``config.yaml``).
    n_folds
        Number of folds of the protocol.
    seconds
        Wall time of the run.
    markdown
        The results table, when a runner shapes its own (else built from ``rows``).
    """

    rows: list[dict[str, Any]]
    out_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    n_folds: int = 0
    seconds: float = 0.0
    markdown: str | None = None

    def table(self) -> str:
        """The results as a Markdown table (``markdown`` when the runner made its own)."""
        return self.markdown if self.markdown is not None else runs.markdown_table(self.rows)


def load_gray_images(
    dataset: Dataset, size: tuple[int, int] | None = None, *, progress: bool = True
) -> np.ndarray:
    """Read every sample as a gray uint8 image, resized to ``size`` = (height, width).

    Returns
    -------
    numpy.ndarray
        ``(N, H, W)`` uint8.

    Raises
    ------
    ConfigError
        ``size`` is ``None`` and the images differ in size.
    MediaReadError
        A file is missing or unreadable (named in the message).
    """
    import cv2

    from affectlab.data.media import read_image, to_gray

    images = []
    first_of_shape: dict[tuple[int, ...], str] = {}
    for sample in tqdm(dataset.samples, desc="images", unit="img", disable=not progress, leave=False):
        if sample.pixels is not None:
            image = to_gray(np.asarray(sample.pixels, dtype=np.uint8))
        elif sample.path is not None:
            path = Path(sample.path)
            if not path.is_absolute() and dataset.root is not None and (dataset.root / path).exists():
                path = dataset.root / path
            image = read_image(path, mode="gray")
        else:
            raise ConfigError(f"sample {sample.id!r} has neither a file nor inline pixels")
        if size is not None and image.shape != size:
            shrink = image.shape[0] > size[0] or image.shape[1] > size[1]
            image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        first_of_shape.setdefault(image.shape, sample.source)
        images.append(image)
    if len(first_of_shape) > 1:
        (a, file_a), (b, file_b) = list(first_of_shape.items())[:2]
        raise ConfigError(
            f"images differ in size ({file_a} is {a[0]}x{a[1]}, {file_b} is {b[0]}x{b[1]}); "
            "set images: {size: N} in the config"
        )
    if not images:
        raise ConfigError("the dataset has no labelled images")
    return np.stack(images)


def classes_missing_from_training(folds: list[Fold], y: np.ndarray) -> dict[str, list[str]]:
    """``{class: [fold names]}`` for the classes that a fold tests but its training part lacks.

    Examples
    --------
    >>> import numpy as np
    >>> from affectlab.evaluate.protocols import Fold
    >>> y = np.array(["a", "a", "b", "b", "c"])
    >>> folds = [Fold("f1", np.array([0, 2]), np.array([1, 3, 4])), Fold("f2", np.array([1, 3, 4]), np.array([0, 2]))]
    >>> classes_missing_from_training(folds, y)
    {'c': ['f1']}
    """
    missing: dict[str, list[str]] = {}
    for fold in folds:
        trained = set(y[fold.train].tolist())
        for label in dict.fromkeys(y[fold.test].tolist()):
            if label not in trained:
                missing.setdefault(str(label), []).append(fold.name)
    return missing


def standardise_per_group(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Z-score each feature within each group (subject/speaker) with that group's own statistics.

    Uses no labels, so it may see test subjects; constant features within a group become 0.
    """
    X = np.asarray(X, dtype=np.float64)
    out = np.empty_like(X)
    groups = np.asarray(groups, dtype=object)
    for g in dict.fromkeys(groups.tolist()):
        rows = groups == g
        mean = X[rows].mean(axis=0)
        std = X[rows].std(axis=0)
        out[rows] = (X[rows] - mean) / np.where(std > 0, std, 1.0)
    return out.astype(np.float32)


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


def fit_with_groups(estimator: Any, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
                    validation: tuple[np.ndarray, np.ndarray] | None = None) -> int:
    """Fit, passing subjects (``groups``, for inner CV by subject) and validation data when the estimator
    takes them; returns how many ConvergenceWarnings it raised (other warnings pass through)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.validation import has_fit_parameter

    kwargs: dict[str, Any] = {}
    if groups is not None and has_fit_parameter(estimator, "groups"):
        kwargs["groups"] = groups
    if validation is not None and has_fit_parameter(estimator, "X_val"):
        kwargs["X_val"], kwargs["y_val"] = validation
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(X, y, **kwargs)
    n_convergence = 0
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            n_convergence += 1
        else:
            warnings.warn(w.message, w.category, stacklevel=2)
    return n_convergence


def _normalisation_text(cfg: ExperimentConfig) -> str:
    scaler = (
        "Each feature is standardised (zero mean, unit variance) with statistics of the training part"
        " of each fold only (the standardisation is part of every classifier)."
    )
    if cfg.normalisation == "per_subject":
        return ("Per-subject: before classification every subject's features are z-scored with that"
                " subject's own mean and standard deviation (no labels used). " + scaler)
    return "Global (no per-subject normalisation). " + scaler


def summarise_chosen(selected: list[dict[str, Any]]) -> dict[str, Any]:
    """``{param: {"per_fold": [...], "median": m}}`` from ``[{"fold": name, param: value}, ...]``.

    The median is over numeric values (the lower middle one for an even count, so it is a value
    that was actually chosen); non-numeric parameters get the most frequent value instead.

    Examples
    --------
    >>> summarise_chosen([{"fold": "f1", "C": 0.25}, {"fold": "f2", "C": 1.0}, {"fold": "f3", "C": 4.0}])
    {'C': {'per_fold': [0.25, 1.0, 4.0], 'median': 1.0}}
    """
    out: dict[str, Any] = {}
    names = [k for k in dict.fromkeys(k for row in selected for k in row) if k != "fold"]
    for name in names:
        values = [row.get(name) for row in selected]
        numeric = [v for v in values if is_number(v)]
        if numeric and len(numeric) == len(values):
            ordered = sorted(numeric)
            middle: Any = ordered[(len(ordered) - 1) // 2]
        else:
            texts = [str(v) for v in values]
            middle = max(dict.fromkeys(texts), key=texts.count)
        out[name] = {"per_fold": values, "median": middle}
    return out


def decision_values(estimator: Any, X: np.ndarray, labels: list[str]) -> np.ndarray | None:
    """Decision values ``(n, len(labels))`` in the run's label order (NaN for unseen classes)."""
    if hasattr(estimator, "decision_function"):
        scores = np.asarray(estimator.decision_function(X), dtype=np.float64)
    elif hasattr(estimator, "predict_proba"):
        scores = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    else:
        return None
    classes = [str(c) for c in estimator.classes_]
    if scores.ndim == 1:  # a binary scikit-learn estimator: the score of classes[1]
        scores = np.column_stack([-scores, scores])
    out = np.full((X.shape[0], len(labels)), np.nan, dtype=np.float32)
    column = {c: j for j, c in enumerate(labels)}
    for j, c in enumerate(classes):
        if c in column:
            out[:, column[c]] = scores[:, j]
    return out


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

    from affectlab.features.cache import FeatureCache

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
    task: tuple[int, int],
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
    from sklearn.base import clone

    out: dict[str, Any] = {"task": task, "cache": None, "feature_seconds": 0.0}
    if X is None:  # a feature that learns: fit on this fold's training part only
        try:
            X, out["cache"], out["feature_seconds"] = fold_feature_matrix(
                feature, images, y, groups, fold, per_subject=per_subject, cache_dir=cache_dir,
                images_hash=images_hash)
        except (TypeError, ValueError) as exc:  # a bad parameter or data the extractor refuses
            raise ConfigError(f"feature {feature[0]!r}, fold {fold.name}: {exc}") from None
    out["dim"] = int(X.shape[1])
    fold_groups = None if groups is None else groups[fold.train]
    validation = (X[fold.validation], y[fold.validation]) if fold.validation.size else None
    results = []
    for clf_label, template in classifiers:
        started = time.perf_counter()
        estimator = clone(template)
        try:
            n_convergence = fit_with_groups(estimator, X[fold.train], y[fold.train], fold_groups, validation)
        except (TypeError, ValueError) as exc:  # e.g. inner_splits: 1, or one class in a training part
            raise ConfigError(f"classifier {clf_label!r} on feature {feature[0]!r}, fold {fold.name}: {exc}") from None
        X_test = X[fold.test]
        pred = np.asarray(estimator.predict(X_test)).astype(str)
        results.append({
            "classifier": clf_label,
            "pred": pred,
            "decision": decision_values(estimator, X_test, labels),
            "best_params": dict(getattr(estimator, "best_params_", {}) or {}),
            "inner_cv": getattr(estimator, "inner_cv_", None),
            "n_convergence": n_convergence,
            "seconds": time.perf_counter() - started,
        })
    out["results"] = results
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
    from affectlab.features.cache import parallel_transform
    from affectlab.features.registry import create_feature, feature_info

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


def open_feature_cache(cache: Any) -> Any:
    """A :class:`FeatureCache` from a folder or an existing cache; ``None`` / ``False`` mean no cache."""
    from affectlab.features.cache import FeatureCache

    if cache is None or cache is False:
        return None
    if isinstance(cache, FeatureCache):
        return cache
    return FeatureCache(cache)


def pool_fold_results(
    results: list[dict[str, Any]],
    folds: list[Fold],
    y: np.ndarray,
    *,
    ids: list[str],
    subjects: list[Any],
    feature: str,
    classifier: str,
    labels: list[str],
    out: Path,
) -> tuple[dict[str, Any], np.ndarray, list[dict[str, Any]]]:
    """Pool one (feature, classifier) pair's per-fold results into its results row.

    ``results[k]`` is fold ``k``'s outcome (``pred``, ``decision``, ``best_params``, ``inner_cv``,
    ``seconds``, optional ``n_convergence``). Draws the pooled confusion matrix into ``out`` and
    returns ``(row, decision matrix (N, K) with NaN outside the test parts, prediction records)``.
    """
    from affectlab.viz.confusion import save_confusion_matrix

    true_all, pred_all, fold_rows, selected, inner = [], [], [], [], None
    n_convergence, seconds = 0, 0.0
    matrix = np.full((len(y), len(labels)), np.nan, dtype=np.float32)
    predictions: list[dict[str, Any]] = []
    for fold, result in zip(folds, results):
        pred, true = result["pred"], y[fold.test]
        if result["best_params"]:
            selected.append({"fold": fold.name, **result["best_params"]})
        inner = inner or result["inner_cv"]
        if result["decision"] is not None:
            matrix[fold.test] = result["decision"]
        n_convergence += result.get("n_convergence", 0)
        seconds += result["seconds"]
        fold_rows.append({"fold": fold.name, "n_test": int(true.size), "accuracy": float(np.mean(pred == true)),
                          "seconds": round(result["seconds"], 3), **result["best_params"]})
        true_all.append(true)
        pred_all.append(pred)
        predictions += [{"id": ids[int(i)], "fold": fold.name, "feature": feature, "classifier": classifier,
                         "true": t, "pred": p, "subject": subjects[int(i)]} for i, t, p in zip(fold.test, true, pred)]
    metrics = classification_metrics(np.concatenate(true_all), np.concatenate(pred_all), labels)
    fold_acc = np.array([r["accuracy"] for r in fold_rows])
    png = runs.confusion_filename(feature, classifier)
    save_confusion_matrix(np.asarray(metrics["confusion"]), labels, out / png, title=f"{feature} / {classifier}")
    row: dict[str, Any] = {
        "feature": feature, "classifier": classifier, "accuracy": metrics["accuracy"], "uar": metrics["uar"],
        "macro_f1": metrics["macro_f1"], "n_test": metrics["n"], "n_folds": len(folds),
        "fold_accuracy_mean": float(fold_acc.mean()), "fold_accuracy_std": float(fold_acc.std()),
        "per_class_recall": metrics["per_class_recall"], "labels": labels, "confusion": metrics["confusion"],
        "confusion_png": png, "folds": fold_rows, "seconds": round(seconds, 3),
    }
    if selected:
        row.update(selected_params=selected, chosen=summarise_chosen(selected), inner_cv=inner)
    if n_convergence:
        row["convergence_warnings"] = n_convergence
    return row, matrix, predictions


def run_experiment(
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
    """Run the experiment described by ``config`` and write its run folder to ``out_dir``.

    Parameters
    ----------
    config
        A YAML file or a mapping (see :mod:`affectlab.evaluate.config` for the format).
    out_dir
        Run folder to create (must be absent or empty unless ``overwrite``).
    data
        Overrides ``data.source`` (relative to the CWD).
    dataset
        An already loaded :class:`~affectlab.data.Dataset` to use instead of ``data.source``.
    progress
        Show progress bars on stderr.
    overwrite
        Allow writing into a non-empty ``out_dir``.
    n_jobs
        Processes for feature extraction and for the folds (``None``: 1, ``-1``: all cores).
        Worker processes use one BLAS thread each.
    cache
        Feature cache folder (or a :class:`~affectlab.features.cache.FeatureCache`); ``None``
        computes every feature afresh. The CLI uses
        :func:`~affectlab.features.cache.default_cache_dir` unless ``--no-cache``.

    Raises
    ------
    ConfigError, ProtocolError, DataError, MediaReadError
        Bad config key, leaking or impossible split, unreadable data; the message names it.
    """
    from joblib import delayed, effective_n_jobs

    from affectlab.classify.registry import create_classifier
    from affectlab.evaluate.kinds import experiment_kind, experiment_runner, read_experiment_file
    from affectlab.features.cache import images_fingerprint
    from affectlab.features.registry import create_feature

    raw, raw_path = read_experiment_file(config)
    kind = experiment_kind(raw)
    if kind != "features":  # another runner owns this kind (speech, sequences, fusion...)
        if dataset is not None:
            raise ConfigError(f"dataset= is read by kind 'features' only, not {kind!r}: give data.source in the config")
        raw["_path"] = raw_path
        return experiment_runner(kind)(raw, out_dir, data=data, progress=progress, overwrite=overwrite,
                                       n_jobs=n_jobs, cache=cache)
    run_started = time.perf_counter()
    cfg = load_config(config, data=data, check_source=dataset is None)
    runs.prepare_run_dir(out_dir, overwrite=overwrite, create=False)
    ds = load_experiment_dataset(cfg, dataset)
    protocol = make_protocol(cfg.protocol)
    folds: list[Fold] = protocol.folds(ds)  # raises ProtocolError on leakage before any work
    used = np.unique(np.concatenate([np.concatenate([f.train, f.test, f.validation]) for f in folds]))
    if used.size < len(ds):  # e.g. FER2013's PrivateTest under a Training -> PublicTest protocol
        ds = ds.subset(used)
        folds = protocol.folds(ds)
    y = ds.labels.astype(str)
    unseen = classes_missing_from_training(folds, y)
    if unseen:
        where = "; ".join(f"{c!r} in {', '.join(names)}" for c, names in unseen.items())
        warnings.warn(f"{cfg.name}: some test folds hold a class their training part lacks ({where}), "
                      "usually a class with too few subjects; its recall there is 0 by construction",
                      UserWarning, stacklevel=2)
    groups = ds.groups
    known_groups = groups if all(g is not None for g in groups) else None
    if cfg.normalisation == "per_subject" and known_groups is None:
        raise ProtocolError("normalisation per_subject needs a subject id for every sample")
    present = set(y.tolist())
    labels = [c for c in ds.classes if c in present] + sorted(present - set(ds.classes))
    feature_cache = open_feature_cache(cache)
    jobs = 1 if n_jobs is None else effective_n_jobs(n_jobs)

    summary = ds.summary()
    resolved = cfg.to_dict()
    if dataset is not None:
        resolved["data"]["source"] = str(ds.root) if ds.root is not None else ds.name
    resolved["run"] = {
        **runs.package_versions(),
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "config_file": str(cfg.path.resolve()) if cfg.path is not None else None,
        "data_sha256": ds.fingerprint(),
        "dataset": {"path": resolved["data"]["source"], "name": ds.name, "samples": len(ds),
                    "subjects": summary["subjects"], "classes": summary["classes"]},
        "protocol": protocol.describe(),
        "n_folds": len(folds),
        "folds": [{"name": f.name, "train": int(f.train.size), "test": int(f.test.size),
                   **({"validation": int(f.validation.size)} if f.validation.size else {})} for f in folds],
        "n_jobs": jobs,
        "feature_cache": None if feature_cache is None else str(feature_cache.directory),
    }

    # every image is read and every stateless descriptor computed before the run folder exists, so an
    # unreadable file or a descriptor that cannot run on these images leaves nothing behind
    images = load_gray_images(ds, cfg.image_size, progress=progress)
    images_hash = images_fingerprint(images) if feature_cache is not None else None
    per_subject = cfg.normalisation == "per_subject"
    with worker_deaths_explained():
        matrices, feature_info_out = stateless_feature_matrices(cfg, images, cache=feature_cache,
                                                         images_hash=images_hash, n_jobs=jobs, progress=progress)
    out = runs.prepare_run_dir(out_dir, overwrite=overwrite)
    runs.write_config(out, resolved)
    if per_subject:
        matrices = {k: standardise_per_group(X, groups) for k, X in matrices.items()}

    classifiers = [(c.label, create_classifier(c.name, **c.params)) for c in cfg.classifiers]
    features = [(f.label, f.name, create_feature(f.name, **f.params)) for f in cfg.features]
    cache_dir = None if feature_cache is None else str(feature_cache.directory)
    tasks = [
        delayed(_fold_task)((i, k), features[i], matrices.get(feat.label), images, y, known_groups, fold,
                            classifiers, labels, per_subject, cache_dir, images_hash)
        for i, feat in enumerate(cfg.features) for k, fold in enumerate(folds)
    ]
    outcomes = {outcome["task"]: outcome for outcome in run_tasks(tasks, jobs, progress=progress)}

    rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    decisions: dict[tuple[str, str], np.ndarray] = {}
    ids, subjects = [s.id for s in ds.samples], [s.subject for s in ds.samples]
    fold_of_sample = np.full(len(ds), -1, dtype=np.int32)
    for k, fold in enumerate(folds):
        fold_of_sample[fold.test] = k
    for i, feat in enumerate(cfg.features):
        per_fold = [outcomes[i, k] for k in range(len(folds))]
        if feat.label not in feature_info_out:
            statuses = [o["cache"] for o in per_fold]
            feature_info_out[feat.label] = {
                "stateless": False, "dim": per_fold[0]["dim"],
                "cache": None if statuses[0] is None else {"hits": statuses.count("hit"),
                                                           "misses": statuses.count("miss")},
                "seconds": round(sum(o["feature_seconds"] for o in per_fold), 3),
            }
        for j, clf in enumerate(cfg.classifiers):
            row, matrix, pair_predictions = pool_fold_results(
                [per_fold[k]["results"][j] for k in range(len(folds))], folds, y,
                ids=ids, subjects=subjects, feature=feat.label, classifier=clf.label, labels=labels, out=out)
            predictions += pair_predictions
            decisions[feat.label, clf.label] = matrix
            row["feature_dim"] = int(per_fold[0]["dim"])
            row["params"] = {"feature": {"name": feat.name, **feat.params},
                             "classifier": {"name": clf.name, **clf.params}}
            rows.append(row)

    runs.write_predictions(out, predictions)
    runs.write_decisions(out, ids=[s.id for s in ds.samples], true=y, classes=labels,
                         folds=[f.name for f in folds], fold_of_sample=fold_of_sample, decisions=decisions)
    elapsed = time.perf_counter() - run_started
    runs.write_metrics(out, {"name": cfg.name, "dataset": resolved["run"]["dataset"],
                             "protocol": {**cfg.protocol, "description": protocol.describe(), "n_folds": len(folds)},
                             "normalisation": cfg.normalisation, "labels": labels, "rows": rows,
                             "features": feature_info_out, "n_jobs": jobs, "seconds": round(elapsed, 3)})
    counts = ", ".join(f"{c} {n}" for c, n in summary["classes"].items())
    size = f"{cfg.image_size[0]}x{cfg.image_size[1]}" if cfg.image_size else "original size"
    sections = [
        ("Data", (f"- source: `{resolved['data']['source']}` ({ds.name}, {ds.kind})\n"
                  f"- {len(ds)} labelled samples, {summary['subjects']} subjects\n"
                  f"- classes: {counts}\n- images: gray, {size}")),
        ("Protocol", f"{protocol.describe()}; {len(folds)} fold(s)."),
        ("Normalisation", _normalisation_text(cfg)),
        ("Hyper-parameters", _selection_text(rows)),
        ("Features", _features_text(feature_info_out)),
    ]
    generated = f"affectlab {resolved['run']['affectlab']}, {resolved['run']['timestamp']}"
    runs.write_report(out, title=f"{cfg.name} ({generated})", sections=sections, rows=rows)
    return ExperimentResult(rows=rows, out_dir=out, config=resolved, n_folds=len(folds), seconds=elapsed)


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
