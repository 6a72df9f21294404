"""``affectlab analyze VIDEO`` and :mod:`affectlab.video.command`: output names and options, refused before
the analysis, frame folders, whole-frame input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.errors import ConfigError
from affectlab.video.analyze import WHOLE_FRAME_TRACK
from affectlab.video.command import (
    analyze_videos,
    check_output_options,
    output_path,
    video_name,
)


@pytest.fixture(scope="module")
def two_videos(tmp_path_factory, make_video, make_face_frames):
    """``clip.avi`` and ``clip.mp4``: the same stem in one folder."""
    folder = tmp_path_factory.mktemp("same stem")
    frames = make_face_frames(4)
    return [make_video(folder / "clip.avi", frames), make_video(folder / "clip.mp4", frames)]


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_same_stem_videos_do_not_overwrite_each_others_outputs(two_videos, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["analyze", *map(str, two_videos), "--csv", "out", "--annotate", "ann",
                                      "--every", "2"])
    assert result.exit_code == 0, result.output
    records = _lines(result.stdout)
    assert [r["status"] for r in records] == ["ok", "ok"]
    csvs = [r["outputs"]["csv"] for r in records]
    timelines = [r["outputs"]["timeline"] for r in records]
    assert len(set(csvs)) == 2 and len(set(timelines)) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip_frames.csv", "clip_mp4_frames.csv"]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["clip_mp4_timeline.png", "clip_timeline.png"]
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["clip_annotated.mp4", "clip_mp4_annotated.mp4"]


def test_output_path_gives_a_second_same_stem_video_its_own_name(tmp_path):
    used: set = set()
    names = [output_path(tmp_path, tmp_path / v, "_timeline.png", several=True, default_dir=None, name="timeline",
                         used=used).name for v in ("a/clip.mp4", "b/clip.mp4", "clip.avi", "c/clip.mp4")]
    assert names == ["clip_timeline.png", "clip_mp4_timeline.png", "clip_avi_timeline.png", "clip_mp4_2_timeline.png"]
    # without ``used`` the old behaviour: the name from the stem
    assert output_path(tmp_path, tmp_path / "clip.mp4", "_x.csv", several=True, default_dir=None,
                       name="csv").name == "clip_x.csv"


@pytest.mark.parametrize(("args", "message"), [
    (["--timeline", "t.txt"], "--timeline t.txt: the file name must end in .png"),
    (["--annotate", "a.webm", "--no-timeline"], "--annotate a.webm: use a .mp4"),
])
def test_bad_output_names_are_refused_before_the_analysis(args, message, face_video, tmp_path, monkeypatch):
    import affectlab.video.analyze as video_analyze

    monkeypatch.chdir(tmp_path)

    def must_not_run(*_a, **_k):  # the old code analysed the whole video, then threw the result away
        raise AssertionError("the video was analysed before the bad option was refused")

    monkeypatch.setattr(video_analyze.VideoAnalyzer, "analyze", must_not_run)
    result = CliRunner().invoke(cli, ["analyze", str(face_video), *args])
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"affectlab: error: {message}") and result.stdout == ""


def test_a_file_name_for_several_videos_is_refused_before_the_analysis(two_videos, tmp_path, monkeypatch):
    import affectlab.video.analyze as video_analyze

    monkeypatch.setattr(video_analyze.VideoAnalyzer, "analyze",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("analysed")))
    result = CliRunner().invoke(cli, ["analyze", *map(str, two_videos), "--timeline", str(tmp_path / "t.png")])
    assert result.exit_code == 1 and result.stdout == ""
    assert "give a folder when analysing several videos" in result.stderr


def test_check_output_options_accepts_folders_and_good_names(tmp_path):
    check_output_options(several=True, timeline=tmp_path, write_timeline=True, annotate=tmp_path / "ann", csv=tmp_path)
    check_output_options(several=False, timeline=tmp_path / "t.PNG", write_timeline=True,
                         annotate=tmp_path / "a.avi", csv=tmp_path / "f.csv")
    check_output_options(several=False, timeline=tmp_path / "t.txt", write_timeline=False, annotate=None, csv=None)
    with pytest.raises(ConfigError, match="--csv"):
        check_output_options(several=True, timeline=None, write_timeline=False, annotate=None, csv=tmp_path / "f.csv")


@pytest.mark.parametrize("option", ["--csv", "--annotate"])
def test_uncreatable_output_folder_is_one_error_line_not_a_traceback(option, face_video, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    target = blocker / "sub" / ("out.csv" if option == "--csv" else "out.mp4")
    result = CliRunner().invoke(cli, ["analyze", str(face_video), option, str(target), "--no-timeline",
                                      "--every", "4"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (record,) = _lines(result.stdout)
    assert (record["status"] == "error" and str(target) in record["error"]
            and "cannot create the folder" in record["error"])
    assert "Traceback" not in result.stderr


def test_analyze_videos_passes_whole_frame(blank_video, tmp_path):
    import io

    sink = io.StringIO()
    errors = analyze_videos([blank_video], sink=sink, device="cpu", whole_frame=True, write_timeline=False)
    record = json.loads(sink.getvalue())
    assert errors == 0 and record["status"] == "ok" and record["tracks"][0]["id"] == WHOLE_FRAME_TRACK


@pytest.mark.parametrize("option", ["--annotate", "--csv"])
def test_an_output_option_naming_the_input_video_never_overwrites_it(option, make_video, make_face_frames, tmp_path):
    video = make_video(tmp_path / "clip.mp4", make_face_frames(3))
    before = video.read_bytes()
    result = CliRunner().invoke(cli, ["analyze", str(video), option, str(video), "--no-timeline"])
    assert result.exit_code == 1
    assert video.read_bytes() == before  # --annotate used to truncate it before reading, --csv to replace it
    assert result.stdout == ""  # refused before any work: no video analysed
    assert result.stderr.strip().splitlines() == [
        f"affectlab: error: {option} {video}: that is an input file ({video}); refusing to overwrite it"]


@pytest.fixture
def frame_folder(tmp_path, make_face_frames):
    import cv2

    folder = tmp_path / "session 1"
    folder.mkdir()
    for i, frame in enumerate(make_face_frames(4)):
        cv2.imwrite(str(folder / f"f{i}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def test_frames_dot_does_not_drop_its_timeline_among_its_frames(frame_folder, monkeypatch):
    monkeypatch.chdir(frame_folder)
    runner = CliRunner()
    first = runner.invoke(cli, ["analyze", "--frames", "."])
    # before: ./_timeline.png was written here, and the next run read it as its first frame
    assert first.exit_code == 1 and "inside the frame folder" in first.stderr
    assert sorted(p.name for p in frame_folder.iterdir()) == ["f0.png", "f1.png", "f2.png", "f3.png"]
    second = runner.invoke(cli, ["analyze", "--frames", ".", "--timeline", "../plots"])
    assert second.exit_code == 0, second.output
    (record,) = _lines(second.stdout)
    assert record["video"]["frame_count"] == 4 and "problems" not in record
    assert record["outputs"]["timeline"] == str(Path("../plots") / "session 1_timeline.png")
    assert (frame_folder.parent / "plots" / "session 1_timeline.png").is_file()
    assert ": timeline written to" in second.stderr and "affectlab: : " not in second.stderr


def test_frame_folder_outputs_are_named_after_the_folder(frame_folder, tmp_path):
    assert video_name(frame_folder) == "session 1" and video_name(frame_folder / ".") == "session 1"
    assert video_name(Path("clips/a.mp4")) == "a"


def test_cli_whole_frame_reaches_videos_and_output_folder_is_created(blank_video, tmp_path):
    out = tmp_path / "new" / "r.jsonl"  # before: FileNotFoundError traceback; and --whole-frame gave no_face
    result = CliRunner().invoke(cli, ["analyze", str(blank_video), "--whole-frame", "--no-timeline", "--device", "cpu",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    (record,) = _lines(out.read_text())
    assert record["status"] == "ok" and record["tracks"][0]["id"] == WHOLE_FRAME_TRACK
