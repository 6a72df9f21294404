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
