"""SOURCE parsing, opening errors, and the grabber that keeps only the newest frame."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from affectlab.errors import ConfigError, MediaReadError
from affectlab.live.source import FrameGrabber, LiveSource, SourceSpec, open_source, parse_source
from affectlab.video.reader import Frame

from .conftest import face_frames, write_video


def test_parse_source_kinds():
    assert parse_source("0") == SourceSpec("camera", "0", "camera 0", camera=0)
    assert parse_source(2).camera == 2
    assert parse_source("rtsp://cam.local:554/h264").kind == "stream"
    assert parse_source("HTTP://127.0.0.1:8080/video").kind == "stream"
    masked = parse_source("rtsp://admin:hunter2@10.0.0.9/live")
    assert masked.name == "rtsp://admin:***@10.0.0.9/live" and "hunter2" in masked.target


def test_parse_source_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(MediaReadError, match=r"nothere\.mp4: not found; give a camera index"):
        parse_source(str(tmp_path / "nothere.mp4"))
    with pytest.raises(MediaReadError, match="/dev/video97: no such device"):
        parse_source("/dev/video97")
    with pytest.raises(ConfigError, match="ftp:// streams are not read"):
        parse_source("ftp://example.org/clip.mp4")
    with pytest.raises(ConfigError, match="empty SOURCE"):
        parse_source("  ")


def test_a_missing_camera_is_one_clear_error():
    with pytest.raises(MediaReadError, match=r"camera 57: cannot be opened \(no such camera"):
        open_source("57")


def test_a_refused_stream_is_one_clear_error():
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MediaReadError, match=rf"http://127.0.0.1:{port}/x: cannot open the stream"):
        open_source(f"http://127.0.0.1:{port}/x", timeout=2)


def test_a_corrupt_or_still_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 10)
    with pytest.raises(MediaReadError, match="bad.avi: not a readable video"):
        open_source(bad)


class _FastSource(LiveSource):
    """A 'camera' producing ``n`` frames as fast as it can (each a 1-pixel frame holding its index)."""

    def __init__(self, n: int) -> None:
        super().__init__(SourceSpec("camera", "9", "camera 9", camera=9), fps=1000.0, width=1, height=1)
        self.n = n

    def frames(self, stop: threading.Event):
        for i in range(self.n):
            if stop.is_set():
                return
            time.sleep(0.001)
            yield Frame(i, i / 1000.0, np.full((1, 1, 3), i % 256, np.uint8))


def test_grabber_keeps_the_newest_frame_and_counts_the_dropped():
    taken = []
    with FrameGrabber(_FastSource(300)) as grabber:
        while (frame := grabber.take(timeout=5.0)) is not None:
            taken.append(frame.index)
            time.sleep(0.02)  # a slow analysis: the source runs ahead
    state = grabber.state
    assert state.ended and state.error is None and state.read == 300
    assert taken == sorted(taken) and taken[-1] == 299  # always newer, and the last frame is analysed
    assert state.dropped == 300 - len(taken) and state.dropped > 200  # dropped, not queued


def test_lossless_file_reading_drops_nothing(tmp_path):
    clip = write_video(tmp_path / "c.avi", face_frames(12))
    taken = []
    with FrameGrabber(open_source(clip), lossless=True) as grabber:
        while (frame := grabber.take(timeout=5.0)) is not None:
            taken.append(frame.index)
            time.sleep(0.01)
    assert taken == list(range(12)) and grabber.state.dropped == 0


def test_realtime_paces_a_file_at_its_frame_rate(tmp_path):
    clip = write_video(tmp_path / "c.avi", face_frames(20), fps=40.0)  # 0.5 s
    started = time.monotonic()
    with FrameGrabber(open_source(clip), realtime=True) as grabber:
        while grabber.take(timeout=5.0) is not None:
            pass
    assert 0.4 <= time.monotonic() - started < 1.5
    assert grabber.state.read == 20
