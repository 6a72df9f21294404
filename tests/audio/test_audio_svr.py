from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_selection import f_classif
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC, SVR

from affectlab.classify import create_classifier
from affectlab.classify.svr import (
    RBFSVMCV,
    KBestLinearSVM,
    MinMaxRBFSVR,
    f_scores,
    gamma_scale,
    regression_folds,
)


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6))
    Y = np.c_[np.sin(X[:, 0]) + 0.1 * rng.normal(size=80), X[:, 1] ** 2]
    groups = np.repeat([f"s{i}" for i in range(8)], 10)
    return X, Y, groups


def test_svr_without_grid_equals_sklearn_pipeline(regression_data):
    X, Y, _ = regression_data
    ours = MinMaxRBFSVR(C=2.0, epsilon=0.05).fit(X[:60], Y[:60, 0])
    ref = make_pipeline(MinMaxScaler(), SVR(C=2.0, epsilon=0.05, gamma="scale")).fit(X[:60], Y[:60, 0])
    assert np.allclose(ours.predict(X[60:]), ref.predict(X[60:]), atol=1e-6)
    assert ours.gamma_ == pytest.approx(gamma_scale(MinMaxScaler().fit_transform(X[:60])))


def test_svr_grid_per_target_by_speaker(regression_data):
    X, Y, groups = regression_data
    model = create_classifier("rbf_svr", C_grid=[0.01, 1.0, 100.0], inner_splits=10).fit(X, Y, groups=groups)
    assert model.inner_cv_ == "leave-one-speaker-out (8 folds)"
    assert model.cv_scores_.shape == (3, 2)
    assert len(model.best_params_["C"]) == 2
    assert model.cv_scores_[0, 0] < model.cv_scores_.max(axis=0)[0]  # C=0.01 underfits
    assert model.predict(X).shape == (80, 2)
    single = MinMaxRBFSVR(C_grid="auto").fit(X, Y[:, 0], groups=groups)
    assert single.predict(X).shape == (80,) and isinstance(single.best_params_["C"], float)


def test_regression_folds_without_groups():
    folds, how = regression_folds(10, None, 5)
    assert how == "5-fold shuffled" and sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(10))


def test_rbf_svm_matches_sklearn_for_fixed_C():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 5))
    y = np.where(X[:, 0] ** 2 + X[:, 1] ** 2 > 1.5, "far", "near")
    ours = RBFSVMCV(C=3.0, class_weight=None).fit(X[:70], y[:70])
    ref = make_pipeline(StandardScaler(), SVC(C=3.0, gamma="scale")).fit(X[:70], y[:70])
    assert (ours.predict(X[70:]) == ref.predict(X[70:])).all()
    assert ours.decision_function(X[70:]).shape == (20, 2)
    searched = create_classifier("rbf_svm", C_grid="auto", inner_splits=3).fit(X, y, groups=np.arange(90) % 6)
    assert searched.best_params_["C"] in (0.5, 2.0, 8.0, 32.0, 128.0)
    assert searched.inner_cv_ == "3-fold by subject"


def test_f_scores_match_sklearn():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 8))
    codes = rng.integers(0, 3, size=60)
    X[:, 2] += codes
    assert np.allclose(f_scores(X, codes, 3), f_classif(X, codes)[0])


def test_kbest_linear_svm_finds_the_informative_features():
    rng = np.random.default_rng(3)
    n = 120
    y = np.repeat(["a", "b", "c"], n // 3)
    X = rng.normal(size=(n, 50))
    X[:, 7] += np.repeat([0.0, 3.0, 6.0], n // 3)
    X[:, 11] -= np.repeat([0.0, 2.5, 5.0], n // 3)
    groups = np.tile(np.arange(6), n // 6)
    model = KBestLinearSVM(k_grid=[2, 10, 50], C_grid=[0.01, 1.0], inner_splits=6).fit(X, y, groups=groups)
    assert set(model.selected_[:2].tolist()) == {7, 11}
    assert model.best_params_["k"] in (2, 10, 50) and model.cv_scores_.shape == (3, 2)
    assert (model.predict(X) == y).mean() > 0.9
    assert model.decision_function(X).shape == (n, 3)
    with pytest.raises(ValueError, match="k_grid"):
        KBestLinearSVM(k_grid=[0]).fit(X, y)
