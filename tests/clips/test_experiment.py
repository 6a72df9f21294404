"""``kind: clips``: refused clips get one line each in the report, the others are used; the fusion path runs."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import yaml

from affectlab.experiments import run_experiment
from affectlab.experiments.clips import run_clips_experiment

from .conftest import face_frames, write_clip


@pytest.fixture(scope="module")
def clip_manifest(clip_dir, tmp_path_factory):
    """12 usable clips (6 subjects; the astronaut "plain" or mirrored "mirror") + a blank, a short and a corrupt one."""
    folder = tmp_path_factory.mktemp("experiment")
    rows = ["path,label,subject,id"]
    for k in range(6):
        write_clip(folder / f"p{k}.avi", face_frames(4, step=1 + k))
        write_clip(folder / f"m{k}.avi", face_frames(4, step=1 + k, mirror=True))
        rows += [f"p{k}.avi,plain,s{k},p{k}", f"m{k}.avi,mirror,s{k},m{k}"]
    for name, label in (("blank.avi", "plain"), ("short.avi", "mirror"), ("corrupt.mp4", "plain")):
        shutil.copy(clip_dir / name, folder / name)
        rows.append(f"{name},{label},s9,{name.split('.')[0]}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder / "manifest.csv"


def _config(manifest, **extra):
    return {"kind": "clips", "name": "toy-clips", "data": {"clips": str(manifest)}, "volume": {"frames": 3, "size": 32},
            "protocol": {"kind": "group_kfold", "n_splits": 2, "stratified": False, "random_state": 0},
            "features": [{"name": "lbp_top", "levels": 1}], "classifiers": [{"name": "linear_svm", "C": 1.0}],
            **extra}


def test_refused_clips_one_line_each_in_the_report_the_others_used(clip_manifest, tmp_path):
    config = tmp_path / "toy.yaml"  # through the kinds table, as `affectlab experiment` runs it
    config.write_text(yaml.safe_dump(_config(clip_manifest)))
    result = run_experiment(config, tmp_path / "run", progress=False, cache=tmp_path / "cache")
    report = (tmp_path / "run" / "report.md").read_text()
    lines = [line for line in report.splitlines() if line.startswith("- `")]
    assert [line.split("`")[1] for line in lines] == ["blank", "short", "corrupt"]
    assert "(no_face)" in lines[0] and "(too_short)" in lines[1] and "(unreadable)" in lines[2]
    assert "3 of 15 clip(s) gave no face volume" in report
    with (tmp_path / "run" / "predictions.csv").open() as handle:
        predicted = sorted(row["id"] for row in csv.DictReader(handle))
    assert predicted == sorted([f"p{k}" for k in range(6)] + [f"m{k}" for k in range(6)])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [r["reason"] for r in metrics["refused"]] == ["no_face", "too_short", "unreadable"]
    assert result.rows[0]["n_test"] == 12 and result.rows[0]["accuracy"] >= 0.75
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["kind"] == "clips" and config["volume"]["frames"] == 3


def test_fusion_over_clip_members(clip_manifest, tmp_path):
    config = _config(clip_manifest, features=[{"name": "lbp_top", "levels": 1},
                                              {"name": "pooled", "feature": "hog", "pooling": "mean"}],
                     fusion={"oof_splits": 2, "methods": ["net_svm", "mean_proba"], "lams": [0.01, 1.0]})
    result = run_clips_experiment(config, tmp_path / "run", progress=False)
    methods = [(r["feature"], r["classifier"]) for r in result.rows]
    assert methods == [("lbp_top", "linear_svm"), ("hog_meanpool", "linear_svm"), ("net_svm", "fusion"),
                       ("mean_proba", "fusion")]
    assert all(r["n_test"] == 12 for r in result.rows)
    assert "Best single member" in (tmp_path / "run" / "report.md").read_text()


def _clip_file(tmp_path, **changes):
    """A ``kind: clips`` YAML file, read as ``run_experiment`` reads it (the mapping with its ``_path``)."""
    from affectlab.experiments.config import read_raw_config

    (tmp_path / "manifest.csv").write_text("path,label,subject\n")
    config = {**_config("manifest.csv", features=[{"name": "lbp_top", "levels": 1},
                                                  {"name": "pooled", "feature": "hog", "pooling": "max"}],
                        fusion={"oof_splits": 2, "methods": ["net_svm", "early"], "test_decisions": "inner_mean"},
                        seed=4), **changes}
    path = tmp_path / "typed.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    raw, _ = read_raw_config(path)
    return {**raw, "_path": path}


def test_clip_schema_round_trips_through_its_resolved_form(tmp_path):
    import dataclasses

    from affectlab.experiments.clips import ClipConfig, load_clip_config
    from affectlab.experiments.fusion import FusionSpec

    cfg = load_clip_config(_clip_file(tmp_path))
    assert isinstance(cfg, ClipConfig) and cfg.clips == (tmp_path / "manifest.csv").resolve()
    assert (cfg.volume.frames, cfg.volume.size, cfg.seed) == (3, 32, 4)
    assert [f.label for f in cfg.features] == ["lbp_top", "hog_maxpool"] and cfg.classifiers[0].params == {"C": 1.0}
    assert isinstance(cfg.fusion, FusionSpec) and cfg.fusion.early.features == ["lbp_top", "hog_maxpool"]
    resolved = cfg.to_dict()
    assert list(resolved["fusion"])[:3] == ["oof_splits", "methods", "test_decisions"]  # as written, then defaults
    again = load_clip_config(resolved)
    assert again.to_dict() == resolved and dataclasses.replace(again, path=cfg.path) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]


@pytest.mark.parametrize(("changes", "message"), [
    ({"seed": True}, "seed must be an integer, got True"),                                            # type
    ({"description": ["a"]}, r"description must be text, got \['a'\]"),
    ({"fusion": {"oof_splits": 1}}, "fusion.oof_splits must be an integer >= 2, got 1"),               # range
    ({"volume": {"frames": 0}}, "clip volume: frames must be an integer >= 1, got 0"),
    ({"clip": {}}, "unknown key 'clip' in the clips config"),                                          # unknown key
    ({"data": {"clips": "manifest.csv", "root": "."}}, "data must be a clip manifest path or a mapping with only"),
    ({"volume": {"frame": 3}}, "clip volume: unknown setting 'frame'"),
    ({"fusion": {"test_decisions": "median"}}, "fusion.test_decisions 'median' is unknown"),           # choice
    ({"features": ["lbp_xyz"]}, r"features\[0\].*lbp_xyz"),
])
def test_clip_schema_errors_name_the_file_the_key_and_the_value(tmp_path, changes, message):
    from affectlab.errors import ConfigError
    from affectlab.experiments.clips import load_clip_config

    with pytest.raises(ConfigError, match=message) as caught:
        load_clip_config(_clip_file(tmp_path, **changes))
    assert str(caught.value).startswith(f"{tmp_path / 'typed.yaml'}: ")
