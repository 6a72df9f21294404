"""The video analyser and ``affectlab analyze VIDEO``: per-frame results, timeline, CSV, errors."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from affectlab.analysis import ExpressionAnalyzer
from affectlab.cli import cli
from affectlab.errors import ConfigError, MediaReadError
from affectlab.video import VideoAnalyzer, VideoReader
from affectlab.video.analyze import WHOLE_FRAME_TRACK


@pytest.fixture(scope="module")
def analyzer():
    return VideoAnalyzer(ExpressionAnalyzer(device="cpu"), scan_every=4)


@pytest.fixture(scope="module")
def result(analyzer, face_video):
    return analyzer.analyze(face_video, crop_size=128)


def test_one_track_with_probabilities_for_every_frame(result):
    assert result.status == "ok"
    assert result.frame_indices == list(range(12))
    (track,) = result.tracks
    assert track.id == 1 and [f.frame for f in track.frames] == list(range(12))
    P = track.probabilities
    assert P.shape == (12, 7)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)
    assert track.crops.shape == (12, 128, 128) and track.crops.dtype == np.uint8
    assert all(f.aligned for f in track.frames)  # eyes of the base face found, every crop rotated alike


def test_pooled_labels_are_the_mean_of_the_frames(result):
    (track,) = result.tracks
    np.testing.assert_allclose(track.pooled, track.probabilities.mean(axis=0))
    assert track.label == result.class_names[int(np.argmax(track.probabilities.mean(axis=0)))]
    assert result.label == track.label  # one track: the video's label is the track's


def test_json_record_and_csv_rows(result, tmp_path):
    record = json.loads(json.dumps(result.to_dict()))
    assert record["status"] == "ok" and record["media"] == "video"
    assert record["video"]["frame_count"] == 12 and record["sampling"]["frames_analyzed"] == 12
    frames = record["tracks"][0]["frames"]
    assert len(frames) == 12 and set(frames[0]) >= {"frame", "time", "box", "label", "probabilities"}
    assert set(frames[0]) - {"frame", "time", "box", "label", "probabilities"} <= {"landmarks", "pose"}
    assert set(record["timing"]["ms_per_frame"]) == {"decode", "detect", "align", "classify", "annotate"}
    path = result.write_csv(tmp_path / "frames.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 12 and rows[0]["track"] == "1"
    assert abs(sum(float(rows[0][c]) for c in result.class_names) - 1.0) < 1e-3


def test_timeline_png_and_annotated_video(analyzer, face_video, tmp_path):
    res = analyzer.analyze(face_video, every=2, annotate=tmp_path / "annotated.avi")
    assert res.frame_indices == [0, 2, 4, 6, 8, 10]
    png = res.save_timeline(tmp_path / "timeline.png")
    image = cv2.imread(str(png))
    assert image is not None and image.shape[1] > 500
    capture = cv2.VideoCapture(str(tmp_path / "annotated.avi"))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == 6
    with pytest.raises(ConfigError, match=".png"):
        res.save_timeline(tmp_path / "timeline.jpg")


def test_video_without_face_and_bad_videos(analyzer, make_video, tmp_path):
    blank = make_video(tmp_path / "blank.avi", [np.full((120, 160, 3), 80, np.uint8)] * 4)
    res = analyzer.analyze(blank)
    assert res.status == "no_face" and res.label is None and res.tracks == []
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\x00" * 4000)
    with pytest.raises(MediaReadError, match="bad.avi"):
        analyzer.analyze(bad)


def test_cli_prints_one_json_object_and_writes_timeline_and_csv(face_video, tmp_path):
    runner = CliRunner()
    args = ["analyze", str(face_video), "--timeline", str(tmp_path / "tl.png"), "--csv", str(tmp_path / "f.csv"),
            "--scan-every", "3", "--no-progress"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["status"] == "ok" and len(record["tracks"][0]["frames"]) == 12
    assert record["outputs"]["timeline"].endswith("tl.png") and (tmp_path / "tl.png").is_file()
    assert len(list(csv.DictReader((tmp_path / "f.csv").open()))) == 12


def test_cli_frame_folder_and_default_timeline_location(make_face_frames, tmp_path, monkeypatch):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(make_face_frames(4)):
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["analyze", "--frames", str(folder), "--no-progress"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip())
    assert record["video"]["kind"] == "frames" and record["sampling"]["frames_analyzed"] == 4
    assert (tmp_path / "frames_timeline.png").is_file()


@pytest.mark.parametrize("content", [b"", b"garbage" * 300])
def test_cli_empty_or_corrupt_video_gives_one_clear_error(tmp_path, content):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(content)
    result = CliRunner().invoke(cli, ["analyze", str(bad), "--no-progress"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "broken.mp4" in err[0]
    record = json.loads(result.stdout.strip())
    assert record["status"] == "error" and "broken.mp4" in record["error"]


def test_write_csv_into_an_uncreatable_folder_raises_config_error(face_video, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = VideoAnalyzer(ExpressionAnalyzer(device="cpu")).analyze(face_video, max_frames=2)
    with pytest.raises(ConfigError, match="cannot create the folder"):
        result.write_csv(blocker / "x" / "frames.csv")


def test_whole_frame_classifies_frames_without_a_face(blank_video, tmp_path):
    plain = VideoAnalyzer(ExpressionAnalyzer(device="cpu")).analyze(blank_video)
    assert plain.status == "no_face"  # what --whole-frame silently gave before
    image_analyzer = ExpressionAnalyzer(device="cpu", whole_frame=True)
    result = VideoAnalyzer(image_analyzer).analyze(blank_video, crop_size=32, annotate=tmp_path / "a.avi")
    assert result.status == "ok"
    (track,) = result.tracks
    assert track.id == WHOLE_FRAME_TRACK and len(track.frames) == 5
    assert track.frames[0].box.as_list() == [0, 0, 48, 48] and track.crops.shape == (5, 32, 32)
    # the same probabilities as the image analyser's whole-frame fallback on the decoded frame
    first = next(iter(VideoReader(blank_video)))
    expected = image_analyzer.analyze(first.image).faces[0].probabilities
    np.testing.assert_allclose(track.frames[0].probabilities, [expected[c] for c in result.class_names], atol=1e-5)
    assert (tmp_path / "a.avi").stat().st_size > 0


def test_whole_frame_by_name_and_only_where_no_face_is_found(face_video, blank_video):
    assert VideoAnalyzer("resnet_fer", device="cpu", whole_frame=True).analyze(blank_video).status == "ok"
    with_faces = VideoAnalyzer("resnet_fer", device="cpu", whole_frame=True).analyze(face_video)
    assert [t.id for t in with_faces.tracks] == [1]


def test_numpy_integers_are_accepted_for_max_frames_and_crop_size(face_video):
    reader = VideoReader(face_video, max_frames=np.int64(3))
    assert reader.max_frames == 3 and len(list(reader)) == 3
    result = VideoAnalyzer(ExpressionAnalyzer(device="cpu")).analyze(face_video, max_frames=np.int64(3),
                                                                      crop_size=np.int64(16))
    assert len(result.frame_indices) == 3 and result.tracks[0].crops.shape[1:] == (16, 16)
    with pytest.raises(ConfigError, match="crop_size"):
        VideoAnalyzer(ExpressionAnalyzer(device="cpu")).analyze(face_video, crop_size=0)


def test_api_annotate_onto_the_source_is_refused(make_video, make_face_frames, tmp_path):
    video = make_video(tmp_path / "clip.avi", make_face_frames(3))
    before = video.read_bytes()
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        VideoAnalyzer(ExpressionAnalyzer(device="cpu")).analyze(video, annotate=tmp_path / "." / "clip.avi")
    assert video.read_bytes() == before
