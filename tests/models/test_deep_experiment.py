"""``kind: deep`` experiments: subject-independent folds, per-fold fine-tuning, deep features + SVM."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from affectlab.errors import ConfigError
from affectlab.experiments.kinds import experiment_runner


def _config(source, **method_overrides):
    return {
        "kind": "deep",
        "name": "toy-deep",
        "data": {"source": str(source)},
        "protocol": {"kind": "group_kfold", "n_splits": 2, "stratified": False, "random_state": 0},
        "methods": [
            {"label": "ft", "type": "finetune", "model": "mini_xception", "init": "mini_xception",
             "validation_fraction": 0.25, "refit": True, "tta_flip": True,
             "train": {"epochs": 2, "batch_size": 16, "lr": 0.003}, "augment": {"max_rotation_deg": 0},
             **method_overrides},
            {"label": "svm", "type": "features", "model": "mini_xception", "layer": "blocks",
             "classifier": {"name": "linear_svm", "C": 1.0}},
        ],
        "_path": None,
    }


def test_deep_experiment_writes_a_run_folder(ck_folders, tmp_path):
    runner = experiment_runner("deep")
    result = runner(_config(ck_folders), tmp_path / "run", progress=False)
    assert [r["feature"] for r in result.rows] == ["ft", "svm"]
    for row in result.rows:
        assert row["n_test"] == 48 and row["n_folds"] == 2
        assert 0.0 <= row["accuracy"] <= 1.0 and "uar" in row
        assert sum(map(sum, row["confusion"])) == 48
    ft = result.rows[0]
    assert all(f["n_val"] > 0 and f["best_epoch"] in (1, 2) and f["init_tensors_copied"] > 50 for f in ft["folds"])
    assert all(f["refit_n_train"] == f["n_train"] + f["n_val"] == 24 for f in ft["folds"])
    assert result.rows[1]["accuracy"] > 0.9  # stripes are trivially separable with FER2013 features
    out = tmp_path / "run"
    for name in ("config.yaml", "metrics.json", "predictions.csv", "report.md"):
        assert (out / name).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"]["n_folds"] == 2
    assert "subject" in (out / "report.md").read_text()
    assert yaml.safe_load((out / "config.yaml").read_text())["kind"] == "deep"
    # folds are split by subject: no subject appears in two folds' test parts
    lines = (out / "predictions.csv").read_text().splitlines()[1:]
    fold_of = {}
    for line in lines:
        _id, fold, _f, _c, _t, _p, subject = line.split(",")
        assert fold_of.setdefault(subject, fold) == fold


@pytest.mark.parametrize("change, message", [
    ({"type": "nope"}, "type 'nope' is unknown"),
    ({"model": "nope"}, "is not a registered model"),
    ({"train": {"epochz": 1}}, "epochz is not a training setting"),
    ({"learning": 1}, "learning is not a setting of a finetune method"),
    ({"init": "resnet_fer"}, "weights of another network"),
])
def test_bad_methods_are_config_errors(ck_folders, tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        experiment_runner("deep")(_config(ck_folders, **change), tmp_path / "run", progress=False)


def test_shipped_config_parses(tmp_path):
    from pathlib import Path

    from affectlab.experiments.deep import _parse_methods

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "ckplus48-deep.yaml").read_text())
    assert raw["kind"] == "deep" and raw["protocol"]["kind"] == "group_kfold"
    assert [m["type"] for m in _parse_methods(raw)] == ["finetune", "finetune", "mean", "features"]


@pytest.mark.slow
def test_finetune_resizes_and_crops_for_other_input_sizes(ck_folders, tmp_path):
    from affectlab.experiments.deep import _resize_for

    images = np.zeros((2, 48, 48), np.uint8)
    assert _resize_for("vgg_face128", images).shape == (2, 128, 128)
    assert _resize_for("tencrop_cnn", images).shape == (2, 48, 48)  # 10-crop CNN: evaluated on 48x48 faces
    raw = _config(ck_folders, model="tencrop_cnn", init=None, train={"epochs": 1, "batch_size": 16})
    raw["methods"] = raw["methods"][:1]
    result = experiment_runner("deep")(raw, tmp_path / "run", progress=False)
    assert result.rows[0]["n_test"] == 48


@pytest.mark.slow
def test_mean_method_averages_the_finetuned_probabilities(ck_folders, tmp_path):
    raw = _config(ck_folders, refit=False, train={"epochs": 1, "batch_size": 16})
    second = {**raw["methods"][0], "label": "ft2", "train": {"epochs": 1, "batch_size": 16, "seed": 5}}
    raw["methods"] = [raw["methods"][0], second, {"label": "both", "type": "mean", "of": ["ft", "ft2"]}]
    result = experiment_runner("deep")(raw, tmp_path / "run", progress=False)
    assert [r["feature"] for r in result.rows] == ["ft", "ft2", "both"]
    assert result.rows[2]["classifier"] == "mean" and result.rows[2]["n_test"] == 48
    # the ensemble's test predictions are the argmax of the two nets' averaged probabilities
    lines = [line.split(",") for line in (tmp_path / "run" / "predictions.csv").read_text().splitlines()[1:]]
    pred = {}
    for _id, _fold, method, _c, _true, label, _subject in lines:
        pred.setdefault(method, {})[_id] = label
    assert len(pred["both"]) == 48
    agree = [i for i in pred["ft"] if pred["ft"][i] == pred["ft2"][i]]
    assert agree and all(pred["both"][i] == pred["ft"][i] for i in agree)  # argmax of a mean of agreeing votes


@pytest.mark.parametrize("of", [["ft"], ["ft", "svm"], ["ft", "later"]])
def test_mean_method_needs_two_earlier_finetune_methods(ck_folders, tmp_path, of):
    raw = _config(ck_folders)
    raw["methods"].insert(2, {"label": "both", "type": "mean", "of": of})
    with pytest.raises(ConfigError, match="of: a list of at least two labels of finetune methods"):
        experiment_runner("deep")(raw, tmp_path / "run", progress=False)


def test_a_deep_run_folder_config_runs_again_and_images_size_is_checked(ck_folders, tmp_path):
    raw = _config(ck_folders)
    raw["methods"] = raw["methods"][1:]  # the deep-features method only: fast
    raw["images"] = {"size": [48, 48]}
    experiment_runner("deep")(raw, tmp_path / "first", progress=False)
    written = yaml.safe_load((tmp_path / "first" / "config.yaml").read_text())
    assert "run" in written
    again = experiment_runner("deep")({**written, "_path": None}, tmp_path / "again", progress=False)
    assert again.rows[0]["n_test"] == 48
    with pytest.raises(ConfigError, match="images.colour is not a setting"):
        experiment_runner("deep")({**raw, "images": {"size": 48, "colour": True}}, tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match=r"images.size must be a positive integer or \[height, width\]"):
        experiment_runner("deep")({**raw, "images": {"size": [48]}}, tmp_path / "bad2", progress=False)


def test_a_finetune_run_repeats_whatever_random_state_the_process_had(ck_folders, tmp_path):
    import torch

    def run(out):
        config = _config(ck_folders, refit=False)
        config["methods"] = config["methods"][:1]  # the fine-tuned net only
        return experiment_runner("deep")(config, out, progress=False).rows[0]["folds"]

    first = run(tmp_path / "a")
    torch.manual_seed(12345)  # before the fix the new class layer was drawn from this state (the test failed)
    again = run(tmp_path / "b")
    assert [f["val_accuracy"] for f in first] == [f["val_accuracy"] for f in again]
    assert (tmp_path / "a" / "predictions.csv").read_text() == (tmp_path / "b" / "predictions.csv").read_text()


def test_deep_experiment_init_default_is_the_methods_own_network(ck_folders, tmp_path):
    # docs/experiments.md: {type: finetune, model: mini_xception, init: default} failed with
    # "init weights are for resnet_fer"; a features method with init: default used resnet_fer's features
    from affectlab.experiments.kinds import experiment_runner

    svm = {"type": "features", "model": "mini_xception", "layer": "pool",
           "classifier": {"name": "linear_svm", "C": 1.0}}
    config = {
        "kind": "deep", "name": "init-default", "data": {"source": str(ck_folders)}, "_path": None,
        "protocol": {"kind": "group_kfold", "n_splits": 2, "stratified": False, "random_state": 0},
        "methods": [
            {"label": "ft", "type": "finetune", "model": "mini_xception", "init": "default",
             "validation_fraction": 0.25, "train": {"epochs": 1, "batch_size": 16},
             "augment": {"max_rotation_deg": 0}},
            {"label": "svm_default", "init": "default", **svm},
            {"label": "svm_bundled", **svm},
        ],
    }
    rows = experiment_runner("deep")(config, tmp_path / "run", progress=False).rows
    assert all(f["init_tensors_copied"] > 50 for f in rows[0]["folds"])
    assert rows[1]["confusion"] == rows[2]["confusion"] and rows[1]["accuracy"] == rows[2]["accuracy"]
