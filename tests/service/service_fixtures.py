"""Fixtures for the service tests (imported by them): the sample photograph as upload bytes, a running server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from affectlab.data import sample_photo

#: Where the astronaut's face is in the sample photograph ([x, y, w, h], checked by eye once).
SAMPLE_FACE_BOX = (175, 65, 98, 98)


def _encode(image: np.ndarray, suffix: str = ".png") -> bytes:
    ok, data = cv2.imencode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


@pytest.fixture(scope="session")
def encode():
    """``encode(rgb_image, ".png") -> bytes``."""
    return _encode


@pytest.fixture(scope="session")
def face_iou():
    """``face_iou(box) -> float``: overlap of a box with the astronaut's face."""
    return lambda box: _iou(box, SAMPLE_FACE_BOX)


@pytest.fixture(scope="session")
def sample_png() -> bytes:
    return _encode(sample_photo(), ".png")


@pytest.fixture(scope="session")
def sample_png_path(tmp_path_factory, sample_png) -> Path:
    path = tmp_path_factory.mktemp("upload") / "astronaut.png"
    path.write_bytes(sample_png)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not healthy after {timeout} s")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``affectlab serve`` in a subprocess on a free loopback port (1 MB upload limit); yields its URL."""
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-c", "import sys; from affectlab.cli import main; sys.exit(main())",
           "serve", "--port", str(port), "--max-upload-mb", "1", "--torch-threads", "1", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
