"""scikit-learn's estimator checks on LinearSVMCV and PLSClassifier.

The one deliberate deviation: for two classes ``decision_function`` returns ``(n, 2)`` (one
column per class, for decision-level fusion) instead of scikit-learn's ``(n,)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_estimator

from affectlab.classify import LinearSVMCV, PLSClassifier, create_classifier
from affectlab.classify.fusion import (
    FusionNetworkCV,
)
from tests.classify.toy_data import RNG, SUBJECTS, D, X, Y

BINARY_DECISION_SHAPE = {"check_classifiers_classes", "check_classifiers_train"}


@pytest.mark.parametrize(
    "estimator",
    [LinearSVMCV(C_grid=[0.1, 1.0]), LinearSVMCV(solver="primal"), PLSClassifier(n_components=2),
     PLSClassifier(n_components_grid=[1, 2])],
    ids=["svm-grid", "svm-primal", "pls", "pls-grid"],
)
def test_sklearn_estimator_checks(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert failed <= BINARY_DECISION_SHAPE, failed
    assert len(results) > 40



CLASSIFIERS = {
    "rbf_svm": lambda: create_classifier("rbf_svm", C_grid=[0.5, 2.0]),
    "select_k_linear_svm": lambda: create_classifier("select_k_linear_svm", k_grid=[2, 4], C_grid=[0.01, 1.0]),
    "logistic_regression_grid": lambda: create_classifier("logistic_regression", C_grid=[0.1, 1.0]),
    "linear_svm_grid": lambda: create_classifier("linear_svm", C_grid=[0.1, 1.0]),
    "pls_grid": lambda: create_classifier("pls", n_components_grid=[1, 2]),
}


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_predict_before_fit_is_not_fitted_error(name):
    clf = CLASSIFIERS[name]()
    for method in ("predict", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(clf, method)(X)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_continuous_and_single_class_targets_are_refused(name):
    with pytest.raises(ValueError, match="Unknown label type"):
        CLASSIFIERS[name]().fit(X, RNG.normal(size=60))
    with pytest.raises(ValueError, match="at least 2 classes|greater than one"):
        CLASSIFIERS[name]().fit(X[:20], Y[:20])


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_groups_of_the_wrong_length_are_refused(name):
    with pytest.raises(ValueError, match="groups has 3 entries for 60 samples"):
        CLASSIFIERS[name]().fit(X, Y, groups=SUBJECTS[:3])


def test_groups_of_the_wrong_length_are_refused_by_fusion_and_svr():
    with pytest.raises(ValueError, match="groups has 2 entries for 60 samples"):
        FusionNetworkCV(lams=[0.01, 1.0]).fit(D, Y, groups=SUBJECTS[:2])
    with pytest.raises(ValueError, match="groups has 2 entries for 60 samples"):
        create_classifier("rbf_svr", C_grid=[0.5, 2.0]).fit(X, X[:, 0], groups=SUBJECTS[:2])


def test_groups_still_split_the_inner_folds_by_subject():
    svm = LinearSVMCV(C_grid=[0.1, 1.0]).fit(X, Y, groups=list(SUBJECTS))
    assert svm.inner_cv_ == "5-fold by subject"
    assert FusionNetworkCV(lams=[0.01, 1.0]).fit(D, Y, groups=SUBJECTS).lam_ in (0.01, 1.0)


def test_bad_single_values_are_named_not_the_grid():
    with pytest.raises(ValueError, match="^C must be a positive number, got 0"):
        LinearSVMCV(C=0).fit(X, Y)
    with pytest.raises(ValueError, match="^n_components must be a positive integer, got 0"):
        PLSClassifier(n_components=0).fit(X, Y)


def test_numpy_array_grids_work():
    assert LinearSVMCV(C_grid=np.array([0.1, 1.0])).fit(X, Y).best_params_["C"] in (0.1, 1.0)
    assert PLSClassifier(n_components_grid=np.array([1, 2])).fit(X, Y).best_params_["n_components"] in (1, 2)
    assert create_classifier("linear_svm", C_grid=np.array([0.1, 1.0])).fit(X, Y).best_params_["C"] in (0.1, 1.0)
    assert create_classifier("rbf_svm", C_grid=np.array([0.5, 2.0])).fit(X, Y).best_params_["C"] in (0.5, 2.0)
    # GridSearchCV hands grid values over as numpy scalars
    search = GridSearchCV(LinearSVMCV(), {"C": np.array([0.1, 1.0])}, cv=3).fit(X, Y)
    assert search.best_params_["C"] in (0.1, 1.0)


@pytest.mark.parametrize("name", ["rbf_svm", "rbf_svr"])
def test_bad_gamma_is_named(name):
    target = Y if name == "rbf_svm" else X[:, 0]
    with pytest.raises(ValueError, match="gamma must be 'scale' or a positive number, got 'auto'"):
        create_classifier(name, gamma="auto").fit(X, target)
    assert create_classifier(name, gamma=0.5).fit(X, target).predict(X[:2]).shape == (2,)


def test_logistic_regression_with_a_grid_gives_probabilities():
    lr = create_classifier("logistic_regression", C_grid=[0.1, 1.0]).fit(X, Y, groups=SUBJECTS)
    proba = lr.predict_proba(X[:4])
    assert proba.shape == (4, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert not hasattr(create_classifier("linear_svm", C=1.0), "predict_proba")  # LinearSVC has none
