"""A pairs config with an odd ``pairs_per_face`` (1 included) runs: both classes, no traceback."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from affectlab.errors import DataError
from affectlab.experiments.kinds import experiment_runner
from affectlab.pairs.proxy import ProxyConfig, make_proxy_pairs
from tests.pairs.fakes import fake_ckplus
from tests.pairs.test_experiment import TINY


def test_odd_pairs_per_face_keeps_both_classes_balanced():
    faces = np.full((6, 24, 24), 128, np.uint8)
    one = make_proxy_pairs(faces, [f"S{i}" for i in range(6)], config=ProxyConfig(pairs_per_face=1))
    assert one.label.tolist() == [0, 1, 0, 1, 0, 1]  # before: all 0, one class
    three = make_proxy_pairs(faces[:2], ["S0", "S1"], config=ProxyConfig(pairs_per_face=3))
    assert three.label.tolist() == [0, 1, 0, 1, 0, 1]
    four = make_proxy_pairs(faces[:2], ["S0", "S1"], config=ProxyConfig(pairs_per_face=4))
    assert four.label.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]  # even counts: unchanged, per face


def test_pairs_per_face_one_runs_from_the_cli(tmp_path):
    import yaml

    source = fake_ckplus(tmp_path / "ck")
    config = {"kind": "pairs", "name": "one", "data": {"proxy": {"source": str(source), "pairs_per_face": 1}},
              "protocol": {"n_folds": 4, "val_subjects": 2, "seed": 0, "run_folds": 1}, **TINY}
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(config))
    from affectlab.cli import cli

    result = CliRunner().invoke(cli, ["experiment", str(tmp_path / "one.yaml"), "--out", str(tmp_path / "run"),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output  # before: ValueError "... contains only one class" traceback
    assert "| CompCNN-Sub-SVM |" in result.stdout and "Traceback" not in result.output


def test_a_training_part_of_one_class_is_refused_before_the_run_folder(tmp_path):
    import cv2

    rows = ["onset,apex,label,subject"]
    for s in range(4):  # each subject shows one class only: a training part of one subject has one class
        for i in range(2):
            cv2.imwrite(str(tmp_path / f"o{s}_{i}.png"), np.full((24, 24), 40 * s + i, np.uint8))
            rows.append(f"o{s}_{i}.png,o{s}_{i}.png,{'spontaneous' if s % 2 else 'posed'},P{s}")
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    config = {"kind": "pairs", "data": {"manifest": str(tmp_path / "pairs.csv")},
              "protocol": {"n_folds": 2, "val_subjects": 1, "seed": 0}, **TINY}
    with pytest.raises(DataError, match="its training part holds pairs of one class only"):  # before: a traceback
        experiment_runner("pairs")(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
