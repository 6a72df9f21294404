"""No output option of analyze / explain / fool overwrites an input, and a folder given as input skips our outputs.

Each case is checked by hash: the user's files are byte for byte what they were.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.data import sample_photo
from affectlab.models import create_model, save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_weights(create_model("mini_xception"), tmp_path_factory.mktemp("w") / "random.pt"))


@pytest.fixture()
def photo(tmp_path) -> Path:
    path = tmp_path / "in" / "x.jpg"
    path.parent.mkdir(exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(cv2.resize(sample_photo(), (256, 256)), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture()
def video(tmp_path) -> Path:
    path = tmp_path / "in" / "v.avi"
    path.parent.mkdir(exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (128, 128))
    frame = cv2.cvtColor(cv2.resize(sample_photo(), (128, 128)), cv2.COLOR_RGB2BGR)
    for _ in range(3):
        writer.write(frame)
    writer.release()
    assert path.stat().st_size > 0
    return path


def _hashes(*paths: Path) -> dict[str, str]:
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*")))]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


def _refused(args: list[str], *files: Path, option: str, target: Path, source: Path | None = None) -> None:
    before = _hashes(*files)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""  # nothing analysed
    assert result.stderr.strip().splitlines() == [
        f"affectlab: error: {option} {target}: that is an input file ({source or target}); refusing to overwrite it"]
    assert _hashes(*files) == before


def test_analyze_output_naming_the_input_image_is_refused(photo, weights):
    _refused(["analyze", str(photo), "-o", str(photo), "--weights", weights], photo, option="--output", target=photo)


def test_analyze_output_through_a_link_or_another_spelling_is_refused(photo, weights, tmp_path):
    link = tmp_path / "link.jsonl"
    link.symlink_to(photo)
    _refused(["analyze", str(photo), "-o", str(link), "--weights", weights], photo, option="--output", target=link,
             source=photo)
    hard = tmp_path / "hard.jsonl"
    os.link(photo, hard)
    _refused(["analyze", str(photo), "-o", str(hard), "--weights", weights], photo, option="--output", target=hard,
             source=photo)
    dotted = photo.parent / "." / photo.name
    _refused(["analyze", str(photo.parent), "-o", str(dotted), "--weights", weights], photo, option="--output",
             target=dotted, source=photo)


def test_analyze_output_naming_the_input_video_is_refused(video, weights):
    _refused(["analyze", str(video), "-o", str(video), "--weights", weights, "--no-timeline"], video,
             option="--output", target=video)


def test_analyze_csv_naming_an_input_image_is_refused(video, photo, weights):
    _refused(["analyze", str(video), str(photo), "--csv", str(photo), "--weights", weights, "--no-timeline"],
             video, photo, option="--csv", target=photo)


def test_analyze_two_options_writing_the_same_file_are_refused(video, weights, tmp_path):
    out = tmp_path / "r.csv"
    result = CliRunner().invoke(cli, ["analyze", str(video), "-o", str(out), "--csv", str(out), "--no-timeline",
                                      "--weights", weights])
    assert result.exit_code == 1 and "--output writes the same file" in result.stderr and not out.exists()


def test_analyze_save_onto_an_input_is_refused(photo, weights):
    named_like_output = photo.parent / "x_annotated.png"
    assert cv2.imwrite(str(named_like_output), np.zeros((32, 32, 3), np.uint8))
    _refused(["analyze", str(photo), str(named_like_output), "--save", str(photo.parent), "--weights", weights],
             photo.parent, option="--save", target=named_like_output)


def test_analyze_dir_save_dir_does_not_analyse_its_own_outputs(photo, weights):
    folder = photo.parent
    runner = CliRunner()
    first = runner.invoke(cli, ["analyze", str(folder), "--save", str(folder), "--weights", weights])
    assert first.exit_code == 0, first.output
    second = runner.invoke(cli, ["analyze", str(folder), "--save", str(folder), "--weights", weights])
    assert second.exit_code == 0, second.output
    # before: the second run also read x_annotated.png and wrote x_annotated_annotated.png
    assert [json.loads(line)["source"] for line in second.stdout.splitlines()] == [str(photo)]
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["x.jpg", "x_annotated.png"]
    assert runner.invoke(cli, ["analyze", str(folder / "x_annotated.png"), "--weights", weights]).exit_code == 0


def test_explain_out_naming_the_input_is_refused(tmp_path, weights):
    panel = tmp_path / "p.png"
    assert cv2.imwrite(str(panel), cv2.cvtColor(cv2.resize(sample_photo(), (200, 200)), cv2.COLOR_RGB2BGR))
    _refused(["explain", str(panel), "--out", str(panel), "--weights", weights], panel, option="--out", target=panel)


def test_fool_into_its_input_folder_twice_reads_only_the_users_images(tmp_path, weights):
    folder = tmp_path / "faces"
    folder.mkdir()
    face = cv2.resize(sample_photo()[30:230, 150:350], (48, 48))
    assert cv2.imwrite(str(folder / "f.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    before = _hashes(folder / "f.png")
    args = ["fool", str(folder), "--out", str(folder), "--whole-frame", "--max-steps", "2", "--weights", weights]
    runner = CliRunner()
    assert runner.invoke(cli, args).exit_code == 0
    second = runner.invoke(cli, args)
    assert second.exit_code == 0, second.output
    records = [json.loads(line) for line in (folder / "fooling.jsonl").read_text().splitlines()]
    assert [Path(r["source"]).name for r in records] == ["f.png"]
    assert _hashes(folder / "f.png") == before
