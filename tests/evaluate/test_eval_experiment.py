"""Experiment runner, run folder and ``affectlab experiment`` on small synthetic data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from affectlab.cli import main
from affectlab.data import Dataset, Sample
from affectlab.errors import ConfigError, ProtocolError
from affectlab.evaluate.protocols import Fold
from affectlab.experiments import load_config, run_experiment
from affectlab.viz import plot_confusion_matrix

CLASSES = ["anger", "happy", "surprise"]


def _image(label: int, rng: np.random.Generator) -> np.ndarray:
    image = rng.integers(0, 60, size=(16, 16)).astype(np.uint8)
    image[label * 5 : label * 5 + 5, :] += 150  # one bright band per class
    return image


def _dataset(n_subjects=8, per_class=2, seed=0, splits=None) -> Dataset:
    rng = np.random.default_rng(seed)
    samples = []
    for s in range(n_subjects):
        for k, label in enumerate(CLASSES):
            for j in range(per_class):
                split = None if splits is None else splits(s)
                samples.append(Sample(id=f"S{s:03d}_{k}_{j}", label=label, subject=f"S{s:03d}", split=split,
                                      pixels=_image(k, rng)))
    return Dataset("toy", samples, list(CLASSES), "image")


def _config(**overrides):
    config = {
        "name": "toy",
        "data": {"source": "unused"},
        "protocol": {"kind": "group_kfold", "n_splits": 4},
        "features": [{"name": "pixels"}, {"name": "hog", "pixels_per_cell": 4}],
        "classifiers": [{"name": "linear_svm", "C": 0.1}],
    }
    config.update(overrides)
    return config


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """The CLI caches features in $AFFECTLAB_CACHE_DIR: keep it out of the home folder."""
    monkeypatch.setenv("AFFECTLAB_CACHE_DIR", str(tmp_path / "cache"))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_run_folder_contents(tmp_path):
    ds = _dataset()
    result = run_experiment(_config(), tmp_path / "run", dataset=ds, progress=False)
    out = result.out_dir
    assert result.n_folds == 4 and len(result.rows) == 2
    for name in ("config.yaml", "metrics.json", "predictions.csv", "report.md",
                 "confusion_pixels_linear_svm.png", "confusion_hog_linear_svm.png"):
        assert (out / name).is_file(), name

    metrics = json.loads((out / "metrics.json").read_text())
    assert [(r["feature"], r["classifier"]) for r in metrics["rows"]] == [("pixels", "linear_svm"),
                                                                           ("hog", "linear_svm")]
    for row in metrics["rows"]:
        assert row["n_test"] == len(ds) and row["accuracy"] > 0.9 and row["uar"] > 0.9
        assert set(row) >= {"macro_f1", "params", "confusion", "per_class_recall", "n_folds"}
    assert metrics["rows"][1]["params"]["feature"] == {"name": "hog", "pixels_per_cell": 4}

    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["run"]["n_folds"] == 4 and config["run"]["affectlab"]
    assert config["protocol"]["kind"] == "group_kfold" and "timestamp" in config["run"]
    assert config["run"]["data_sha256"] == ds.fingerprint()
    assert load_config(config, check_source=False).protocol == config["protocol"]  # re-runnable

    rows = _read_csv(out / "predictions.csv")
    assert list(rows[0]) == ["id", "fold", "feature", "classifier", "true", "pred", "subject"]
    assert len(rows) == 2 * len(ds)
    hog_rows = [r for r in rows if r["feature"] == "hog"]
    assert sorted(r["id"] for r in hog_rows) == sorted(s.id for s in ds)  # each sample tested once
    folds_of_subject: dict[str, set[str]] = {}
    for r in hog_rows:
        folds_of_subject.setdefault(r["subject"], set()).add(r["fold"])
    assert all(len(f) == 1 for f in folds_of_subject.values())  # subject-independent

    report = (out / "report.md").read_text()
    assert "| pixels | linear_svm |" in report and "confusion_hog_linear_svm.png" in report
    assert "Normalisation" in report and "Global" in report


def test_c_grid_selected_on_training_part(tmp_path):
    config = _config(features=["pixels"], classifiers=[{"name": "linear_svm", "C_grid": [0.01, 1.0]}])
    result = run_experiment(config, tmp_path / "run", dataset=_dataset(), progress=False)
    (row,) = result.rows
    assert len(row["selected_params"]) == 4
    assert "chosen on the training part" in (result.out_dir / "report.md").read_text()


def test_fixed_protocol_with_validation_split(tmp_path):
    ds = _dataset(n_subjects=6, splits=lambda s: ["train", "train", "train", "val", "test", "test"][s])
    config = _config(protocol={"kind": "fixed", "train": "train", "validation": "val", "test": "test"},
                     features=["hog"], classifiers=[{"name": "logistic_regression", "C_grid": [0.1, 1.0]}])
    result = run_experiment(config, tmp_path / "run", dataset=ds, progress=False)
    (row,) = result.rows
    assert row["n_test"] == 2 * 3 * 2 and row["n_folds"] == 1
    assert row["selected_params"][0]["fold"] == "train->test"


def test_fixed_protocol_leak_is_refused(tmp_path):
    ds = _dataset(n_subjects=4, splits=lambda s: "test" if s == 3 else "train")
    ds.samples[0] = Sample(id="leak", label="anger", subject="S003", split="train", pixels=ds.samples[0].pixels)
    config = _config(protocol={"kind": "fixed", "train": "train", "test": "test"})
    with pytest.raises(ProtocolError, match="S003"):
        run_experiment(config, tmp_path / "run", dataset=ds, progress=False)


def test_per_subject_normalisation(tmp_path):
    result = run_experiment(_config(normalisation="per_subject", features=["pixels"]), tmp_path / "run",
                            dataset=_dataset(), progress=False)
    assert result.rows[0]["accuracy"] > 0.9
    assert "Per-subject" in (result.out_dir / "report.md").read_text()


def test_nonempty_out_dir_refused(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        run_experiment(_config(), tmp_path, dataset=_dataset(), progress=False)
    run_experiment(_config(features=["pixels"]), tmp_path, dataset=_dataset(), progress=False, overwrite=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"featurs": []}, "unknown key 'featurs'"),
        ({"features": [{"name": "nosuch"}]}, r"features\[0\]: unknown feature 'nosuch' \(known: .*hog.*pixels"),
        ({"classifiers": ["svm"]}, r"classifiers\[0\]: unknown classifier 'svm' \(known: linear_svm"),
        ({"features": [{"name": "hog", "cell": 3}]}, "has no parameter 'cell'"),
        ({"protocol": {"kind": "kfold"}}, "protocol.kind 'kfold' is unknown"),
        ({"images": {"size": -1}}, "images.size must be"),
        ({"normalisation": "speaker"}, "normalisation 'speaker' is unknown"),
        ({"features": []}, "features must be a non-empty list"),
        ({"features": ["pixels", "pixels"]}, "two entries are labelled 'pixels'"),
    ],
)
def test_config_errors_name_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_config(**change), check_source=False)


def test_duplicate_features_get_distinct_labels():
    cfg = load_config(_config(features=[{"name": "hog", "pixels_per_cell": 4}, {"name": "hog", "pixels_per_cell": 8}]),
                      check_source=False)
    assert [f.label for f in cfg.features] == ["hog_pixels_per_cell4", "hog_pixels_per_cell8"]


def test_plot_confusion_matrix_checks_shape():
    fig = plot_confusion_matrix(np.array([[2, 0], [1, 3]]), ["a", "b"], title="t")
    assert [t.get_text() for t in fig.axes[0].texts] == ["2", "0", "1", "3"]
    with pytest.raises(ValueError, match="labels"):
        plot_confusion_matrix(np.eye(2), ["a", "b", "c"])


# --- the command line, on a class-per-folder tree of PNG files -------------------------------


def _png_tree(root: Path, n_subjects=6) -> Path:
    rng = np.random.default_rng(1)
    for s in range(n_subjects):
        for k, label in enumerate(CLASSES):
            folder = root / label
            folder.mkdir(parents=True, exist_ok=True)
            for frame in (1, 2):
                cv2.imwrite(str(folder / f"S{s + 10:03d}_001_{frame:08d}.png"), _image(k, rng))
    return root


def _write_config(path: Path, **overrides) -> Path:
    config = _config(**overrides)
    config["data"] = {"source": "../data"}  # relative to the config file's folder
    config["images"] = {"size": 16}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def test_cli_end_to_end(tmp_path, capsys, monkeypatch):
    _png_tree(tmp_path / "data")
    config = _write_config(tmp_path / "configs" / "toy.yaml", protocol={"kind": "group_kfold", "n_splits": 3},
                           features=["hog"])
    monkeypatch.chdir(tmp_path / "data")  # the source must resolve against the config, not the CWD
    status = main(["experiment", str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "| hog | linear_svm |" in captured.out
    config_out = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config_out["data"]["source"] == str((tmp_path / "data").resolve())
    assert config_out["run"]["dataset"]["subjects"] == 6


def test_cli_data_override(tmp_path, capsys, monkeypatch):
    _png_tree(tmp_path / "elsewhere")
    config = _write_config(tmp_path / "configs" / "toy.yaml", protocol={"kind": "logo"}, features=["pixels"])
    monkeypatch.chdir(tmp_path)
    status = main(["experiment", str(config), "--out", "run", "--data", "elsewhere", "--no-progress"])
    assert status == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["rows"][0]["n_folds"] == 6


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": ["nosuch"]}, "unknown feature 'nosuch' (known: "),
        ({"protocol": {"kind": "group_kfold", "n_splits": 50}}, "n_splits=50 but only 6 subjects"),
    ],
)
def test_cli_bad_config_one_line_exit_1(tmp_path, capsys, change, message):
    _png_tree(tmp_path / "data")
    config = _write_config(tmp_path / "configs" / "bad.yaml", **change)
    status = main(["experiment", str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_missing_data_and_config(tmp_path, capsys):
    config = _write_config(tmp_path / "configs" / "toy.yaml")
    assert main(["experiment", str(config), "--out", str(tmp_path / "run")]) == 1
    assert "data.source: dataset '../data' not found" in capsys.readouterr().err
    assert main(["experiment", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "run")]) == 1
    assert "config file not found" in capsys.readouterr().err


def test_cli_help_shows_example(capsys):
    assert main(["experiment", "--help"]) == 0
    out = capsys.readouterr().out
    assert "protocol: {kind: group_kfold, n_splits: 10}" in out and "--data" in out


def test_repository_config_is_valid():
    path = Path(__file__).resolve().parents[2] / "configs" / "ckplus48-baseline.yaml"
    cfg = load_config(path, check_source=False)
    assert cfg.protocol["kind"] == "group_kfold" and cfg.protocol["n_splits"] == 10
    assert [f.name for f in cfg.features] == ["pixels", "hog"]
    assert [c.name for c in cfg.classifiers] == ["linear_svm"]
    assert cfg.image_size == (48, 48)


@pytest.mark.parametrize("name", ["ckplus48-handcrafted", "fer2013-handcrafted"])
def test_handcrafted_configs(name):
    from affectlab.features import list_features

    path = Path(__file__).resolve().parents[2] / "configs" / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    features = {f["name"] for f in raw["features"]}
    assert features >= {"lbp", "lpq", "hog", "phog", "dsift_llc"}
    svm, pls = raw["classifiers"]
    assert (svm["name"], pls["name"]) == ("linear_svm", "pls")
    assert len(svm["C_grid"]) >= 9 and len(pls["n_components_grid"]) >= 5
    assert svm["inner_splits"] == 5 and pls["inner_splits"] == 5
    if name.startswith("ckplus48"):
        assert raw["protocol"]["kind"] == "group_kfold" and raw["protocol"]["n_splits"] == 10
        assert svm["C_grid"] == [2.0**e for e in range(-10, 11, 2)]
    else:
        assert raw["protocol"] == {"kind": "fixed", "train": "Training", "test": "PublicTest"}
        assert "validation" not in raw["protocol"] and svm["search_samples"] == pls["search_samples"]
    missing = features - set(list_features())
    if missing:
        pytest.skip(f"features not registered yet: {sorted(missing)}")
    cfg = load_config(path, check_source=False)
    assert len(cfg.features) == len(raw["features"]) and len(cfg.classifiers) == 2


# --- bad input is one line and exit 1, and leaves no run folder behind ---------------------


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


def _write_folder_config(tmp_path: Path, data: Path, **overrides) -> Path:
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
    config = _write_folder_config(tmp_path, data, classifiers=[classifier])
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
    config = _write_folder_config(tmp_path, data, features=["pixels", feature])
    assert _run(config, tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, grid", [("linear_svm", "C_grid"), ("pls", "n_components_grid")])
def test_inner_splits_below_two_is_refused_when_the_config_is_read(tmp_path, capsys, name, grid):
    data = _folder_dataset(tmp_path / "data")
    config = _write_folder_config(tmp_path, data, classifiers=[{"name": name, grid: [1, 2], "inner_splits": 1,
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
    config = _write_folder_config(tmp_path, data)
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
    config = _write_folder_config(tmp_path, data)
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
    config = _write_folder_config(tmp_path, manifest)
    assert _run(config, tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert "1 of 24 samples have none" in err and "(row 4)" in err and "anger/S002_001_00000001.png" in err


def test_class_without_training_samples_in_a_fold_is_warned(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data")
    (data / "fear").mkdir()
    for k in (1, 2):  # a fourth class, all from one person
        cv2.imwrite(str(data / "fear" / f"S099_001_{k:08d}.png"), np.full((24, 24), 90, np.uint8))
    config = _write_folder_config(tmp_path, data, protocol={"kind": "logo"})
    with pytest.warns(UserWarning, match="'fear' in S099"):
        assert _run(config, tmp_path / "run") == 0
    from affectlab.experiments.stages import classes_missing_from_training

    y = np.array(["a", "a", "b", "b", "c"])
    folds = [Fold("f1", np.array([0, 2]), np.array([1, 3, 4])), Fold("f2", np.array([1, 3, 4]), np.array([0, 2]))]
    assert classes_missing_from_training(folds, y) == {"c": ["f1"]}


def test_compare_hint_quotes_a_run_folder_with_spaces(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data")
    out = tmp_path / "my runs" / "ck"
    assert _run(_write_folder_config(tmp_path, data), out) == 0
    assert f"affectlab compare '{out}' A B" in capsys.readouterr().err


def test_a_dataset_object_for_another_kind_is_refused_not_ignored(tmp_path):
    from affectlab.data import Dataset
    from affectlab.errors import ConfigError
    from affectlab.experiments import run_experiment

    config = {"kind": "sequences", "name": "x", "data": {"source": str(tmp_path / "no-such-folder")}}
    with pytest.raises(ConfigError, match="dataset= is read by kind 'features' only, not 'sequences'"):
        run_experiment(config, tmp_path / "run", dataset=Dataset(name="x", samples=[], classes=[]), progress=False)
    assert not (tmp_path / "run").exists()
