"""A registry of classifiers: factories returning scikit-learn estimators.

Every registered classifier exposes ``decision_function`` of shape ``(n_samples, n_classes)``,
also for two classes, so fusion code can treat all of them alike.

Examples
--------
>>> import numpy as np
>>> from affectlab.classify import create_classifier
>>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2))] + np.arange(10)[:, None] * 0.01
>>> clf = create_classifier("linear_svm", C=1.0).fit(X, [0] * 5 + [1] * 5)
>>> clf.decision_function(X).shape
(10, 2)
>>> {'linear_svm', 'logistic_regression', 'pls', 'rbf_svm', 'rbf_svr'} <= set(list_classifiers())
True
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from affectlab.checks import is_integer, is_number
from affectlab.classify.pls import PLSClassifier
from affectlab.classify.search import InnerCVSearch
from affectlab.classify.svm import LinearSVMCV
from affectlab.classify.svr import kbest_linear_svm as _kbest
from affectlab.classify.svr import rbf_svm as _rbf_svm
from affectlab.classify.svr import rbf_svr as _rbf_svr
from affectlab.errors import ConfigError
from affectlab.features.registry import check_params

__all__ = [
    "register_classifier",
    "create_classifier",
    "list_classifiers",
    "OvRLinearSVC",
    "MultinomialLogisticRegression",
]

T = TypeVar("T", bound=Callable[..., Any])
_REGISTRY: dict[str, Callable[..., Any]] = {}


class _DecisionMatrixMixin:
    """Return ``(n_samples, 2)`` decision values ``[-d, d]`` for binary problems."""

    def decision_function(self, X: Any) -> np.ndarray:
        scores = super().decision_function(X)  # type: ignore[misc]
        return np.column_stack([-scores, scores]) if np.ndim(scores) == 1 else scores


class OvRLinearSVC(_DecisionMatrixMixin, LinearSVC):
    """:class:`sklearn.svm.LinearSVC` with a ``(n_samples, n_classes)`` decision function."""


class MultinomialLogisticRegression(_DecisionMatrixMixin, LogisticRegression):
    """:class:`sklearn.linear_model.LogisticRegression` with a 2-D decision function."""


def register_classifier(name: str) -> Callable[[T], T]:
    """Decorator adding a classifier factory under ``name``."""

    def decorate(factory: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"classifier {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return decorate


def list_classifiers(pattern: str | None = None) -> list[str]:
    """Sorted names of the registered classifiers, optionally filtered by a glob ``pattern``."""
    return [n for n in sorted(_REGISTRY) if pattern is None or fnmatch.fnmatch(n, pattern)]


def create_classifier(name: str, **params: Any) -> Any:
    """A new, unfitted classifier ``name`` with ``params``.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the known ones) or parameter.
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown classifier {name!r} (known: {', '.join(list_classifiers())})")
    factory = _REGISTRY[name]
    check_params("classifier", name, factory, params)
    try:
        return factory(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"classifier {name!r}: {exc}") from None


def _check_grid(grid: Any, key: str, what: str, valid: Callable[[Any], bool]) -> None:
    if isinstance(grid, str) and grid == "auto":
        return
    values = list(grid) if isinstance(grid, list | tuple | np.ndarray) else None
    if not values or not all(valid(v) for v in values):
        raise ValueError(f"{key} must be a non-empty list of {what} or 'auto', got {grid!r}")


def _check_inner_splits(n: Any) -> None:
    """A grid search needs at least 2 inner folds (refused here, not half-way through a run)."""
    if not is_integer(n) or n < 2:
        raise ValueError(f"inner_splits must be an integer >= 2, got {n!r}")


def _with_search(pipeline: Pipeline, key: str, grid: Sequence[float] | None, **search: Any) -> Any:
    if grid is None:
        return pipeline
    _check_inner_splits(search.get("n_splits"))
    values = list(grid) if isinstance(grid, list | tuple | np.ndarray) else None
    if not values or not all(is_number(v) and v > 0 for v in values):
        raise ValueError(f"C_grid must be a non-empty list of positive numbers, got {grid!r}")
    return InnerCVSearch(pipeline, {key: values}, **search)


@register_classifier("linear_svm")
def linear_svm(
    C: float = 1.0,
    C_grid: Sequence[float] | str | None = None,
    inner_splits: int = 5,
    scoring: str = "uar",
    class_weight: str | dict[Any, float] | None = None,
    dual: bool | str = "auto",
    max_iter: int | None = None,
    search_samples: int | None = None,
    solver: str = "auto",
    kernel_max_samples: int = 5000,
    tol: float | None = None,
    random_state: int = 0,
) -> Any:
    """Standardisation + linear SVM (squared hinge, L2, one-vs-rest).

    Without ``C_grid``: a :class:`~sklearn.pipeline.Pipeline` of :class:`StandardScaler` and
    liblinear (:class:`OvRLinearSVC`) with the fixed ``C``; ``dual`` picks liblinear's solver
    (``"auto"`` as in scikit-learn; on CK+48 the primal (``False``) is ~4x faster for raw
    pixels at small ``C``, the dual ~20x faster for HOG at ``C=1``).

    With ``C_grid`` (a list, or ``"auto"`` for ``2^-10, 2^-8, ..., 2^10``): a
    :class:`~affectlab.classify.LinearSVMCV` choosing ``C`` by ``inner_splits``-fold CV on the
    training data only (by subject when the subjects are passed to ``fit(..., groups=...)``),
    every value solved exactly, in the dual on the linear kernel or in the primal depending on
    the shape (``search_samples``, ``solver``, ``kernel_max_samples``, ``tol`` and
    ``max_iter`` apply; ``dual`` does not). ``max_iter`` defaults to 10,000 liblinear
    iterations, or 100 Newton steps of the primal solver.
    """
    if C_grid is not None:
        _check_grid(C_grid, "C_grid", "positive numbers", lambda v: is_number(v) and v > 0)
        _check_inner_splits(inner_splits)
        return LinearSVMCV(C=C, C_grid=C_grid, inner_splits=inner_splits, scoring=scoring,
                           class_weight=class_weight, search_samples=search_samples, solver=solver,
                           kernel_max_samples=kernel_max_samples, tol=tol,
                           max_iter=100 if max_iter is None else max_iter, random_state=random_state)
    return Pipeline([
        ("scale", StandardScaler()),
        ("svm", OvRLinearSVC(C=C, loss="squared_hinge", multi_class="ovr", dual=dual, class_weight=class_weight,
                             tol=1e-4 if tol is None else tol, max_iter=10000 if max_iter is None else max_iter,
                             random_state=random_state)),
    ])


@register_classifier("pls")
def pls(
    n_components: int = 8,
    n_components_grid: Sequence[int] | str | None = None,
    inner_splits: int = 5,
    scoring: str = "uar",
    scale: bool = True,
    search_samples: int | None = None,
    random_state: int = 0,
) -> PLSClassifier:
    """PLS regression on one-hot targets as a one-vs-rest classifier (:class:`PLSClassifier`).

    ``n_components_grid`` (a list, or ``"auto"`` for ``1, 2, 4, ..., 48`` capped at the rank)
    chooses the number of components by inner CV on the training data, like ``C_grid``.
    """
    if n_components_grid is not None:
        _check_grid(n_components_grid, "n_components_grid", "positive integers",
                    lambda v: is_integer(v) and v > 0)
        _check_inner_splits(inner_splits)
    if not is_integer(n_components) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    return PLSClassifier(n_components=n_components, n_components_grid=n_components_grid, inner_splits=inner_splits,
                         scoring=scoring, scale=scale, search_samples=search_samples, random_state=random_state)


@register_classifier("logistic_regression")
def logistic_regression(
    C: float = 1.0,
    C_grid: Sequence[float] | None = None,
    inner_splits: int = 3,
    scoring: str = "uar",
    class_weight: str | dict[Any, float] | None = None,
    max_iter: int = 2000,
    random_state: int = 0,
) -> Any:
    """Standardisation + L2 multinomial logistic regression (``C_grid`` as for ``linear_svm``)."""
    pipeline = Pipeline([
        ("scale", StandardScaler()),
        ("lr", MultinomialLogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter,
                                             random_state=random_state)),
    ])
    return _with_search(pipeline, "lr__C", C_grid, n_splits=inner_splits, scoring=scoring,
                        random_state=random_state)


# RBF SVM and linear SVM on the k best features (categories), min-max RBF SVR (dimensions): affectlab.classify.svr.
register_classifier("rbf_svm")(_rbf_svm)
register_classifier("rbf_svr")(_rbf_svr)
register_classifier("select_k_linear_svm")(_kbest)
