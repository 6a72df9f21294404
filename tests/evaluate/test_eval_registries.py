"""Feature and classifier registries: built-ins, shapes, cross-checks, contracts, errors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import hog

from affectlab.classify import InnerCVSearch, LinearSVMCV, create_classifier, list_classifiers
from affectlab.errors import ConfigError
from affectlab.features import create_feature, list_features


def test_builtin_features_listed():
    assert {"pixels", "hog"} <= set(list_features())
    assert list_features("pix*") == ["pixels"]


def test_pixels_scaled_and_flattened():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = create_feature("pixels").fit_transform(images)
    assert out.dtype == np.float32 and out.shape == (1, 4)
    np.testing.assert_allclose(out[0], [0.0, 1.0, 0.2, 0.4], atol=1e-7)


def test_hog_matches_skimage():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 32, 32), dtype=np.uint8)
    out = create_feature("hog", orientations=8, pixels_per_cell=8, cells_per_block=2).fit_transform(images)
    expected = hog(images[1], orientations=8, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")
    assert out.shape == (3, expected.size)
    np.testing.assert_allclose(out[1], expected, rtol=1e-5, atol=1e-6)


def test_feature_bad_input_and_errors():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        create_feature("pixels").transform(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="smaller than one block"):
        create_feature("hog", pixels_per_cell=8).transform(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(ConfigError, match=r"unknown feature 'nosuch' \(known: .*hog.*pixels"):
        create_feature("nosuch")
    with pytest.raises(ConfigError, match="feature 'hog' has no parameter 'cell'.*pixels_per_cell"):
        create_feature("hog", cell=4)


def _blobs(n_classes, n_per=20, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per)
    X = rng.normal(size=(y.size, 6))
    X[np.arange(y.size), y] += 3.0
    return X, y


@pytest.mark.parametrize("name", sorted({"linear_svm", "logistic_regression", "pls"}))
@pytest.mark.parametrize("n_classes", [2, 4])
def test_classifier_contract(name, n_classes):
    assert name in list_classifiers()
    X, y = _blobs(n_classes)
    clf = create_classifier(name).fit(X, y)
    scores = clf.decision_function(X)
    assert scores.shape == (len(y), n_classes)
    np.testing.assert_array_equal(clf.classes_[scores.argmax(axis=1)], clf.predict(X))
    assert np.mean(clf.predict(X) == y) > 0.9


def test_linear_svm_is_squared_hinge_ovr_with_scaler():
    clf = create_classifier("linear_svm", C=0.5)
    assert [name for name, _ in clf.steps] == ["scale", "svm"]
    svm = clf.named_steps["svm"]
    assert (svm.C, svm.loss, svm.multi_class) == (0.5, "squared_hinge", "ovr")


@pytest.mark.parametrize(("name", "expected", "key"), [("linear_svm", LinearSVMCV, "C"),
                                                        ("logistic_regression", InnerCVSearch, "lr__C")])
def test_c_grid_searches_on_training_data_grouped_by_subject(name, expected, key):
    X, y = _blobs(3)
    groups = np.tile(np.arange(6), 10)
    clf = create_classifier(name, C_grid=[0.001, 1.0])
    assert isinstance(clf, expected)
    clf.fit(X, y, groups=groups)
    assert clf.best_params_[key] in (0.001, 1.0)
    assert "by subject" in clf.inner_cv_
    assert clf.decision_function(X).shape == (len(y), 3)
    clf.fit(X, y)
    assert "stratified" in clf.inner_cv_
    clf.fit(X[:40], y[:40], X_val=X[40:], y_val=y[40:])
    assert clf.inner_cv_ == "validation split"


def test_classifier_errors():
    with pytest.raises(ConfigError, match=r"unknown classifier 'svm' \(known: linear_svm, logistic_regression"):
        create_classifier("svm")
    with pytest.raises(ConfigError, match="has no parameter 'gamma'"):
        create_classifier("linear_svm", gamma=1)
    with pytest.raises(ConfigError, match="C_grid must be a non-empty list"):
        create_classifier("linear_svm", C_grid=[])
