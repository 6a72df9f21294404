"""Audit regressions for identity / Siamese verification: pair sampling, folds, training checks, Fisherfaces,
and the ``kind: siamese`` runner's checks before any run folder (a tiny ORL copy of 6 subjects, 1-epoch nets)."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest

from affectlab.errors import AffectLabError, ConfigError
from affectlab.experiments.siamese import run_siamese_experiment
from affectlab.identity import (
    FisherfaceVerifier,
    SiameseTrainConfig,
    balanced_pairs,
    fit_siamese,
    fuse_logits,
    pair_scores,
    pretrain_branch,
    subject_folds,
)
from affectlab.models.siamese import siamese_vgg


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


def test_fisherfaces_checks_at_fit_and_decision():
    X, S = _faces(n_subjects=8)
    verifier = FisherfaceVerifier(n_components=np.int64(10), calibration_folds=2).fit(X[:36], S[:36])  # was refused
    pairs = balanced_pairs(S[36:])
    assert verifier.decision_function(X[36:], pairs).shape == (len(pairs),)
    with pytest.raises(ConfigError, match=r"fitted on \(N, 28, 24\)"):    # before: sklearn's "X has 900 features"
        verifier.decision_function(np.zeros((12, 30, 30), np.uint8), pairs)
    with pytest.raises(ConfigError, match="pair indices"):                # before: IndexError
        verifier.decision_function(X[36:40], pairs)
    with pytest.raises(ConfigError, match="more images than subjects"):   # before: sklearn ValueError
        FisherfaceVerifier(n_components=5, calibration_folds=2).fit(X[::6], S[::6])
    with pytest.raises(ConfigError, match="differ in shape"):
        fuse_logits(np.zeros(3), np.zeros(4))


@pytest.fixture(scope="module")
def orl6(tmp_path_factory, dataset_path):
    """Six ORL subjects copied to a scratch folder (never into the repository)."""
    source = dataset_path("orl_faces")
    root = tmp_path_factory.mktemp("orl6")
    for s in range(1, 7):
        shutil.copytree(source / f"s{s}", root / f"s{s}")
    return root


BASE = {"kind": "siamese", "images": {"size": [28, 24]}, "protocol": {"n_folds": 2, "val_subjects": 0, "seed": 0},
        "model": {"hidden": 8},
        "train": {"epochs": 1, "batches_per_epoch": 1, "subjects_per_batch": 2, "images_per_subject": 2,
                  "num_threads": 1, "device": "cpu", "select_on": "none", "threshold_rule": "fixed"},
        "heatmaps": {"n_pairs": 2}}


@pytest.mark.parametrize("section, value, match", [
    ("protocol", {"n_folds": 6, "val_subjects": 0}, "n_folds must be an int in 2..3"),
    ("protocol", {"n_folds": "two", "val_subjects": 0}, "protocol.n_folds must be an integer"),
    ("train", {"epochs": 0}, "epochs must be an int >= 1"),
    ("train", {"lr": "fast"}, "lr must be a number"),
    ("train", {"device": "tpu"}, "device 'tpu'"),
    ("train", {"subjects_per_batch": 1}, "subjects_per_batch"),
    ("heatmaps", {"n_pairs": "six"}, "heatmaps.n_pairs"),
    ("model", {"hidden": "big"}, "model:"),
    ("handcrafted", {"method": "fisherfaces", "calibration_folds": 2}, "calibration_folds 2 needs at least 4"),
    ("identity", {"epochs": "x"}, "identity.epochs"),
])
def test_siamese_runner_refuses_bad_settings_before_the_run_folder(orl6, tmp_path, section, value, match):
    # before: tracebacks (ValueError, TypeError) or ConfigErrors raised after an empty run folder existed;
    # the handcrafted one only after the first fold's nets had trained
    cfg = copy.deepcopy(BASE)
    cfg["data"] = {"source": str(orl6)}
    cfg[section] = {**cfg.get(section, {}), **value}
    out = tmp_path / "run"
    with pytest.raises(AffectLabError, match=match):
        run_siamese_experiment(cfg, out, progress=False)
    assert not out.exists()


def test_siamese_runner_on_six_subjects(orl6, tmp_path):
    cfg = copy.deepcopy(BASE)
    cfg["data"] = {"source": str(orl6)}
    result = run_siamese_experiment(cfg, tmp_path / "run", progress=False)
    row = result.rows[0]
    assert row["feature"] == "siamese_vgg" and row["n_folds"] == 2 and 0.0 <= row["accuracy"] <= 1.0
    assert (tmp_path / "run" / "pair_scores.csv").is_file()
