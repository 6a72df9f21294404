"""Real data: a reduced CK+48 experiment end to end (3 folds by subject, HOG + linear SVM)."""

from __future__ import annotations

import json

import pytest

from affectlab.experiments import run_experiment

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


def test_ckplus48_hog_linear_svm_3_folds(dataset_path, tmp_path):
    source = dataset_path("ckplus48")
    config = {
        "name": "ckplus48-smoke",
        "data": {"source": str(source)},
        "images": {"size": 48},
        "protocol": {"kind": "group_kfold", "n_splits": 3},
        "features": [{"name": "hog", "pixels_per_cell": 8}],
        "classifiers": [{"name": "linear_svm", "C": 0.01}],
    }
    result = run_experiment(config, tmp_path / "run", progress=False)
    out = result.out_dir
    for name in ("config.yaml", "metrics.json", "predictions.csv", "report.md", "confusion_hog_linear_svm.png"):
        assert (out / name).is_file(), name
    (row,) = json.loads((out / "metrics.json").read_text())["rows"]
    assert row["n_test"] == 981 and row["n_folds"] == 3
    assert row["accuracy"] > 0.5 and row["uar"] > 0.4  # chance is about 0.25 (surprise) / 1/7 UAR
    assert len(row["labels"]) == 7
