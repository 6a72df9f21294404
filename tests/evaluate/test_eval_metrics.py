"""Metrics: hand-computed tiny cases and cross-checks against scikit-learn / scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from affectlab.evaluate.metrics import (
    accuracy,
    ccc,
    classification_metrics,
    confusion_matrix,
    macro_f1,
    pearson,
    per_class_recall,
    regression_metrics,
    rmse,
    uar,
)

Y_TRUE = ["a", "a", "a", "a", "b", "b", "c"]
Y_PRED = ["a", "a", "a", "b", "b", "a", "c"]


def test_accuracy_and_uar_by_hand():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(5 / 7)
    # recalls: a 3/4, b 1/2, c 1/1
    assert uar(Y_TRUE, Y_PRED) == pytest.approx((0.75 + 0.5 + 1.0) / 3)


def test_uar_ignores_classes_absent_from_y_true():
    # "c" is predicted but never true: it counts as an error, not as a class in the mean
    assert uar(["a", "a", "b"], ["a", "c", "b"]) == pytest.approx((0.5 + 1.0) / 2)


def test_macro_f1_by_hand():
    # a: P 3/4 R 3/4 F 0.75; b: P 1/2 R 1/2 F 0.5; c: F 1
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    # a listed label with no sample does not lower macro-F1
    assert macro_f1(Y_TRUE, Y_PRED, labels=["a", "b", "c", "z"]) == pytest.approx((0.75 + 0.5 + 1.0) / 3)


def test_confusion_matrix_fixed_order():
    cm = confusion_matrix(Y_TRUE, Y_PRED, labels=["c", "b", "a"])
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 3]]
    assert confusion_matrix([0, 1], [1, 1], labels=[0, 1, 2]).shape == (3, 3)


def test_per_class_recall_nan_for_missing_class():
    recall = per_class_recall(Y_TRUE, Y_PRED, ["a", "b", "c", "z"])
    assert recall["a"] == pytest.approx(0.75) and recall["b"] == pytest.approx(0.5)
    assert math.isnan(recall["z"])


def test_cross_check_sklearn_random():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 5, size=60)
        p = np.where(rng.random(60) < 0.6, y, rng.integers(0, 6, size=60))  # class 5 only predicted
        assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p))
        with pytest.warns(UserWarning) if 5 in p else _nullcontext():
            expected = skm.balanced_accuracy_score(y, p)
        assert uar(y, p) == pytest.approx(expected)
        assert macro_f1(y, p) == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_classification_metrics_dict():
    m = classification_metrics(Y_TRUE, Y_PRED, ["a", "b", "c"])
    assert set(m) >= {"accuracy", "uar", "macro_f1", "confusion", "per_class_recall", "labels", "n"}
    assert m["n"] == 7 and m["confusion"] == [[3, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert m["per_class_recall"]["b"] == pytest.approx(0.5)


def test_ccc_identities_and_hand_case():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x - x.mean(), -(x - x.mean())) == pytest.approx(-1.0)
    # y = x + 1: cov = var = 2/3 (population), mean shift 1 -> 2*(2/3) / (2/3 + 2/3 + 1) = 4/7
    assert ccc([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == pytest.approx(4 / 7)
    # y = 2x: var_x = 2/3, var_y = 8/3, cov = 4/3, means 2 and 4 -> (8/3) / (10/3 + 4) = 4/11
    assert ccc([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(4 / 11)
    assert ccc([2.0, 2.0], [2.0, 2.0]) == 1.0


def test_ccc_at_most_pearson():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 0.5 * x + rng.normal(scale=0.3, size=50) + 0.2
    assert ccc(x, y) <= pearson(x, y) + 1e-12


def test_pearson_and_rmse_cross_check():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=30), rng.normal(size=30)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic)
    assert rmse(x, y) == pytest.approx(np.sqrt(np.mean((x - y) ** 2)))
    assert rmse([0.0, 0.0], [3.0, 4.0]) == pytest.approx(np.sqrt(12.5))
    assert math.isnan(pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))


def test_regression_metrics_dict():
    m = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert m == {"ccc": pytest.approx(1.0), "rmse": 0.0, "pearson": pytest.approx(1.0), "n": 3}


@pytest.mark.parametrize("fn", [accuracy, uar, macro_f1, ccc, rmse, pearson])
def test_length_mismatch_and_empty(fn):
    with pytest.raises(ValueError, match="different lengths"):
        fn([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])


def test_regression_rejects_nan():
    with pytest.raises(ValueError, match="finite"):
        ccc([1.0, float("nan")], [1.0, 2.0])
