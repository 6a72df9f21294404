"""Hyper-parameter search on the training part only, grouped by subject when subjects are known.

Two building blocks shared by the classifiers:

- :func:`inner_folds` splits *training* data into inner folds (by subject when every sample has
  one, else stratified), and :func:`search_subsample` picks a stratified subset for searching on
  large training sets;
- :class:`InnerCVSearch` wraps any estimator in a :class:`~sklearn.model_selection.GridSearchCV`
  over those folds (the fast :class:`~affectlab.classify.LinearSVMCV` and
  :class:`~affectlab.classify.PLSClassifier` search their own grids on the same folds).

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 1] * 6); groups = np.repeat(np.arange(6), 2)
>>> folds, how = inner_folds(y, groups, n_splits=3)
>>> how, len(folds)
('3-fold by subject', 3)
>>> all(not set(groups[tr]) & set(groups[va]) for tr, va in folds)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import make_scorer
from sklearn.model_selection import (
    GridSearchCV,
    PredefinedSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from affectlab.evaluate.metrics import accuracy, macro_f1, uar

__all__ = ["InnerCVSearch", "check_groups", "inner_folds", "search_subsample", "score_function", "choose_best"]

Folds = list[tuple[np.ndarray, np.ndarray]]


def check_groups(groups: Sequence[Any] | np.ndarray | None, n_samples: int) -> np.ndarray | None:
    """``groups`` as a 1-D object array of ``n_samples`` entries (or None); :class:`ValueError` otherwise.

    A wrong length is refused rather than ignored: the inner folds would otherwise quietly stop
    being split by subject.

    >>> check_groups(["s1", "s2"], 3)
    Traceback (most recent call last):
    ...
    ValueError: groups has 2 entries for 3 samples (one subject id per sample)
    """
    if groups is None:
        return None
    g = np.asarray(groups, dtype=object)
    if g.ndim != 1 or g.shape[0] != n_samples:
        size = g.shape[0] if g.ndim == 1 else f"shape {g.shape}"
        raise ValueError(f"groups has {size} entries for {n_samples} samples (one subject id per sample)")
    return g


def _known_groups(groups: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray | None:
    if groups is None:
        return None
    g = np.asarray(groups, dtype=object)
    if g.shape[0] != n or any(x is None or x == "" for x in g):
        return None
    return g.astype(str)


def inner_folds(
    y: Sequence[Any] | np.ndarray,
    groups: Sequence[Any] | np.ndarray | None = None,
    *,
    n_splits: int = 5,
    random_state: int = 0,
) -> tuple[Folds, str]:
    """Inner cross-validation folds of the training data ``y`` (indices into it).

    Split by subject (:class:`~sklearn.model_selection.StratifiedGroupKFold`, ``n_splits``
    lowered to the number of subjects if needed) when every sample has a subject id and there are
    at least 2 subjects, else stratified by class (:class:`~sklearn.model_selection.StratifiedKFold`,
    ``n_splits`` lowered to the size of the largest class if needed).

    Returns
    -------
    folds
        ``[(train_idx, val_idx), ...]`` int64 arrays.
    description
        ``"5-fold by subject"`` or ``"5-fold stratified"``, for reports.
    """
    y = np.asarray([str(v) for v in np.asarray(y, dtype=object)])
    g = _known_groups(groups, y.shape[0])
    n_groups = 0 if g is None else len(set(g.tolist()))
    if g is not None and n_groups >= 2:
        n_splits = min(n_splits, n_groups)
        splitter: Any = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
        description = f"{n_splits}-fold by subject"
    else:
        g = None
        largest = int(np.unique(y, return_counts=True)[1].max()) if y.size else 0
        if largest < 2:
            raise ValueError(f"cannot search a grid by inner cross-validation on {y.size} training sample(s) with "
                             "one sample per class; give a single value instead of a grid")
        n_splits = max(2, min(n_splits, largest))
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
        description = f"{n_splits}-fold stratified"
    folds = [(tr.astype(np.int64), va.astype(np.int64)) for tr, va in splitter.split(np.zeros(y.size), y, g)]
    return folds, description


def search_subsample(
    y: Sequence[Any] | np.ndarray, n: int | None, *, random_state: int = 0
) -> np.ndarray:
    """Sorted indices of a class-stratified random subset of ``n`` samples (all if ``None``).

    Class shares follow the data (largest remainders); every class keeps at least
    ``min(count, 2)`` samples so it can still be learnt (which can add a sample or two).
    """
    y = np.asarray([str(v) for v in np.asarray(y, dtype=object)])
    if n is None or n >= y.size:
        return np.arange(y.size, dtype=np.int64)
    if n < 2:
        raise ValueError(f"search_samples must be at least 2, got {n}")
    rng = np.random.default_rng(random_state)
    labels, counts = np.unique(y, return_counts=True)
    quota = n * counts / y.size
    take = np.floor(quota).astype(int)
    take[np.argsort(take - quota)[: n - int(take.sum())]] += 1  # largest remainders: exactly n in all
    take = np.minimum(np.maximum(take, np.minimum(counts, 2)), counts)
    chosen = [rng.choice(np.flatnonzero(y == label), size=k, replace=False) for label, k in zip(labels, take)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def score_function(scoring: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """``f(y_true, y_pred) -> float`` for ``"uar"``, ``"accuracy"`` or ``"macro_f1"``."""
    known = {"uar": uar, "accuracy": accuracy, "macro_f1": macro_f1}
    if scoring not in known:
        raise ValueError(f"scoring must be one of {', '.join(known)}, got {scoring!r}")
    return known[scoring]


def choose_best(scores: np.ndarray) -> int:
    """Index of the best mean score over inner folds (rows: grid values in order, columns: folds).

    Ties go to the first grid value (list grids from the simplest model: smallest ``C``, fewest
    components). NaN scores (a value that could not be tried) never win.
    """
    mean = np.nanmean(np.where(np.isfinite(scores), scores, np.nan), axis=1) if scores.size else scores
    mean = np.where(np.isfinite(mean), mean, -np.inf)
    return int(np.flatnonzero(mean >= mean.max() - 1e-12)[0])


class InnerCVSearch(ClassifierMixin, BaseEstimator):
    """Grid search by inner cross-validation, then a refit on all the training data given.

    Parameters
    ----------
    estimator
        The classifier (e.g. a scaler + SVM pipeline).
    param_grid
        Parameter grid for :class:`~sklearn.model_selection.GridSearchCV` (``{"svm__C": [...]}``).
    n_splits
        Inner folds. With subject ids (``fit(..., groups=...)``) the inner folds are split by
        subject (:class:`~sklearn.model_selection.StratifiedGroupKFold`), else stratified.
    scoring
        Selection criterion: ``"uar"`` (unweighted average recall, the default), ``"accuracy"``
        or any scikit-learn scorer name.
    random_state
        Seed of the inner fold assignment.

    Notes
    -----
    ``fit(X, y, X_val=..., y_val=...)`` instead chooses the parameters on the given validation
    data and refits on ``X, y`` alone (fixed protocols with a validation split).
    """

    def __init__(
        self,
        estimator: Any,
        param_grid: dict[str, list[Any]],
        *,
        n_splits: int = 3,
        scoring: str = "uar",
        random_state: int = 0,
    ) -> None:
        self.estimator = estimator
        self.param_grid = param_grid
        self.n_splits = n_splits
        self.scoring = scoring
        self.random_state = random_state

    def _scorer(self) -> Any:
        if self.scoring == "uar":
            return make_scorer(uar)
        return self.scoring

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        groups: np.ndarray | None = None,
        *,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> InnerCVSearch:
        """Choose the parameters without touching any test data, then refit."""
        X, y = validate_data(self, X, y, dtype=None, ensure_all_finite=False)  # the estimator checks values
        check_classification_targets(y)
        groups = check_groups(groups, X.shape[0])
        if np.unique(y).size < 2:
            raise ValueError(f"need samples of at least 2 classes to fit, got {np.unique(y).size} class")
        if X_val is not None and len(X_val):
            X_all = np.concatenate([X, np.asarray(X_val)])
            y_all = np.concatenate([y, np.asarray(y_val)])
            cv: Any = PredefinedSplit(np.r_[np.full(len(X), -1), np.zeros(len(X_val))])
            search = GridSearchCV(clone(self.estimator), self.param_grid, scoring=self._scorer(), cv=cv, refit=False)
            search.fit(X_all, y_all)
            self.inner_cv_ = "validation split"
            self.best_estimator_ = clone(self.estimator).set_params(**search.best_params_).fit(X, y)
        else:
            folds, self.inner_cv_ = inner_folds(y, groups, n_splits=self.n_splits, random_state=self.random_state)
            search = GridSearchCV(clone(self.estimator), self.param_grid, scoring=self._scorer(), cv=folds, refit=True)
            search.fit(X, y)
            self.best_estimator_ = search.best_estimator_
        self.best_params_: dict[str, Any] = dict(search.best_params_)
        self.best_score_ = float(search.best_score_)
        self.cv_results_ = search.cv_results_
        self.classes_ = self.best_estimator_.classes_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted classes of the refitted best estimator."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Decision values ``(n_samples, n_classes)`` of the refitted best estimator."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X)

    @available_if(lambda self: hasattr(self.estimator, "predict_proba"))
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities of the refitted best estimator (when it has ``predict_proba``)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)
