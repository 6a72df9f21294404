"""`affectlab analyze` through the CLI: JSON lines, --save, errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from affectlab.cli import cli, main
from affectlab.data import sample_photo
from affectlab.models import create_model, save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_weights(create_model("mini_xception"), tmp_path_factory.mktemp("w") / "random.pt"))


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


_records = _lines


def test_default_input_is_the_sample_photo(weights, tmp_path):
    result = CliRunner().invoke(cli, ["analyze", "--weights", weights, "--save", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (record,) = _lines(result.stdout)
    assert record["source"] == "skimage.data.astronaut"
    assert record["status"] == "ok" and len(record["faces"]) == 1
    assert len(record["faces"][0]["probabilities"]) == 7
    saved = tmp_path / "astronaut_annotated.png"
    assert saved.is_file() and cv2.imread(str(saved)).shape == (512, 512, 3)


def test_corrupt_file_exits_nonzero_with_one_line(weights, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = CliRunner().invoke(cli, ["analyze", "--weights", weights, str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "broken.png" in err[0]
    (record,) = _lines(result.stdout)
    assert record["status"] == "error" and "broken.png" in record["error"]


def test_corrupt_png_error_is_not_joined_by_opencv_log_lines(weights, tmp_path):
    """OpenCV logs from C ("[ WARN:0@..] global grfmt_png.cpp ..."), past CliRunner: run the real process."""
    bad = tmp_path / "broken.png"  # a sound header (it passes the size check) over corrupt pixel data
    ok, encoded = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = bytearray(encoded.tobytes())
    at = data.find(b"IDAT")
    data[at + 8:at + 60] = b"\x00" * 52
    bad.write_bytes(bytes(data))
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    code = "import sys; from affectlab.cli import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, "analyze", "--weights", weights, "--no-progress", str(bad)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        f"affectlab: error: {bad}: not a readable image (corrupt or unsupported format)"]


def test_folder_input_and_output_file(weights, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "b.png"), cv2.cvtColor(sample_photo()[:, ::-1], cv2.COLOR_RGB2BGR))
    out = tmp_path / "res.jsonl"
    result = CliRunner().invoke(cli, ["analyze", "--weights", weights, str(folder), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    records = _lines(out.read_text())
    assert [r["source"].endswith(n) for r, n in zip(records, ["a.png", "b.png"])] == [True, True]


def test_empty_folder_and_bad_weights_are_one_line_errors(weights, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["analyze", "--weights", weights, str(empty)])
    assert result.exit_code == 1 and "holds no images" in result.stderr and "Traceback" not in result.output
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    result = CliRunner().invoke(cli, ["analyze", "--weights", str(junk)])
    assert result.exit_code == 1 and "junk.pt" in result.stderr and "Traceback" not in result.output


def test_help_explains_the_format():
    result = CliRunner().invoke(cli, ["analyze", "--help"])
    assert result.exit_code == 0
    for text in ("JSON", "no_face", "--save", "astronaut"):
        assert text in result.output


@pytest.mark.parametrize("device, message", [("gpu", "expected auto, cpu, cuda or cuda:N"),
                                             ("cuda", "CUDA is not available")])
def test_an_unusable_device_is_one_line(device, message, capsys):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["analyze", "--device", device]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and repr(device) in err[0]


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
