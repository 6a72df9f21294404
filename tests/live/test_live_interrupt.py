"""Ctrl-C: a real SIGINT sent to ``affectlab live`` in a subprocess ends it cleanly, its outputs complete."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import cv2
import pytest

from .conftest import face_frames, write_video

MAIN = "import sys; from affectlab.cli import main; sys.exit(main())"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_run_with_complete_outputs(sig, tmp_path):
    clip = write_video(tmp_path / "long.avi", face_frames(40) * 5)  # 8 s: it will not end by itself
    out, video = tmp_path / "out.jsonl", tmp_path / "annotated.avi"
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "live", str(clip), "--realtime", "-o", str(out), "--annotate", str(video),
         "--detector", "haar", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90  # the model loads first; the machine may be busy
        while time.monotonic() < deadline and process.poll() is None:
            if out.exists() and out.read_text(encoding="utf-8").count("\n") >= 3:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[1]
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped by the user" in stderr
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]  # every line whole
    analysed = int(re.search(r"(\d+) analysed", stderr).group(1))
    assert len(records) == analysed >= 3
    assert records[-1]["time"] < 7.0  # stopped early, not at the end of the video
    capture = cv2.VideoCapture(str(video))  # the container was finished: it opens and has the frames
    ok, _ = capture.read()
    assert ok and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) >= analysed
    capture.release()
