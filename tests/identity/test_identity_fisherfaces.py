"""Fisherface verifier, logit helpers and the ``handcrafted`` section of ``kind: siamese`` runs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from affectlab.errors import ConfigError
from affectlab.experiments.siamese import run_siamese_experiment
from affectlab.identity import balanced_pairs
from affectlab.identity.fisherfaces import FisherfaceVerifier, fuse_logits, probability_logit


def _people(n_people: int, n_images: int, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    templates = rng.normal(size=(n_people, 1, 14, 12))
    images = np.clip(128 + 40 * (templates + noise * rng.normal(size=(n_people, n_images, 14, 12))), 0, 255)
    return images.reshape(-1, 14, 12).astype(np.uint8), np.repeat([f"p{i}" for i in range(n_people)], n_images)


def test_logit_helpers_match_hand_computed_values():
    assert probability_logit(np.array([0.75]), 0.5)[0] == pytest.approx(np.log(3))
    assert probability_logit(np.array([0.75]), 0.75)[0] == pytest.approx(0.0)          # 0 at its own threshold
    assert probability_logit(np.array([0.0]))[0] == pytest.approx(np.log(1e-6 / (1 - 1e-6)))  # clipped, finite
    fused = fuse_logits(np.array([np.log(3), -2.0]), np.array([np.log(3), 1.0]))
    assert fused.tolist() == pytest.approx([0.9, 1 / (1 + np.e)])                        # 9:1 odds; sigmoid(-1)
    with pytest.raises(ValueError):
        fuse_logits()


def test_verifier_separates_unseen_people_and_calibrates_at_zero():
    images, subjects = _people(14, 8, noise=0.4)
    fit_part, test_part = subjects < "p6", subjects >= "p6"      # "p10".."p13" and "p6".."p9" never seen
    verifier = FisherfaceVerifier(n_components=40, calibration_folds=3).fit(images[fit_part], subjects[fit_part])
    pairs = balanced_pairs(subjects[test_part], seed=1)
    logits = verifier.decision_function(images[test_part], pairs)
    same_mean, diff_mean = logits[pairs.same].mean(), logits[~pairs.same].mean()
    assert same_mean > 0 > diff_mean                       # the calibration puts 0 between the two groups
    assert np.mean((logits > 0) == pairs.same) > 0.75     # chance 0.5; random "faces" share no structure
    assert verifier.embed(images[:3]).shape[1] <= verifier.n_subjects_ - 1
    assert np.allclose(np.linalg.norm(verifier.embed(images[:3]), axis=1), 1)
    sim = verifier.similarity(images[test_part], pairs)
    assert np.all(np.abs(sim) <= 1 + 1e-9)
    # the logit is a monotone (increasing) map of the similarity
    order = np.argsort(sim)
    assert np.all(np.diff(logits[order]) >= -1e-9)


def test_verifier_is_unchanged_by_lighting_offset_and_gain():
    images, subjects = _people(8, 6, noise=0.3)
    verifier = FisherfaceVerifier(n_components=20, calibration_folds=2).fit(images, subjects)
    brighter = np.clip(images.astype(float) * 0.8 + 20, 0, 255)
    assert np.allclose(verifier.embed(images), verifier.embed(brighter), atol=0.05)


def test_verifier_errors_name_the_parameter():
    images, subjects = _people(5, 3, noise=0.3)
    with pytest.raises(ConfigError, match="calibration_folds"):
        FisherfaceVerifier(calibration_folds=3).fit(images, subjects)       # 5 people cannot make 3 groups of 2
    with pytest.raises(ConfigError, match="n_components"):
        FisherfaceVerifier(n_components=0, calibration_folds=2).fit(images, subjects)
    with pytest.raises(ConfigError, match="images"):
        FisherfaceVerifier(calibration_folds=2).fit(images[:, 0], subjects)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        FisherfaceVerifier().decision_function(images, balanced_pairs(subjects))


def test_real_orl_unseen_subjects(dataset_path):
    from affectlab.data.orl import load_orl
    from affectlab.experiments.stages import load_gray_images

    dataset = load_orl(dataset_path("orl_faces"))
    images = load_gray_images(dataset, (28, 24), progress=False)
    subjects = np.asarray(dataset.groups)
    unseen = np.isin(subjects, [f"s{i}" for i in range(31, 41)])
    verifier = FisherfaceVerifier().fit(images[~unseen], subjects[~unseen])
    pairs = balanced_pairs(subjects[unseen], seed=0)
    logits = verifier.decision_function(images[unseen], pairs)
    # measured 0.87-0.94 on 5-subject validation groups of the ORL config; chance is 0.5
    assert np.mean((logits > 0) == pairs.same) > 0.8


def _config(root, **handcrafted):
    return {"kind": "siamese", "name": "tiny", "data": {"source": str(root)},
            "protocol": {"n_folds": 2, "val_subjects": 2, "seed": 0}, "model": {"hidden": 16},
            "train": {"epochs": 1, "batches_per_epoch": 2, "subjects_per_batch": 3, "images_per_subject": 2,
                      "num_threads": 1},
            "heatmaps": {"n_pairs": 0}, "handcrafted": {"n_components": 10, "calibration_folds": 2, **handcrafted}}


def test_handcrafted_section_adds_the_verifier_and_the_fused_rows(tiny_orl, tmp_path):
    out = tmp_path / "run"
    result = run_siamese_experiment(_config(tiny_orl), out, progress=False)
    rows = {r["feature"]: r for r in result.rows}
    assert set(rows) == {"siamese_vgg", "fisherfaces", "siamese_vgg+fisherfaces"}
    assert rows["fisherfaces"]["classifier"] == "calibrated_logit_0"
    with open(out / "predictions.csv") as handle:
        preds = list(csv.DictReader(handle))
    for feature, row in rows.items():
        mine = [p for p in preds if p["feature"] == feature]
        assert len(mine) == row["n_test"] == rows["siamese_vgg"]["n_test"]
        assert row["accuracy"] == pytest.approx(np.mean([p["true"] == p["pred"] for p in mine]))
        assert 0 <= row["auc"] <= 1 and row["n_folds"] == 2
    # every verifier scores the same pairs of the same unseen people
    ids = {f: sorted(p["id"] for p in preds if p["feature"] == f) for f in rows}
    assert ids["fisherfaces"] == ids["siamese_vgg"] == ids["siamese_vgg+fisherfaces"]
    assert json.loads((out / "metrics.json").read_text())["rows"][0]["feature"] == "siamese_vgg"
    report = (out / "report.md").read_text()
    assert "Handcrafted verifier and fusion" in report and "naive-Bayes" in report
    assert "handcrafted" in (out / "config.yaml").read_text()
    # pair_scores.csv: the same rows as predictions.csv plus each verifier's score, from which the run's AUC and
    # decisions follow
    with open(out / "pair_scores.csv") as handle:
        scored = list(csv.DictReader(handle))
    assert [{k: p[k] for k in ("id", "fold", "feature", "true", "pred")} for p in scored] == [
        {k: p[k] for k in ("id", "fold", "feature", "true", "pred")} for p in preds]
    from sklearn.metrics import roc_auc_score

    for feature, row in rows.items():
        mine = [p for p in scored if p["feature"] == feature]
        score = np.array([float(p["score"]) for p in mine])
        same = np.array([p["true"] == "same" for p in mine])
        assert roc_auc_score(same, score) == pytest.approx(row["auc"], abs=1e-12)
        if feature != "siamese_vgg":  # the handcrafted rows decide at 0.5 on these probabilities
            assert np.array_equal(score >= 0.5, [p["pred"] == "same" for p in mine])
    assert (out / "roc.png").stat().st_size > 1000 and "[roc.png](roc.png)" in report


def test_handcrafted_section_errors(tiny_orl, tmp_path):
    with pytest.raises(ConfigError, match="handcrafted.method"):
        run_siamese_experiment(_config(tiny_orl, method="eigenfaces"), tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="handcrafted.n_components"):
        run_siamese_experiment(_config(tiny_orl, n_components="many"), tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="handcrafted: unknown"):
        run_siamese_experiment(_config(tiny_orl, weight=2), tmp_path / "c", progress=False)


def _faces(n_subjects: int = 6, per_subject: int = 6, seed: int = 0):
    """Each subject a fixed random 28x24 pattern plus noise, uint8."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 215, (n_subjects, 1, 28, 24))
    images = np.clip(base + rng.normal(0, 10, (n_subjects, per_subject, 28, 24)), 0, 255).astype(np.uint8)
    return images.reshape(-1, 28, 24), np.repeat([f"s{i}" for i in range(n_subjects)], per_subject)


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
