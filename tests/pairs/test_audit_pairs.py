"""Audit regressions for the posed/spontaneous pairs API: manifests, networks, training and the experiment's checks."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlab.errors import AffectLabError, ConfigError, DataError, MediaReadError
from affectlab.experiments.pairs import run_pairs_experiment
from affectlab.models.train import TrainConfig
from affectlab.pairs import (
    build_pair_network,
    center_crop,
    fit_pair_network,
    load_pair_images,
    read_pair_manifest,
)


def _manifest(root: Path, n_subjects: int = 6, per_subject: int = 4, *, apex_size=(24, 24)) -> Path:
    """Synthetic pairs: 'spontaneous' apexes get a bright band, 'posed' ones a dark band."""
    rng = np.random.default_rng(0)
    rows = []
    for s in range(n_subjects):
        for k in range(per_subject):
            label = ("posed", "spontaneous")[k % 2]
            onset = rng.integers(60, 200, (24, 24), dtype=np.uint8)
            apex = onset.copy()
            apex[4:8] = 255 if label == "spontaneous" else 0
            if (s, k) == (0, 1):
                apex = cv2.resize(apex, apex_size[::-1])
            cv2.imwrite(str(root / f"s{s}_{k}_on.png"), onset)
            cv2.imwrite(str(root / f"s{s}_{k}_ap.png"), apex)
            rows.append([f"s{s}_{k}_on.png", f"s{s}_{k}_ap.png", label, f"S{s:03d}"])
    path = root / "pairs.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["onset", "apex", "label", "subject"], *rows])
    return path


def _config(manifest: Path, **over) -> dict:
    cfg = {"kind": "pairs", "data": {"manifest": str(manifest)}, "images": {"size": 24, "crop": 20},
           "protocol": {"n_folds": 2, "val_subjects": 1, "seed": 0, "run_folds": 1},
           "model": {"channels": [2, 2, 2], "fc": [4, 4]}, "models": ["DiffCNN"],
           "train": {"epochs": 1, "batch_size": 8, "num_threads": 1, "device": "cpu"},
           "baselines": {"pixel_svm": False}}
    cfg.update(over)
    return cfg


def test_onset_and_apex_of_different_sizes_are_refused(tmp_path):
    path = _manifest(tmp_path, apex_size=(30, 20))
    # before: both were resized to size x size apart, a distorted apex - onset difference, without a word
    with pytest.raises(DataError, match=r"row 3: onset .*s0_1_on.png is 24x24 but apex .*s0_1_ap.png is 20x30"):
        load_pair_images(read_pair_manifest(path), root=tmp_path, size=24)
    out = tmp_path / "run"
    with pytest.raises(DataError, match="row 3"):
        run_pairs_experiment(_config(path), out, progress=False)
    assert not out.exists()


def test_same_size_pairs_other_than_size_are_still_resized(tmp_path):
    path = _manifest(tmp_path)
    onset, apex = load_pair_images(read_pair_manifest(path), root=tmp_path, size=16)
    assert onset.shape == apex.shape == (24, 16, 16)


def test_missing_onset_and_missing_subject_name_the_row(tmp_path):
    path = _manifest(tmp_path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[2][0] = "nope.png"
    rows[4][3] = ""
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(DataError, match="row 5: empty subject"):
        read_pair_manifest(bad)
    rows[4][3] = "S001"
    with open(bad, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(MediaReadError, match=r"row 3 \(onset\).*nope.png"):
        load_pair_images(read_pair_manifest(bad), root=tmp_path)


@pytest.mark.parametrize("over, match", [
    ({"protocol": {"n_folds": 2, "val_subjects": 1, "run_folds": 5}}, "run_folds 5 is more than protocol.n_folds 2"),
    ({"models": ["DiffCNN", "DiffCNN"]}, "DiffCNN listed more than once"),
    ({"train": {"epochs": 0}}, "train.epochs must be an integer >= 1"),
    ({"train": {"epochs": "two"}}, "train.epochs"),
    ({"train": {"lr": "fast"}}, "train.lr"),
    ({"train": {"batch_size": 0}}, "train.batch_size"),
    ({"train": {"device": "tpu"}}, "device 'tpu'"),
    ({"model": {"channels": [2, 2, 2], "fc": [4, 4], "comb_init": "zeros"}}, "comb_init"),
    ({"model": {"channels": "abc", "fc": [4, 4]}}, "positive integer sizes"),
    ({"model": {"channels": [2, 2, 2], "fc": [4.5, 4]}}, "positive integer sizes"),
    ({"baselines": {"pixel_svm": "no"}}, "pixel_svm must be true or false"),
    ({"protocol": {"n_folds": 2, "val_subjects": 3}}, "val_subjects 3 leaves no training subjects"),
    ({"protocol": {"n_folds": 10, "val_subjects": 1}}, "only 6 subjects"),
])
def test_bad_settings_are_one_error_before_any_run_folder(tmp_path, over, match):
    # before: run_folds > n_folds wrote a report saying the run was stopped; duplicate models doubled their rows;
    # epochs 0 reported untrained nets; others raised TypeError / ZeroDivisionError or left a run folder
    path = _manifest(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(AffectLabError, match=match):
        run_pairs_experiment(_config(path, **over), out, progress=False)
    assert not out.exists()


def test_partial_report_names_the_models_that_ran(tmp_path):
    path = _manifest(tmp_path)
    result = run_pairs_experiment(_config(path), tmp_path / "run", progress=False)
    report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert [r["model"] for r in result.rows] == ["DiffCNN"]
    assert "1 of the 7 nets and 0 of the 2 CompCNN-SVMs" in report and "all 9 models" not in report
    assert "PARTIAL: only the first 1 of the 2 folds" in report


def test_fit_pair_network_refuses_bad_labels_sizes_and_epochs():
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 255, (8, 2, 24, 24), dtype=np.uint8), np.arange(8) % 2
    net = build_pair_network("CompCNN-Sub@1", channels=(2, 2, 2), fc=(4, 4), input_size=(20, 20))
    cfg = TrainConfig(epochs=1, batch_size=4, device="cpu")
    cases = [((X, y[:5]), (X, y), cfg, "one label per pair"),                      # before: IndexError
             ((X, np.where(y == 0, "posed", "spontaneous")), (X, y), cfg, "class indices 0 and 1"),  # TypeError
             ((X, np.arange(8) % 3), (X, y), cfg, r"got \[0, 1, 2\]"),            # IndexError "Target 2"
             ((X[:, :, :12, :12], y), (X, y), cfg, "smaller than the net's 20x20 input"),  # RuntimeError
             ((X, y), (X, y), TrainConfig(epochs=0), "epochs must be an int >= 1")]  # untrained, best_epoch -1
    for train, val, config, match in cases:
        with pytest.raises((DataError, ConfigError), match=match):
            fit_pair_network(net, train=train, val=val, config=config, progress=False)


def test_center_crop_and_network_arguments():
    x = np.zeros((2, 2, 48, 48))
    for size in (0, -3, 2.5):
        with pytest.raises(DataError, match="crop size"):     # before: an empty or odd crop without a word
            center_crop(x, size)
    assert center_crop(x, np.int64(44)).shape == (2, 2, 44, 44)
    with pytest.raises(ConfigError, match="comb_init"):       # before: ignored for DiffCNN and Sub nets
        build_pair_network("CompCNN-Sub@2", comb_init="zeros")
    assert build_pair_network("DiffCNN", channels=[np.int64(2)] * 3, fc=(4, 4)).channels == (2, 2, 2)
