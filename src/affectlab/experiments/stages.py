"""Stages every experiment kind is made of: dataset -> protocol -> members -> classifiers -> metrics.

Each kind's runner (:mod:`affectlab.experiments.kinds`) is a short composition of these:

- dataset: :func:`load_gray_images` (every image once, gray, one size), :func:`label_order`;
- protocol: :func:`classes_missing_from_training` (warns of classes a training part lacks),
  :func:`fold_of_sample`;
- members: :func:`open_feature_cache`, :func:`standardise_per_group` (per-subject z-scores);
- classifiers: :func:`fit_with_groups` (inner CV by subject, validation data),
  :func:`test_classifier` (fit one classifier on a fold, predict its test part),
  :func:`decision_values`, :func:`summarise_chosen`;
- metrics: :func:`pool_fold_results` (one results row per pair from its folds),
  :func:`pool_grid` (every feature x classifier pair of a run).

The run folder itself is :class:`affectlab.experiments.runs.RunFolder`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from affectlab.checks import is_number
from affectlab.errors import ConfigError
from affectlab.evaluate.metrics import classification_metrics
from affectlab.evaluate.protocols import Fold
from affectlab.experiments import runs
from affectlab.features.normalise import standardise_per_group

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset

__all__ = [
    "classes_missing_from_training",
    "decision_values",
    "fit_with_groups",
    "fold_of_sample",
    "label_order",
    "load_gray_images",
    "open_feature_cache",
    "pool_fold_results",
    "pool_grid",
    "standardise_per_group",
    "summarise_chosen",
    "test_classifier",
    "warn_missing_classes",
]


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


def label_order(classes: Sequence[str], y: np.ndarray) -> list[str]:
    """The run's class order: the dataset's classes that occur in ``y``, then any others, sorted.

    >>> label_order(["happy", "sad", "anger"], np.array(["sad", "happy", "fear"]))
    ['happy', 'sad', 'fear']
    """
    present = set(np.asarray(y).tolist())
    return [c for c in classes if c in present] + sorted(present - set(classes))


def warn_missing_classes(name: str, folds: list[Fold], y: np.ndarray) -> None:
    """Warn when a test fold holds a class its training part lacks (its recall there is 0 by construction)."""
    unseen = classes_missing_from_training(folds, y)
    if unseen:
        where = "; ".join(f"{c!r} in {', '.join(names)}" for c, names in unseen.items())
        warnings.warn(f"{name}: some test folds hold a class their training part lacks ({where}), "
                      "usually a class with too few subjects; its recall there is 0 by construction",
                      UserWarning, stacklevel=3)


def fold_of_sample(folds: Sequence[Fold], n: int) -> np.ndarray:
    """``(n,)`` int32: the index of the fold that tests each sample, -1 for samples never tested.

    >>> fold_of_sample([Fold("a", np.array([1]), np.array([0])), Fold("b", np.array([0]), np.array([1]))], 3)
    array([ 0,  1, -1], dtype=int32)
    """
    out = np.full(n, -1, dtype=np.int32)
    for k, fold in enumerate(folds):
        out[fold.test] = k
    return out


def test_classifier(label: str, template: Any, X: np.ndarray, y: np.ndarray, fold: Fold,
                    groups: np.ndarray | None, labels: list[str], *, feature: str) -> dict[str, Any]:
    """Fit a clone of ``template`` on ``fold.train`` (subjects for inner CV, the fold's validation part when it
    has one) and predict ``fold.test``: ``classifier``, ``pred``, ``decision`` (in ``labels`` order),
    ``best_params``, ``inner_cv``, ``n_convergence`` and ``seconds``, as :func:`pool_fold_results` reads them."""
    from sklearn.base import clone

    started = time.perf_counter()
    estimator = clone(template)
    validation = (X[fold.validation], y[fold.validation]) if fold.validation.size else None
    fold_groups = None if groups is None else groups[fold.train]
    try:
        n_convergence = fit_with_groups(estimator, X[fold.train], y[fold.train], fold_groups, validation)
    except (TypeError, ValueError) as exc:  # e.g. inner_splits: 1, or one class in a training part
        raise ConfigError(f"classifier {label!r} on feature {feature!r}, fold {fold.name}: {exc}") from None
    X_test = X[fold.test]
    return {
        "classifier": label,
        "pred": np.asarray(estimator.predict(X_test)).astype(str),
        "decision": decision_values(estimator, X_test, labels),
        "best_params": dict(getattr(estimator, "best_params_", {}) or {}),
        "inner_cv": getattr(estimator, "inner_cv_", None),
        "n_convergence": n_convergence,
        "seconds": time.perf_counter() - started,
    }


def pool_grid(
    outcomes: Mapping[tuple[str, int], Mapping[str, Any]],
    features: Sequence[tuple[str, Mapping[str, Any]]],
    classifiers: Sequence[tuple[str, Mapping[str, Any]]],
    folds: list[Fold],
    y: np.ndarray,
    *,
    ids: list[str],
    subjects: list[Any],
    labels: list[str],
    out: Path,
    extra: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[tuple[str, str], np.ndarray]]:
    """Pool every (feature, classifier) pair of a run: its results rows, prediction records and decision values.

    ``outcomes[feature label, k]`` is fold ``k``'s outcome for that feature (``dim`` and ``results``,
    one entry per classifier, in ``classifiers`` order); ``features`` and ``classifiers`` are
    ``(label, params)`` with the params recorded in each row; ``extra`` entries are added to every row.
    """
    rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    decisions: dict[tuple[str, str], np.ndarray] = {}
    for feature, feature_params in features:
        per_fold = [outcomes[feature, k] for k in range(len(folds))]
        for j, (classifier, classifier_params) in enumerate(classifiers):
            row, matrix, pair_predictions = pool_fold_results(
                [per_fold[k]["results"][j] for k in range(len(folds))], folds, y, ids=ids, subjects=subjects,
                feature=feature, classifier=classifier, labels=labels, out=out)
            predictions += pair_predictions
            decisions[feature, classifier] = matrix
            row.update(extra or {})
            row["feature_dim"] = int(per_fold[0]["dim"])
            row["params"] = {"feature": dict(feature_params), "classifier": dict(classifier_params)}
            rows.append(row)
    return rows, predictions, decisions
