"""``affectlab clips fit`` and ``affectlab analyze CLIP --clip-model FILE``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from affectlab.cli import cli

from .conftest import face_frames, write_clip, write_training_clips


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A clip model fitted by the command on six clips: the astronaut ("plain") and mirrored ("mirror")."""
    folder = tmp_path_factory.mktemp("cli_train")
    rows = write_training_clips(folder)
    (folder / "short.avi").write_bytes((folder / "p0.avi").read_bytes()[:200])  # corrupt: refused, not fatal
    (folder / "manifest_bad.csv").write_text("\n".join(rows + ["short.avi,plain,s9"]) + "\n")
    model = folder / "toy.joblib"
    result = CliRunner().invoke(cli, ["clips", "fit", str(folder / "manifest_bad.csv"), "--out", str(model),
                                      "--size", "32", "--feature-params", '{"levels": 2}', "--name", "toy"])
    assert result.exit_code == 0, result.output
    return folder, model, result


def test_clips_fit_reports_and_keeps_good_clips(fitted):
    _, model, result = fitted
    assert "short.avi" in result.stderr and "warning" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["classes"] == ["mirror", "plain"] and summary["clips"] == 6 and summary["refused"] == 1
    assert model.is_file()


def test_clips_fit_refuses_an_existing_file_and_bad_params(fitted):
    folder, model, _ = fitted
    again = CliRunner().invoke(cli, ["clips", "fit", str(folder / "manifest.csv"), "--out", str(model)])
    assert again.exit_code != 0 and "file exists" in again.output and "--overwrite" in again.output
    bad = CliRunner().invoke(cli, ["clips", "fit", str(folder / "manifest.csv"), "--out", str(folder / "x.joblib"),
                                   "--feature-params", "[1]"])
    assert bad.exit_code != 0 and "--feature-params" in bad.output
    onto = CliRunner().invoke(cli, ["clips", "fit", str(folder / "manifest.csv"), "--out",
                                    str(folder / "manifest.csv"), "--overwrite"])
    assert onto.exit_code != 0 and "input" in onto.output
    listed = CliRunner().invoke(cli, ["clips", "fit", str(folder / "manifest.csv"), "--out", str(folder / "p0.avi"),
                                      "--overwrite"])
    assert listed.exit_code != 0 and "input" in listed.output and (folder / "p0.avi").stat().st_size > 200


def test_analyze_clip_model_labels_the_clip(fitted, tmp_path):
    _, model, _ = fitted
    clip = write_clip(tmp_path / "new.avi", face_frames(6, step=3, mirror=True))
    result = CliRunner().invoke(cli, ["analyze", str(clip), "--clip-model", str(model), "--no-timeline"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["clip"]["status"] == "ok" and record["clip"]["model"] == "toy"
    assert record["clip"]["label"] == "mirror"
    assert set(record["clip"]["probabilities"]) == {"mirror", "plain"}
    assert "tracks" in record  # the per-frame timeline is still there


def test_analyze_clip_model_refused_clip_and_bad_model(fitted, tmp_path):
    _, model, _ = fitted
    blank = write_clip(tmp_path / "blank.avi", face_frames(6, absent=tuple(range(6))))
    result = CliRunner().invoke(cli, ["analyze", str(blank), "--clip-model", str(model), "--no-timeline"])
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["clip"]["status"] == "refused" and record["clip"]["reason"] == "no_face"
    not_model = tmp_path / "x.joblib"
    not_model.write_bytes(b"not a model")
    bad = CliRunner().invoke(cli, ["analyze", str(blank), "--clip-model", str(not_model), "--no-timeline"])
    assert bad.exit_code != 0 and "x.joblib" in bad.output and "clip model" in bad.output
    no_video = CliRunner().invoke(cli, ["analyze", "--clip-model", str(model)])
    assert no_video.exit_code != 0 and "no video file" in no_video.output
