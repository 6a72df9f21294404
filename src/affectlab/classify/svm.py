"""Linear SVM (squared hinge, L2, one-vs-rest) with ``C`` chosen by inner cross-validation.

Every grid value is solved exactly (to a tolerance), by one of two solvers chosen by shape:

- up to a few thousand samples (CK+48), or fewer samples than features: in the dual on the
  linear kernel. The squared-hinge SVM with an unpenalised intercept is the hard-margin SVM on
  ``K + I / (2C)``, which LIBSVM (:class:`sklearn.svm.SVC` with a precomputed kernel) solves in
  about 7 ms per one-vs-rest problem for 700 training images, whatever the dimension
  (liblinear's dual took 0.3-0.8 s per problem on 4,356-d HOG, its primal up to minutes);
- many samples (FER2013): in the primal by preconditioned Newton-CG, all classes at once and
  warm-started along the grid of ``C``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 5)); y = np.repeat(["a", "b", "c"], 20); X[y == "b", 0] += 4
>>> clf = LinearSVMCV(C_grid=[0.01, 1.0]).fit(X, y)
>>> clf.decision_function(X).shape, clf.best_params_["C"] in (0.01, 1.0)
((60, 3), True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from affectlab.checks import is_number
from affectlab.classify._linear import LinearGridClassifier, fold_classes

__all__ = ["LinearSVMCV", "DEFAULT_C_GRID", "ovr_squared_hinge_dual", "ovr_squared_hinge_primal", "feature_gram_eigen"]

_DUAL_ALWAYS_BELOW = 2000

#: ``2^-10, 2^-8, ..., 2^10`` (11 values).
DEFAULT_C_GRID: tuple[float, ...] = tuple(float(2.0**e) for e in range(-10, 11, 2))


def _positive_weights(class_weight: str | Mapping[Any, float] | None, codes: np.ndarray,
                      classes: np.ndarray) -> np.ndarray:
    n_classes = classes.size
    if class_weight is None:
        return np.ones(n_classes)
    if class_weight == "balanced":
        counts = np.bincount(codes, minlength=n_classes).astype(float)
        return np.where(counts > 0, codes.size / (n_classes * np.maximum(counts, 1)), 1.0)
    if isinstance(class_weight, Mapping):
        return np.array([float(class_weight.get(c, 1.0)) for c in classes.tolist()])
    raise ValueError(f"class_weight must be None, 'balanced' or a mapping, got {class_weight!r}")


def ovr_squared_hinge_dual(
    K: np.ndarray,
    codes: np.ndarray,
    n_classes: int,
    C: float,
    *,
    positive_weight: np.ndarray | None = None,
    tol: float = 1e-3,
    return_n_iter: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, int]:
    """One-vs-rest squared-hinge SVMs on a precomputed kernel, solved exactly in the dual.

    Minimises ``1/2 |w|^2 + C sum_i c_i max(0, 1 - y_i (w.x_i + b))^2`` per class (``c_i`` is
    ``positive_weight[k]`` for the class's own samples, 1 for the rest).

    Parameters
    ----------
    K
        ``(n, n)`` kernel of the training samples.
    codes
        Class index per sample, in ``0 .. n_classes - 1``.

    Returns
    -------
    A, b
        ``(n, n_classes)`` signed dual coefficients and ``(n_classes,)`` intercepts: the decision
        values of samples with kernel rows ``K_rows (m, n)`` are ``K_rows @ A + b``. Classes
        without a sample get ``b = -inf`` (never predicted).
    n_iter
        With ``return_n_iter``: the most SMO iterations of any class.
    """
    from sklearn.svm import SVC

    n = K.shape[0]
    weights = np.ones(n_classes) if positive_weight is None else np.asarray(positive_weight, dtype=float)
    A = np.zeros((n, n_classes))
    b = np.zeros(n_classes)
    present = fold_classes(codes, n_classes)
    diagonal = np.arange(n)
    n_iter = 0
    for k in range(n_classes):
        positive = codes == k
        if not present[k]:
            b[k] = -np.inf
            continue
        if positive.all():
            b[k] = 1.0
            continue
        y = np.where(positive, 1.0, -1.0)
        c = C * np.where(positive, weights[k], 1.0)
        K_tilde = K.copy()
        K_tilde[diagonal, diagonal] += 1.0 / (2.0 * c)
        # no upper bound: every dual solution has alpha_i <= 4 C max(c) sqrt(n)
        box = 10.0 * 4.0 * float(c.max()) * np.sqrt(n) + 1.0
        svc = SVC(kernel="precomputed", C=box, tol=tol, shrinking=True).fit(K_tilde, y)
        A[svc.support_, k] = svc.dual_coef_[0]
        b[k] = float(svc.intercept_[0])
        n_iter = max(n_iter, int(np.max(svc.n_iter_)))
    return (A, b, n_iter) if return_n_iter else (A, b)


def feature_gram_eigen(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of ``X^T X`` (the primal solver's preconditioner)."""
    values, vectors = np.linalg.eigh(X.T @ X)
    return np.maximum(values, 0.0), vectors


def _hessian_product(X: np.ndarray, D: np.ndarray, ridge: np.ndarray, VW: np.ndarray,
                     vb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Hessian of the primal objective times ``[VW; vb]``, every class at once."""
    U = D * (X @ VW + vb)
    return VW + X.T @ U, U.sum(axis=0) + ridge * vb


def _precondition(inverse: tuple[np.ndarray, np.ndarray, np.ndarray] | None, vW: np.ndarray,
                  vb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``(I + m X^T X)^-1`` given as (eigenvectors, per-class eigenvalue factors, bias factors)."""
    if inverse is None:
        return vW, vb
    vectors, factors, bias = inverse
    return vectors @ (factors * (vectors.T @ vW)), bias * vb


def ovr_squared_hinge_primal(
    X: np.ndarray,
    codes: np.ndarray,
    n_classes: int,
    C: float,
    *,
    positive_weight: np.ndarray | None = None,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    tol: float = 1e-3,
    max_iter: int = 100,
    max_cg: int = 200,
    eigen: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One-vs-rest squared-hinge SVMs in the primal (Newton-CG, all classes at once).

    Minimises the same objective as :func:`ovr_squared_hinge_dual` (unpenalised intercept) over
    ``w`` in the feature space: generalised-Newton steps solved by conjugate gradients with
    Hessian-vector products ``X^T (D (X V))`` batched over the classes, and an exact line search
    on the piecewise-quadratic objective. Suited to ``n_samples >= n_features``.

    Parameters
    ----------
    X
        ``(n, d)`` features (standardised).
    codes
        Class index per sample.
    init
        ``(W, b)`` to start from (e.g. the solution for the previous ``C`` of a path).
    tol
        Stop when every class's gradient norm is below ``tol`` times its norm at ``w = 0``.
    max_iter, max_cg
        Caps on Newton steps and on conjugate-gradient steps per Newton step.
    eigen
        ``(eigenvalues, eigenvectors)`` of ``X^T X`` (:func:`feature_gram_eigen`): preconditions
        the conjugate gradients with ``I + m X^T X`` (``m``: the average sample weight), which
        cuts their steps several-fold for large ``C``. Without it, plain conjugate gradients.

    Returns
    -------
    W, b, n_iter
        ``(d, n_classes)`` weights, ``(n_classes,)`` intercepts (``-inf`` for classes without a
        sample) and the Newton steps taken.
    """
    d = X.shape[1]
    weights = np.ones(n_classes) if positive_weight is None else np.asarray(positive_weight, dtype=float)
    Y = np.where(codes[:, None] == np.arange(n_classes)[None, :], 1.0, -1.0)
    cost = C * np.where(Y > 0, weights[None, :], 1.0)
    W = np.zeros((d, n_classes)) if init is None else np.array(init[0], dtype=np.float64)
    b = np.zeros(n_classes) if init is None else np.array(init[1], dtype=np.float64)
    b = np.where(np.isfinite(b), b, 0.0)
    R0 = -2.0 * cost * Y  # gradient w.r.t. the decision values at w = 0
    g0 = np.sqrt(np.einsum("ij,ij->j", *(2 * [X.T @ R0])) + R0.sum(axis=0) ** 2)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        M = Y * (X @ W + b)
        slack = np.maximum(0.0, 1.0 - M)
        R = -2.0 * cost * slack * Y
        gW = W + X.T @ R
        gb = R.sum(axis=0)
        gnorm = np.sqrt(np.einsum("ij,ij->j", gW, gW) + gb * gb)
        todo = gnorm > tol * g0
        if not todo.any():
            n_iter -= 1
            break
        D = 2.0 * cost * (M < 1.0)
        target = np.minimum(0.1, np.sqrt(gnorm / np.maximum(g0, 1e-300))) * gnorm
        dW, db = _newton_direction(X, D, gW * todo, gb * todo, todo, target, eigen=eigen, max_cg=max_cg)
        t = _line_search(X, Y, cost, W, b, M, dW, db)
        W += t * dW
        b += t * db
    b = np.where(np.bincount(codes, minlength=n_classes) > 0, b, -np.inf)
    return W, b, n_iter


def _newton_direction(X: np.ndarray, D: np.ndarray, gW: np.ndarray, gb: np.ndarray, todo: np.ndarray,
                      target: np.ndarray, *, eigen: tuple[np.ndarray, np.ndarray] | None,
                      max_cg: int) -> tuple[np.ndarray, np.ndarray]:
    """Preconditioned conjugate gradients for ``H [dW, db] = -[gW, gb]``, one system per class (those in
    ``todo``), each stopped once its residual is below ``target``; preconditioner: the Hessian with the
    average weight on every sample, ``I + m X^T X`` (from ``eigen``; plain CG without it)."""
    ridge = 1e-10 * np.maximum(D.sum(axis=0), 1.0)
    if eigen is not None:
        inverse = (eigen[1], 1.0 / (1.0 + np.outer(eigen[0], D.mean(axis=0))), 1.0 / (D.sum(axis=0) + ridge))
    else:
        inverse = None
    dW, db = np.zeros_like(gW), np.zeros_like(gb)
    rW, rb = -gW, -gb
    zW, zb = _precondition(inverse, rW, rb)
    pW, pb = zW.copy(), zb.copy()
    rz = np.einsum("ij,ij->j", rW, zW) + rb * zb
    running = todo.copy()
    for _ in range(max_cg):
        HW, Hb = _hessian_product(X, D, ridge, pW, pb)
        curvature = np.einsum("ij,ij->j", pW, HW) + pb * Hb
        alpha = np.where(running & (curvature > 0), rz / np.where(curvature > 0, curvature, 1.0), 0.0)
        dW += alpha * pW
        db += alpha * pb
        rW -= alpha * HW
        rb -= alpha * Hb
        rnorm = np.sqrt(np.einsum("ij,ij->j", rW, rW) + rb * rb)
        running &= (rnorm > target) & (curvature > 0)
        if not running.any():
            break
        zW, zb = _precondition(inverse, rW, rb)
        rz_new = np.einsum("ij,ij->j", rW, zW) + rb * zb
        beta = np.where(running, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
        pW = zW + beta * pW
        pb = zb + beta * pb
        rz = rz_new
    return dW, db


def _line_search(X: np.ndarray, Y: np.ndarray, cost: np.ndarray, W: np.ndarray, b: np.ndarray, M: np.ndarray,
                 dW: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Step length per class along ``[dW, db]``: exact minimisation of the convex piecewise-quadratic
    objective (1-D Newton steps), then halved where it would still increase the objective."""

    def objective(W: np.ndarray, margins: np.ndarray) -> np.ndarray:
        slack = np.maximum(0.0, 1.0 - margins)
        return 0.5 * np.einsum("ij,ij->j", W, W) + np.einsum("ij,ij->j", cost, slack * slack)

    YFd = Y * (X @ dW + db)
    dd = np.einsum("ij,ij->j", dW, dW)
    wd = np.einsum("ij,ij->j", W, dW)
    t = np.ones(W.shape[1])
    for _ in range(30):
        Mt = M + t * YFd
        active = Mt < 1.0
        slope = t * dd + wd - 2.0 * np.einsum("ij,ij->j", cost * np.where(active, 1.0 - Mt, 0.0), YFd)
        curve = dd + 2.0 * np.einsum("ij,ij->j", cost * active, YFd * YFd)
        step = slope / np.where(curve > 0, curve, 1.0)
        t = np.maximum(t - step, 0.0)
        if np.all(np.abs(step) <= 1e-10 * np.maximum(t, 1.0)):
            break
    before = objective(W, M)
    for _ in range(30):  # safeguard: never increase the objective
        worse = objective(W + t * dW, M + t * YFd) > before + 1e-12 * np.abs(before)
        if not worse.any():
            break
        t = np.where(worse, t / 2.0, t)
    return t


class LinearSVMCV(LinearGridClassifier):
    """Standardisation + one-vs-rest linear SVM (squared hinge, L2), ``C`` by inner CV.

    Minimises ``1/2 |w|^2 + C sum_i max(0, 1 - y_i (w.x_i + b))^2`` per class with an
    unpenalised intercept ``b``, exactly (to ``tol``) for every ``C`` of the grid.

    Parameters
    ----------
    C
        The regularisation constant when ``C_grid`` is ``None``.
    C_grid
        Values of ``C`` to choose from (``"auto"``: :data:`DEFAULT_C_GRID`); chosen by the mean
        inner-CV score on the training data only, ties going to the smallest ``C``.
    inner_splits
        Inner folds; split by subject when ``fit(..., groups=...)`` gives every sample one.
    scoring
        ``"uar"`` (default), ``"accuracy"`` or ``"macro_f1"``.
    class_weight
        ``None``, ``"balanced"`` or ``{class: weight}`` (multiplies ``C`` for each one-vs-rest
        problem's positive samples, as liblinear does).
    search_samples
        Search on a class-stratified subset of at most this many training samples (all if
        ``None``); the final model is fitted on all of them.
    solver
        ``"dual"``: LIBSVM on the linear kernel (:func:`ovr_squared_hinge_dual`; fast for up to
        a few thousand samples, or when samples are fewer than features), ``"primal"``:
        Newton-CG in the feature space (:func:`ovr_squared_hinge_primal`, warm-started along the
        ``C`` grid; for many samples), ``"auto"``: the dual for at most 2,000 samples, or fewer
        samples than features up to ``kernel_max_samples``; else the primal (decided for the
        inner training parts and for the final fit separately). On CK+48 PHOG (880 x 680) the
        dual is ~7x faster than the primal; on 2,400 FER2013 HOG vectors (900-d), far from
        separable, the primal is ~5x faster at large ``C``.
    kernel_max_samples
        Largest training set solved on its ``(n, n)`` kernel by ``"auto"``.
    precondition_max_features
        The primal solver preconditions with the eigen-decomposition of ``X^T X`` up to this
        many features.
    tol
        Stopping tolerance: LIBSVM's KKT gap for the dual, the gradient norm relative to its value
        at ``w = 0`` for the primal. ``None``: 1e-3 for the dual, 1e-4 for the primal in the
        search (it only has to rank the values) and 1e-5 for the final primal fit.
    max_iter
        Cap on the primal solver's Newton steps (large ``C`` on data that are not separable can
        need many).
    random_state
        Seed of the inner folds and the search subset.

    Attributes
    ----------
    classes_, coef_, intercept_
        Classes and the linear map on the raw features: ``X @ coef_.T + intercept_``.
    best_params_
        ``{"C": chosen value}``.
    cv_results_
        ``{"C": grid, "mean_score": [...], "fold_scores": [[...], ...]}``.
    inner_cv_
        How the value was chosen (``"5-fold by subject"``...).
    solver_
        The solver of the final fit.
    """

    _param_name = "C"

    def __init__(
        self,
        C: float = 1.0,
        C_grid: Sequence[float] | str | None = None,
        *,
        inner_splits: int = 5,
        scoring: str = "uar",
        class_weight: str | Mapping[Any, float] | None = None,
        search_samples: int | None = None,
        solver: str = "auto",
        kernel_max_samples: int = 5000,
        precondition_max_features: int = 2048,
        tol: float | None = None,
        max_iter: int = 100,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.C_grid = C_grid
        self.inner_splits = inner_splits
        self.scoring = scoring
        self.class_weight = class_weight
        self.search_samples = search_samples
        self.solver = solver
        self.kernel_max_samples = kernel_max_samples
        self.precondition_max_features = precondition_max_features
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def _grid(self, n_train: int, n_features: int) -> list[float]:
        auto = isinstance(self.C_grid, str) and self.C_grid == "auto"
        values = [self.C] if self.C_grid is None else DEFAULT_C_GRID if auto else self.C_grid
        values = list(values) if isinstance(values, list | tuple | np.ndarray) else None
        if not values or not all(is_number(v) and v > 0 for v in values):
            if self.C_grid is None:
                raise ValueError(f"C must be a positive number, got {self.C!r}")
            raise ValueError(f"C_grid must be a non-empty list of positive numbers or 'auto', got {self.C_grid!r}")
        if self.solver not in ("auto", "dual", "primal"):
            raise ValueError(f"solver must be 'auto', 'dual' or 'primal', got {self.solver!r}")
        return sorted(float(v) for v in values)

    def _dual(self, n_samples: int, n_features: int) -> bool:
        if self.solver != "auto":
            return self.solver == "dual"
        small = n_samples <= min(self.kernel_max_samples, _DUAL_ALWAYS_BELOW)
        return small or (n_samples < n_features and n_samples <= self.kernel_max_samples)

    def _tol(self, dual: bool, search: bool) -> float:
        if self.tol is not None:
            return float(self.tol)
        return 1e-3 if dual else (1e-4 if search else 1e-5)

    def _uses_kernel(self, n_rows: int, n_inner: int, n_features: int) -> bool:
        return self._dual(n_inner, n_features)

    def _eigen(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        # preconditioning pays when X^T X is cheap next to the many Hessian products it saves
        return feature_gram_eigen(X) if X.shape[1] <= self.precondition_max_features else None

    def _search_scores(self, Xs: np.ndarray, codes: np.ndarray, n_classes: int,
                       folds: list[tuple[np.ndarray, np.ndarray]], grid: list[Any],
                       K: np.ndarray | None) -> np.ndarray:
        scores = np.full((len(grid), len(folds)), np.nan)
        for j, (train, val) in enumerate(folds):
            weights = _positive_weights(self.class_weight, codes[train], self.classes_)
            if K is not None:
                K_train = K[np.ix_(train, train)]
                K_val = K[np.ix_(val, train)]
                for i, C in enumerate(grid):
                    A, b = ovr_squared_hinge_dual(K_train, codes[train], n_classes, C,
                                                  positive_weight=weights, tol=self._tol(True, True))
                    scores[i, j] = self._score(codes[val], K_val @ A + b)
            else:
                X_train, X_val = Xs[train], Xs[val]
                eigen = self._eigen(X_train)
                init = None
                for i, C in enumerate(grid):  # ascending C: warm start from the previous solution
                    W, b, _ = ovr_squared_hinge_primal(X_train, codes[train], n_classes, C, positive_weight=weights,
                                                       init=init, tol=self._tol(False, True), max_iter=self.max_iter,
                                                       eigen=eigen)
                    init = (W, b)
                    scores[i, j] = self._score(codes[val], X_val @ W + b)
        return scores

    def _refit(self, Xs: np.ndarray, codes: np.ndarray, n_classes: int, value: Any,
               K: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        weights = _positive_weights(self.class_weight, codes, self.classes_)
        if self._dual(*Xs.shape):
            K = Xs @ Xs.T if K is None else K
            A, b, self.n_iter_ = ovr_squared_hinge_dual(K, codes, n_classes, value, positive_weight=weights,
                                                        tol=self._tol(True, False), return_n_iter=True)
            self.solver_ = "dual"
            return A.T @ Xs, b
        W, b, self.n_iter_ = ovr_squared_hinge_primal(Xs, codes, n_classes, value, positive_weight=weights,
                                                      tol=self._tol(False, False), max_iter=self.max_iter,
                                                      eigen=self._eigen(Xs))
        if self.n_iter_ >= self.max_iter:
            import warnings

            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(f"linear SVM: the primal solver stopped after max_iter={self.max_iter} Newton steps"
                          f" (C={value:g})", ConvergenceWarning, stacklevel=3)
        self.solver_ = "primal"
        return W.T, b
