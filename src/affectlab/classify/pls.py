"""PLS regression on one-hot targets used as a one-vs-rest classifier.

:class:`PLSClassifier` regresses the one-hot class indicators on the features with PLS2 (the
model of :class:`sklearn.cross_decomposition.PLSRegression` with ``scale=True``: standardised X
and Y, regression deflation), predicts the class with the largest output and returns the
outputs as decision values. The number of components is chosen by inner cross-validation.

Two exact shortcuts make the search cheap (both are checked against scikit-learn in the tests):

- each component's weight vector is the leading left singular vector of ``X_k^T Y`` computed
  directly (scikit-learn approximates it by power iterations, up to 500 per component);
- with fewer samples than features the data are first mapped to ``Z = U sqrt(L)`` from the
  eigen-decomposition ``Xs Xs^T = U L U^T`` (PLS depends on X only through its row space), and
  all components up to the largest grid value come from one fit per inner fold (a model with
  ``k`` components is the first ``k`` components of a larger one).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 8)); y = np.repeat(["a", "b", "c"], 20); X[y == "b", 0] += 4
>>> clf = PLSClassifier(n_components_grid=[1, 2, 4]).fit(X, y)
>>> clf.decision_function(X).shape, clf.best_params_["n_components"] in (1, 2, 4)
((60, 3), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from affectlab.checks import is_integer
from affectlab.classify._linear import LinearGridClassifier, fold_classes, gram

__all__ = ["PLSClassifier", "pls2", "PLSComponents", "DEFAULT_COMPONENTS_GRID"]

#: Numbers of components tried by ``n_components_grid="auto"`` (capped at the data's rank).
DEFAULT_COMPONENTS_GRID: tuple[int, ...] = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48)


@dataclass
class PLSComponents:
    """PLS2 weights ``W`` (p, k), X loadings ``P`` (p, k) and Y loadings ``Q`` (q, k)."""

    W: np.ndarray
    P: np.ndarray
    Q: np.ndarray

    @property
    def n_components(self) -> int:
        """Number of components found (fewer than asked when X or Y is exhausted)."""
        return self.W.shape[1]

    def coef(self, k: int | None = None) -> np.ndarray:
        """Regression coefficients ``(p, q)`` of the model with the first ``k`` components."""
        k = self.n_components if k is None else min(k, self.n_components)
        if k == 0:
            return np.zeros((self.W.shape[0], self.Q.shape[0]))
        W, P, Q = self.W[:, :k], self.P[:, :k], self.Q[:, :k]
        return W @ np.linalg.solve(P.T @ W, Q.T)


def pls2(X: np.ndarray, Y: np.ndarray, n_components: int) -> PLSComponents:
    """PLS2 regression (NIPALS model, exact weight vectors) of centred ``Y`` on centred ``X``.

    The deflated matrices are never formed: ``X_k w = X w - T P^T w`` and
    ``X_{k+1}^T Y = X_k^T Y - p t^T Y``, so each component costs two products with ``X``.

    Parameters
    ----------
    X
        ``(n, p)`` centred (and, for ``scale=True`` semantics, standardised) features.
    Y
        ``(n, q)`` centred targets.
    n_components
        Components to extract; stops early when ``X^T Y`` is exhausted.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, p = X.shape
    k_max = max(0, min(int(n_components), n, p))
    W = np.zeros((p, k_max))
    P = np.zeros((p, k_max))
    Q = np.zeros((Y.shape[1], k_max))
    T = np.zeros((n, k_max))
    G = X.T @ Y  # X_k^T Y (= X_k^T Y_k: the scores are orthogonal)
    first = None
    k = 0
    for k in range(k_max):
        u, s, _vt = np.linalg.svd(G, full_matrices=False)
        first = s[0] if first is None else first
        if s[0] <= 1e-10 * first or s[0] == 0:
            break
        w = u[:, 0]
        t = X @ w - T[:, :k] @ (P[:, :k].T @ w)
        tt = float(t @ t)
        if tt <= 1e-300:
            break
        loading = (X.T @ t - P[:, :k] @ (T[:, :k].T @ t)) / tt
        q = Y.T @ t / tt
        W[:, k], P[:, k], Q[:, k], T[:, k] = w, loading, q, t
        G = G - np.outer(loading, q) * tt
    else:
        k = k_max
    return PLSComponents(W[:, :k], P[:, :k], Q[:, :k])


def _row_space(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvectors ``U`` and square roots of the eigenvalues of a Gram matrix (non-null part)."""
    values, vectors = np.linalg.eigh(K)
    keep = values > 1e-10 * max(float(values[-1]), 1e-300)
    return vectors[:, keep], np.sqrt(values[keep])


class PLSClassifier(LinearGridClassifier):
    """One-vs-rest classifier from PLS regression on one-hot targets, components by inner CV.

    Parameters
    ----------
    n_components
        Components when ``n_components_grid`` is ``None`` (capped at ``min(n - 1, n_features)``).
    n_components_grid
        Values to choose from (``"auto"``: :data:`DEFAULT_COMPONENTS_GRID`), capped at the rank
        of the inner training parts; ties go to the fewest components.
    inner_splits, scoring, search_samples, random_state
        As for :class:`~affectlab.classify.LinearSVMCV`.
    scale
        Standardise X and the one-hot Y with the training statistics (as ``PLSRegression``'s
        ``scale=True``); else only centre them.

    Attributes
    ----------
    classes_, coef_, intercept_
        ``X @ coef_.T + intercept_`` are the regression outputs (decision values).
    best_params_, cv_results_, inner_cv_
        ``{"n_components": k}``, the grid scores and how they were obtained.
    n_components_
        Components of the final model.
    """

    _param_name = "n_components"

    def __init__(
        self,
        n_components: int = 8,
        n_components_grid: Sequence[int] | str | None = None,
        *,
        inner_splits: int = 5,
        scoring: str = "uar",
        scale: bool = True,
        search_samples: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_components = n_components
        self.n_components_grid = n_components_grid
        self.inner_splits = inner_splits
        self.scoring = scoring
        self.scale = scale
        self.search_samples = search_samples
        self.random_state = random_state

    def _grid(self, n_train: int, n_features: int) -> list[int]:
        spec = self.n_components_grid
        auto = isinstance(spec, str) and spec == "auto"
        values = [self.n_components] if spec is None else DEFAULT_COMPONENTS_GRID if auto else spec
        values = list(values) if isinstance(values, list | tuple | np.ndarray) else None
        if not values or not all(is_integer(v) and v > 0 for v in values):
            if spec is None:
                raise ValueError(f"n_components must be a positive integer, got {self.n_components!r}")
            raise ValueError(
                f"n_components_grid must be a non-empty list of positive integers or 'auto', got {spec!r}"
            )
        values = sorted({int(v) for v in values})
        if spec is None:
            return [max(1, min(values[0], n_train - 1, n_features))]
        n_inner = n_train if self.search_samples is None else min(n_train, self.search_samples)
        cap = max(1, min(n_features, n_inner - n_inner // max(self.inner_splits, 2) - 1))
        kept = [v for v in values if v <= cap]
        return kept or [cap]

    def _targets(self, codes: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Y = np.eye(n_classes)[codes]
        mean = Y.mean(axis=0)
        std = Y.std(axis=0) if self.scale else np.ones(n_classes)
        std = np.where(std > 0, std, 1.0)
        return (Y - mean) / std, mean, std

    def _search_scores(self, Xs: np.ndarray, codes: np.ndarray, n_classes: int,
                       folds: list[tuple[np.ndarray, np.ndarray]], grid: list[Any], K: np.ndarray) -> np.ndarray:
        if K is not None and Xs.shape[1] > Xs.shape[0]:
            U, root = _row_space(K)
            self._row_space_cache = (K, U, root)  # the refit reuses it when K is the whole training part
            Z = U * root
        else:
            Z = Xs
        scores = np.full((len(grid), len(folds)), np.nan)
        for j, (train, val) in enumerate(folds):
            Z_train = Z[train]
            mean = Z_train.mean(axis=0)
            Y, y_mean, y_std = self._targets(codes[train], n_classes)
            components = pls2(Z_train - mean, Y, max(grid))
            absent = ~fold_classes(codes[train], n_classes)
            Z_val = Z[val] - mean
            for i, k in enumerate(grid):
                decision = (Z_val @ components.coef(k)) * y_std + y_mean
                decision[:, absent] = -np.inf
                scores[i, j] = self._score(codes[val], decision)
        return scores

    def _refit(self, Xs: np.ndarray, codes: np.ndarray, n_classes: int, value: Any,
               K: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        cached = self.__dict__.pop("_row_space_cache", None)
        Y, y_mean, y_std = self._targets(codes, n_classes)
        if Xs.shape[1] > Xs.shape[0]:
            if cached is not None and K is not None and cached[0] is K:
                U, root = cached[1], cached[2]
            else:
                U, root = _row_space(gram(Xs) if K is None else K)
            components = pls2(U * root, Y, value)
            coef = Xs.T @ (U @ (components.coef() / root[:, None]))  # back to the feature space
        else:
            components = pls2(Xs, Y, value)
            coef = components.coef()
        self.n_components_ = components.n_components
        return (coef * y_std).T, y_mean
