"""Run folders (experiment, train) and report's outputs never overwrite an input, nor land inside the data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.cli.experiment import config_paths


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _dataset(root: Path) -> Path:
    import cv2

    for label in ("happy", "sad"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(root / label / f"s{i}_{label}.png"), np.full((48, 48), 40 * i + 60, np.uint8))
    return root


def _one_line(result, expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [f"affectlab: error: {expected}"]


def test_experiment_into_the_folder_holding_its_config_is_refused(tmp_path):
    data = _dataset(tmp_path / "data")
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    config = run / "config.yaml"
    config.write_text(yaml.safe_dump({"name": "a", "data": {"source": str(data)}, "features": [{"name": "pixels"}],
                                      "classifiers": [{"name": "linear_svm"}]}))
    before = _hashes(tmp_path)
    result = CliRunner().invoke(cli, ["experiment", str(config), "--out", str(run), "--overwrite", "--no-cache",
                                      "--no-progress"])
    # before: the run replaced config.yaml with its resolved copy
    _one_line(result, f"--out {run}: holds the input file {config}, which the run could overwrite; "
                      "choose another run folder")
    assert _hashes(tmp_path) == before


def test_experiment_run_folder_inside_the_data_is_refused(tmp_path):
    data = _dataset(tmp_path / "data")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": {"source": "data"}, "features": [{"name": "pixels"}],
                                      "classifiers": [{"name": "linear_svm"}]}))
    assert config_paths(config) == [tmp_path / "data"]
    before = _hashes(data)
    result = CliRunner().invoke(cli, ["experiment", str(config), "--out", str(data / "run"), "--no-cache",
                                      "--no-progress"])
    _one_line(result, f"--out {data / 'run'}: the run folder would lie inside the input folder {tmp_path / 'data'}; "
                      "choose a folder outside it")
    assert _hashes(data) == before and not (data / "run").exists()


def test_train_cannot_write_its_run_over_its_init_checkpoint_or_into_its_data(tmp_path):
    data = _dataset(tmp_path / "data")
    run = tmp_path / "run"
    run.mkdir()
    init = run / "best.pt"
    init.write_bytes(b"a checkpoint")
    before = _hashes(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "--model", "mini_xception", "--data", str(data), "--out", str(run),
                                 "--init", str(init), "--epochs", "1", "--no-progress"])
    _one_line(result, f"--out {run}: holds the input file {init}, which the run could overwrite; "
                      "choose another run folder")
    result = runner.invoke(cli, ["train", "--model", "mini_xception", "--data", str(data), "--out",
                                 str(data / "happy" / "run"), "--epochs", "1", "--no-progress"])
    _one_line(result, f"--out {data / 'happy' / 'run'}: the run folder would lie inside the input folder {data}; "
                      "choose a folder outside it")
    assert _hashes(tmp_path) == before


def test_report_out_or_plot_naming_a_runs_metrics_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    metrics = run / "metrics.json"
    metrics.write_text(json.dumps({"rows": [{"feature": "hog", "classifier": "svm", "accuracy": 0.9}]}))
    before = _hashes(tmp_path)
    for option in ("--out", "--plot"):
        result = CliRunner().invoke(cli, ["report", str(run), option, str(metrics)])
        _one_line(result, f"{option} {metrics}: that is an input file ({metrics}); refusing to overwrite it")
    assert _hashes(tmp_path) == before
