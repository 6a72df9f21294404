"""PLSClassifier: equal to scikit-learn's PLSRegression on one-hot targets, components by inner CV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression

from affectlab.classify import PLSClassifier, create_classifier, pls2
from affectlab.errors import ConfigError


def _data(n, d, n_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d) + 1.0
    y = rng.choice([f"k{i}" for i in range(n_classes)], n)
    return X, y


@pytest.mark.parametrize(("n", "d"), [(80, 10), (30, 120)])  # more samples than features, and fewer
@pytest.mark.parametrize("k", [1, 3, 6])
def test_matches_sklearn_pls_regression_on_one_hot(n, d, k):
    X, y = _data(n, d)
    Y = (y[:, None] == np.unique(y)[None, :]).astype(float)
    reference = PLSRegression(n_components=k, scale=True, tol=1e-14, max_iter=100000).fit(X, Y)
    clf = PLSClassifier(n_components=k).fit(X, y)
    X_new = np.random.default_rng(1).normal(size=(7, d))
    np.testing.assert_allclose(clf.decision_function(X_new), reference.predict(X_new), atol=1e-6)
    np.testing.assert_allclose(clf.decision_function(X), reference.predict(X), atol=1e-6)


def test_a_model_is_the_prefix_of_a_larger_one():
    X, y = _data(60, 15)
    Xc = X - X.mean(axis=0)
    Y = (y[:, None] == np.unique(y)[None, :]).astype(float)
    Yc = Y - Y.mean(axis=0)
    big = pls2(Xc, Yc, 8)
    for k in (1, 4, 8):
        np.testing.assert_allclose(big.coef(k), pls2(Xc, Yc, k).coef(), atol=1e-10)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_separable_toy_problem(n_classes):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(n_classes), 15)
    X = rng.normal(scale=0.3, size=(y.size, 5))
    X[:, 0] += 4 * y
    X[:, 1] -= 3 * (y == 0)
    labels = np.array(["neg", "pos", "mid"])[y]
    clf = create_classifier("pls", n_components_grid=[1, 2, 3]).fit(X, labels)
    scores = clf.decision_function(X)
    assert scores.shape == (y.size, n_classes)
    assert np.mean(clf.predict(X) == labels) == 1.0
    np.testing.assert_array_equal(clf.classes_[scores.argmax(axis=1)], clf.predict(X))
    assert clf.best_params_["n_components"] in (1, 2, 3)


def test_components_grid_is_capped_at_the_rank():
    X, y = _data(25, 4, n_classes=2)
    clf = PLSClassifier(n_components_grid=[1, 2, 8, 50]).fit(X, y)
    assert clf.grid_ == [1, 2]  # 4 features
    assert PLSClassifier(n_components=40).fit(X, y).n_components_ <= 4


def test_search_on_training_data_grouped_by_subject(monkeypatch):
    X, y = _data(90, 30, n_classes=3)
    groups = np.array([f"S{i % 9}" for i in range(90)])
    captured = []
    original = PLSClassifier._search_scores

    def spy(self, Xs, codes, n_classes, folds, grid, K):
        captured.append((Xs.shape[0], folds))
        return original(self, Xs, codes, n_classes, folds, grid, K)

    monkeypatch.setattr(PLSClassifier, "_search_scores", spy)
    clf = PLSClassifier(n_components_grid="auto").fit(X[:72], y[:72], groups=groups[:72])
    ((n_rows, folds),) = captured
    assert n_rows == 72 and clf.inner_cv_ == "5-fold by subject"
    assert all(not set(groups[:72][tr]) & set(groups[:72][va]) for tr, va in folds)
    assert clf.best_params_["n_components"] in clf.grid_


def test_bad_grids():
    with pytest.raises(ConfigError, match="n_components_grid must be a non-empty list of positive integers"):
        create_classifier("pls", n_components_grid=[0, 2])
    with pytest.raises(ConfigError, match="n_components must be a positive integer"):
        create_classifier("pls", n_components=1.5)
