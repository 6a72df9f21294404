"""Sources the live tests make: generated video files and a loopback MJPEG-over-HTTP server."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlab.data import sample_photo


def face_frames(n: int, *, size: tuple[int, int] = (320, 240), side: int = 200, step: int = 2) -> list[np.ndarray]:
    """``n`` RGB frames of the sample photograph (a smiling face) sliding ``step`` px a frame."""
    w, h = size
    face = cv2.resize(sample_photo(), (side, side), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        canvas = np.full((h, w, 3), 60, np.uint8)
        x = min(w - side, 10 + step * i)
        canvas[(h - side) // 2:(h - side) // 2 + side, x:x + side] = face
        frames.append(canvas)
    return frames


def write_video(path: Path, frames: Sequence[np.ndarray], fps: float = 25.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory) -> Path:
    """2 s at 25 fps, 320x240: a face moving 2 px a frame."""
    return write_video(tmp_path_factory.mktemp("live") / "face.avi", face_frames(50))


@dataclass
class MjpegServer:
    """What the loopback MJPEG server sends: ``frames`` JPEG parts ``interval`` seconds apart; part ``corrupt``
    (an index) replaced by bytes that are not a JPEG; after part ``stall_after`` it keeps the connection open
    without sending; at the end it closes the connection."""

    frames: list[bytes]
    interval: float = 0.02
    corrupt: int | None = None
    stall_after: int | None = None
    url: str = ""
    sent: int = 0
    release: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def mjpeg_server(frames: Sequence[np.ndarray], **options) -> Iterator[MjpegServer]:
    """An MJPEG stream (``multipart/x-mixed-replace``, as IP cameras send) on 127.0.0.1, a free port."""
    parts = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
             for f in frames]
    state = MjpegServer(parts, **options)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                for i, data in enumerate(state.frames):
                    if state.corrupt == i:
                        data = b"\xff\xd8 this is not a JPEG " * 40
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                     % len(data) + data + b"\r\n")
                    self.wfile.flush()
                    state.sent += 1
                    if state.stall_after is not None and i + 1 >= state.stall_after:
                        state.release.wait(30)  # the connection stays open, silent
                        return
                    time.sleep(state.interval)
            except (BrokenPipeError, ConnectionResetError):
                return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/stream"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
