"""affectlab.media: which kind a file is, and one analyser per kind behind MediaAnalyzer (no model is loaded here)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import affectlab
from affectlab.cli.analyze import route_inputs
from affectlab.data.scan import find_media, media_files, natural_key, sniff_media_kind
from affectlab.errors import ConfigError, ModelError
from affectlab.media import MediaAnalyzer, media_kind


def _png(path: Path) -> Path:
    cv2.imwrite(str(path.with_suffix(".png")), np.zeros((8, 8), np.uint8))
    path.with_suffix(".png").rename(path)
    return path


@pytest.mark.parametrize("head, kind", [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 8, "image"), (b"\xff\xd8\xff\xe0", "image"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio"), (b"fLaC\0\0\0\x22", "audio"), (b"OggS\0\x02", "audio"),
    (b"ID3\x04\0", "audio"), (b"FORM\0\0\0\x10AIFF", "audio"),
    (b"\0\0\0\x18ftypmp42", "video"), (b"\0\0\0\x14ftypqt  ", "video"), (b"RIFF\0\0\0\0AVI LIST", "video"),
    (b"\x1a\x45\xdf\xa3\x9f", "video"), (b"\0\0\0\x1cftypheic", "image"),
    (b"hello world", None), (b"", None),
])
def test_sniff_media_kind(head, kind):
    assert sniff_media_kind(head) == kind


def test_media_kind_by_suffix_then_content(tmp_path):
    assert media_kind("missing/clip.MOV") == "video" and media_kind("x/talk.FLAC") == "audio"
    assert media_kind(_png(tmp_path / "photo")) == "image"  # no suffix: the PNG signature
    (tmp_path / "talk.dat").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\0" * 32)
    assert media_kind(tmp_path / "talk.dat") == "audio"
    (tmp_path / "notes.txt").write_text("not media")
    assert media_kind(tmp_path / "notes.txt") is None
    assert media_kind(tmp_path) is None and media_kind(tmp_path / "absent") is None
    assert affectlab.media_kind is media_kind and affectlab.analyze is affectlab.media.analyze


def test_route_inputs_sorts_by_kind(tmp_path):
    frames = tmp_path / "shots"
    frames.mkdir()
    _png(frames / "a.png")
    (tmp_path / "talk").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\0" * 32)
    routed = route_inputs(("a.jpg", "b.mp4", "c.wav", str(tmp_path / "talk"), str(frames), "d.aiff"),
                          (tmp_path / "frames_dir",))
    assert routed.videos == [Path("b.mp4"), tmp_path / "frames_dir"]
    assert routed.recordings == ["c.wav", str(tmp_path / "talk"), "d.aiff"]
    assert routed.images == ["a.jpg", str(frames)]
    assert routed.paths == [Path("a.jpg"), frames / "a.png"]  # the folder expanded to its images
    assert route_inputs(()).any is False


def test_media_analyzer_builds_the_face_model_only_when_needed():
    media = MediaAnalyzer("no_such_model")  # nothing loaded yet
    with pytest.raises(ModelError, match="no_such_model"):
        media.faces  # noqa: B018


def test_media_analyzer_uses_the_given_analysers():
    calls = []

    class Faces:
        class_names = ["a", "b"]

        def analyze(self, image, source):
            calls.append(("array", source))
            return "image result"

    class Speech:
        def analyze_path(self, path):
            calls.append(("speech", path))
            return type("R", (), {"source": str(path)})()

    media = MediaAnalyzer(Faces(), speech=Speech())
    assert media.analyze(np.zeros((4, 4), np.uint8), source="x") == "image result"
    assert media.analyze("talk.wav").source == "talk.wav"
    assert media.analyze("talk.bin", kind="audio", source="upload.wav").source == "upload.wav"
    assert calls == [("array", "x"), ("speech", "talk.wav"), ("speech", "talk.bin")]
    assert media.class_names == ["a", "b"]
    with pytest.raises(ConfigError, match="array is analysed as an image"):
        media.analyze(np.zeros((4, 4), np.uint8), kind="audio")
    with pytest.raises(ConfigError, match="not a media kind"):
        media.analyze("x.png", kind="text")


def test_scanning_helpers(tmp_path):
    for name in ("f10.png", "f2.png", ".hidden.png", "notes.txt", "talk.wav"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f1.png").write_bytes(b"x")
    assert [p.name for p in media_files(tmp_path)] == ["f2.png", "f10.png", "talk.wav"]
    assert [p.name for p in media_files(tmp_path, ["audio"])] == ["talk.wav"]
    assert [p.relative_to(tmp_path).as_posix() for p in find_media(tmp_path)] == [
        ".hidden.png", "f10.png", "f2.png", "sub/f1.png"]  # recursive, path order, as analyze/batch list folders
    assert sorted(["F10", "f9", "f10a"], key=lambda n: natural_key(n, fold_case=True)) == ["f9", "F10", "f10a"]
