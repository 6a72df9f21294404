"""Session-7 audit of `affectlab experiment`, `compare` and `report`: bad input is one line and exit 1,
and a run that fails on its config or its data leaves no run folder behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from affectlab.cli import main
from affectlab.errors import ConfigError, DataError
from affectlab.evaluate.compare import read_predictions
from affectlab.evaluate.protocols import Fold
from affectlab.evaluate.report import collect_results
from affectlab.experiments import load_config

CLASSES = ("anger", "happy", "surprise")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AFFECTLAB_CACHE_DIR", str(tmp_path / "cache"))


def _folder_dataset(root: Path, n_subjects: int = 4, size: int = 24) -> Path:
    """``root/<class>/S<subj>_001_0000000<k>.png``: CK+-style names, so subjects are known."""
    rng = np.random.default_rng(0)
    for c, label in enumerate(CLASSES):
        (root / label).mkdir(parents=True)
        for s in range(1, n_subjects + 1):
            for k in (1, 2):
                image = rng.integers(0, 60, size=(size, size)).astype(np.uint8)
                image[c * 8 : c * 8 + 8] += 150
                cv2.imwrite(str(root / label / f"S{s:03d}_001_{k:08d}.png"), image)
    return root


def _write_config(tmp_path: Path, data: Path, **overrides) -> Path:
    config = {
        "name": "audit",
        "data": {"source": str(data)},
        "protocol": {"kind": "group_kfold", "n_splits": 2},
        "features": ["pixels", {"name": "hog", "pixels_per_cell": 8}],
        "classifiers": [{"name": "linear_svm", "C": 0.01}],
    }
    config.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _run(config: Path, out: Path, *extra: str) -> int:
    return main(["experiment", str(config), "--out", str(out), "--no-progress", "-j", "1", *extra])


@pytest.mark.parametrize("classifier, needle", [
    ({"name": "linear_svm", "C": "abc"}, "classifiers[0] (linear_svm): The 'C' parameter"),
    ({"name": "linear_svm", "C": -1}, "classifiers[0] (linear_svm): The 'C' parameter"),
])
def test_classifier_value_sklearn_refuses_is_a_config_error_when_read(tmp_path, capsys, classifier, needle):
    data = _folder_dataset(tmp_path / "data")
    config = _write_config(tmp_path, data, classifiers=[classifier])
    with pytest.raises(ConfigError, match=r"classifiers\[0\]"):
        load_config(config)
    assert _run(config, tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("feature, needle", [
    ({"name": "hog", "pixels_per_cell": "abc"}, "features[1] (hog):"),
    ({"name": "hog", "pixels_per_cell": 64}, "smaller than one block"),
])
def test_feature_that_cannot_run_stops_before_the_run_folder(tmp_path, capsys, feature, needle):
    data = _folder_dataset(tmp_path / "data")
    config = _write_config(tmp_path, data, features=["pixels", feature])
    assert _run(config, tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, grid", [("linear_svm", "C_grid"), ("pls", "n_components_grid")])
def test_inner_splits_below_two_is_refused_when_the_config_is_read(tmp_path, capsys, name, grid):
    data = _folder_dataset(tmp_path / "data")
    config = _write_config(tmp_path, data, classifiers=[{"name": name, grid: [1, 2], "inner_splits": 1,
                                                          "label": "cv"}])
    assert _run(config, tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert f"classifiers[0]: classifier '{name}': inner_splits must be an integer >= 2, got 1" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_corrupt_image_leaves_no_run_folder_so_a_rerun_needs_no_overwrite(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data")
    bad = data / "happy" / "S002_001_00000001.png"
    good = bad.read_bytes()
    bad.write_bytes(b"not a png")
    config = _write_config(tmp_path, data)
    assert _run(config, tmp_path / "run") == 1
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    bad.write_bytes(good)  # the user repairs the file and runs the same command again
    assert _run(config, tmp_path / "run") == 0
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_images_of_different_sizes_name_the_files(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data")
    odd = data / "surprise" / "S003_001_00000002.png"
    cv2.imwrite(str(odd), np.zeros((30, 20), np.uint8))
    config = _write_config(tmp_path, data)
    assert _run(config, tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert f"{odd} is 30x20" in err and "images: {size: N}" in err
    assert not (tmp_path / "run").exists()


def test_missing_subject_names_the_first_sample_and_its_row(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data")
    rows = ["path,label,subject,split"]
    for label in CLASSES:
        for file in sorted((data / label).iterdir()):
            rows.append(f"{file.relative_to(tmp_path)},{label},{file.name[:4]},")
    rows[3] = rows[3].replace(",S002,", ",,")  # line 4 of the file: no subject
    manifest = tmp_path / "faces.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = _write_config(tmp_path, manifest)
    assert _run(config, tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert "1 of 24 samples have none" in err and "(row 4)" in err and "anger/S002_001_00000001.png" in err


def test_class_without_training_samples_in_a_fold_is_warned(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data")
    (data / "fear").mkdir()
    for k in (1, 2):  # a fourth class, all from one person
        cv2.imwrite(str(data / "fear" / f"S099_001_{k:08d}.png"), np.full((24, 24), 90, np.uint8))
    config = _write_config(tmp_path, data, protocol={"kind": "logo"})
    with pytest.warns(UserWarning, match="'fear' in S099"):
        assert _run(config, tmp_path / "run") == 0
    from affectlab.experiments.stages import classes_missing_from_training

    y = np.array(["a", "a", "b", "b", "c"])
    folds = [Fold("f1", np.array([0, 2]), np.array([1, 3, 4])), Fold("f2", np.array([1, 3, 4]), np.array([0, 2]))]
    assert classes_missing_from_training(folds, y) == {"c": ["f1"]}


def test_compare_hint_quotes_a_run_folder_with_spaces(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data")
    out = tmp_path / "my runs" / "ck"
    assert _run(_write_config(tmp_path, data), out) == 0
    assert f"affectlab compare '{out}' A B" in capsys.readouterr().err


def test_compare_unreadable_or_ragged_predictions_are_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    file = run / "predictions.csv"
    cases = [
        (b"\xff\xfe\x00garbage", "not a UTF-8 text CSV file"),
        (b"id,true,pred,feature\n1,a,b\n", "line 2 has fewer fields than the header (4)"),
        (b"id,true,pred,feature\n1,a,b,x,y\n", "line 2 has more fields than the header (4)"),
    ]
    for content, message in cases:
        file.write_bytes(content)
        with pytest.raises(DataError, match=re.escape(message)):
            read_predictions(run)
        assert main(["compare", str(run), "x", "y"]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def _metrics_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"rows": [
        {"feature": "hog", "classifier": "svm", "accuracy": 0.9, "uar": 0.8, "n_test": 10}]}))
    return folder


def test_report_of_the_current_folder_names_it(tmp_path, monkeypatch):
    run = _metrics_run(tmp_path / "ck-hog")
    monkeypatch.chdir(run)
    assert collect_results(["."])[0]["run"] == "ck-hog"
    assert collect_results([run / "metrics.json"])[0]["run"] == "ck-hog"


def test_report_out_in_a_missing_folder_is_one_line(tmp_path, capsys):
    run = _metrics_run(tmp_path / "ck-hog")
    target = tmp_path / "no" / "such" / "table.md"
    assert main(["report", str(run), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"affectlab: error: --out {target}: cannot write") and "Traceback" not in err


def test_a_dataset_object_for_another_kind_is_refused_not_ignored(tmp_path):
    from affectlab.data import Dataset
    from affectlab.errors import ConfigError
    from affectlab.experiments import run_experiment

    config = {"kind": "sequences", "name": "x", "data": {"source": str(tmp_path / "no-such-folder")}}
    with pytest.raises(ConfigError, match="dataset= is read by kind 'features' only, not 'sequences'"):
        run_experiment(config, tmp_path / "run", dataset=Dataset(name="x", samples=[], classes=[]), progress=False)
    assert not (tmp_path / "run").exists()
