from __future__ import annotations

import numpy as np
import pytest
import torch

from affectlab.errors import ConfigError, ProtocolError
from affectlab.identity import (
    SiameseTrainConfig,
    SubjectFold,
    balanced_pairs,
    best_threshold,
    fit_siamese,
    pair_heatmaps,
    pair_scores,
    pretrain_branch,
    subject_folds,
    verification_metrics,
)
from affectlab.models import create_model
from affectlab.models.augment import AugmentConfig
from affectlab.models.siamese import siamese_vgg


def test_balanced_pairs_are_exactly_balanced_and_labelled_right():
    subjects = np.repeat([f"s{i}" for i in range(5)], 4)
    pairs = balanced_pairs(subjects, seed=3)
    assert pairs.same.sum() == 5 * 6 == (~pairs.same).sum()
    assert np.array_equal(subjects[pairs.first] == subjects[pairs.second], pairs.same)
    keys = {(a, b) for a, b in zip(pairs.first.tolist(), pairs.second.tolist())}
    assert len(keys) == len(pairs) and all(a < b for a, b in keys)
    with pytest.raises(ConfigError, match="at least two subjects"):
        balanced_pairs(np.array(["a", "a"]))


def test_subject_folds_are_disjoint_and_cover_every_subject_once():
    subjects = np.repeat([f"s{i}" for i in range(1, 41)], 10)
    folds = subject_folds(subjects, n_folds=4, n_val=5, seed=0)
    tested = [s for f in folds for s in f.test_subjects]
    assert sorted(tested) == sorted(set(subjects.tolist())) and len(tested) == 40
    for f in folds:
        assert len(f.test_subjects) == 10 and len(f.val_subjects) == 5 and len(f.train_subjects) == 25
        assert not (set(f.train_subjects) | set(f.val_subjects)) & set(f.test_subjects)
        assert not set(f.train_subjects) & set(f.val_subjects)
    with pytest.raises(ProtocolError, match="train and test: s1"):
        SubjectFold(["s1", "s2"], ["s3"], ["s1"]).check()
    with pytest.raises(ConfigError, match="n_folds"):
        subject_folds(subjects, n_folds=1)


def test_threshold_and_metrics_by_hand():
    scores = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1])
    same = np.array([True, True, True, False, False, False])
    m = verification_metrics(scores, same, 0.5)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["true_accept_rate"] == pytest.approx(2 / 3) and m["true_reject_rate"] == pytest.approx(2 / 3)
    assert m["auc"] == pytest.approx(8 / 9)
    t, acc = best_threshold(scores, same)  # 0.25 and 0.7 both give 5/6; the first one found is kept
    assert (t, acc) == (pytest.approx(0.25), pytest.approx(5 / 6))


def _synthetic_faces(n_subjects: int = 6, per_subject: int = 6, seed: int = 0):
    """Each subject is a fixed random 28x24 pattern plus noise: verification is learnable."""
    rng = np.random.default_rng(seed)
    protos = rng.uniform(0, 255, (n_subjects, 7, 6))
    images, subjects = [], []
    for s in range(n_subjects):
        big = np.kron(protos[s], np.ones((4, 4)))
        for _ in range(per_subject):
            images.append(np.clip(big + rng.normal(0, 20, big.shape), 0, 255).astype(np.uint8))
            subjects.append(f"s{s}")
    return np.stack(images), np.array(subjects, dtype=object)


def test_fit_siamese_learns_synthetic_identities_and_selects_on_validation():
    torch.manual_seed(0)
    X, subj = _synthetic_faces()
    train = np.isin(subj, ["s0", "s1", "s2", "s3"])
    val_pairs = balanced_pairs(subj[~train], seed=0)
    net = siamese_vgg(widths=(8, 8) + (16,) * 8, hidden=16)
    cfg = SiameseTrainConfig(epochs=8, subjects_per_batch=4, images_per_subject=3, batches_per_epoch=4,
                             lr=3e-3, augment=AugmentConfig(0, 0, 0, False))
    result = fit_siamese(net, train=(X[train], subj[train]), val=(X[~train], val_pairs), config=cfg,
                         progress=False)
    assert len(result.history) == 8
    assert result.best_epoch == 1 + int(np.argmax([h["val_accuracy"] for h in result.history]))
    scores = pair_scores(net, X[~train], val_pairs)
    assert verification_metrics(scores, val_pairs.same, result.threshold)["uar"] == pytest.approx(
        result.best_val_accuracy)
    assert result.best_val_accuracy >= 0.8


def test_siamese_net_is_symmetric_and_heatmaps_have_the_input_size():
    net = siamese_vgg()
    a, b = torch.rand(2, 1, 28, 24), torch.rand(2, 1, 28, 24)
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net(a, b), net(b, a), atol=1e-5)
    net.train()
    heat = pair_heatmaps(net, a, b)
    assert net.training and all(p.grad is None for p in net.parameters())
    for maps in (heat.same_a, heat.same_b, heat.different_a, heat.different_b):
        assert maps.shape == (2, 28, 24) and maps.min() >= 0 and maps.max() <= 1
    np.testing.assert_allclose(heat.probability, net.eval().same_probability(a, b).numpy(), rtol=1e-5)


def test_vgg_identity_has_ten_convolutions_and_a_gap_head_for_cam():
    from affectlab.explain import CAM

    model = create_model("vgg_identity")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64] + [128] * 8
    out = CAM(model)(torch.rand(2, 1, 28, 24))
    assert out.maps.shape == (2, 28, 24)
    branch = [m for m in siamese_vgg().branch.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in branch] == [64, 64] + [128] * 8


def test_per_image_input_norm_ignores_lighting_offset_and_gain():
    torch.manual_seed(0)
    net = siamese_vgg(widths=(4, 4) + (8,) * 8, hidden=8, input_norm="per_image").eval()
    x = torch.rand(3, 1, 28, 24) * 0.5 + 0.2
    brighter = x * 1.5 + 0.1                              # same faces, other exposure
    assert torch.allclose(net.normalize(x), net.normalize(brighter), atol=1e-2)  # up to the sd guard 1e-3
    assert torch.allclose(net(x, x[[1, 2, 0]]), net(brighter, brighter[[1, 2, 0]]), atol=1e-2)
    normed = net.normalize(x)
    assert torch.allclose(normed.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(normed.std(dim=(1, 2, 3)), torch.ones(3), atol=1e-2)
    fixed = siamese_vgg(widths=(4, 4) + (8,) * 8, hidden=8).eval()   # default: fixed constants
    assert torch.allclose(fixed.normalize(x), (x - 0.5) / 0.25)
    assert not torch.allclose(fixed.normalize(x), fixed.normalize(brighter), atol=1e-3)
    with pytest.raises(ValueError, match="input_norm"):
        siamese_vgg(input_norm="global")


def _tiny_siamese_split():
    """A tiny Siamese net, 5 synthetic subjects x 4 faces: s0-s2 train, the pairs of s3-s4 validate."""
    torch.manual_seed(0)
    X, subj = _synthetic_faces(n_subjects=5, per_subject=4)
    train = np.isin(subj, ["s0", "s1", "s2"])
    val_pairs = balanced_pairs(subj[~train], seed=0)
    return siamese_vgg(widths=(4, 4) + (8,) * 8, hidden=8), X, subj, train, val_pairs


def test_epoch_selection_on_auc_with_eer_threshold_and_bad_rules():
    net, X, subj, train, val_pairs = _tiny_siamese_split()
    cfg = SiameseTrainConfig(epochs=3, subjects_per_batch=3, images_per_subject=2, batches_per_epoch=2,
                             augment=AugmentConfig(0, 0, 0, False), threshold_rule="eer", select_on="auc")
    result = fit_siamese(net, train=(X[train], subj[train]), val=(X[~train], val_pairs), config=cfg, progress=False)
    aucs = [h["val_auc"] for h in result.history]
    assert result.best_epoch == 1 + int(np.argmax(aucs))
    with pytest.raises(ConfigError, match="threshold_rule"):
        fit_siamese(net, train=(X[train], subj[train]), val=(X[~train], val_pairs),
                    config=SiameseTrainConfig(epochs=1, threshold_rule="median"), progress=False)


def test_pair_loss_by_hand_and_hard_negatives_keep_the_worst_different_pairs():
    from affectlab.identity import pair_loss

    logits = torch.tensor([1.0, 0.0, 2.0, -2.0, -1.0])
    same = torch.tensor([True, False, False, False, True])
    def softplus(v: float) -> float:  # BCE of a logit v against "different"
        return float(np.log1p(np.exp(v)))

    positive = (softplus(-1.0) + softplus(1.0)) / 2
    assert float(pair_loss(logits, same)) == pytest.approx(positive + (softplus(0) + softplus(2) + softplus(-2)) / 3)
    assert float(pair_loss(logits, same, hard_negatives=0.5)) == pytest.approx(
        positive + (softplus(2) + softplus(0)) / 2)  # round(1.5) = 2 hardest: logits 2 and 0
    assert float(pair_loss(logits, same, hard_negatives=0.01)) == pytest.approx(positive + softplus(2))
    with pytest.raises(ValueError, match="both"):
        pair_loss(logits, torch.ones(5, dtype=torch.bool))


def test_pretrain_branch_learns_the_training_subjects_and_leaves_the_pair_head_alone():
    from affectlab.identity import pretrain_branch

    torch.manual_seed(0)
    X, subj = _synthetic_faces(n_subjects=4, per_subject=6)
    net = siamese_vgg(widths=(8, 8) + (16,) * 8, hidden=16)
    head = [p.detach().clone() for p in (net.fc1.weight, net.fc2.weight)]
    conv = next(m for m in net.branch.modules() if isinstance(m, torch.nn.Conv2d)).weight.detach().clone()
    rows = pretrain_branch(net, X, subj, epochs=12, lr=5e-3, batch_size=8, augment=AugmentConfig(0, 0, 0, False),
                           brightness=0.1)
    assert [r["epoch"] for r in rows] == list(range(1, 13))
    assert rows[-1]["accuracy"] >= 0.9 and rows[-1]["loss"] < rows[0]["loss"]
    assert torch.equal(net.fc1.weight, head[0]) and torch.equal(net.fc2.weight, head[1])
    conv_after = next(m for m in net.branch.modules() if isinstance(m, torch.nn.Conv2d)).weight
    assert not torch.equal(conv_after, conv)
    with pytest.raises(ConfigError, match="two training subjects"):
        pretrain_branch(net, X[:6], subj[:6], epochs=1)


def test_fit_siamese_with_pretraining_hard_negatives_and_brightness():
    net, X, subj, train, val_pairs = _tiny_siamese_split()
    cfg = SiameseTrainConfig(epochs=2, subjects_per_batch=3, images_per_subject=2, batches_per_epoch=2,
                             pretrain_epochs=3, pretrain_batch_size=4, hard_negatives=0.5, brightness=0.2)
    result = fit_siamese(net, train=(X[train], subj[train]), val=(X[~train], val_pairs), config=cfg, progress=False)
    assert len(result.pretrain_history) == 3 and len(result.history) == 2
    for bad in ({"hard_negatives": 0.0}, {"pretrain_epochs": -1}, {"brightness": -0.1}):
        with pytest.raises(ConfigError, match="hard_negatives"):
            fit_siamese(net, train=(X[train], subj[train]), val=(X[~train], val_pairs),
                        config=SiameseTrainConfig(epochs=1, **bad), progress=False)


def test_fit_siamese_adds_extra_identities_to_each_pair_batch():
    torch.manual_seed(0)
    X, subj = _synthetic_faces(n_subjects=8, per_subject=4)
    train, extra = np.isin(subj, ["s0", "s1", "s2"]), np.isin(subj, ["s5", "s6", "s7"])
    val = ~train & ~extra
    val_pairs = balanced_pairs(subj[val], seed=0)
    net = siamese_vgg(widths=(4, 4) + (8,) * 8, hidden=8)
    seen = []
    forward = net.forward_features
    net.forward_features = lambda x: seen.append(len(x)) or forward(x)
    cfg = SiameseTrainConfig(epochs=1, subjects_per_batch=2, images_per_subject=2, batches_per_epoch=3,
                             extra_subjects_per_batch=3)
    extra_ids = np.array([f"extra:{s}" for s in subj[extra]], dtype=object)
    fit_siamese(net, train=(X[train], subj[train]), val=(X[val], val_pairs), config=cfg, progress=False,
                extra=(X[extra], extra_ids))
    assert seen[:3] == [2 * 2 + 3 * 2] * 3  # 2 training + 3 extra subjects, 2 images each
    with pytest.raises(ConfigError, match="needs extra identities"):
        fit_siamese(net, train=(X[train], subj[train]), val=(X[val], val_pairs), config=cfg, progress=False)
    with pytest.raises(ConfigError, match="share subject ids"):
        fit_siamese(net, train=(X[train], subj[train]), val=(X[val], val_pairs), config=cfg, progress=False,
                    extra=(X[train], subj[train]))


def test_calibrated_average_shifts_each_net_by_its_threshold_by_hand():
    from affectlab.identity import calibrated_average

    # net 1: logit(0.8) - logit(0.5) = ln 4; net 2 sits at its threshold (0); mean ln 2 -> sigmoid 2/3
    out = calibrated_average([np.array([0.8, 0.5]), np.array([0.2, 0.9])], [0.5, 0.2])
    assert out[0] == pytest.approx(2 / 3)
    # second pair: (0 + logit(0.9) - logit(0.2)) / 2 = (ln 9 + ln 4) / 2 = ln 6 -> 6 / 7
    assert out[1] == pytest.approx(6 / 7)
    # a single net at its own threshold lands exactly on 0.5
    assert calibrated_average([np.array([0.3])], [0.3]).tolist() == pytest.approx([0.5])


def test_fixed_threshold_rule_keeps_one_half():
    from affectlab.identity import fixed_threshold

    t, acc = fixed_threshold(np.array([0.1, 0.6, 0.4, 0.9]), np.array([False, False, True, True]))
    assert (t, acc) == (0.5, 0.5)  # one of two different pairs rejected, one of two same pairs accepted
    net, X, subj, train, val_pairs = _tiny_siamese_split()
    cfg = SiameseTrainConfig(epochs=2, subjects_per_batch=3, images_per_subject=2, batches_per_epoch=1,
                             threshold_rule="fixed", select_on="auc")
    result = fit_siamese(net, train=(X[train], subj[train]), val=(X[~train], val_pairs), config=cfg, progress=False)
    assert result.threshold == 0.5
    assert all(h["val_threshold"] == 0.5 and h["val_accuracy"] == h["val_accuracy_at_0.5"] for h in result.history)


def test_select_on_none_keeps_the_last_epoch_without_validation():
    net, X, subj, train, val_pairs = _tiny_siamese_split()
    cfg = SiameseTrainConfig(epochs=3, subjects_per_batch=3, images_per_subject=2, batches_per_epoch=2,
                             augment=AugmentConfig(0, 0, 0, False), threshold_rule="fixed", select_on="none")
    result = fit_siamese(net, train=(X[train], subj[train]), val=None, config=cfg, progress=False)
    assert result.best_epoch == 3 and result.threshold == 0.5 and np.isnan(result.best_val_accuracy)
    assert [sorted(h) for h in result.history] == [["epoch", "epoch_time_s", "train_loss"]] * 3
    # with validation pairs the history is filled but the weights are still the last epoch's
    net2, *_ = _tiny_siamese_split()
    torch.manual_seed(0)
    net3, *_ = _tiny_siamese_split()
    net3.load_state_dict(net2.state_dict())
    a = fit_siamese(net2, train=(X[train], subj[train]), val=(X[~train], val_pairs), config=cfg, progress=False)
    b = fit_siamese(net3, train=(X[train], subj[train]), val=None, config=cfg, progress=False)
    assert a.best_epoch == b.best_epoch == 3 and "val_auc" in a.history[0] and "val_auc" not in b.history[0]
    assert a.best_val_accuracy == pytest.approx(a.history[-1]["val_accuracy_at_0.5"])
    for p, q in zip(net2.parameters(), net3.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ConfigError, match="threshold_rule fixed"):
        fit_siamese(net, train=(X[train], subj[train]), val=None,
                    config=SiameseTrainConfig(epochs=1, select_on="none", threshold_rule="eer"), progress=False)
    with pytest.raises(ConfigError, match="needs validation pairs"):
        fit_siamese(net, train=(X[train], subj[train]), val=None, config=SiameseTrainConfig(epochs=1), progress=False)


def _faces(n_subjects: int = 6, per_subject: int = 6, seed: int = 0):
    """Each subject a fixed random 28x24 pattern plus noise, uint8."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 215, (n_subjects, 1, 28, 24))
    images = np.clip(base + rng.normal(0, 10, (n_subjects, per_subject, 28, 24)), 0, 255).astype(np.uint8)
    return images.reshape(-1, 28, 24), np.repeat([f"s{i}" for i in range(n_subjects)], per_subject)


TINY = SiameseTrainConfig(epochs=1, batches_per_epoch=1, subjects_per_batch=2, images_per_subject=2, device="cpu")


def test_subject_folds_need_two_subjects_per_test_group():
    subjects = np.repeat([f"s{i}" for i in range(6)], 2)
    # before: 6 folds of one subject passed, and the run failed after its folder existed ("need two subjects")
    with pytest.raises(ConfigError, match=r"n_folds must be an int in 2..3"):
        subject_folds(subjects, n_folds=6, n_val=0)
    with pytest.raises(ConfigError, match="n_folds"):
        subject_folds(subjects, n_folds=2.5, n_val=0)
    assert [len(f.test_subjects) for f in subject_folds(subjects, n_folds=3, n_val=0)] == [2, 2, 2]


def test_balanced_pairs_max_same_per_subject_is_checked():
    subjects = np.repeat(["a", "b"], 3)
    for bad in (0, -1, 1.5):      # before: -1 raised numpy's ValueError, 0 a misleading "no subject with two images"
        with pytest.raises(ConfigError, match="max_same_per_subject"):
            balanced_pairs(subjects, max_same_per_subject=bad)
    assert int(balanced_pairs(subjects, max_same_per_subject=1).same.sum()) == 2


def test_fit_siamese_refuses_mismatched_inputs_before_training():
    X, S = _faces()
    net = siamese_vgg(hidden=8)
    val_pairs = balanced_pairs(S[24:])
    cases = [
        ({"train": (X[:24], S[:18]), "val": (X[24:], val_pairs)}, "24 images but"),        # before: trained on 18
        ({"train": (X[:24], S[:24]), "val": (X[24:30], val_pairs)}, r"val: pair indices must lie in 0..5"),
        ({"train": (np.zeros((24, 40, 40), np.uint8), S[:24]), "val": (X[24:], val_pairs)}, "the net takes"),
        ({"train": (X[:24].astype(np.float32), S[:24]), "val": (X[24:], val_pairs)}, r"\[0, 1\]"),  # 0-255 floats
        ({"train": (X[:24].astype(np.int64), S[:24]), "val": (X[24:], val_pairs)}, "dtype int64"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ConfigError, match=match):
            fit_siamese(net, config=TINY, progress=False, **kwargs)


@pytest.mark.parametrize("over, match", [({"epochs": 0}, "epochs must be an int >= 1"),   # before: torch ValueError
                                         ({"epochs": 2.0}, "epochs"), ({"lr": "1e-3"}, "lr must be a number"),
                                         ({"device": "tpu"}, "device 'tpu'"),
                                         ({"batches_per_epoch": 0}, "batches_per_epoch")])
def test_fit_siamese_refuses_bad_settings(over, match):
    X, S = _faces()
    cfg = SiameseTrainConfig(**{**TINY.__dict__, **over})
    with pytest.raises(ConfigError, match=match):
        fit_siamese(siamese_vgg(hidden=8), train=(X[:24], S[:24]), val=(X[24:], balanced_pairs(S[24:])),
                    config=cfg, progress=False)


def test_pretrain_and_pair_scores_checks():
    X, S = _faces()
    net = siamese_vgg(hidden=8)
    with pytest.raises(ConfigError, match="pretrain: epochs"):          # before: torch's "total_steps" ValueError
        pretrain_branch(net, X, S, epochs=0)
    with pytest.raises(ConfigError, match="36 images but 10 labels"):
        pretrain_branch(net, X, S[:10], epochs=1)
    pairs = balanced_pairs(S)
    with pytest.raises(ConfigError, match="pair_scores: pair indices"):   # before: IndexError
        pair_scores(net, X[:5], pairs)
    assert pair_scores(net, list(X), pairs).shape == (len(pairs),)       # a list of images is fine (was AttributeError)


def test_pair_heatmaps_refuse_mismatched_or_out_of_range_faces():
    net = siamese_vgg(hidden=8)
    a = np.zeros((2, 28, 24), np.uint8)
    with pytest.raises(ConfigError, match="one shape"):     # before: RuntimeError (count) or silent maps (size)
        pair_heatmaps(net, a, np.zeros((3, 28, 24), np.uint8))
    with pytest.raises(ConfigError, match="one shape"):
        pair_heatmaps(net, a, np.zeros((2, 30, 30), np.uint8))
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        pair_heatmaps(net, a.astype(np.float32) + 200, a.astype(np.float32))


def test_cosine_join_is_symmetric_by_hand_and_calibrated_on_training_pairs():
    from affectlab.identity.train import calibrate_cosine_join

    net = siamese_vgg(widths=(8, 8) + (16,) * 8, hidden=16, join="cosine")
    assert "fc1.weight" not in net.state_dict() and net.cos_scale.item() == 10.0
    ea, eb = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 2.0], [2.0, 2.0]])
    assert net.join(ea, eb).tolist() == pytest.approx([10 * (0 - 0.5), 10 * (1 - 0.5)])
    a, b = torch.rand(2, 1, 28, 24), torch.rand(2, 1, 28, 24)
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net(a, b), net(b, a), atol=1e-5)
    assert pair_heatmaps(net, a, b).same_a.shape == (2, 28, 24)
    with pytest.raises(ValueError, match="join"):
        siamese_vgg(join="dot")
    with pytest.raises(ConfigError, match="not 'cosine'"):
        calibrate_cosine_join(siamese_vgg(), np.zeros((4, 28, 24), np.uint8), np.array(list("aabb")))
    # an untrained branch on clear identities: the calibration puts the decision between same and different cosines
    X, subj = _synthetic_faces(n_subjects=4, per_subject=4)
    torch.manual_seed(0)
    scale, offset = calibrate_cosine_join(net, X, subj)
    assert scale > 0 and net.cos_scale.item() == pytest.approx(scale) and net.cos_offset.item() == pytest.approx(offset)
    pairs = balanced_pairs(subj, seed=0)
    assert verification_metrics(pair_scores(net, X, pairs), pairs.same, 0.5)["uar"] >= 0.8


def test_fit_siamese_with_a_cosine_join_calibrates_then_trains():
    torch.manual_seed(0)
    X, subj = _synthetic_faces()
    train = np.isin(subj, ["s0", "s1", "s2", "s3"])
    val_pairs = balanced_pairs(subj[~train], seed=0)
    net = siamese_vgg(widths=(8, 8) + (16,) * 8, hidden=16, join="cosine")
    cfg = SiameseTrainConfig(epochs=3, subjects_per_batch=4, images_per_subject=3, batches_per_epoch=3,
                             lr=3e-4, augment=AugmentConfig(0, 0, 0, False), select_on="none", threshold_rule="fixed")
    result = fit_siamese(net, train=(X[train], subj[train]), val=(X[~train], val_pairs), config=cfg, progress=False)
    assert net.cos_scale.item() > 20          # calibrated on the training pairs (a sharp decision), then trained
    assert result.history[-1]["val_auc"] >= 0.9
