"""``affectlab live``: JSON lines, smoothing, annotation, the output rule, and errors as one line."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.outputs import listed_outputs

from .conftest import face_frames, mjpeg_server

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _live(*args: str):
    return CliRunner().invoke(cli, ["live", *args])


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_file_gives_one_line_per_frame_and_an_annotated_video(face_clip, tmp_path):
    out, video = tmp_path / "out.jsonl", tmp_path / "annotated.avi"
    result = _live(str(face_clip), "-o", str(out), "--annotate", str(video), "--no-progress")
    assert result.exit_code == 0, result.output
    records = _lines(out)
    assert [r["frame"] for r in records] == list(range(50))  # a file without --realtime: nothing dropped
    assert records[1]["time"] == pytest.approx(0.04)
    for record in records:
        [face] = record["faces"]
        assert face["track"] == 1 and face["label"] == "happy" and list(face["probabilities"]) == CLASSES
        assert len(face["box"]) == 4 and sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        if "landmarks" in face:  # the dlib front-end
            assert len(face["landmarks"]) == 5 and set(face["pose"]) == {"yaw", "pitch", "roll"}
    assert "face.avi: 50 frames read, 50 analysed, 0 dropped" in result.stderr
    assert "track 1: 50 frames, happy" in result.stderr
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 50 and capture.get(cv2.CAP_PROP_FPS) == 25.0
    capture.release()
    assert video.name in listed_outputs(tmp_path)  # a folder given to batch later skips it


def test_json_lines_go_to_stdout_without_output(face_clip):
    result = _live(str(face_clip), "--duration", "0.2", "--no-progress")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4]  # frames before 0.2 s of the video's clock
    assert "the duration was reached" in result.stderr


def test_smooth_averages_each_track_over_the_window(tmp_path):
    from .conftest import write_video

    frames = face_frames(20)
    for i in range(10, 20):  # the face turns gray-ish: the probabilities change over time
        frames[i] = (frames[i] * 0.5 + 60).astype(np.uint8)
    clip = write_video(tmp_path / "c.avi", frames)
    out = tmp_path / "s.jsonl"
    result = _live(str(clip), "-o", str(out), "--smooth", "0.2", "--no-progress")
    assert result.exit_code == 0, result.output
    records = _lines(out)
    faced = [r for r in records if r["faces"]]
    assert len(faced) >= 15
    raw = {r["time"]: np.array([r["faces"][0]["raw_probabilities"][c] for c in CLASSES]) for r in faced}
    for r in faced:
        window = [p for t, p in raw.items() if r["time"] - 0.2 < t <= r["time"]]
        expected = np.mean(window, axis=0)
        shown = np.array([r["faces"][0]["probabilities"][c] for c in CLASSES])
        assert shown == pytest.approx(expected / expected.sum(), abs=2e-4)
        assert r["faces"][0]["label"] == CLASSES[int(np.argmax(shown))]


def test_outputs_that_are_inputs_are_refused_before_any_work(face_clip, tmp_path):
    before = face_clip.read_bytes()
    result = _live(str(face_clip), "-o", str(face_clip))
    assert result.exit_code == 1 and "that is an input file" in result.stderr
    result = _live(str(face_clip), "--annotate", str(face_clip))
    assert result.exit_code == 1 and "refusing to overwrite it" in result.stderr
    assert face_clip.read_bytes() == before
    same = tmp_path / "x.avi"
    result = _live(str(face_clip), "-o", str(same), "--annotate", str(same))
    assert result.exit_code == 1 and "writes the same file" in result.stderr and not same.exists()
    result = _live(str(face_clip), "--annotate", str(tmp_path / "x.gif"))
    assert result.exit_code == 1 and "use a .mp4, .avi, .mov or .mkv" in result.stderr


@pytest.mark.parametrize("source, message", [
    ("57", "affectlab: error: camera 57: cannot be opened (no such camera"),
    ("/dev/video97", "affectlab: error: /dev/video97: no such device"),
    ("missing.mp4", "affectlab: error: missing.mp4: not found; give a camera index"),
])
def test_a_source_that_cannot_be_opened_is_one_line(source, message, tmp_path):
    out = tmp_path / "o.jsonl"
    result = _live(source, "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output and not out.exists()


def test_a_stalled_stream_stops_with_one_error_line_and_complete_outputs(tmp_path):
    out = tmp_path / "o.jsonl"
    with mjpeg_server(face_frames(20), stall_after=6) as server:
        result = _live(server.url, "--timeout", "1", "-o", str(out), "--no-progress")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [f"affectlab: error: {server.url}: no frame for 1 s (the stream stalled)"]
    assert "6 frames read" in result.stderr and "the source stalled" in result.stderr
    assert 1 <= len(_lines(out)) <= 6 and "Traceback" not in result.output


def test_a_stream_that_ends_is_a_clean_exit(tmp_path):
    out = tmp_path / "o.jsonl"
    with mjpeg_server(face_frames(15), corrupt=5) as server:
        result = _live(server.url, "-o", str(out), "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "the source ended" in result.stderr and "error" not in result.stderr
    records = _lines(out)
    assert records and records[-1]["frame"] == 13  # 15 parts, one of them not a JPEG: frames 0-13


def test_a_truncated_video_is_analysed_up_to_the_damage_with_a_warning(face_clip, tmp_path):
    data = face_clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "o.jsonl"
    result = _live(str(cut), "-o", str(out), "--no-progress")
    assert result.exit_code == 0, result.stderr
    records = _lines(out)
    assert 20 <= len(records) < 50 and records[-1]["faces"][0]["label"] == "happy"
    assert f"affectlab: warning: {cut}: decoding stopped after {len(records)} of 50" in result.stderr
    assert "Traceback" not in result.output
