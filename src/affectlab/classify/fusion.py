"""Decision-level fusion: the fusion network and the usual baselines, as scikit-learn estimators.

Inputs are the decision values ``a[i, j, k]`` of ``m`` members (a feature with a classifier) for
``n`` classes, given flat as ``X`` of shape ``(n_samples, m * n)`` in member-major order
(member 0's ``n`` class scores, then member 1's, ...), which is what :func:`stack_decisions`
builds. The fusion network models

    P(y = k | a) = softmax_k( sum_j W[j, k] * a[j, k] )

with one weight per member-class pair, and minimises the mean cross-entropy plus
``(lam / 2) * sum W**2`` with L-BFGS (the cost is convex in ``W``); the prediction is the class of
highest probability (max-win). :class:`FusionNetworkCV` chooses ``lam`` by cross-validation (by
subject when ``groups`` are given). Fit them on out-of-fold decision values: members must never
score samples they were trained on.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 3, 300)
>>> good = np.eye(3)[y] + 0.3 * rng.normal(size=(300, 3))     # an informative member
>>> noise = rng.normal(size=(300, 3))                          # a useless one
>>> net = FusionNetwork(lam=1e-3).fit(stack_decisions([good, noise]), y)
>>> net.weights_.shape
(2, 3)
>>> bool((np.abs(net.weights_[0]) > np.abs(net.weights_[1])).all())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from affectlab.checks import is_number
from affectlab.evaluate.metrics import uar

__all__ = [
    "FusionNetwork",
    "FusionNetworkCV",
    "MeanProbabilityFusion",
    "stack_decisions",
    "fusion_cost",
    "DEFAULT_LAMBDAS",
]

#: lambda grid of :class:`FusionNetworkCV`: 10^-5 .. 10^2.
DEFAULT_LAMBDAS: tuple[float, ...] = tuple(10.0 ** e for e in range(-5, 3))


def stack_decisions(members: Sequence[np.ndarray]) -> np.ndarray:
    """Member decision matrices ``[(n_samples, n_classes), ...]`` -> ``(n_samples, m * n_classes)``.

    >>> stack_decisions([np.array([[1., 2.]]), np.array([[3., 4.]])])
    array([[1., 2., 3., 4.]])
    """
    blocks = [np.asarray(a, dtype=np.float64) for a in members]
    if not blocks:
        raise ValueError("stack_decisions needs at least one member")
    shape = blocks[0].shape
    if any(b.ndim != 2 or b.shape != shape for b in blocks):
        raise ValueError(f"every member must give an (n_samples, n_classes) matrix of one shape; got "
                         f"{[b.shape for b in blocks]}")
    return np.concatenate(blocks, axis=1)


def _as_members(X: np.ndarray, n_classes: int) -> np.ndarray:
    if X.shape[1] % n_classes:
        raise ValueError(f"X has {X.shape[1]} columns, not a multiple of the {n_classes} classes "
                         "(expected m members x n classes, member-major)")
    return X.reshape(X.shape[0], X.shape[1] // n_classes, n_classes)


def fusion_cost(W: np.ndarray, A: np.ndarray, Y: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    """Cost and gradient of the fusion network.

    Parameters
    ----------
    W
        ``(m, n)`` weights.
    A
        ``(N, m, n)`` decision values.
    Y
        ``(N, n)`` one-hot targets.
    lam
        L2 weight: cost = mean cross-entropy + ``lam / 2 * sum(W**2)``.

    Returns
    -------
    cost, gradient ``(m, n)``

    >>> A = np.array([[[1.0, 0.0]]]); Y = np.array([[1.0, 0.0]])
    >>> cost, grad = fusion_cost(np.ones((1, 2)), A, Y, 0.0)
    >>> bool(abs(cost - np.log(1 + np.exp(-1.0))) < 1e-12)
    True
    """
    scores = np.einsum("ijk,jk->ik", A, W)
    log_p = log_softmax(scores, axis=1)
    n = A.shape[0]
    cost = -float(np.sum(Y * log_p)) / n + 0.5 * lam * float(np.sum(W * W))
    residual = np.exp(log_p) - Y  # (N, n)
    grad = np.einsum("ik,ijk->jk", residual, A) / n + lam * W
    return cost, grad


class FusionNetwork(ClassifierMixin, BaseEstimator):
    """Softmax over member-class weighted decision values, L2-regularised (fixed ``lam``).

    Parameters
    ----------
    lam
        L2 regularisation weight (``lambda`` of the method).
    max_iter
        L-BFGS iterations.
    tol
        L-BFGS gradient tolerance.

    Attributes
    ----------
    weights_ : ndarray (n_members, n_classes)
        ``W``.
    classes_ : ndarray
        Class labels, in the column order of the decision values.
    n_members_ : int
    """

    def __init__(self, lam: float = 1e-3, *, max_iter: int = 500, tol: float = 1e-8) -> None:
        self.lam = lam
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X: Any, y: Any) -> FusionNetwork:
        """Fit ``W`` on decision values ``X`` (``(n, m * n_classes)``) and labels ``y``.

        The class order of the decision columns must be ``np.unique(y)`` (sorted labels).
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if not np.isfinite(X).all():
            raise ValueError("decision values must be finite (a member gave NaN or inf)")
        if not is_number(self.lam) or not self.lam >= 0:
            raise ValueError(f"lam must be a number >= 0, got {self.lam!r}")
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(f"FusionNetwork needs at least 2 classes in y, got {n_classes} class")
        A = _as_members(X, n_classes)
        self.n_members_ = A.shape[1]
        Y = np.eye(n_classes)[encoder.transform(y)]
        start = np.ones((self.n_members_, n_classes))  # equal weights: the sum of the members' scores

        def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
            cost, grad = fusion_cost(w.reshape(start.shape), A, Y, float(self.lam))
            return cost, grad.ravel()

        result = minimize(objective, start.ravel(), jac=True, method="L-BFGS-B",
                          options={"maxiter": self.max_iter, "gtol": self.tol})
        self.weights_ = result.x.reshape(start.shape)
        self.cost_ = float(result.fun)
        self.n_iter_ = int(result.nit)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """``sum_j W[j, k] * a[j, k]``: ``(n_samples, n_classes)``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.einsum("ijk,jk->ik", _as_members(X, len(self.classes_)), self.weights_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``P(y = k | a)``: softmax of :meth:`decision_function`."""
        return softmax(self.decision_function(X), axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """Max-win: the class of highest fused probability."""
        scores = self.decision_function(X)  # checks that the model is fitted first
        return self.classes_[np.argmax(scores, axis=1)]


def _inner_splits(y: np.ndarray, groups: np.ndarray | None, n_splits: int, random_state: int):
    if groups is not None and len(np.unique(groups)) >= n_splits:
        return list(GroupKFold(n_splits=n_splits).split(y, y, groups))
    counts = np.unique(y, return_counts=True)[1]
    k = max(2, min(n_splits, int(counts.min())))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state).split(y, y))


class FusionNetworkCV(FusionNetwork):
    """:class:`FusionNetwork` with ``lam`` chosen by inner cross-validation on the data given to fit.

    Folds are by ``groups`` (subjects) when given, else stratified; the score is UAR (mean recall
    per class), ties going to the larger ``lam``. ``lam_`` holds the choice and ``cv_scores_``
    the mean inner score of every value. ``lam_at_grid_edge_`` is True when the choice is the
    grid's smallest or largest value *and* scores strictly better than its neighbour there (the
    score may still improve beyond the grid); a plateau that the tie rule resolves to the largest
    value is not an edge problem (large ``lam`` only shrinks the weights towards a fixed direction).
    """

    def __init__(
        self,
        lams: Sequence[float] = DEFAULT_LAMBDAS,
        *,
        inner_splits: int = 5,
        max_iter: int = 500,
        tol: float = 1e-8,
        random_state: int = 0,
    ) -> None:
        self.lams = lams
        self.inner_splits = inner_splits
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    @property
    def lam(self) -> float:  # type: ignore[override]
        return getattr(self, "lam_", float(self.lams[0]))

    def fit(self, X: Any, y: Any, groups: Any = None) -> FusionNetworkCV:
        """Choose ``lam`` by inner CV on ``(X, y)`` (by ``groups`` when given), then refit on all."""
        from affectlab.classify.search import check_groups

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        check_groups(groups, X.shape[0])
        try:
            lams = [float(v) for v in self.lams]
        except (TypeError, ValueError):
            lams = []
        if not lams or any(not v >= 0 for v in lams):
            raise ValueError(f"lams must be a non-empty list of values >= 0, got {self.lams!r}")
        if np.unique(y).size < 2:
            raise ValueError(f"FusionNetworkCV needs at least 2 classes in y, got {np.unique(y).size} class")
        splits = _inner_splits(y, None if groups is None else np.asarray(groups), self.inner_splits,
                               self.random_state)
        scores = []
        for lam in lams:
            fold_scores = []
            for train, test in splits:
                if len(np.unique(y[train])) != len(np.unique(y)):
                    continue  # a class absent from this inner training part: skip the split
                net = FusionNetwork(lam, max_iter=self.max_iter, tol=self.tol).fit(X[train], y[train])
                fold_scores.append(uar(y[test], net.predict(X[test])))
            scores.append(float(np.mean(fold_scores)) if fold_scores else -np.inf)
        best = max(range(len(lams)), key=lambda i: (scores[i], lams[i]))
        by_lam = sorted(range(len(lams)), key=lambda i: lams[i])
        # the grid's smallest / largest value -> the value next to it (interior choices have no entry)
        edge_neighbour = {by_lam[0]: by_lam[1], by_lam[-1]: by_lam[-2]} if len(lams) > 1 else {}
        self.lam_at_grid_edge_ = best in edge_neighbour and scores[best] > scores[edge_neighbour[best]]
        self.lam_ = lams[best]
        self.cv_scores_ = dict(zip(lams, scores))
        self.best_params_ = {"lam": self.lam_}
        FusionNetwork.fit(self, X, y)
        return self


class MeanProbabilityFusion(ClassifierMixin, BaseEstimator):
    """Baseline: average the members' class probabilities.

    Each member's decision values become probabilities by a softmax with one temperature per
    member, fitted by maximum likelihood on the (out-of-fold) decision values given to ``fit``
    (members speak on different scales: SVM margins, PLS regressions).
    """

    def fit(self, X: Any, y: Any) -> MeanProbabilityFusion:
        from scipy.optimize import minimize_scalar

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"MeanProbabilityFusion needs at least 2 classes in y, got {len(self.classes_)} class")
        A = _as_members(X, len(self.classes_))
        codes = encoder.transform(y)
        temperatures = []
        for j in range(A.shape[1]):
            member = A[:, j, :]

            def nll(log_t: float, member: np.ndarray = member) -> float:
                log_p = log_softmax(member * np.exp(-log_t), axis=1)
                return -float(np.mean(log_p[np.arange(len(codes)), codes]))

            temperatures.append(float(np.exp(minimize_scalar(nll, bounds=(-8, 8), method="bounded").x)))
        self.temperatures_ = np.array(temperatures)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        A = _as_members(X, len(self.classes_))
        return softmax(A / self.temperatures_[None, :, None], axis=2).mean(axis=1)

    def decision_function(self, X: Any) -> np.ndarray:
        return self.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)  # checks that the model is fitted first
        return self.classes_[np.argmax(proba, axis=1)]
