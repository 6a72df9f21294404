from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.data import sample_photo
from affectlab.errors import MediaReadError
from affectlab.models import create_model, save_weights
from affectlab.viz.overlay import save_rgb


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "astro.png"
    cv2.imwrite(str(path), cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_weights(create_model("mini_xception"), tmp_path_factory.mktemp("w") / "random.pt"))


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_explain_writes_panel_for_the_sample_photo(tmp_path):
    out = tmp_path / "panel.png"
    result = CliRunner().invoke(cli, ["explain", "--out", str(out), "--cell", "96"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1 and lines[0]["label"] == "happy"
    panel = cv2.imread(str(out))
    assert panel.shape == (28 + 96, 6 * 96, 3)


def test_explain_bad_file_is_reported_and_others_kept(tmp_path, photo):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    out = tmp_path / "panel.png"
    result = CliRunner().invoke(cli, ["explain", str(photo), str(bad), "--out", str(out), "--cell", "64"])
    assert result.exit_code == 1
    assert "bad.jpg: not a readable image" in result.stderr
    assert "Traceback" not in result.output
    assert cv2.imread(str(out)).shape[0] == 28 + 64


def test_explain_no_face_is_one_clear_error(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((60, 60), 128, np.uint8))
    result = CliRunner().invoke(cli, ["explain", str(blank), "--out", str(tmp_path / "p.png")])
    assert result.exit_code == 1
    assert "affectlab: error: no face found in any input" in result.stderr


def test_fool_writes_figure_and_records(tmp_path, photo):
    out = tmp_path / "fooled"
    result = CliRunner().invoke(cli, ["fool", str(photo), "--out", str(out), "--target", "sad"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "fooling.jsonl").read_text().splitlines()]
    assert len(records) == 1
    rec = records[0]
    assert rec["target"] == "sad" and rec["success"] and rec["target_probability"] >= 0.9
    assert rec["max_abs_delta"] <= 0.15 + 1e-6
    figure = cv2.imread(str(out / rec["figure"]))
    assert figure.shape[1] == 3 * figure.shape[0] - 3 * 28 or figure.shape[1] == 3 * (figure.shape[0] - 28)
    assert (out / "astro_face0_adversarial.png").is_file()


def test_fool_unknown_target_names_the_classes(tmp_path):
    result = CliRunner().invoke(cli, ["fool", "--out", str(tmp_path / "f"), "--target", "bored"])
    assert result.exit_code == 1
    assert "--target 'bored' is not a class of the model (angry, disgust" in result.stderr


def _bands_of_5_percent(bands: dict) -> int:
    return sum(bands[b] >= 0.05 for b in ("gray", "yellow", "orange", "red"))


def test_fool_command_default_map_on_the_sample_photograph_has_three_bands(tmp_path):
    """The issue's done-when, through the command a user runs: ``affectlab fool`` with no input and no options
    writes a difference map of the sample photograph with at least three non-black bands, each at least 5 % of
    the changed pixels; the old method (signed steps, the largest change at 255) fails the same check."""
    out = tmp_path / "default"
    result = CliRunner().invoke(cli, ["fool", "--out", str(out)])
    assert result.exit_code == 0, result.output
    [record] = [json.loads(line) for line in (out / "fooling.jsonl").read_text().splitlines()]
    assert record["success"] and record["max_abs_delta"] <= 0.15 + 1e-6
    assert _bands_of_5_percent(record["bands"]) >= 3, record["bands"]
    old = tmp_path / "old"
    result = CliRunner().invoke(cli, ["fool", "--method", "sign", "--scale", "max", "--out", str(old)])
    assert result.exit_code == 0, result.output
    [record] = [json.loads(line) for line in (old / "fooling.jsonl").read_text().splitlines()]
    assert _bands_of_5_percent(record["bands"]) < 3 and record["bands"]["red"] > 0.8, record["bands"]


def test_fool_whole_image_skips_detection_and_pads_to_a_square(tmp_path):
    # A face-less 92 x 112 image: the detector finds nothing, --whole-image still takes all of it as the face.
    img = np.tile(np.linspace(0, 255, 92, dtype=np.uint8), (112, 1))
    path = tmp_path / "plain.png"
    cv2.imwrite(str(path), img)
    without = CliRunner().invoke(cli, ["fool", str(path), "--out", str(tmp_path / "a"), "--max-steps", "2"])
    assert without.exit_code != 0 and "no face found" in without.output
    out = tmp_path / "b"
    result = CliRunner().invoke(cli, ["fool", str(path), "--whole-image", "--out", str(out), "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "fooling.jsonl").read_text().splitlines()[0])
    assert record["box"] == [0, 0, 92, 112] and record["steps"] <= 2
    adversarial = cv2.imread(str(out / "plain_face0_adversarial.png"), cv2.IMREAD_GRAYSCALE)
    assert adversarial.shape == (48, 48)  # the bundled model's input, from the image padded to 112 x 112


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


def test_fool_warns_when_the_face_already_has_the_target_class(tmp_path):
    result = CliRunner().invoke(cli, ["fool", "--target", "happy", "--device", "cpu", "--out", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])
    assert record["original_class"] == "happy" and record["success"] is False and record["steps"] == 0
    assert "is already 'happy'; left unchanged" in result.stderr
