"""Classification and regression metrics with a fixed label order.

Thin, checked wrappers over scikit-learn and scipy; only Lin's concordance correlation
coefficient (CCC) is written here. Every function raises :class:`ValueError` naming the problem
for empty input or inputs of different lengths.

Examples
--------
>>> from affectlab.evaluate.metrics import uar, ccc
>>> uar(["a", "a", "b"], ["a", "b", "b"])
0.75
>>> round(ccc([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), 6)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn import metrics as skm

__all__ = [
    "accuracy",
    "uar",
    "macro_f1",
    "confusion_matrix",
    "per_class_recall",
    "ccc",
    "rmse",
    "pearson",
    "classification_metrics",
    "regression_metrics",
]

ArrayLike = Sequence[Any] | np.ndarray


def _pair(y_true: ArrayLike, y_pred: ArrayLike, *, numeric: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Check two 1-D inputs of equal, non-zero length and return them as arrays."""
    a = np.asarray(y_true, dtype=float if numeric else None)
    b = np.asarray(y_pred, dtype=float if numeric else None)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D, got shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"y_true and y_pred have different lengths ({a.shape[0]} != {b.shape[0]})")
    if a.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty")
    if numeric and not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("y_true and y_pred must be finite (found NaN or inf)")
    return a, b


def _present_labels(y_true: np.ndarray, labels: ArrayLike | None) -> list[Any]:
    """Labels that occur in ``y_true``, in the order of ``labels`` when given."""
    present = set(np.unique(y_true).tolist())
    if labels is None:
        return sorted(present)
    return [label for label in labels if label in present]


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of correct predictions (weighted accuracy, WA)."""
    a, b = _pair(y_true, y_pred)
    return float(skm.accuracy_score(a, b))


def uar(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted average recall: mean per-class recall over the classes present in ``y_true``.

    Equal to :func:`sklearn.metrics.balanced_accuracy_score`; predictions of classes absent from
    ``y_true`` count as errors but add no class to the mean.
    """
    a, b = _pair(y_true, y_pred)
    present = _present_labels(a, None)
    return float(skm.recall_score(a, b, labels=present, average="macro", zero_division=0))


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike | None = None) -> float:
    """Unweighted mean of per-class F1.

    The mean runs over the classes that occur in ``y_true`` or ``y_pred`` (restricted to, and in
    the order of, ``labels`` when given), so listing a class with no sample does not lower it.
    """
    a, b = _pair(y_true, y_pred)
    seen = set(np.unique(a).tolist()) | set(np.unique(b).tolist())
    used = sorted(seen) if labels is None else [label for label in labels if label in seen]
    if not used:
        raise ValueError("none of the given labels occurs in y_true or y_pred")
    return float(skm.f1_score(a, b, labels=used, average="macro", zero_division=0))


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of class ``labels[i]`` predicted as ``labels[j]``.

    ``labels`` fixes the row/column order; samples whose true or predicted class is not listed
    are not counted.
    """
    a, b = _pair(y_true, y_pred)
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty; the confusion matrix needs a label order")
    return skm.confusion_matrix(a, b, labels=labels)


def per_class_recall(y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike) -> dict[Any, float]:
    """Recall of each class in ``labels`` (NaN for a class with no sample in ``y_true``)."""
    a, b = _pair(y_true, y_pred)
    labels = list(labels)
    recalls = skm.recall_score(a, b, labels=labels, average=None, zero_division=np.nan)
    return {label: float(r) for label, r in zip(labels, recalls)}


def ccc(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Lin's concordance correlation coefficient with population (``ddof=0``) moments.

    ``2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))**2)``; 1 for perfect agreement,
    -1 for ``y = -x`` around a zero mean. Two identical constant vectors give 1.

    Examples
    --------
    >>> round(ccc([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]), 6)  # cov 2/3, vars 2/3, shift 1: 4/7
    0.571429
    """
    x, y = _pair(y_true, y_pred, numeric=True)
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    cov = np.mean((x - mx) * (y - my))
    denominator = vx + vy + (mx - my) ** 2
    if denominator == 0.0:  # both constant and equal: perfect agreement
        return 1.0
    return float(2.0 * cov / denominator)


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error."""
    x, y = _pair(y_true, y_pred, numeric=True)
    return float(skm.root_mean_squared_error(x, y))


def pearson(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Pearson's correlation coefficient (NaN when either input is constant)."""
    x, y = _pair(y_true, y_pred, numeric=True)
    if x.shape[0] < 2:
        raise ValueError("pearson needs at least 2 values")
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(stats.pearsonr(x, y).statistic)


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike) -> dict[str, Any]:
    """All classification metrics for one set of pooled predictions.

    Returns
    -------
    dict
        ``accuracy``, ``uar``, ``macro_f1``, ``n`` (number of samples), ``labels`` (the order
        used), ``confusion`` (list of rows, counts) and ``per_class_recall`` (label -> recall,
        NaN for classes without samples).
    """
    a, b = _pair(y_true, y_pred)
    labels = list(labels)
    return {
        "accuracy": accuracy(a, b),
        "uar": uar(a, b),
        "macro_f1": macro_f1(a, b, labels),
        "n": int(a.shape[0]),
        "labels": labels,
        "confusion": confusion_matrix(a, b, labels).tolist(),
        "per_class_recall": per_class_recall(a, b, labels),
    }


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """``ccc``, ``rmse``, ``pearson`` and ``n`` for one continuous target."""
    x, y = _pair(y_true, y_pred, numeric=True)
    return {"ccc": ccc(x, y), "rmse": rmse(x, y), "pearson": pearson(x, y), "n": int(x.shape[0])}
