"""Support vector models for speech: RBF SVR with min-max scaling, RBF SVM, linear SVM on the k best features.

:class:`MinMaxRBFSVR` scales every feature to [0, 1] with the training minimum and maximum
(:class:`~sklearn.preprocessing.MinMaxScaler`) and fits one :class:`~sklearn.svm.SVR` with an RBF
kernel per target column (valence, arousal, dominance...). With ``C_grid`` it chooses ``C`` for
each target by inner cross-validation on the training data only (folds by speaker when
``fit(..., groups=...)`` gets them; ``inner_splits`` at least the number of training speakers
gives leave-one-speaker-out), maximising the concordance correlation coefficient (CCC) of the
pooled inner predictions. The kernel matrix of each inner fold is computed once and shared by all
values of ``C`` and all targets (``kernel="precomputed"``), so the search costs about one fit.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 4)); Y = np.c_[X[:, 0], -X[:, 1]]
>>> model = MinMaxRBFSVR(C_grid=[0.1, 10.0]).fit(X, Y, groups=np.repeat(np.arange(6), 10))
>>> model.predict(X).shape, sorted(model.best_params_)
((60, 2), ['C'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import GroupKFold, KFold
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from affectlab.checks import is_integer, is_number
from affectlab.evaluate.metrics import ccc

__all__ = [
    "DEFAULT_KBEST_C_GRID",
    "DEFAULT_K_GRID",
    "DEFAULT_SVM_C_GRID",
    "DEFAULT_SVR_C_GRID",
    "RBFSVMCV",
    "KBestLinearSVM",
    "MinMaxRBFSVR",
    "f_scores",
    "gamma_scale",
    "kbest_linear_svm",
    "rbf_svm",
    "rbf_svr",
    "regression_folds",
]

#: ``2^-5, 2^-3, ..., 2^7`` (7 values).
DEFAULT_SVR_C_GRID: tuple[float, ...] = tuple(float(2.0**e) for e in range(-5, 8, 2))


def gamma_scale(X: np.ndarray) -> float:
    """scikit-learn's ``gamma="scale"``: ``1 / (n_features * X.var())`` (1 when ``X`` is constant).

    >>> gamma_scale(np.array([[0.0, 1.0], [1.0, 0.0]]))
    2.0
    """
    var = float(np.asarray(X, dtype=np.float64).var())
    return 1.0 / (X.shape[1] * var) if var > 0 else 1.0


def _gamma(gamma: float | str, A: np.ndarray) -> float:
    """The RBF width: ``"scale"`` (:func:`gamma_scale` of ``A``) or a positive number."""
    if isinstance(gamma, str) and gamma == "scale":
        return gamma_scale(A)
    if not is_number(gamma) or not gamma > 0:
        raise ValueError(f"gamma must be 'scale' or a positive number, got {gamma!r}")
    return float(gamma)


def _is_auto(grid: Any) -> bool:
    return isinstance(grid, str) and grid == "auto"


def regression_folds(n: int, groups: Sequence[Any] | np.ndarray | None, n_splits: int,
                     random_state: int = 0) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Inner folds of ``n`` training samples: by group when every sample has one, else shuffled k-fold.

    >>> folds, how = regression_folds(6, ["a", "a", "b", "b", "c", "c"], n_splits=10)
    >>> how, len(folds)
    ('leave-one-speaker-out (3 folds)', 3)
    """
    from affectlab.classify.search import check_groups

    g = check_groups(groups, n)
    if g is not None and all(v is not None and v != "" for v in g):
        n_groups = len(set(g.tolist()))
        if n_groups >= 2:
            k = min(n_splits, n_groups)
            folds = list(GroupKFold(n_splits=k).split(np.zeros(n), groups=g.astype(str)))
            how = f"leave-one-speaker-out ({k} folds)" if k == n_groups else f"{k}-fold by speaker"
            return [(a.astype(np.int64), b.astype(np.int64)) for a, b in folds], how
    k = max(2, min(n_splits, n))
    folds = list(KFold(n_splits=k, shuffle=True, random_state=random_state).split(np.zeros(n)))
    return [(a.astype(np.int64), b.astype(np.int64)) for a, b in folds], f"{k}-fold shuffled"


def _ccc(a: np.ndarray, b: np.ndarray) -> float:
    return ccc(a, b)


class MinMaxRBFSVR(RegressorMixin, BaseEstimator):
    """Min-max scaling + one RBF :class:`~sklearn.svm.SVR` per target, ``C`` by inner CV (CCC).

    Parameters
    ----------
    C
        Penalty used when ``C_grid`` is ``None``.
    C_grid
        Values to search (a list, or ``"auto"`` for :data:`DEFAULT_SVR_C_GRID`); ``None``: no search.
    epsilon
        Width of the insensitive tube (in target units).
    gamma
        RBF width: ``"scale"`` (``1 / (n_features * var)`` of the scaled training data) or a number.
    inner_splits
        Inner folds (by speaker when groups are given: at least the number of training speakers
        gives leave-one-speaker-out).
    random_state
        Seed of the shuffled inner folds when no groups are given.

    Attributes
    ----------
    scaler_, gamma_, X_fit_, models_
        Fitted scaler, kernel width, scaled training data and one SVR per target.
    best_params_
        ``{"C": value}`` (one target) or ``{"C": [value per target]}``.
    inner_cv_, cv_scores_
        Description of the inner folds and the ``(n_grid, n_targets)`` inner CCC table.
    """

    def __init__(self, C: float = 1.0, *, C_grid: Sequence[float] | str | None = None, epsilon: float = 0.1,
                 gamma: float | str = "scale", inner_splits: int = 10, random_state: int = 0) -> None:
        self.C = C
        self.C_grid = C_grid
        self.epsilon = epsilon
        self.gamma = gamma
        self.inner_splits = inner_splits
        self.random_state = random_state

    def _grid(self) -> list[float]:
        if self.C_grid is None:
            return [float(self.C)]
        values = list(DEFAULT_SVR_C_GRID) if _is_auto(self.C_grid) else list(self.C_grid)
        if not values or not all(is_number(v) and v > 0 for v in values):
            raise ValueError(f"C_grid must be a non-empty list of positive numbers or 'auto', got {self.C_grid!r}")
        return [float(v) for v in values]

    def _kernel_parts(self, X_train: np.ndarray, X_other: np.ndarray | None
                      ) -> tuple[MinMaxScaler, float, np.ndarray, np.ndarray, np.ndarray | None]:
        scaler = MinMaxScaler().fit(X_train)
        A = scaler.transform(X_train)
        gamma = _gamma(self.gamma, A)
        K = rbf_kernel(A, A, gamma=gamma)
        K_other = None if X_other is None else rbf_kernel(scaler.transform(X_other), A, gamma=gamma)
        return scaler, gamma, A, K, K_other

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Sequence[Any] | np.ndarray | None = None) -> MinMaxRBFSVR:
        """Fit on ``X`` ``(n, d)`` and targets ``y`` ``(n,)`` or ``(n, t)``; choose ``C`` without test data."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self.n_targets_ = Y.shape[1]
        grid = self._grid()
        scores = np.full((len(grid), Y.shape[1]), np.nan)
        if len(grid) > 1:
            folds, self.inner_cv_ = regression_folds(X.shape[0], groups, self.inner_splits, self.random_state)
            pooled = np.zeros((len(grid), X.shape[0], Y.shape[1]))
            for tr, va in folds:
                _, _, _, K, K_va = self._kernel_parts(X[tr], X[va])
                for c, C in enumerate(grid):
                    for j in range(Y.shape[1]):
                        model = SVR(kernel="precomputed", C=C, epsilon=self.epsilon).fit(K, Y[tr, j])
                        pooled[c, va, j] = model.predict(K_va)
            for c in range(len(grid)):
                for j in range(Y.shape[1]):
                    scores[c, j] = _ccc(Y[:, j], pooled[c, :, j])
            best = [grid[int(np.flatnonzero(np.nan_to_num(scores[:, j], nan=-np.inf)
                                            >= np.nanmax(scores[:, j]) - 1e-12)[0])] if np.isfinite(scores[:, j]).any()
                    else grid[0] for j in range(Y.shape[1])]
        else:
            self.inner_cv_ = None
            best = [grid[0]] * Y.shape[1]
        self.cv_scores_ = scores
        self.scaler_, self.gamma_, self.X_fit_, K, _ = self._kernel_parts(X, None)
        self.models_ = [SVR(kernel="precomputed", C=C, epsilon=self.epsilon).fit(K, Y[:, j])
                        for j, C in enumerate(best)]
        self.best_params_: dict[str, Any] = {"C": best[0] if y.ndim == 1 else best} if self.C_grid is not None else {}
        self._single = y.ndim == 1
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions ``(n,)`` (one target) or ``(n, t)``."""
        check_is_fitted(self, "models_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        K = rbf_kernel(self.scaler_.transform(X), self.X_fit_, gamma=self.gamma_)
        out = np.column_stack([m.predict(K) for m in self.models_])
        return out[:, 0] if self._single else out


def rbf_svr(C: float = 1.0, C_grid: Sequence[float] | str | None = None, epsilon: float = 0.1,
            gamma: float | str = "scale", inner_splits: int = 10, random_state: int = 0) -> MinMaxRBFSVR:
    """Registry factory of :class:`MinMaxRBFSVR` (min-max scaling + RBF SVR, ``C`` by inner CV on CCC)."""
    if C_grid is not None and not _is_auto(C_grid) and not isinstance(C_grid, list | tuple | np.ndarray):
        raise ValueError(f"C_grid must be a list of positive numbers or 'auto', got {C_grid!r}")
    return MinMaxRBFSVR(C=C, C_grid=C_grid, epsilon=epsilon, gamma=gamma, inner_splits=inner_splits,
                        random_state=random_state)


class _OvRDecisionSVC(SVC):
    """:class:`~sklearn.svm.SVC` whose decision function is ``(n_samples, n_classes)`` also for 2 classes."""

    def decision_function(self, X: Any) -> np.ndarray:
        scores = super().decision_function(X)
        return np.column_stack([-scores, scores]) if np.ndim(scores) == 1 else scores


#: ``2^-1, 2^1, ..., 2^7`` (5 values).
DEFAULT_SVM_C_GRID: tuple[float, ...] = tuple(float(2.0**e) for e in range(-1, 8, 2))


class RBFSVMCV(ClassifierMixin, BaseEstimator):
    """Scaling + RBF SVM (:class:`~sklearn.svm.SVC`, one-vs-rest decision values), ``C`` by inner CV.

    The inner folds are those of :func:`affectlab.classify.search.inner_folds` (stratified, by
    subject/speaker when ``fit(..., groups=...)`` gets them). Each inner fold's kernel matrix is
    computed once and shared by all values of ``C`` (``kernel="precomputed"``); the value with the
    best ``scoring`` (UAR by default) of the pooled inner predictions wins, ties to the smallest.

    Attributes
    ----------
    scaler_, gamma_, X_fit_, svc_, classes_
        Fitted scaler, kernel width, scaled training data, the SVC and the class labels.
    best_params_, inner_cv_, cv_scores_
        ``{"C": value}``, a description of the inner folds and the score of each grid value.
    """

    def __init__(self, C: float = 1.0, *, C_grid: Sequence[float] | str | None = None, gamma: float | str = "scale",
                 scaling: str = "standard", class_weight: str | None = "balanced", inner_splits: int = 5,
                 scoring: str = "uar", random_state: int = 0) -> None:
        self.C = C
        self.C_grid = C_grid
        self.gamma = gamma
        self.scaling = scaling
        self.class_weight = class_weight
        self.inner_splits = inner_splits
        self.scoring = scoring
        self.random_state = random_state

    def _grid(self) -> list[float]:
        if self.C_grid is None:
            return [float(self.C)]
        values = list(DEFAULT_SVM_C_GRID) if _is_auto(self.C_grid) else list(self.C_grid)
        if not values or not all(is_number(v) and v > 0 for v in values):
            raise ValueError(f"C_grid must be a non-empty list of positive numbers or 'auto', got {self.C_grid!r}")
        return [float(v) for v in values]

    def _parts(self, X_train: np.ndarray, X_other: np.ndarray | None) -> tuple[Any, float, np.ndarray, np.ndarray,
                                                                               np.ndarray | None]:
        if self.scaling not in ("standard", "minmax"):
            raise ValueError(f"scaling must be 'standard' or 'minmax', got {self.scaling!r}")
        scaler = (StandardScaler() if self.scaling == "standard" else MinMaxScaler()).fit(X_train)
        A = scaler.transform(X_train)
        gamma = _gamma(self.gamma, A)
        K = rbf_kernel(A, A, gamma=gamma)
        K_other = None if X_other is None else rbf_kernel(scaler.transform(X_other), A, gamma=gamma)
        return scaler, gamma, A, K, K_other

    def _svc(self, C: float) -> SVC:
        return _OvRDecisionSVC(C=C, kernel="precomputed", class_weight=self.class_weight,
                               decision_function_shape="ovr")

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Sequence[Any] | np.ndarray | None = None) -> RBFSVMCV:
        """Choose ``C`` on the training data only, then refit on all of it."""
        from affectlab.classify.search import (
            check_groups,
            choose_best,
            inner_folds,
            score_function,
        )

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        groups = check_groups(groups, X.shape[0])
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError(f"need samples of at least 2 classes to fit, got {self.classes_.size} class")
        grid = self._grid()
        scores = np.full((len(grid), 1), np.nan)
        self.inner_cv_ = None
        if len(grid) > 1:
            folds, self.inner_cv_ = inner_folds(y, groups, n_splits=self.inner_splits, random_state=self.random_state)
            score = score_function(self.scoring)
            pooled = np.empty((len(grid), y.shape[0]), dtype=y.dtype)
            seen = np.zeros(y.shape[0], dtype=bool)
            for tr, va in folds:
                if np.unique(y[tr]).size < 2:
                    continue
                _, _, _, K, K_va = self._parts(X[tr], X[va])
                for c, C in enumerate(grid):
                    pooled[c, va] = self._svc(C).fit(K, y[tr]).predict(K_va)
                seen[va] = True
            if seen.any():
                scores[:, 0] = [score(y[seen], pooled[c, seen]) for c in range(len(grid))]
            best = grid[choose_best(scores)]
        else:
            best = grid[0]
        self.cv_scores_ = scores[:, 0]
        self.scaler_, self.gamma_, self.X_fit_, K, _ = self._parts(X, None)
        self.svc_ = self._svc(best).fit(K, y)
        self.best_params_: dict[str, Any] = {"C": best} if self.C_grid is not None else {}
        return self

    def _kernel(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "svc_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return rbf_kernel(self.scaler_.transform(X), self.X_fit_, gamma=self.gamma_)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """One-vs-rest decision values ``(n_samples, n_classes)``."""
        K = self._kernel(X)  # checks that the model is fitted first
        return self.svc_.decision_function(K)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted classes."""
        K = self._kernel(X)
        return self.svc_.predict(K)


def rbf_svm(C: float = 1.0, C_grid: Sequence[float] | str | None = None, gamma: float | str = "scale",
            scaling: str = "standard", class_weight: str | None = "balanced", inner_splits: int = 5,
            scoring: str = "uar", random_state: int = 0) -> RBFSVMCV:
    """Registry factory of :class:`RBFSVMCV`: scaling + RBF SVM, ``C`` (``"auto"``: ``2^-1 .. 2^7``)
    chosen by inner CV on the training data (by subject/speaker when known)."""
    if scaling not in ("standard", "minmax"):
        raise ValueError(f"scaling must be 'standard' or 'minmax', got {scaling!r}")
    if C_grid is not None and not _is_auto(C_grid) and not isinstance(C_grid, list | tuple | np.ndarray):
        raise ValueError(f"C_grid must be a list of positive numbers or 'auto', got {C_grid!r}")
    return RBFSVMCV(C=C, C_grid=C_grid, gamma=gamma, scaling=scaling, class_weight=class_weight,
                    inner_splits=inner_splits, scoring=scoring, random_state=random_state)


#: ``2^-14, 2^-12, ..., 2^-2`` (7 values): linear SVMs on thousands of standardised functionals
#: need small ``C``.
DEFAULT_KBEST_C_GRID: tuple[float, ...] = tuple(float(2.0**e) for e in range(-14, -1, 2))
#: Numbers of features tried by default (capped at the number of columns).
DEFAULT_K_GRID: tuple[int, ...] = (250, 500, 1000, 2000, 4000)


def f_scores(X: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """One-way ANOVA F statistic of every column (0 for constant columns), as
    :func:`sklearn.feature_selection.f_classif`.

    >>> f_scores(np.array([[0.0, 1.0], [0.2, 1.0], [2.0, 1.0], [2.2, 1.0]]), np.array([0, 0, 1, 1]),
    ...          2).round(1).tolist()
    [200.0, 0.0]
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    grand = X.mean(axis=0)
    between = np.zeros(X.shape[1])
    within = np.zeros(X.shape[1])
    present = 0
    for k in range(n_classes):
        rows = X[codes == k]
        if rows.shape[0] == 0:
            continue
        present += 1
        mean = rows.mean(axis=0)
        between += rows.shape[0] * (mean - grand) ** 2
        within += ((rows - mean) ** 2).sum(axis=0)
    df_between, df_within = max(present - 1, 1), max(n - present, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        F = (between / df_between) / (within / df_within)
    return np.where(np.isfinite(F), F, np.where(between > 0, np.finfo(np.float64).max, 0.0))


class KBestLinearSVM(ClassifierMixin, BaseEstimator):
    """Linear SVM on the ``k`` features with the largest ANOVA F on the training data; ``k`` and ``C`` by inner CV.

    Within every inner training part (and finally on all the training data) the features are
    ranked by their one-way ANOVA F statistic (:func:`f_scores`), the top ``k`` are standardised
    with that part's statistics and a one-vs-rest squared-hinge linear SVM is solved exactly in
    the dual on their linear kernel (:func:`affectlab.classify.svm.ovr_squared_hinge_dual`).
    The kernels of growing ``k`` are built incrementally and shared by every ``C``. The pair
    ``(k, C)`` with the best pooled inner score (UAR by default; ties to the smaller ``k``, then
    the smaller ``C``) is refitted on all the training data. Inner folds are those of
    :func:`affectlab.classify.search.inner_folds` (by speaker when ``groups`` are given).

    Attributes
    ----------
    classes_, selected_, mean_, scale_, coef_, intercept_
        Classes; the chosen column indices; their training mean and standard deviation; the linear
        map on the standardised selected columns.
    best_params_, inner_cv_, cv_scores_
        ``{"k": ..., "C": ...}``, a description of the inner folds and the ``(n_k, n_C)`` score table.
    """

    def __init__(self, *, k_grid: Sequence[int] | str = "auto", C_grid: Sequence[float] | str = "auto",
                 inner_splits: int = 5, class_weight: str | None = "balanced", scoring: str = "uar",
                 tol: float = 1e-3, random_state: int = 0) -> None:
        self.k_grid = k_grid
        self.C_grid = C_grid
        self.inner_splits = inner_splits
        self.class_weight = class_weight
        self.scoring = scoring
        self.tol = tol
        self.random_state = random_state

    def _grids(self, n_features: int) -> tuple[list[int], list[float]]:
        ks = list(DEFAULT_K_GRID) + [n_features] if _is_auto(self.k_grid) else list(self.k_grid)
        if not ks or not all(is_integer(k) and k > 0 for k in ks):
            raise ValueError(f"k_grid must be a non-empty list of positive integers or 'auto', got {self.k_grid!r}")
        ks = sorted({min(k, n_features) for k in ks})
        Cs = list(DEFAULT_KBEST_C_GRID) if _is_auto(self.C_grid) else list(self.C_grid)
        if not Cs or not all(is_number(v) and v > 0 for v in Cs):
            raise ValueError(f"C_grid must be a non-empty list of positive numbers or 'auto', got {self.C_grid!r}")
        return ks, sorted(float(c) for c in Cs)

    @staticmethod
    def _ranked(X: np.ndarray, codes: np.ndarray, n_classes: int,
                k_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from affectlab.classify._linear import standardise_stats

        order = np.argsort(-f_scores(X, codes, n_classes), kind="stable")[:k_max]
        mean, scale = standardise_stats(X[:, order])
        return order, mean, scale

    def _weights(self, codes: np.ndarray) -> np.ndarray:
        from affectlab.classify.svm import _positive_weights

        return _positive_weights(self.class_weight, codes, self.classes_)

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Sequence[Any] | np.ndarray | None = None) -> KBestLinearSVM:
        """Choose ``(k, C)`` on the training data only, then refit on all of it."""
        from affectlab.classify.search import (
            check_groups,
            choose_best,
            inner_folds,
            score_function,
        )
        from affectlab.classify.svm import ovr_squared_hinge_dual

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        groups = check_groups(groups, X.shape[0])
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = self.classes_.size
        if n_classes < 2:
            raise ValueError(f"need samples of at least 2 classes to fit, got {n_classes} class")
        ks, Cs = self._grids(X.shape[1])
        score = score_function(self.scoring)
        if len(ks) * len(Cs) > 1:
            folds, self.inner_cv_ = inner_folds(y, groups, n_splits=self.inner_splits, random_state=self.random_state)
            pooled = np.full((len(ks), len(Cs), X.shape[0]), -1, dtype=np.int64)
            for tr, va in folds:
                if np.unique(codes[tr]).size < 2:
                    continue
                order, mean, scale = self._ranked(X[tr], codes[tr], n_classes, ks[-1])
                A_tr = (X[np.ix_(tr, order)] - mean) / scale
                A_va = (X[np.ix_(va, order)] - mean) / scale
                K_tr = np.zeros((tr.size, tr.size))
                K_va = np.zeros((va.size, tr.size))
                start = 0
                weights = self._weights(codes[tr])
                for i, k in enumerate(ks):
                    K_tr += A_tr[:, start:k] @ A_tr[:, start:k].T
                    K_va += A_va[:, start:k] @ A_tr[:, start:k].T
                    start = k
                    for j, C in enumerate(Cs):
                        A, b = ovr_squared_hinge_dual(K_tr, codes[tr], n_classes, C, positive_weight=weights,
                                                      tol=self.tol)
                        pooled[i, j, va] = np.argmax(K_va @ A + b, axis=1)
            seen = pooled[0, 0] >= 0
            table = np.full((len(ks), len(Cs)), np.nan)
            if seen.any():
                for i in range(len(ks)):
                    for j in range(len(Cs)):
                        table[i, j] = score(codes[seen], pooled[i, j, seen])
            best = choose_best(table.reshape(-1, 1))
            k_best, C_best = ks[best // len(Cs)], Cs[best % len(Cs)]
        else:
            self.inner_cv_ = None
            table = np.full((1, 1), np.nan)
            k_best, C_best = ks[0], Cs[0]
        self.cv_scores_ = table
        self.selected_, self.mean_, self.scale_ = self._ranked(X, codes, n_classes, k_best)
        A_all = (X[:, self.selected_] - self.mean_) / self.scale_
        A, b = ovr_squared_hinge_dual(A_all @ A_all.T, codes, n_classes, C_best, positive_weight=self._weights(codes),
                                      tol=self.tol)
        self.coef_ = A.T @ A_all
        self.intercept_ = b
        self.best_params_: dict[str, Any] = {"k": int(k_best), "C": float(C_best)}
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """One-vs-rest decision values ``(n_samples, n_classes)``."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return ((X[:, self.selected_] - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The class with the largest decision value."""
        scores = self.decision_function(X)  # checks that the model is fitted first
        return self.classes_[np.argmax(scores, axis=1)]


def kbest_linear_svm(k_grid: Sequence[int] | str = "auto", C_grid: Sequence[float] | str = "auto",
                     inner_splits: int = 5, class_weight: str | None = "balanced", scoring: str = "uar",
                     tol: float = 1e-3, random_state: int = 0) -> KBestLinearSVM:
    """Registry factory of :class:`KBestLinearSVM` (ANOVA-F feature ranking + linear SVM, ``k`` and ``C`` by
    inner CV)."""
    for name, grid in (("k_grid", k_grid), ("C_grid", C_grid)):
        if not _is_auto(grid) and not isinstance(grid, list | tuple | np.ndarray):
            raise ValueError(f"{name} must be a list or 'auto', got {grid!r}")
    return KBestLinearSVM(k_grid=k_grid, C_grid=C_grid, inner_splits=inner_splits, class_weight=class_weight,
                          scoring=scoring, tol=tol, random_state=random_state)
