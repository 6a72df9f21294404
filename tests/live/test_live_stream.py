"""A network stream: a loopback MJPEG-over-HTTP server made by the test (as IP cameras send)."""

from __future__ import annotations

import io
import json
import time

import pytest

from affectlab import ExpressionAnalyzer
from affectlab.errors import MediaReadError
from affectlab.live import LiveAnalyzer, LiveRun, SourceStalled, open_source

from .conftest import face_frames, mjpeg_server


@pytest.fixture(scope="module")
def analyzer() -> ExpressionAnalyzer:
    return ExpressionAnalyzer()


def _run(url: str, analyzer: ExpressionAnalyzer, **options):
    sink = io.StringIO()
    source = open_source(url, timeout=options.pop("timeout", 5.0))
    stats = LiveRun(source, LiveAnalyzer(analyzer), sink=sink, stall_timeout=source_timeout(source), **options).run()
    return stats, [json.loads(line) for line in sink.getvalue().splitlines()]


def source_timeout(source) -> float:
    return getattr(source, "timeout", 5.0)


def test_a_stream_is_analysed_until_it_ends(analyzer):
    # 1 px a frame: even if a busy machine drops most frames, the face stays within the tracker's reach
    with mjpeg_server(face_frames(30, step=1)) as server:
        stats, records = _run(server.url, analyzer)
    assert stats.reason == "end" and stats.error is None
    assert stats.read == 30 and stats.analysed == len(records) and stats.analysed + stats.dropped == 30
    # newest frame first: on a busy machine the first frames can be replaced before the analysis takes one
    assert records[0]["frame"] <= stats.dropped
    assert all(a["frame"] < b["frame"] for a, b in zip(records, records[1:]))
    assert all(a["time"] <= b["time"] for a, b in zip(records, records[1:]))
    assert stats.track_labels() == {1: "happy"}
    assert all(r["faces"][0]["label"] == "happy" and r["faces"][0]["track"] == 1 for r in records)


def test_a_corrupt_frame_is_skipped_and_the_stream_goes_on(analyzer):
    with mjpeg_server(face_frames(30), corrupt=10) as server:
        stats, records = _run(server.url, analyzer)
    assert stats.reason == "end" and stats.error is None
    assert stats.read >= 28 and stats.read + stats.unreadable == 30  # every part but the bad one
    assert records[-1]["frame"] == stats.read - 1 and records[-1]["faces"][0]["label"] == "happy"


def test_a_stalled_stream_ends_the_run_with_one_error(analyzer):
    with mjpeg_server(face_frames(30), stall_after=5) as server:
        started = time.monotonic()
        stats, records = _run(server.url, analyzer, timeout=1.0)
        elapsed = time.monotonic() - started
    assert stats.reason == "stalled" and stats.failed
    assert stats.error.endswith("no frame for 1 s (the stream stalled)") and "\n" not in stats.error
    assert stats.read == 5 and len(records) >= 1
    assert elapsed < 4.0  # the timeout, not FFmpeg's defaults


def test_a_stream_that_sends_nothing_is_refused_at_opening():
    with mjpeg_server(face_frames(3), stall_after=0) as server:
        server.frames.clear()  # headers, then silence
        started = time.monotonic()
        with pytest.raises(MediaReadError) as info:
            open_source(server.url, timeout=1.0)
    assert time.monotonic() - started < 4.0
    assert "127.0.0.1" in str(info.value) and isinstance(info.value, MediaReadError)
    assert isinstance(info.value, SourceStalled) or "cannot open the stream" in str(info.value)
