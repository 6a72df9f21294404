"""Shared machinery of the linear classifiers with a built-in grid search (SVM, PLS).

Both standardise the features with the training statistics, search one hyper-parameter by inner
cross-validation on the training data (or on a given validation split), refit on all the training
data with the chosen value, and keep the result as one linear map ``X @ coef_.T + intercept_``.
With fewer (inner) training samples than features the search works on the linear kernel
``K = Xs Xs^T`` of the standardised training data, so its cost depends on the number of samples,
not on the feature dimension.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from affectlab.classify.search import (
    check_groups,
    choose_best,
    inner_folds,
    score_function,
    search_subsample,
)

__all__ = ["LinearGridClassifier", "standardise_stats", "gram"]


def standardise_stats(X: np.ndarray, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales (standard deviations; 1 where constant or ``scale=False``)."""
    mean = X.mean(axis=0)
    if not scale:
        return mean, np.ones(X.shape[1])
    std = X.std(axis=0)
    return mean, np.where(std > 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0), std, 1.0)


def gram(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """Linear kernel ``A @ B.T`` in float64."""
    return A @ (A if B is None else B).T


class LinearGridClassifier(ClassifierMixin, BaseEstimator):
    """Base class: subclasses define the grid, the inner-fold scores and the refit.

    Subclasses implement ``_param_name``, ``_grid(n_train, n_features)``,
    ``_search_scores(Xs, codes, n_classes, folds, grid, K)`` -> ``(len(grid), len(folds))`` and
    ``_refit(Xs, codes, n_classes, value, K)`` -> ``(coef (n_classes, d), intercept (n_classes,))``
    in standardised units. ``K`` is the Gram matrix of the searched rows when ``_uses_kernel``
    says so (else ``None``); the refit gets it when those rows are the whole training part.
    """

    _param_name = "param"
    scale: bool = True
    inner_splits: int = 5
    scoring: str = "uar"
    search_samples: int | None = None
    random_state: int = 0

    # -- to implement ---------------------------------------------------------------------------
    def _uses_kernel(self, n_rows: int, n_inner: int, n_features: int) -> bool:
        """Whether the search on ``n_rows`` rows (inner training parts of ``n_inner``) needs their
        Gram matrix."""
        return n_rows < n_features

    def _grid(self, n_train: int, n_features: int) -> list[Any]:
        raise NotImplementedError

    def _search_scores(self, Xs: np.ndarray, codes: np.ndarray, n_classes: int,
                       folds: list[tuple[np.ndarray, np.ndarray]], grid: list[Any],
                       K: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _refit(self, Xs: np.ndarray, codes: np.ndarray, n_classes: int, value: Any,
               K: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def fit(
        self,
        X: np.ndarray,
        y: Sequence[Any] | np.ndarray,
        groups: Sequence[Any] | np.ndarray | None = None,
        *,
        X_val: np.ndarray | None = None,
        y_val: Sequence[Any] | np.ndarray | None = None,
    ) -> LinearGridClassifier:
        """Choose the hyper-parameter on the training data only, then refit on all of it.

        Parameters
        ----------
        X, y
            Training features ``(n_samples, n_features)`` and labels.
        groups
            Subject ids: the inner folds are then split by subject.
        X_val, y_val
            A validation split: the hyper-parameter is chosen on it (trained on ``X, y``) instead
            of by inner cross-validation; the final model is fitted on ``X, y`` alone.
        """
        X, y = validate_data(self, X, y, dtype=np.float64, copy=True)  # the copy is standardised in place
        check_classification_targets(y)
        groups = check_groups(groups, X.shape[0])
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = self.classes_.size
        if n_classes < 2:
            raise ValueError(f"need samples of at least 2 classes to fit, got {n_classes} class")
        mean, scale = standardise_stats(X, self.scale)
        Xs = X
        Xs -= mean
        Xs /= scale
        del X
        grid = self._grid(Xs.shape[0], Xs.shape[1])
        K_all: np.ndarray | None = None
        if len(grid) == 1:
            best, self.inner_cv_, scores = 0, "none (a single value)", np.zeros((1, 0))
        else:
            search_all = False
            if X_val is not None and len(X_val):
                Xv = (validate_data(self, X_val, dtype=np.float64, reset=False) - mean) / scale
                if len(y_val if y_val is not None else []) != Xv.shape[0]:
                    raise ValueError(f"y_val must give one label per row of X_val ({Xv.shape[0]})")
                index = {c: i for i, c in enumerate(self.classes_.tolist())}
                # classes absent from the training part count as errors (code -1, never predicted)
                codes_v = np.array([index.get(v, -1) for v in np.asarray(y_val).tolist()], dtype=np.int64)
                Xsearch = np.concatenate([Xs, Xv])
                codes_search = np.concatenate([codes, codes_v])
                n = Xs.shape[0]
                folds = [(np.arange(n), np.arange(n, Xsearch.shape[0]))]
                self.inner_cv_ = "validation split"
            else:
                rows = search_subsample(codes, self.search_samples, random_state=self.random_state)
                sub_groups = None if groups is None else groups[rows]
                folds, self.inner_cv_ = inner_folds(codes[rows], sub_groups, n_splits=self.inner_splits,
                                                    random_state=self.random_state)
                if rows.size < Xs.shape[0]:
                    self.inner_cv_ += f" on {rows.size} of {Xs.shape[0]} training samples"
                search_all = rows.size == Xs.shape[0]
                Xsearch, codes_search = (Xs, codes) if search_all else (Xs[rows], codes[rows])
            n_inner = max(len(tr) for tr, _ in folds)
            K = gram(Xsearch) if self._uses_kernel(Xsearch.shape[0], n_inner, Xs.shape[1]) else None
            if search_all:
                K_all = K  # the refit reuses the kernel of the whole training part
            scores = self._search_scores(Xsearch, codes_search, n_classes, folds, grid, K)
            best = choose_best(scores)
        self.grid_ = list(grid)
        self.cv_results_ = {
            self._param_name: list(grid),
            "mean_score": [float(v) if np.isfinite(v) else None
                           for v in (scores.mean(axis=1) if scores.size else [np.nan] * len(grid))],
            "fold_scores": scores.tolist(),
        }
        value = grid[best]
        self.best_params_ = {self._param_name: value}
        self.best_score_ = float(scores[best].mean()) if scores.size else float("nan")
        coef, intercept = self._refit(Xs, codes, n_classes, value, K_all)
        # fold the standardisation into the linear map: raw X -> decision values
        self.coef_ = coef / scale[None, :]
        self.intercept_ = intercept - self.coef_ @ mean
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Decision values ``(n_samples, n_classes)`` (columns in :attr:`classes_` order)."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_.T + self.intercept_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The class with the largest decision value."""
        scores = self.decision_function(X)
        return self.classes_[np.argmax(scores, axis=1)]

    # -- helpers for subclasses -----------------------------------------------------------------
    def _score(self, codes_true: np.ndarray, decision: np.ndarray) -> float:
        return score_function(self.scoring)(codes_true, np.argmax(decision, axis=1))


def fold_classes(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Boolean mask of the classes present in ``codes``."""
    return np.bincount(codes, minlength=n_classes) > 0
