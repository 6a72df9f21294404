"""``kind: fusion`` experiments end to end on a tiny on-disk dataset (CK+-style names)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml

from affectlab.cli import main
from affectlab.errors import ConfigError
from affectlab.evaluate import run_experiment

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
    for r in result.rows:
        assert r["n_test"] == 60 and 0.0 <= r["accuracy"] <= 1.0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["rows"]) == len(result.rows)
    assert "| fusion network | SVM + PLS members (4) |" in result.table()
    assert (tmp_path / "run" / "table.md").is_file() and (tmp_path / "run" / "report.md").is_file()


def test_inner_folds_cover_the_training_part_once_and_split_by_subject():
    from affectlab.classify.fusion_experiment import _inner_folds

    train = np.arange(100, 140)
    y = np.zeros(200, dtype=int)
    y[train] = np.repeat([0, 1], 20)
    groups = np.zeros(200, dtype=int)
    groups[train] = np.repeat(np.arange(8), 5)
    folds = _inner_folds(train, y, groups, 4, seed=0)
    assert len(folds) == 4
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == train.tolist()
    for inner_train, inner_val in folds:
        assert not set(inner_train) & set(inner_val)
        assert not set(groups[inner_train]) & set(groups[inner_val])


def test_fixed_copies_the_chosen_hyper_parameters():
    from affectlab.classify.fusion_experiment import _fixed
    from affectlab.classify.registry import create_classifier

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
