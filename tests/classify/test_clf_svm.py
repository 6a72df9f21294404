"""LinearSVMCV: exact squared-hinge solutions, the C search on training data only, grouped folds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from affectlab.classify import DEFAULT_C_GRID, LinearSVMCV, create_classifier, inner_folds, search_subsample
from affectlab.classify.svm import ovr_squared_hinge_dual, ovr_squared_hinge_primal
from affectlab.errors import ConfigError
from tests.classify.toy_data import X, Y


def _blobs(n_classes=3, n_per=20, d=6, seed=0, shift=3.0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per)
    X = rng.normal(size=(y.size, d)) * rng.uniform(0.5, 2.0, d) + 1.0
    X[np.arange(y.size), y % d] += shift
    return X, np.array([f"c{v}" for v in y])


def _primal_reference(Xs, target, C, weight=None):
    """Minimise 1/2|w|^2 + C sum c_i max(0, 1 - y_i (w.x_i + b))^2 with L-BFGS (unpenalised b)."""
    c = np.ones(len(target)) if weight is None else weight

    def objective(v):
        w, b = v[:-1], v[-1]
        margin = np.maximum(0.0, 1.0 - target * (Xs @ w + b))
        grad_common = -2.0 * C * c * margin * target
        return 0.5 * w @ w + C * np.sum(c * margin**2), np.r_[w + Xs.T @ grad_common, grad_common.sum()]

    result = minimize(objective, np.zeros(Xs.shape[1] + 1), jac=True, method="L-BFGS-B",
                      options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-16})
    return Xs @ result.x[:-1] + result.x[-1]


@pytest.mark.parametrize("solver", ["dual", "primal"])
@pytest.mark.parametrize("C", [2.0**-6, 1.0, 16.0])
def test_solution_equals_primal_optimum(C, solver):
    X, y = _blobs(shift=1.5)
    clf = LinearSVMCV(C=C, solver=solver, tol=1e-8).fit(X, y)
    assert clf.solver_ == solver
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    for k, label in enumerate(clf.classes_):
        target = np.where(y == label, 1.0, -1.0)
        np.testing.assert_allclose(clf.decision_function(X)[:, k], _primal_reference(Xs, target, C), atol=2e-4)


@pytest.mark.parametrize("solver", ["dual", "primal"])
def test_class_weight_scales_the_positive_samples(solver):
    X, y = _blobs(shift=1.0)
    clf = LinearSVMCV(C=0.5, class_weight={"c1": 3.0}, solver=solver, tol=1e-8).fit(X, y)
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    target = np.where(y == "c1", 1.0, -1.0)
    expected = _primal_reference(Xs, target, 0.5, np.where(y == "c1", 3.0, 1.0))
    np.testing.assert_allclose(clf.decision_function(X)[:, 1], expected, atol=2e-4)


def test_auto_solver_follows_the_shape_and_both_searches_agree():
    X, y = _blobs(n_per=20, d=6)
    assert LinearSVMCV(C=0.1).fit(X, y).solver_ == "dual"  # few samples
    many_X, many_y = _blobs(n_per=700, d=4)
    assert LinearSVMCV(C=0.1).fit(many_X, many_y).solver_ == "primal"  # 2,100 samples > 4 features
    wide = np.hstack([many_X, np.random.default_rng(1).normal(size=(2100, 2200))])
    assert LinearSVMCV(C=0.1, solver="auto")._dual(*wide.shape)  # fewer samples than features
    assert not LinearSVMCV(C=0.1, kernel_max_samples=2050)._dual(*wide.shape)
    assert not LinearSVMCV(C=0.1, kernel_max_samples=50)._dual(*X.shape)
    grid = [0.001, 0.01, 0.1, 1.0]
    dual = LinearSVMCV(C_grid=grid, solver="dual", tol=1e-6).fit(X, y)
    primal = LinearSVMCV(C_grid=grid, solver="primal", tol=1e-6).fit(X, y)  # warm-started path
    np.testing.assert_allclose(dual.cv_results_["fold_scores"], primal.cv_results_["fold_scores"])
    np.testing.assert_allclose(dual.decision_function(X), primal.decision_function(X), atol=1e-3)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_decision_shape_and_predict_is_argmax(n_classes):
    X, y = _blobs(n_classes, shift=5.0)
    clf = create_classifier("linear_svm", C_grid=[0.01, 1.0]).fit(X, y)
    scores = clf.decision_function(X)
    assert scores.shape == (len(y), n_classes)
    np.testing.assert_array_equal(clf.classes_[scores.argmax(axis=1)], clf.predict(X))
    assert np.mean(clf.predict(X) == y) > 0.9
    assert clf.coef_.shape == (n_classes, X.shape[1]) and clf.intercept_.shape == (n_classes,)


def test_c_is_chosen_from_the_grid_on_training_data_only(monkeypatch):
    X, y = _blobs(n_per=30)
    groups = np.tile(np.arange(10), 9)
    train, test = groups < 8, groups >= 8
    X_test_marked = X.copy()
    X_test_marked[test] += 1000.0  # a test row reaching the search would stand out
    seen = []
    original = LinearSVMCV._search_scores

    def spy(self, Xs, codes, n_classes, folds, grid, K):
        seen.append((Xs.shape[0], [tuple(f[1]) for f in folds], list(grid)))
        return original(self, Xs, codes, n_classes, folds, grid, K)

    monkeypatch.setattr(LinearSVMCV, "_search_scores", spy)
    clf = LinearSVMCV(C_grid="auto").fit(X_test_marked[train], y[train], groups=groups[train])
    ((n_rows, val_folds, grid),) = seen
    assert n_rows == train.sum()  # only training rows were searched on
    assert sorted(np.concatenate([np.array(v) for v in val_folds]).tolist()) == list(range(train.sum()))
    assert grid == sorted(DEFAULT_C_GRID) and clf.best_params_["C"] in DEFAULT_C_GRID
    assert len(clf.cv_results_["mean_score"]) == 11 and np.array(clf.cv_results_["fold_scores"]).shape == (11, 5)
    assert clf.inner_cv_ == "5-fold by subject"


def test_inner_folds_never_split_a_subject():
    _, y = _blobs(n_per=40)
    groups = np.array([f"S{i % 13:02d}" for i in range(len(y))])
    folds, how = inner_folds(y, groups, n_splits=5, random_state=3)
    assert how == "5-fold by subject" and len(folds) == 5
    for train, val in folds:
        assert not set(groups[train]) & set(groups[val])
        assert len(train) + len(val) == len(y)
    folds, how = inner_folds(y, groups[:1].repeat(len(y)), n_splits=5)  # one subject: stratified instead
    assert how == "5-fold stratified"
    folds, how = inner_folds(y, None)
    assert how == "5-fold stratified"


def test_search_uses_grouped_folds(monkeypatch):
    X, y = _blobs(n_per=30)
    groups = np.array([f"S{i % 9}" for i in range(len(y))])
    captured = []
    original = LinearSVMCV._search_scores

    def spy(self, Xs, codes, n_classes, folds, grid, K):
        captured.extend(folds)
        return original(self, Xs, codes, n_classes, folds, grid, K)

    monkeypatch.setattr(LinearSVMCV, "_search_scores", spy)
    LinearSVMCV(C_grid=[0.1, 1.0]).fit(X, y, groups=groups)
    assert len(captured) == 5
    assert all(not set(groups[tr]) & set(groups[va]) for tr, va in captured)


def test_validation_split_and_search_subsample():
    X, y = _blobs(n_per=40)
    clf = LinearSVMCV(C_grid=[0.01, 1.0]).fit(X[::2], y[::2], X_val=X[1::2], y_val=y[1::2])
    assert clf.inner_cv_ == "validation split"
    clf = LinearSVMCV(C_grid=[0.01, 1.0], search_samples=60).fit(X, y)
    assert "on 60 of 120 training samples" in clf.inner_cv_
    rows = search_subsample(y, 60, random_state=0)
    assert rows.size == 60 and {k: int(np.sum(y[rows] == k)) for k in np.unique(y)} == {"c0": 20, "c1": 20, "c2": 20}


def test_binary_problem_and_absent_classes():
    X, y = _blobs(n_per=40, shift=4.0)
    two = y != "c2"
    for solver in ("dual", "primal"):
        clf = LinearSVMCV(C=0.1, solver=solver).fit(X[two], y[two])
        assert clf.decision_function(X).shape == (len(y), 2)
        np.testing.assert_allclose(clf.decision_function(X)[:, 0], -clf.decision_function(X)[:, 1], atol=1e-3)
    W, b, _ = ovr_squared_hinge_primal(X[two], np.where(y[two] == "c0", 0, 1), 3, 1.0)
    assert W.shape == (6, 3) and np.isneginf(b[2])


def test_dual_solver_marks_absent_classes():
    K = np.eye(4)
    A, b = ovr_squared_hinge_dual(K, np.array([0, 0, 1, 1]), 3, 1.0)
    assert A.shape == (4, 3) and np.isneginf(b[2])


def test_grid_errors_are_config_errors():
    with pytest.raises(ConfigError, match="C_grid must be a non-empty list of positive numbers"):
        create_classifier("linear_svm", C_grid=[0.1, -1])
    with pytest.raises(ConfigError, match="C_grid must be a non-empty list"):
        create_classifier("linear_svm", C_grid="some")
    assert create_classifier("linear_svm", C_grid="auto").C_grid == "auto"




def test_grid_search_on_one_sample_per_class_says_why():
    with pytest.raises(ValueError, match="one sample per class; give a single value instead of a grid"):
        LinearSVMCV(C_grid=[0.1, 1.0]).fit(X[[0, 25]], Y[[0, 25]])


def test_validation_split_labels_must_match():
    with pytest.raises(ValueError, match=r"y_val must give one label per row of X_val \(10\)"):
        LinearSVMCV(C_grid=[0.1, 1.0]).fit(X[:50], Y[:50], X_val=X[50:], y_val=Y[50:55])
    with pytest.raises(ValueError, match="X has 5 features"):
        LinearSVMCV(C_grid=[0.1, 1.0]).fit(X[:50], Y[:50], X_val=X[50:, :5], y_val=Y[50:])
