"""The page's Live view in headless Chromium: a fake camera playing the sample photograph, streamed to /v1/stream.

Chromium reads the fake camera from a Y4M file the test writes (``--use-file-for-fake-video-capture``);
skips with the reason when no browser is installed, like the other browser tests.
"""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlab.data.media import sample_photo
from tests.service.service_fixtures import served  # noqa: F401  (shared fixture)
from tests.service.test_service_browser import CHROMIUM_FLAGS, FAKE_CAMERA_FLAGS, _chromium
from tests.service.test_service_browser_key import KEY, keyed_server  # noqa: F401

HAPPY = [250, 200, 0]  # the page's colour for happy (affectlab.viz.EXPRESSION_COLORS)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """RGB frames as a 4:2:0 YUV4MPEG2 file, the format of Chromium's file-backed fake camera."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def photo_camera(tmp_path_factory) -> Path:
    """25 frames (1 s, looped by Chromium): the sample photograph at 480 px on a 640x480 frame, swaying 2 px a frame."""
    face = cv2.resize(sample_photo(), (480, 480), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(25):
        canvas = np.full((480, 640, 3), 60, np.uint8)
        x = 60 + 2 * (i if i < 13 else 25 - i)
        canvas[:, x:x + 480] = face
        frames.append(canvas)
    return write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m", frames)


@pytest.fixture(scope="module")
def photo_browser(photo_camera):
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (test extra)")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=executable, headless=True, timeout=30_000,
            args=CHROMIUM_FLAGS + FAKE_CAMERA_FLAGS + [f"--use-file-for-fake-video-capture={photo_camera}"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def photo_page(photo_browser):
    tab = photo_browser.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    tab.close()


def test_live_view_streams_the_camera_and_shows_happy(photo_page, served):
    photo_page.goto(served + "/")
    photo_page.wait_for_function("document.getElementById('model-info').textContent.startsWith('model ')")
    assert photo_page.is_hidden("#live") and photo_page.is_hidden("#live-stop")
    started = time.monotonic()
    photo_page.click("#live-start")
    photo_page.wait_for_function("document.getElementById('live-label').textContent === 'happy'", timeout=15_000)
    assert time.monotonic() - started < 10  # within a few seconds of going live (camera, socket, first answers)
    photo_page.wait_for_function("live.history.length >= 5 && parseFloat(document.getElementById('live-fps')"
                                 ".textContent) > 0")
    last = photo_page.evaluate("live.last")
    assert last["faces"][0]["label"] == "happy" and last["faces"][0]["track"] == 1 and last["seq"] >= 4
    assert "face 1 happy" in photo_page.get_attribute("#live-view", "aria-label")
    chart = photo_page.get_attribute("#live-chart", "aria-label")
    assert chart.startswith("probabilities over the last 30 s") and "happy" in chart.split("now:")[1]
    if last["faces"][0].get("landmarks"):  # the landmark front-end: a dot in happy's colour on each point
        pixel = photo_page.evaluate("""() => {
            const face = live.last.faces[0], [x, y] = face.landmarks[0];
            return Array.from(document.getElementById('live-view').getContext('2d').getImageData(x, y, 1, 1).data);
        }""")
        assert pixel[:3] == HAPPY
    # the chart drew the happy line: some pixel of its plot area has happy's colour
    assert photo_page.evaluate("""() => {
        const c = document.getElementById('live-chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 250 && d[i + 1] === 200 && d[i + 2] === 0) return true;
        return false;
    }""")
    photo_page.click("#live-stop")
    assert photo_page.evaluate("live.running === false && live.stream === null && live.socket === null")
    assert photo_page.is_visible("#live-start")


def test_live_view_asks_for_the_key_and_streams_with_it(photo_page, keyed_server):
    page = photo_page
    page.goto(keyed_server + "/")
    page.wait_for_selector("#key-form", state="visible")
    page.click("#live-start")
    assert "Live needs the server's API key" in page.text_content("#status")
    page.fill("#api-key", "wrong-key")
    page.click("#key-form button[type=submit]")  # goes live, the handshake is refused: asked again
    page.wait_for_function("document.getElementById('status').textContent.includes('refused the live stream')")
    assert page.is_visible("#key-form") and page.is_visible("#live-start")
    page.fill("#api-key", KEY)
    page.click("#key-form button[type=submit]")  # the key goes as a bearer.KEY subprotocol
    page.wait_for_function("document.getElementById('live-label').textContent === 'happy'", timeout=15_000)
    assert page.evaluate("live.socket.protocol") == "affectlab.stream"
    page.click("#live-stop")
