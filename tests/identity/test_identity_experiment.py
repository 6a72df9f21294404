from __future__ import annotations

import copy
import csv
import json
import shutil

import pytest

from affectlab.errors import AffectLabError, ConfigError
from affectlab.experiments.kinds import experiment_runner
from affectlab.experiments.siamese import run_siamese_experiment


def _config(root):
    return {"kind": "siamese", "name": "tiny", "data": {"source": str(root)},
            "protocol": {"n_folds": 2, "val_subjects": 2, "seed": 0},
            "model": {"hidden": 16},
            "train": {"epochs": 2, "batches_per_epoch": 2, "subjects_per_batch": 3, "images_per_subject": 2,
                      "num_threads": 1},
            "heatmaps": {"n_pairs": 2}}


def test_siamese_experiment_writes_a_run_folder_with_subject_disjoint_pairs(tiny_orl, tmp_path):
    assert experiment_runner("siamese") is run_siamese_experiment
    out = tmp_path / "run"
    result = run_siamese_experiment(_config(tiny_orl), out, progress=False)
    for name in ("config.yaml", "metrics.json", "report.md", "predictions.csv", "heatmap_pair0_same.png",
                 "heatmap_pair1_different.png"):
        assert (out / name).is_file(), name
    row = result.rows[0]
    assert result.n_folds == 2 and row["n_folds"] == 2
    assert 0 <= row["accuracy"] <= 1 and row["n_test"] == sum(f["n_pairs"] for f in row["folds"])
    assert "siamese_vgg" in result.table()
    folds = row["folds"]
    assert sorted(folds[0]["test_subjects"] + folds[1]["test_subjects"]) == sorted(f"s{i}" for i in range(1, 9))
    for f in folds:
        assert not set(f["val_subjects"]) & set(f["test_subjects"])
    with open(out / "predictions.csv") as handle:
        preds = list(csv.DictReader(handle))
    same = [p for p in preds if p["true"] == "same"]
    assert len(same) * 2 == len(preds)  # balanced
    for p in preds:
        a, b = p["subject"].split("|")
        assert (a == b) == (p["true"] == "same")
        assert a in folds[int(p["fold"])]["test_subjects"] and b in folds[int(p["fold"])]["test_subjects"]
    json.loads((out / "metrics.json").read_text())
    # each net's own validation pairs: validation subjects only, labels consistent with the subjects
    from affectlab.data.orl import load_orl

    subjects = load_orl(tiny_orl).groups
    validation = json.loads((out / "validation_scores.json").read_text())
    assert [(v["fold"], v["member"]) for v in validation] == [(0, 0), (1, 0)]
    for v in validation:
        test = set(folds[v["fold"]]["test_subjects"])
        assert set(v["val_subjects"]) == set(folds[v["fold"]]["val_subjects"]) and not test & set(v["val_subjects"])
        assert not set(v["train_subjects"]) & (test | set(v["val_subjects"]))
        assert len(v["first"]) == len(v["second"]) == len(v["same"]) == len(v["score"]) > 0
        for i, j, same in zip(v["first"], v["second"], v["same"]):
            assert subjects[i] in v["val_subjects"] and subjects[j] in v["val_subjects"]
            assert (subjects[i] == subjects[j]) == same
        assert all(0 <= p <= 1 for p in v["score"])


def test_siamese_experiment_config_errors(tiny_orl, tmp_path):
    bad = _config(tiny_orl) | {"features": ["lbp"]}
    with pytest.raises(ConfigError, match="unknown key"):
        run_siamese_experiment(bad, tmp_path / "a", progress=False)
    bad = _config(tiny_orl)
    bad["train"] = {"epochs": 1, "learning_rate": 0.1}
    with pytest.raises(ConfigError, match="train: unknown key.*learning_rate"):
        run_siamese_experiment(bad, tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="data.source"):
        run_siamese_experiment(_config(tmp_path / "missing"), tmp_path / "c", progress=False)
    for images, match in [({"size": 8}, "at least 16 pixels"), ({"size": [28]}, r"\[height, width\]"),
                          ({"colour": True}, r"images: unknown key\(s\) colour"),
                          ({"square": "crop"}, "images.square")]:
        with pytest.raises(ConfigError, match=match):
            run_siamese_experiment(_config(tiny_orl) | {"images": images}, tmp_path / "d", progress=False)
    assert not (tmp_path / "a").exists()


def test_identity_classifier_row_is_added_when_asked(tiny_orl, tmp_path):
    cfg = _config(tiny_orl)
    cfg["protocol"]["n_folds"] = 2
    cfg["train"]["epochs"] = 1
    cfg["heatmaps"] = {"n_pairs": 0}
    cfg["identity"] = {"epochs": 2, "train_images": [1, 2], "val_images": [3]}
    result = run_siamese_experiment(cfg, tmp_path / "run", progress=False)
    assert [r["feature"] for r in result.rows] == ["siamese_vgg", "vgg_identity"]
    ident = result.rows[1]
    assert ident["n_test"] == 8 and 0 <= ident["accuracy"] <= 1  # image 4 of each of 8 subjects
    assert "Identity classifier" in (tmp_path / "run" / "report.md").read_text()


def test_ensemble_pretraining_pool_after_and_augment_options(tiny_orl, tmp_path):
    cfg = _config(tiny_orl)
    cfg["images"] = {"size": [32, 24]}
    cfg["model"] = {"hidden": 8, "pool_after": [1, 3, 5]}
    cfg["train"].update(epochs=1, ensemble=2, pretrain_epochs=1, pretrain_batch_size=8, brightness=0.1,
                        hard_negatives=0.5, augment={"rotation": 0, "flip": False})
    cfg["heatmaps"] = {"n_pairs": 2}
    result = run_siamese_experiment(cfg, tmp_path / "run", progress=False)
    folds = result.rows[0]["folds"]
    assert all(len(f["best_epoch"]) == 2 and 0 <= f["val_auc"] <= 1 for f in folds)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["histories"]) == 2 * 2  # two nets in each of two folds
    assert metrics["augment"] == {"max_rotation_deg": 0.0, "max_scale": 0.08, "max_translate": 0.08, "flip": False,
                                  "erase_prob": 0.0}
    report = (tmp_path / "run" / "report.md").read_text()
    assert "pooling after layers 1, 3, 5" in report and "2 nets per fold" in report and "pretraining" in report
    assert "hardest 50 % of the different pairs" in report
    assert (tmp_path / "run" / "heatmap_pair0_same.png").is_file()
    for key, value, match in [("train", {"ensemble": 0}, "ensemble"), ("model", {"pool_after": [0]}, "pool_after"),
                              ("train", {"augment": {"shear": 3}}, "augment: unknown key")]:
        bad = _config(tiny_orl)
        bad[key] = {**bad[key], **value}
        with pytest.raises(ConfigError, match=match):
            run_siamese_experiment(bad, tmp_path / f"bad_{key}", progress=False)


def test_no_validation_subjects_trains_on_every_non_test_subject(tiny_orl, tmp_path):
    cfg = _config(tiny_orl)
    cfg["protocol"]["val_subjects"] = 0
    cfg["train"].update(select_on="none", threshold_rule="fixed", ensemble=2)
    out = tmp_path / "run"
    result = run_siamese_experiment(cfg, out, progress=False)
    row = result.rows[0]
    for f in row["folds"]:
        assert f["val_subjects"] == [] and f["val_auc"] is None and f["best_epoch"] == [2, 2]
        assert f["threshold"] == 0.5
    assert not (out / "validation_scores.json").exists()
    from affectlab.data.orl import load_orl

    assert result.config["run"]["data_sha256"] == load_orl(tiny_orl).fingerprint()
    report = (out / "report.md").read_text()
    assert "every non-test subject trains" in report and "no epoch is chosen either" in report
    assert "mean logit" in report and "validation scores" not in report
    with open(out / "predictions.csv") as handle:
        assert {p["true"] for p in csv.DictReader(handle)} == {"same", "different"}
    cfg["train"]["select_on"] = "auc"
    with pytest.raises(ConfigError, match="val_subjects: 0"):
        run_siamese_experiment(cfg, tmp_path / "bad", progress=False)


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
