"""``kind: fusion`` experiments end to end on a tiny on-disk dataset (CK+-style names)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml

from affectlab.cli import main
from affectlab.errors import ConfigError
from affectlab.experiments import run_experiment

CLASSES = ["anger", "happy", "surprise"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AFFECTLAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture()
def toy_folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "toy"
    for k, label in enumerate(CLASSES):
        (root / label).mkdir(parents=True)
        for s in range(10):
            for j in range(2):
                image = rng.integers(0, 90, size=(24, 24)).astype(np.uint8)
                image[k * 8: k * 8 + 8, :] += 120  # one bright band per class, under noise
                cv2.imwrite(str(root / label / f"S{s:03d}_{k:03d}_{j:08d}.png"), image)
    return root


def _config(root, **fusion):
    return {
        "kind": "fusion",
        "name": "toy-fusion",
        "data": {"source": str(root)},
        "images": {"size": 24},
        "protocol": {"kind": "group_kfold", "n_splits": 3},
        "features": [{"name": "pixels"}, {"name": "hog", "pixels_per_cell": 8}],
        "classifiers": [{"name": "linear_svm", "C_grid": [0.01, 1.0], "inner_splits": 3},
                        {"name": "pls", "n_components_grid": [1, 2, 4], "inner_splits": 3}],
        "fusion": {"oof_splits": 2, "lams": [1e-3, 1e-1], **fusion},
    }


def test_fusion_run_writes_member_and_method_rows(toy_folder, tmp_path):
    result = run_experiment(_config(toy_folder), tmp_path / "run", progress=False)
    methods = [r["method"] for r in result.rows]
    assert methods.count("member") == 4  # 2 features x 2 classifiers
    assert {"fusion network", "mean of member probabilities", "logistic-regression stacking"} <= set(methods)
    assert any(m.startswith("early fusion") for m in methods)
    nets = [r for r in result.rows if r["method"] == "fusion network"]
    assert [r["fusion"] for r in nets] == ["net_svm", "net_all"]
    assert all(r["lambda_median"] in (1e-3, 1e-1) for r in nets)
    report = (tmp_path / "run" / "report.md").read_text()
    for r in nets:  # counted from each fold's own inner-CV scores, and named in the report when any
        flags = [f["lam_at_grid_edge"] for f in r["per_fold"]]
        assert r["lambda_at_grid_edge"] == sum(flags)
        assert all(set(f["cv_uar"]) == {"0.001", "0.1"} for f in r["per_fold"])
        for f in r["per_fold"]:
            low, high = f["cv_uar"]["0.001"], f["cv_uar"]["0.1"]
            assert f["lam_at_grid_edge"] == (low != high)  # a 2-value grid: the winner is an edge unless tied
        assert (f"{r['fusion']}: lambda at the edge of the grid" in report) == (sum(flags) > 0)
    for r in nets:  # the weight map of each fusion network: members x classes, averaged over folds
        assert (tmp_path / "run" / r["weights_png"]).is_file()
        assert np.shape(r["per_fold"][0]["weights"]) == (len(r["per_fold"][0]["members"]), 3)
        assert r["per_fold"][0]["classes"] == sorted(r["labels"])
    assert "fusion_weights_net_all.png" in (tmp_path / "run" / "report.md").read_text()
    for r in result.rows:
        assert r["n_test"] == 60 and 0.0 <= r["accuracy"] <= 1.0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["rows"]) == len(result.rows)
    assert "| fusion network | SVM + PLS members (4) |" in result.table()
    assert (tmp_path / "run" / "table.md").is_file() and (tmp_path / "run" / "report.md").is_file()
    import csv

    with open(tmp_path / "run" / "predictions.csv", newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 60 * len(result.rows)  # every test sample once per member and per method
    stacking = [p for p in predictions if p["feature"] == "stacking" and p["classifier"] == "fusion"]
    stacking_row = next(r for r in result.rows if r.get("fusion") == "stacking")
    assert len(stacking) == 60
    assert np.mean([p["true"] == p["pred"] for p in stacking]) == pytest.approx(stacking_row["accuracy"])


def test_crossfit_folds_cover_the_training_part_once_and_split_by_subject():
    from affectlab.evaluate.protocols import crossfit_fingerprint, crossfit_folds

    y = np.repeat([0, 1], 20)
    groups = np.repeat(np.arange(8), 5)
    folds = crossfit_folds(y, 4, groups=groups, seed=0)
    assert len(folds) == 4
    assert sorted(np.concatenate([held for _, held in folds]).tolist()) == list(range(40))
    for fit, held in folds:
        assert not set(fit) & set(held)
        assert not set(groups[fit]) & set(groups[held])
    again = crossfit_folds(y, 4, groups=groups, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    prints = {crossfit_fingerprint(y, held) for _, held in folds}
    assert len(prints) == 4 and crossfit_fingerprint(y, folds[0][1]) == crossfit_fingerprint(y, again[0][1])


def test_fixed_copies_the_chosen_hyper_parameters():
    from affectlab.classify.registry import create_classifier
    from affectlab.experiments.fusion import _fixed

    svm = _fixed(create_classifier("linear_svm", C_grid=[0.1, 1.0]), {"C": 1.0})
    assert svm.get_params()["C_grid"] is None and svm.get_params()["C"] == 1.0
    pls = _fixed(create_classifier("pls", n_components_grid=[1, 2]), {"n_components": 2})
    assert pls.get_params()["n_components_grid"] is None and pls.get_params()["n_components"] == 2


def test_bad_fusion_keys_are_named(toy_folder, tmp_path):
    with pytest.raises(ConfigError, match="fusion.methods"):
        run_experiment(_config(toy_folder, methods=["net_svm", "vote"]), tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="fusion.early.features"):
        run_experiment(_config(toy_folder, early={"features": ["lbp"]}), tmp_path / "b", progress=False)


def test_cli_runs_a_fusion_yaml(toy_folder, tmp_path, capsys):
    path = tmp_path / "fusion.yaml"
    config = _config(toy_folder, methods=["net_all"])
    config["features"] = config["features"][:1]
    config["protocol"]["n_splits"] = 3
    path.write_text(yaml.safe_dump(config))
    assert main(["experiment", str(path), "--out", str(tmp_path / "cli"), "--jobs", "1", "--no-progress"]) == 0
    assert "| fusion network |" in capsys.readouterr().out


def test_finetuned_network_joins_as_an_out_of_fold_member(toy_folder, tmp_path, monkeypatch):
    config = _config(toy_folder, methods=["net_svm", "net_all"])
    config["images"] = {"size": 48}
    config["features"] = config["features"][:1]
    config["networks"] = [{"label": "cnn_toy", "type": "finetune", "model": "mini_xception",
                           "init": "default",  # the bundled weights of mini_xception (not of the default model)
                           "train": {"epochs": 1, "batch_size": 8, "num_threads": 1}}]
    cache = tmp_path / "cache"
    result = run_experiment(config, tmp_path / "run", progress=False, cache=cache)
    members = [r["members"] for r in result.rows if r["method"] == "member"]
    assert members == ["pixels / linear_svm", "pixels / pls", "cnn_toy / cnn"]
    assert "| fusion network | SVM members + networks (2) |" in result.table()
    assert "| fusion network | SVM + PLS members + networks (3) |" in result.table()
    report = (tmp_path / "run" / "report.md").read_text()
    assert ("- network cnn_toy: mini_xception starting from `default`, fine-tuned for 1 epoch(s) on every outer and "
            "inner training part\n") in report
    # a second run reuses the cached network decisions (no training): identical rows
    from affectlab.models import train as train_module

    trainings = []
    real_fit = train_module.fit_classifier
    monkeypatch.setattr(train_module, "fit_classifier", lambda *a, **k: trainings.append(1) or real_fit(*a, **k))
    again = run_experiment(config, tmp_path / "again", progress=False, cache=cache)
    assert [r["accuracy"] for r in again.rows] == [r["accuracy"] for r in result.rows]
    assert trainings == []
    # a bumped training version retrains instead of reusing nets the old procedure trained
    from affectlab.models import versions

    monkeypatch.setattr(versions, "TRAINING_VERSION", versions.TRAINING_VERSION + 1)
    run_experiment(config, tmp_path / "changed", progress=False, cache=cache)
    assert len(trainings) == 3 * (1 + 2)  # per outer fold: the test net and one per out-of-fold split


def test_network_cache_key_names_the_declared_versions(monkeypatch):
    from affectlab.experiments import fusion_networks

    spec = fusion_networks.NetworkSpec(label="x", type="finetune", key="x", model="mini_xception")
    args = ("images", spec, ["a", "b"], np.arange(4), np.arange(4, 6), 0)
    key = fusion_networks._cache_key(*args)
    assert fusion_networks._cache_key(*args) == key
    assert fusion_networks.network_fingerprint(args[1], ["a", "b"], 0)["libraries"]["torch"].startswith("2.")
    monkeypatch.setattr(fusion_networks, "FINETUNE_VERSION", fusion_networks.FINETUNE_VERSION + 1)
    assert fusion_networks._cache_key(*args) != key


def test_network_settings_are_checked_before_running(toy_folder, tmp_path):
    config = _config(toy_folder)
    config["networks"] = [{"label": "cnn", "type": "finetune", "model": "mini_xception", "train": {}}]
    with pytest.raises(ConfigError, match="train.epochs"):
        run_experiment(config, tmp_path / "a", progress=False)
    config["networks"] = [{"label": "pixels", "type": "finetune", "model": "mini_xception", "train": {"epochs": 1}}]
    with pytest.raises(ConfigError, match="used twice"):
        run_experiment(config, tmp_path / "b", progress=False)
    config["networks"] = [{"label": "net", "type": "crossfit", "test_model": "mini_xception",
                           "oof_models": ["mini_xception", "mini_xception"]}]
    with pytest.raises(ConfigError, match="one fixed split"):
        run_experiment(config, tmp_path / "c", progress=False)


@pytest.fixture()
def toy_fer_csv(tmp_path):
    """A FER2013-format CSV: 48 Training and 12 PublicTest faces of 3 classes (bright band per class)."""
    rng = np.random.default_rng(1)
    lines = ["emotion,pixels,Usage"]
    for usage, n in (("Training", 16), ("PublicTest", 4)):
        for code in (0, 3, 5):  # angry, happy, surprise
            for _ in range(n):
                image = rng.integers(0, 90, size=(48, 48)).astype(np.uint8)
                image[code * 8: code * 8 + 8] += 120
                lines.append(f"{code},{' '.join(map(str, image.ravel()))},{usage}")
    path = tmp_path / "toy_fer.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _crossfit_config(csv, oof):
    return {"kind": "fusion", "name": "toy-crossfit", "data": {"source": str(csv)}, "images": {"size": 48},
            "protocol": {"kind": "fixed", "train": "Training", "test": "PublicTest"},
            "features": [{"name": "pixels"}],
            "classifiers": [{"name": "linear_svm", "C_grid": [0.01, 1.0], "inner_splits": 2}],
            "fusion": {"oof_splits": 2, "lams": [1e-3], "methods": ["net_svm"]},
            "networks": [{"label": "mx", "type": "crossfit", "test_model": "mini_xception", "oof_models": oof}]}


def test_crossfit_network_checks_each_file_against_its_held_out_part(toy_fer_csv, tmp_path):
    from affectlab.data import load_dataset
    from affectlab.evaluate.protocols import crossfit_fingerprint, crossfit_folds
    from affectlab.models import create_model, save_weights

    train = load_dataset(toy_fer_csv).filter(split="Training")
    y = np.asarray(train.labels).astype(str)
    parts = crossfit_folds(y, 2, seed=0)
    paths = []
    for j, (_, held) in enumerate(parts):
        info = {"fingerprint": crossfit_fingerprint(y, held)}
        paths.append(str(save_weights(create_model("mini_xception"), tmp_path / f"f{j}.pt", extra={"crossfit": info})))
    result = run_experiment(_crossfit_config(toy_fer_csv, str(tmp_path / "f{fold}.pt")), tmp_path / "ok",
                            progress=False)
    assert [r["members"] for r in result.rows if r["method"] == "member"] == ["pixels / linear_svm", "mx / cnn"]
    assert all(r["n_test"] == 12 for r in result.rows)
    assert ("- network mx: test part scored by `mini_xception`, out-of-fold values by 2 cross-fitted files\n"
            in (tmp_path / "ok" / "report.md").read_text())
    with pytest.raises(ConfigError, match=r"oof_models\[0\].*--crossfit-fold 0"):
        run_experiment(_crossfit_config(toy_fer_csv, [paths[1], paths[0]]), tmp_path / "swapped", progress=False)


def test_inner_mean_test_decisions_average_the_inner_models(toy_folder, tmp_path, monkeypatch):
    import affectlab.experiments.fusion as fe

    seen = []
    original = fe._mean_decisions

    def spy(parts):
        seen.append(len(parts))
        return original(parts)

    monkeypatch.setattr(fe, "_mean_decisions", spy)
    config = _config(toy_folder, methods=["net_all"], test_decisions="inner_mean")
    config["features"] = config["features"][:1]
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert seen == [2] * 6  # 3 folds x 2 members, each the mean of the 2 inner-fold models
    assert [r["method"] for r in result.rows] == ["member", "member", "fusion network"]
    assert np.allclose(fe._mean_decisions([np.array([[1.0, np.nan]]), np.array([[3.0, np.nan]])]),
                       np.array([[2.0, np.nan]]), equal_nan=True)
    with pytest.raises(ConfigError, match="fusion.test_decisions 'median' is unknown"):
        run_experiment(_config(toy_folder, test_decisions="median"), tmp_path / "bad", progress=False)


def test_fusion_reads_member_columns_in_the_class_order_it_was_fitted_with(tmp_path):
    """Labels in a non-alphabetical run order (as FER2013's) must reach the fusion in sorted order."""
    from affectlab.evaluate.protocols import Fold
    from affectlab.experiments.fusion import FusionInputs, FusionSpec, fusion_fold

    rng = np.random.default_rng(0)
    labels = ["zeta", "alpha", "mid"]  # run order, not sorted
    y = np.array(labels * 40)
    X = np.eye(3)[[labels.index(v) for v in y]] * 3 + rng.normal(0, 0.3, (120, 3))  # column j <-> labels[j]
    fold = Fold("f0", np.arange(90), np.arange(90, 120))
    from affectlab.classify.registry import create_classifier

    spec = FusionSpec(oof_splits=2, lams=[1e-3], methods=["net_all", "mean_proba"], svm_classifier="linear_svm",
                      test_decisions="refit")
    svm = create_classifier("linear_svm", C=1.0)
    inputs = FusionInputs([("raw", "pixels", None)], {"raw": X}, [("linear_svm", svm)], y, None, labels, spec,
                          images=np.zeros((120, 2, 2), np.uint8))
    out = fusion_fold(0, fold, inputs)
    for method in ("net_all", "mean_proba"):
        assert np.mean(out["fused"][method]["pred"] == y[90:]) > 0.95, method


def test_fusion_with_a_finetuned_member_gives_the_same_predictions_with_one_or_two_jobs(toy_folder, tmp_path):
    import random

    import torch

    config = _config(toy_folder, methods=["net_all", "stacking"])
    config["images"] = {"size": 48}
    config["features"] = config["features"][:1]
    config["networks"] = [{"label": "cnn_toy", "type": "finetune", "model": "mini_xception", "init": "default",
                           "train": {"epochs": 1, "batch_size": 8, "num_threads": 1}}]
    outputs = []
    for jobs, disturb in ((1, 7), (2, 123)):  # another process layout and another random state: the same run
        random.seed(disturb)
        np.random.seed(disturb)
        torch.manual_seed(disturb)
        run_experiment(config, tmp_path / f"j{jobs}", progress=False, n_jobs=jobs)
        outputs.append((tmp_path / f"j{jobs}" / "predictions.csv").read_bytes())
    assert outputs[0] == outputs[1]


def test_a_seed_ensemble_averages_the_probabilities_of_nets_from_other_seeds(tmp_path, monkeypatch):
    from affectlab.experiments import fusion_networks
    from affectlab.experiments.fusion import describe_network
    from affectlab.features.cache import FeatureCache
    from affectlab.models import train as train_module

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(24, 48, 48)).astype(np.float32) / 255
    y = np.array(CLASSES * 8)
    raw = [{"label": "cnn_toy", "type": "finetune", "model": "mini_xception", "init": "default",
            "train": {"epochs": 1, "batch_size": 8, "num_threads": 1}}]
    single = fusion_networks.parse_networks(raw, base=None, oof_splits=2, feature_labels=[])[0]
    pair = fusion_networks.parse_networks([{**raw[0], "seeds": 2}], base=None, oof_splits=2, feature_labels=[])[0]
    cache = FeatureCache(tmp_path / "nets")
    trainings = []
    real_fit = train_module.fit_classifier
    monkeypatch.setattr(train_module, "fit_classifier", lambda *a, **k: trainings.append(1) or real_fit(*a, **k))
    fit, score = np.arange(18), np.arange(18, 24)
    args = (images, y, CLASSES, fit, score)
    first = fusion_networks._ensemble_scores(single, *args, 5, cache, "toy")
    second = fusion_networks._finetune_scores(single, *args, 5 + fusion_networks.ENSEMBLE_SEED_STEP, None, None)
    assert not np.allclose(first, second)  # another seed, another net
    assert len(trainings) == 2
    assert describe_network(pair).endswith("part, a 2-seed ensemble (probabilities averaged)")
    both = fusion_networks._ensemble_scores(pair, *args, 5, cache, "toy")
    assert len(trainings) == 3  # the first net of the ensemble is the cached single net
    np.testing.assert_allclose(both, np.log((np.exp(first) + np.exp(second)) / 2), rtol=1e-6)
    np.testing.assert_allclose(np.exp(both).sum(1), 1, atol=1e-4)


@pytest.mark.parametrize("seeds", [0, True, 2.5, "3", 51])
def test_seeds_of_a_finetuned_network_must_be_a_small_positive_integer(seeds):
    from affectlab.experiments import fusion_networks

    raw = [{"label": "cnn", "type": "finetune", "model": "mini_xception", "train": {"epochs": 1}, "seeds": seeds}]
    with pytest.raises(ConfigError, match=r"networks\[0\]\.seeds must be an integer from 1 to 50"):
        fusion_networks.parse_networks(raw, base=None, oof_splits=2, feature_labels=[])


def test_inner_mean_scores_the_test_part_with_the_inner_fold_nets(tmp_path, monkeypatch):
    """Under inner_mean a fine-tuned member gives the fusion the mean of the inner-fold nets (the nets behind its
    out-of-fold values) on the test part; its own prediction stays the net fine-tuned on the whole training part."""
    from affectlab.evaluate.protocols import Fold
    from affectlab.experiments import fusion_networks
    from affectlab.models import train as train_module

    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, size=(30, 48, 48)).astype(np.float32) / 255
    y = np.array(CLASSES * 10)
    spec = fusion_networks.parse_networks(
        [{"label": "cnn_toy", "type": "finetune", "model": "mini_xception", "init": "default",
          "train": {"epochs": 1, "batch_size": 8, "num_threads": 1}}], base=None, oof_splits=2, feature_labels=[])[0]
    fold = Fold("f0", np.arange(24), np.arange(24, 30))
    positions = [(np.arange(12), np.arange(12, 24)), (np.arange(12, 24), np.arange(12))]
    trainings = []
    real_fit = train_module.fit_classifier
    monkeypatch.setattr(train_module, "fit_classifier", lambda *a, **k: trainings.append(1) or real_fit(*a, **k))
    args = (spec, 0, fold, positions, images, y, CLASSES)
    refit = fusion_networks.network_member(*args)
    bagged = fusion_networks.network_member(*args, test_decisions="inner_mean")
    assert len(trainings) == 6  # no cache: 1 + 2 nets each time
    np.testing.assert_allclose(bagged["oof"], refit["oof"], rtol=1e-5, atol=1e-6)  # the same inner-fold nets
    assert list(bagged["pred"]) == list(refit["pred"])  # the member's own row: the net of the whole training part
    inner = [fusion_networks._finetune_scores(spec, images, y, CLASSES, fold.train[fit], fold.test, j + 1, None, None)
             for j, (fit, _) in enumerate(positions)]
    expected = np.log(np.mean([np.exp(s) for s in inner], axis=0))
    np.testing.assert_allclose(bagged["test"], expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(bagged["test"], refit["test"])
    assert list(bagged["pred_inner_mean"]) == list(np.asarray(CLASSES)[expected.argmax(1)])
    assert "pred_inner_mean" not in refit


def test_a_fusion_run_under_inner_mean_reports_each_networks_inner_fold_mean(toy_folder, tmp_path):
    config = _config(toy_folder, methods=["net_all"], test_decisions="inner_mean")
    config["images"] = {"size": 48}
    config["features"] = config["features"][:1]
    config["networks"] = [{"label": "cnn_toy", "type": "finetune", "model": "mini_xception", "init": "default",
                           "train": {"epochs": 1, "batch_size": 8, "num_threads": 1}}]
    result = run_experiment(config, tmp_path / "run", progress=False)
    members = [r["members"] for r in result.rows if r["method"] == "member"]
    assert members == ["pixels / linear_svm", "pixels / pls", "cnn_toy / cnn", "cnn_toy / cnn_inner_mean"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "- test decision values given to the fusion: the mean of each member's inner-fold models" in report
    assert "cnn_toy,cnn_inner_mean" in (tmp_path / "run" / "predictions.csv").read_text()


def _fusion_file(folder, tmp_path, **changes):
    """A ``kind: fusion`` YAML file (with a fine-tuned and a cross-fitted network), read as ``run_experiment``
    reads it (the mapping with its ``_path``)."""
    from affectlab.experiments.config import read_raw_config

    config = {**_config(folder, methods=["net_all", "early"], early={"features": ["hog"]}, test_decisions="inner_mean"),
              "seed": 3, "networks": [
                  {"label": "cnn", "type": "finetune", "model": "mini_xception", "init": "default", "seeds": 2,
                   "train": {"epochs": 1, "batch_size": 8}, "augment": {"flip": False}},
                  {"type": "crossfit", "label": "fixed", "test_model": "mini_xception", "oof_models": "m{fold}.pt"}],
              **changes}
    for j in range(2):
        (tmp_path / f"m{j}.pt").write_bytes(b"")
    path = tmp_path / "typed.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    raw, _ = read_raw_config(path)
    return {**raw, "_path": path}


def test_fusion_schema_round_trips_through_its_resolved_form(toy_folder, tmp_path):
    import dataclasses

    from affectlab.experiments.fusion import FusionConfig, FusionEarly, load_fusion_config
    from affectlab.experiments.fusion_networks import NetworkSpec

    cfg = load_fusion_config(_fusion_file(toy_folder, tmp_path))
    assert isinstance(cfg, FusionConfig) and cfg.seed == 3
    spec = cfg.fusion
    assert (spec.oof_splits, spec.lams, spec.methods, spec.test_decisions) == (2, [1e-3, 1e-1], ["net_all", "early"],
                                                                              "inner_mean")
    assert spec.early == FusionEarly(features=["hog"]) and spec.svm_classifier == "linear_svm"
    finetune, crossfit = cfg.networks
    assert isinstance(finetune, NetworkSpec) and (finetune.seeds, finetune.key) == (2, "networks[0]")
    assert finetune.train_config(5, "cpu").augment.flip is False and finetune.train_config(5, "cpu").seed == 5
    assert crossfit.oof_models == tuple(str((tmp_path / f"m{j}.pt").resolve()) for j in range(2))
    resolved = cfg.to_dict()
    assert list(resolved["fusion"]) == ["oof_splits", "lams", "methods", "early", "test_decisions", "svm_classifier"]
    assert resolved["networks"][1] == {"type": "crossfit", "label": "fixed", "test_model": "mini_xception",
                                       "oof_models": list(crossfit.oof_models), "tta_flip": False}
    again = load_fusion_config({**resolved, "seed": 3})
    assert again.to_dict() == resolved and again.fusion == spec and again.networks == cfg.networks
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.oof_splits = 3  # type: ignore[misc]


@pytest.mark.parametrize(("changes", "message"), [
    ({"fusion": {"oof_splits": 2.0}}, "fusion.oof_splits must be an integer >= 2, got 2.0"),            # type
    ({"seed": "3"}, "seed must be null or an int >= 0, got '3'"),
    ({"networks": [{"label": "n", "type": "finetune", "model": "mini_xception", "train": {"epochs": 1},
                    "tta_flip": "yes"}]}, "networks\\[0\\].tta_flip must be true or false, got 'yes'"),
    ({"fusion": {"oof_splits": 1}}, "fusion.oof_splits must be an integer >= 2, got 1"),               # range
    ({"fusion": {"lams": [-1]}}, r"fusion.lams must be a non-empty list of numbers >= 0, got \[-1\]"),
    ({"networks": [{"label": "n", "type": "finetune", "model": "mini_xception", "train": {"epochs": 1},
                    "seeds": 51}]}, r"networks\[0\].seeds must be an integer from 1 to 50 .*not 51"),
    ({"fusion": {"oof_split": 2}}, r"unknown key fusion.oof_split \(known: oof_splits, lams"),           # unknown key
    ({"fusion": {"methods": ["early"], "early": {"feature": ["hog"]}}}, r"fusion.early: unknown key\(s\) feature"),
    ({"networks": [{"label": "n", "type": "finetune", "model": "mini_xception", "train": {"epochs": 1},
                    "lr": 0.1}]}, r"networks\[0\].lr is not a setting of a finetune network"),
    ({"fusion": {"test_decisions": "median"}}, "fusion.test_decisions 'median' is unknown \\(known: refit"),  # choice
    ({"fusion": {"methods": ["net_svm", "vote"]}},
     r"fusion.methods must be a list of net_svm, .*got \['net_svm', 'vote'\]"),
    ({"fusion": {"svm_classifier": "svm"}}, "fusion.svm_classifier 'svm' is not a classifier label of this config"),
    ({"fusion": {"methods": ["early"], "early": {"features": ["lbp"]}}},
     "fusion.early.features: 'lbp' is not a feature"),
    ({"fusion": {"methods": ["early"], "early": {"classifier": {"name": "svm9"}}}}, "fusion.early.classifier: .*svm9"),
    ({"networks": [{"label": "n", "type": "scratch"}]}, r"networks\[0\].type 'scratch' is unknown"),
])
def test_fusion_schema_errors_name_the_file_the_key_and_the_value(toy_folder, tmp_path, changes, message):
    from affectlab.experiments.fusion import load_fusion_config

    with pytest.raises(ConfigError, match=message) as caught:
        load_fusion_config(_fusion_file(toy_folder, tmp_path, **changes))
    assert str(caught.value).startswith(f"{tmp_path / 'typed.yaml'}: ")
