"""The fusion network against hand-computed cases, and the baselines."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from affectlab.classify.fusion import (
    FusionNetwork,
    FusionNetworkCV,
    MeanProbabilityFusion,
    fusion_cost,
    stack_decisions,
)
from tests.classify.toy_data import RNG, D, Y


def _members_good_at_different_classes(n: int = 600, seed: int = 0):
    """Member 0 separates class 0 well, member 1 class 1, member 2 class 2; each is noisy elsewhere."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    onehot = np.eye(3)[y]
    members = []
    for j in range(3):
        scale = np.full(3, 1.2)
        scale[j] = 0.15
        members.append(onehot + rng.normal(size=(n, 3)) * scale)
    return members, y


def test_cost_one_sample_by_hand():
    A = np.array([[[2.0, 0.0]]])  # one sample, one member, two classes
    Y = np.array([[0.0, 1.0]])   # true class 1
    W = np.array([[0.5, 3.0]])   # scores: 1.0 and 0.0
    cost, grad = fusion_cost(W, A, Y, lam=0.2)
    p1 = np.exp(0.0) / (np.exp(1.0) + np.exp(0.0))
    expected = -np.log(p1) + 0.1 * (0.25 + 9.0)
    assert cost == pytest.approx(expected, rel=1e-12)
    # d/dW[0,k] = (p_k - y_k) * a_k + lam * W
    p0 = 1 - p1
    assert grad[0, 0] == pytest.approx(p0 * 2.0 + 0.2 * 0.5)
    assert grad[0, 1] == pytest.approx((p1 - 1) * 0.0 + 0.2 * 3.0)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(20, 3, 4))
    Y = np.eye(4)[rng.integers(0, 4, 20)]
    W = rng.normal(size=(3, 4))
    _, grad = fusion_cost(W, A, Y, lam=0.3)
    numeric = np.zeros_like(W)
    eps = 1e-6
    for idx in np.ndindex(W.shape):
        step = np.zeros_like(W)
        step[idx] = eps
        numeric[idx] = (fusion_cost(W + step, A, Y, 0.3)[0] - fusion_cost(W - step, A, Y, 0.3)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_fit_reaches_a_stationary_point():
    members, y = _members_good_at_different_classes()
    X = stack_decisions(members)
    net = FusionNetwork(lam=0.01).fit(X, y)
    _, grad = fusion_cost(net.weights_, X.reshape(len(y), 3, 3), np.eye(3)[y], 0.01)
    assert np.abs(grad).max() < 1e-5


def test_strong_regularisation_gives_the_first_order_solution():
    # For large lam, W ~= -grad(0) / lam = mean_i (y_ik - 1/n) a_ijk / lam.
    members, y = _members_good_at_different_classes(n=200)
    X = stack_decisions(members)
    lam = 1e4
    net = FusionNetwork(lam=lam).fit(X, y)
    A = X.reshape(len(y), 3, 3)
    expected = np.einsum("ik,ijk->jk", np.eye(3)[y] - 1 / 3, A) / len(y) / lam
    np.testing.assert_allclose(net.weights_, expected, rtol=1e-2, atol=1e-9)


def test_weights_follow_the_member_that_knows_each_class():
    members, y = _members_good_at_different_classes()
    net = FusionNetwork(lam=1e-3).fit(stack_decisions(members), y)
    for k in range(3):
        assert np.argmax(net.weights_[:, k]) == k  # member k carries class k


def test_fusion_beats_every_member_on_held_out_data():
    members, y = _members_good_at_different_classes(n=1200, seed=3)
    X = stack_decisions(members)
    train, test = slice(0, 800), slice(800, None)
    net = FusionNetwork(lam=1e-3).fit(X[train], y[train])
    fused = np.mean(net.predict(X[test]) == y[test])
    best_member = max(np.mean(np.argmax(m[test], axis=1) == y[test]) for m in members)
    assert fused > best_member + 0.05


def test_predict_is_max_win_over_probabilities_and_labels_are_kept():
    members, y = _members_good_at_different_classes(n=300)
    labels = np.array(["angry", "happy", "sad"])[y]
    net = FusionNetwork().fit(stack_decisions(members), labels)
    proba = net.predict_proba(stack_decisions(members))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(net.classes_) == ["angry", "happy", "sad"]
    np.testing.assert_array_equal(net.predict(stack_decisions(members)), net.classes_[proba.argmax(axis=1)])


def test_cv_chooses_lambda_by_groups_and_refits():
    members, y = _members_good_at_different_classes(n=400)
    groups = np.arange(400) // 10  # 40 "subjects"
    net = FusionNetworkCV(lams=[1e-4, 1e-2, 100.0], inner_splits=4).fit(stack_decisions(members), y, groups=groups)
    assert net.lam_ in (1e-4, 1e-2)  # 100 shrinks W to almost nothing -> worse UAR
    assert set(net.cv_scores_) == {1e-4, 1e-2, 100.0}
    assert net.best_params_ == {"lam": net.lam_}
    assert clone(net).get_params()["lams"] == [1e-4, 1e-2, 100.0]


def test_grid_edge_is_flagged_only_when_the_score_still_rises_there():
    members, y = _members_good_at_different_classes(n=400)
    groups = np.arange(400) // 10
    X = stack_decisions(members)
    rising = FusionNetworkCV(lams=[1e-4, 100.0], inner_splits=4).fit(X, y, groups=groups)
    assert rising.lam_ == 1e-4 and rising.cv_scores_[1e-4] > rising.cv_scores_[100.0]
    assert rising.lam_at_grid_edge_                          # the smallest value wins outright: widen downwards
    plateau = FusionNetworkCV(lams=[1e3, 1e4], inner_splits=4).fit(X, y, groups=groups)
    assert plateau.cv_scores_[1e3] == plateau.cv_scores_[1e4]  # huge lambdas only rescale W: same decisions
    assert plateau.lam_ == 1e4 and not plateau.lam_at_grid_edge_  # tie rule, not an edge problem
    inner = FusionNetworkCV(lams=[1e-6, 1e-4, 1e-2, 100.0], inner_splits=4).fit(X, y, groups=groups)
    scores = inner.cv_scores_
    assert inner.lam_at_grid_edge_ == (inner.lam_ == 1e-6 and scores[1e-6] > scores[1e-4])
    assert not FusionNetworkCV(lams=[1e-2], inner_splits=4).fit(X, y, groups=groups).lam_at_grid_edge_


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="multiple"):
        FusionNetwork().fit(np.zeros((4, 5)), [0, 1, 2, 0])
    with pytest.raises(ValueError, match="NaN|finite"):
        FusionNetwork().fit(np.array([[np.nan, 0.0], [0.0, 1.0]]), [0, 1])
    with pytest.raises(ValueError, match="shape"):
        stack_decisions([np.zeros((3, 2)), np.zeros((4, 2))])


def test_mean_probability_fusion_calibrates_each_member():
    members, y = _members_good_at_different_classes(n=600)
    scaled = [members[0] * 100.0, members[1], members[2] * 0.01]  # wildly different scales
    fused = MeanProbabilityFusion().fit(stack_decisions(scaled), y)
    assert fused.temperatures_[0] > 10 * fused.temperatures_[1] > 10 * fused.temperatures_[2] / 1e3
    acc = np.mean(fused.predict(stack_decisions(scaled)) == y)
    assert acc > max(np.mean(np.argmax(m, axis=1) == y) for m in members)



FUSERS = {
    "FusionNetwork": FusionNetwork,
    "FusionNetworkCV": lambda: FusionNetworkCV(lams=[0.01, 1.0]),
    "MeanProbabilityFusion": MeanProbabilityFusion,
}


@pytest.mark.parametrize("name", sorted(FUSERS))
def test_fusion_predict_before_fit_is_not_fitted_error(name):
    with pytest.raises(NotFittedError):
        FUSERS[name]().predict(D)


@pytest.mark.parametrize("name", sorted(FUSERS))
def test_fusion_refuses_continuous_and_single_class_targets(name):
    with pytest.raises(ValueError, match="Unknown label type"):
        FUSERS[name]().fit(D, RNG.normal(size=60))
    with pytest.raises(ValueError, match="needs at least 2 classes in y, got 1 class"):
        FUSERS[name]().fit(D[:20], Y[:20])


def test_fusion_network_lam_must_be_a_number():
    with pytest.raises(ValueError, match="lam must be a number >= 0, got '0.1'"):
        FusionNetwork(lam="0.1").fit(D, Y)
    with pytest.raises(ValueError, match="lams must be a non-empty list of values >= 0, got 0.1"):
        FusionNetworkCV(lams=0.1).fit(D, Y)
