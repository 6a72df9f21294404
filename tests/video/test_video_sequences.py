"""Sequences from frame-per-file datasets and the ``kind: sequences`` experiment runner."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
import yaml

from affectlab.data import load_dataset
from affectlab.errors import ConfigError, DataError
from affectlab.experiments import run_experiment
from affectlab.video.sequences import group_sequences, load_sequences
from tests.config_files import written_config


def _write_dataset(root, n_subjects=9, size=32, seed=0):
    """Two classes whose sequences differ where the bright band is (top or bottom) and how it moves."""
    rng = np.random.default_rng(seed)
    for label, row in (("happy", 4), ("sad", 20)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for s in range(n_subjects):
            for t in range(3):
                image = rng.integers(0, 60, (size, size), dtype=np.uint8)
                image[row + t:row + t + 6, :] = 220
                cv2.imwrite(str(folder / f"S{s + 10:03d}_00{1 if label == 'happy' else 2}_{t + 5:08d}.png"), image)
    return root


def test_group_sequences_orders_frames_and_keeps_subjects(tmp_path):
    seqs = group_sequences(load_dataset(_write_dataset(tmp_path / "data", n_subjects=3)))
    assert len(seqs) == 6 and seqs.ids[:2] == ["S010_001", "S010_002"]
    assert [p.name for p in seqs.frames[0]] == [f"S010_001_{t:08d}.png" for t in (5, 6, 7)]
    assert seqs.subjects.tolist()[:2] == ["S010", "S010"] and sorted(set(seqs.labels)) == ["happy", "sad"]


def test_label_conflict_inside_a_sequence_is_named(tmp_path):
    root = _write_dataset(tmp_path / "data", n_subjects=2)
    (root / "sad" / "S010_001_00000009.png").write_bytes((root / "happy" / "S010_001_00000005.png").read_bytes())
    with pytest.raises(DataError, match="S010_001"):
        group_sequences(load_dataset(root))


def test_lengths_must_agree_or_be_cut(tmp_path):
    root = _write_dataset(tmp_path / "data", n_subjects=2)
    (root / "happy" / "S010_001_00000005.png").unlink()
    with pytest.raises(ConfigError, match="frames: N"):
        load_sequences(root, size=32)
    seqs = load_sequences(root, size=32, frames=2)
    assert seqs.volumes.shape == (4, 2, 32, 32)


def test_ckplus48_has_327_sequences_of_3_frames(dataset_path):
    seqs = group_sequences(load_dataset(dataset_path("ckplus48")))
    summary = seqs.summary()
    assert summary["sequences"] == 327 and summary["frames_per_sequence"] == [3]
    assert summary["subjects"] == 118 and summary["frames"] == 981


def test_sequence_experiment_writes_a_run_folder_with_sequence_level_metrics(tmp_path):
    root = _write_dataset(tmp_path / "data")
    config = {
        "kind": "sequences", "name": "toy-sequences",
        "data": {"source": str(root)}, "images": {"size": 32}, "sequences": {"frames": 3},
        "protocol": {"kind": "group_kfold", "n_splits": 3},
        "features": [{"name": "lbp_top", "levels": 2}, {"name": "pooled", "feature": "hog", "pooling": "max"}],
        "classifiers": [{"name": "linear_svm", "C_grid": [0.01, 1.0], "inner_splits": 2}],
    }
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert [r["feature"] for r in result.rows] == ["lbp_top", "hog_maxpool"]
    for row in result.rows:
        assert row["n_test"] == 18 and row["level"] == "sequence"
        assert row["accuracy"] >= 0.9 and row["uar"] >= 0.9
        assert row["chosen"]["C"]["median"] in (0.01, 1.0)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["kind"] == "sequences" and metrics["dataset"]["sequences"] == 18
    for name in ("config.yaml", "report.md", "predictions.csv", "decisions.npz"):
        assert (tmp_path / "run" / name).is_file()
    assert "| lbp_top | linear_svm |" in result.table()
    run = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["run"]
    again = run_experiment(config, tmp_path / "run2", progress=False).config["run"]
    assert len(run["data_sha256"]) == 64 and again["data_sha256"] == run["data_sha256"]


def test_sequence_experiment_rejects_unknown_keys_and_features(tmp_path):
    root = _write_dataset(tmp_path / "data", n_subjects=3)
    base = {"kind": "sequences", "data": {"source": str(root)}, "features": ["lbp_top"],
            "classifiers": ["linear_svm"]}
    with pytest.raises(ConfigError, match="unknown key 'frames'"):
        run_experiment({**base, "frames": 3}, tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="features\\[0\\].*lbp_xyz"):
        run_experiment({**base, "features": ["lbp_xyz"]}, tmp_path / "b", progress=False)


@pytest.mark.parametrize("size", [True, 2.0, [32, True], 0])
def test_sequence_experiment_refuses_image_sizes_the_other_kinds_refuse(tmp_path, size):
    root = _write_dataset(tmp_path / "data", n_subjects=3)
    config = {"kind": "sequences", "data": {"source": str(root)}, "images": {"size": size},
              "features": ["lbp_top"], "classifiers": ["linear_svm"]}
    with pytest.raises(ConfigError, match="images.size must be a positive integer"):
        run_experiment(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def _sequence_file(tmp_path, **changes):
    """A ``kind: sequences`` YAML file (the mapping as ``run_experiment`` reads it, with its ``_path``)."""
    (tmp_path / "frames").mkdir(exist_ok=True)
    config = {"kind": "sequences", "name": "typed", "data": {"source": "frames"}, "images": {"size": [40, 32]},
              "sequences": {"frames": 3}, "protocol": {"kind": "group_kfold", "n_splits": 3},
              "features": [{"name": "lbp_top", "levels": 2}, {"name": "pooled", "feature": "hog", "pooling": "max"}],
              "classifiers": [{"name": "linear_svm", "C": 1.0}], **changes}
    return written_config(tmp_path, config)


def test_sequence_schema_round_trips_through_its_resolved_form(tmp_path):
    from affectlab.experiments.sequences import SequenceConfig, SequenceGrouping, load_sequence_config

    cfg = load_sequence_config(_sequence_file(tmp_path))
    assert isinstance(cfg, SequenceConfig) and cfg.sequences == SequenceGrouping(frames=3)
    assert cfg.source == (tmp_path / "frames").resolve() and cfg.frame_size == (40, 32)
    assert [f.label for f in cfg.features] == ["lbp_top", "hog_maxpool"]
    again = load_sequence_config(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict() and again.sequences == cfg.sequences
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("changes", "message"), [
    ({"sequences": {"frames": "3"}}, "sequences.frames must be null or an integer >= 1, got '3'"),     # type
    ({"sequences": {"frames": 0}}, "sequences.frames must be null or an integer >= 1, got 0"),         # range
    ({"sequences": {"pattern": "(a)"}}, r"sequences.pattern must be a regular expression with two groups"),
    ({"sequences": {"frame": 3}}, r"sequences: unknown key\(s\) frame \(known: pattern, frames\)"),     # unknown key
    ({"data": {"source": "frames", "format": "x"}}, "data must be a dataset path or a mapping with only 'source'"),
    ({"protocol": {"kind": "kfold_by_age"}}, "protocol.kind 'kfold_by_age' is unknown"),               # choice
    ({"images": {"size": True}}, "images.size must be a positive integer"),
    ({"description": 3}, "description must be text, got 3"),
])
def test_sequence_schema_errors_name_the_file_the_key_and_the_value(tmp_path, changes, message):
    from affectlab.experiments.sequences import load_sequence_config

    with pytest.raises(ConfigError, match=message) as caught:
        load_sequence_config(_sequence_file(tmp_path, **changes))
    assert str(caught.value).startswith(f"{tmp_path / 'typed.yaml'}: ")
