"""Hyper-parameter search on the training part only, grouped by subject when subjects are known."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, PredefinedSplit, StratifiedGroupKFold, StratifiedKFold

__all__ = ["InnerCVSearch"]


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
            from affectlab.evaluate.metrics import uar

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
        X, y = np.asarray(X), np.asarray(y)
        if X_val is not None and len(X_val):
            X_all = np.concatenate([X, np.asarray(X_val)])
            y_all = np.concatenate([y, np.asarray(y_val)])
            cv: Any = PredefinedSplit(np.r_[np.full(len(X), -1), np.zeros(len(X_val))])
            search = GridSearchCV(clone(self.estimator), self.param_grid, scoring=self._scorer(), cv=cv, refit=False)
            search.fit(X_all, y_all)
            self.inner_cv_ = "validation split"
            self.best_estimator_ = clone(self.estimator).set_params(**search.best_params_).fit(X, y)
        else:
            use_groups = groups is not None and all(g is not None for g in groups)
            if use_groups and len(set(np.asarray(groups).tolist())) >= self.n_splits:
                splitter: Any = StratifiedGroupKFold(self.n_splits, shuffle=True, random_state=self.random_state)
                self.inner_cv_ = f"{self.n_splits}-fold by subject"
            else:
                splitter = StratifiedKFold(self.n_splits, shuffle=True, random_state=self.random_state)
                self.inner_cv_ = f"{self.n_splits}-fold stratified"
            folds = list(splitter.split(X, y, groups if use_groups else None))
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
        return self.best_estimator_.predict(X)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Decision values ``(n_samples, n_classes)`` of the refitted best estimator."""
        return self.best_estimator_.decision_function(X)
