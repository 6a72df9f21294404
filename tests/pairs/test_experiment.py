"""The ``kind: pairs`` runner on tiny synthetic data (proxy from a fake CK+ folder, and a manifest)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from affectlab.errors import AffectLabError, ConfigError, DataError
from affectlab.experiments.kinds import experiment_runner
from affectlab.experiments.pairs import PIXEL_BASELINE, SVM_MODELS, run_pairs_experiment
from affectlab.pairs.networks import PAIR_MODELS
from tests.pairs.fakes import fake_ckplus, pair_manifest, tiny_pairs_config

TINY = {
    "images": {"size": 24, "crop": 16},
    "model": {"channels": [2, 3, 3], "fc": [6, 4]},
    "train": {"epochs": 1, "batch_size": 16, "num_threads": 1, "device": "cpu"},
    "svm": {"C": [0.1, 1.0]},
}


def test_proxy_run_writes_all_rows_and_says_proxy(tmp_path):
    source = fake_ckplus(tmp_path / "ck")
    config = {"kind": "pairs", "name": "tiny", "data": {"proxy": {"source": str(source), "pairs_per_face": 4}},
              "protocol": {"n_folds": 4, "val_subjects": 2, "seed": 0, "run_folds": 2}, **TINY}
    result = experiment_runner("pairs")(config, tmp_path / "run", progress=False)
    names = [r["model"] for r in result.rows]
    assert names == [*PAIR_MODELS, *SVM_MODELS, PIXEL_BASELINE]
    assert result.n_folds == 2
    for row in result.rows:
        assert 0.0 <= row["error_rate"] <= 1.0 and row["error_rate"] == pytest.approx(1 - row["accuracy"])
        assert row["n_folds"] == 2 and row["n_test"] > 0
    table = result.table()
    assert table.count("\n") == 2 + len(names) - 1 and "CompCNN-Comb-SVM" in table
    report = (tmp_path / "run" / "report.md").read_text()
    assert "PROXY" in report and "only the first 2 of the 4 folds" in report and "comparison after conv block" in report
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["classes"] == ["posed", "spontaneous"]
    assert (tmp_path / "run" / "examples.png").is_file() and (tmp_path / "run" / "predictions.csv").is_file()
    # test subjects never appear in training: each pair id is tested exactly once per model
    lines = (tmp_path / "run" / "predictions.csv").read_text().splitlines()[1:]
    dnn = [line for line in lines if ",DiffCNN," in line]
    assert len(dnn) == len({line.split(",")[0] for line in dnn}) == result.rows[0]["n_test"]


def test_manifest_run_and_cli(tmp_path):
    rng = np.random.default_rng(1)
    rows = ["onset,apex,label,subject"]
    for s in range(6):
        for i in range(4):
            onset = rng.integers(0, 255, (24, 24)).astype(np.uint8)
            apex = onset.copy()
            if i % 2:
                apex[:8] = 255
            cv2.imwrite(str(tmp_path / f"o{s}_{i}.png"), onset)
            cv2.imwrite(str(tmp_path / f"a{s}_{i}.png"), apex)
            rows.append(f"o{s}_{i}.png,a{s}_{i}.png,{'spontaneous' if i % 2 else 'posed'},P{s}")
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    config = {"kind": "pairs", "data": {"manifest": "pairs.csv"}, "models": ["DiffCNN", "CompCNN-Sub@2"],
              "protocol": {"n_folds": 3, "val_subjects": 1}, **TINY}
    (tmp_path / "cfg.yaml").write_text(json.dumps(config))
    from affectlab.cli import cli as main

    out = CliRunner().invoke(main, ["experiment", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "run")])
    assert out.exit_code == 0, out.output
    assert "| DiffCNN |" in out.output and "CompCNN-Sub-SVM" not in out.output  # SVM rows need all three nets
    report = (tmp_path / "run" / "report.md").read_text()
    assert "manifest" in report and "PROXY" not in report
    bad = CliRunner().invoke(main, ["experiment", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "run2"),
                                    "--data", str(tmp_path / "nope.csv")])
    assert bad.exit_code == 1 and "nope.csv" in bad.output and "Traceback" not in bad.output


@pytest.mark.parametrize("patch, message", [
    ({"colour": 1}, "unknown key"),
    ({"models": ["CompCNN-Sub@9"]}, "unknown"),
    ({"data": {"proxy": {"pairs_per_face": 2}}}, "source"),
    ({"data": {"manifest": "a.csv", "proxy": {}}}, "exactly one"),
    ({"protocol": {"n_folds": 1}}, "n_folds"),
    ({"svm": {"C": []}}, "svm.C"),
    ({"images": {"size": 24, "crop": 30}}, "crop"),
    ({"train": {"epochs": 1, "optimiser": "sgd"}}, "unknown key"),
])
def test_config_errors(tmp_path, patch, message):
    config = {"kind": "pairs", "data": {"proxy": {"source": str(tmp_path)}}, **TINY, **patch}
    with pytest.raises(ConfigError, match=message):
        run_pairs_experiment(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_manifest_with_one_label_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((24, 24), np.uint8))
    (tmp_path / "pairs.csv").write_text("onset,apex,label,subject\nx.png,x.png,posed,S1\nx.png,x.png,posed,S2\n")
    with pytest.raises(DataError, match="two labels"):
        run_pairs_experiment({"kind": "pairs", "data": {"manifest": str(tmp_path / "pairs.csv")}, **TINY},
                             tmp_path / "run", progress=False)




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
    path = pair_manifest(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(AffectLabError, match=match):
        run_pairs_experiment(tiny_pairs_config(path, **over), out, progress=False)
    assert not out.exists()


def test_partial_report_names_the_models_that_ran(tmp_path):
    path = pair_manifest(tmp_path)
    result = run_pairs_experiment(tiny_pairs_config(path), tmp_path / "run", progress=False)
    report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert [r["model"] for r in result.rows] == ["DiffCNN"]
    assert "1 of the 7 nets and 0 of the 2 CompCNN-SVMs" in report and "all 9 models" not in report
    assert "PARTIAL: only the first 1 of the 2 folds" in report
