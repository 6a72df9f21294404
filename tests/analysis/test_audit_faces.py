"""Session-7 audit of faces in images: `analyze` / `explain` / `fool` on awkward inputs (regressions)."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from affectlab import ExpressionAnalyzer, read_image
from affectlab.cli import cli
from affectlab.data import sample_photo
from affectlab.errors import ConfigError, MediaReadError
from affectlab.models import create_model, save_weights
from affectlab.viz.overlay import save_rgb


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_weights(create_model("mini_xception"), tmp_path_factory.mktemp("w") / "random.pt"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "astro.png"
    cv2.imwrite(str(path), cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    return path


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_output_into_a_missing_folder_is_created_and_a_bad_one_is_one_line(weights, photo, tmp_path):
    out = tmp_path / "new" / "sub" / "results.jsonl"
    result = CliRunner().invoke(cli, ["analyze", "--weights", weights, str(photo), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in _records(out.read_text())] == ["ok"]
    blocked = tmp_path / "afile"
    blocked.write_text("x")
    result = CliRunner().invoke(cli, ["analyze", "--weights", weights, str(photo), "-o", str(blocked / "r.jsonl")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "--output" in result.stderr and "afile" in result.stderr
    result = CliRunner().invoke(cli, ["analyze", "--weights", weights, str(photo), "--save", str(blocked / "ann")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "--save" in result.stderr and "afile" in result.stderr and _records(result.stdout) == []


def test_an_empty_folder_does_not_lose_the_good_images(weights, photo, tmp_path):
    empty = tmp_path / "nothing here"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["analyze", "--weights", weights, str(photo), str(empty), "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    good, bad = _records(result.stdout)
    assert good["status"] == "ok" and good["source"] == str(photo)
    assert bad["status"] == "error" and bad["source"] == str(empty) and "holds no images" in bad["error"]
    assert "nothing here: folder holds no images" in result.stderr


def test_explain_reports_bad_inputs_as_records_and_keeps_the_panel(weights, photo, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    out = tmp_path / "panel.png"
    result = CliRunner().invoke(cli, ["explain", "--weights", weights, str(photo), str(empty), str(bad),
                                      "--out", str(out), "--cell", "64", "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    records = _records(result.stdout)
    errors = {r["source"]: r["error"] for r in records if r["status"] == "error"}
    assert set(errors) == {str(empty), str(bad)} and "not a readable image" in errors[str(bad)]
    assert [r["face"] for r in records if r["status"] == "ok"] == [0]
    assert cv2.imread(str(out)).shape[0] == 28 + 64


def test_explain_output_without_an_image_suffix_fails_first_in_one_line(weights, tmp_path):
    result = CliRunner().invoke(cli, ["explain", "--weights", weights, "--out", str(tmp_path / "panel")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "panel: cannot write an image" in result.stderr
    assert _records(result.stdout) == []  # refused before any face was explained
    with pytest.raises(MediaReadError, match="notes.txt"):
        save_rgb(np.zeros((4, 4, 3), np.uint8), tmp_path / "notes.txt")


def test_explain_shows_a_progress_bar_for_the_explanation_step(weights, tmp_path):
    result = CliRunner().invoke(cli, ["explain", "--weights", weights, "--out", str(tmp_path / "p.png"), "--progress"])
    assert result.exit_code == 0, result.output
    assert "explaining" in result.stderr and "explaining" not in result.stdout


def test_explain_help_examples_run_as_written(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), cv2.resize(cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2GRAY)[60:170, 170:280],
                                                  (48, 48)))
    helptext = CliRunner().invoke(cli, ["explain", "--help"]).output
    examples = [line.split("affectlab ", 1)[1] for line in helptext.splitlines() if "affectlab explain faces/" in line]
    assert examples
    for example in examples:
        args = example.replace("faces/", str(folder)).replace("panel.png", str(tmp_path / "p.png")).split()
        result = CliRunner().invoke(cli, args + ["--no-progress"])
        assert result.exit_code == 0, (example, result.output)


def test_fool_inputs_with_the_same_name_do_not_overwrite_each_other(weights, tmp_path):
    for sub in ("a", "b"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "in" / sub / "x.png"), cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "fooled"
    result = CliRunner().invoke(cli, ["fool", "--weights", weights, str(tmp_path / "in"), "--out", str(out),
                                      "--max-steps", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    records = _records((out / "fooling.jsonl").read_text())
    figures = [r["figure"] for r in records]
    assert len(records) == 2 and len(set(figures)) == 2
    assert all((out / f).is_file() for f in figures)
    assert sorted(p.name for p in out.glob("*_adversarial.png")) == ["x_2_face0_adversarial.png",
                                                                      "x_face0_adversarial.png"]


def test_fool_writes_an_error_record_for_a_bad_input(weights, photo, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    out = tmp_path / "fooled"
    result = CliRunner().invoke(cli, ["fool", "--weights", weights, str(photo), str(bad), "--out", str(out),
                                      "--max-steps", "2", "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    records = _records((out / "fooling.jsonl").read_text())
    assert [r["status"] for r in records] == ["error", "ok"]
    assert records[0]["source"] == str(bad) and "empty file" in records[0]["error"]
    assert _records(result.stdout) == records


def test_read_image_refuses_an_unknown_mode(photo):
    with pytest.raises(ConfigError, match="mode must be 'rgb' or 'gray', got 'bgr'"):
        read_image(photo, mode="bgr")  # used to return BGR pixels silently


@pytest.mark.parametrize("array, problem", [
    (np.zeros((0, 0), np.uint8), "empty image"),
    (np.zeros((40, 40), bool), "dtype"),
    (np.zeros((40, 40), np.uint16), "dtype"),
])
def test_analyze_names_the_problem_of_a_bad_array(weights, array, problem):
    analyzer = ExpressionAnalyzer("mini_xception", weights=weights, device="cpu")
    with pytest.raises(ValueError, match=re.escape(problem)) as info:
        analyzer.analyze(array, source="frame7")
    assert "frame7" in str(info.value)


def test_rgba_and_one_channel_arrays_match_rgb(weights):
    analyzer = ExpressionAnalyzer("mini_xception", weights=weights, device="cpu")
    rgb = sample_photo()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    expected = analyzer.analyze(rgb).faces[0].probabilities
    for variant in (rgba, gray[..., None]):
        got = analyzer.analyze(variant).faces[0].probabilities
        assert got == pytest.approx(analyzer.analyze(gray).faces[0].probabilities if variant.shape[2] == 1
                                    else expected, abs=1e-6)


def test_min_face_finds_the_small_faces_of_a_group_photo(tmp_path):
    tile = sample_photo()
    group = np.concatenate([np.concatenate([tile] * 3, axis=1)] * 3, axis=0)  # 9 faces of ~6 % of the side
    path = tmp_path / "group.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(group, cv2.COLOR_RGB2BGR))
    runner = CliRunner()
    default = json.loads(runner.invoke(cli, ["analyze", str(path), "--device", "cpu"]).stdout)
    assert default["status"] == "no_face"  # the default looks for faces of >= 10 % of the shorter side
    small = runner.invoke(cli, ["analyze", str(path), "--device", "cpu", "--min-face", "0.05"])
    assert small.exit_code == 0 and len(json.loads(small.stdout)["faces"]) == 9


def test_fool_warns_when_the_face_already_has_the_target_class(tmp_path):
    result = CliRunner().invoke(cli, ["fool", "--target", "happy", "--device", "cpu", "--out", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])
    assert record["original_class"] == "happy" and record["success"] is False and record["steps"] == 0
    assert "is already 'happy'; left unchanged" in result.stderr
