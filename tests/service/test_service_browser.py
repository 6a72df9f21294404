"""The web page in headless Chromium: upload the sample photograph, see the top label.

Uses Debian's ``/usr/bin/chromium`` (``make test`` installs it via scripts/install-browser.sh)
through playwright's driver; skips with the reason when no browser is installed.
"""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.service.service_fixtures import sample_png, sample_png_path, served  # noqa: F401  (shared fixtures)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    for candidate in (os.environ.get("AFFECTLAB_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no Chromium at /usr/bin/chromium (run scripts/install-browser.sh as root, or set AFFECTLAB_CHROMIUM)")


#: Chromium's fake camera (a synthetic test pattern) for the webcam snapshot test.
FAKE_CAMERA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (test extra)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True,
                                    args=CHROMIUM_FLAGS + FAKE_CAMERA_FLAGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(browser):
    page = browser.new_page()
    page.set_default_timeout(30_000)
    yield page
    page.close()


def test_page_uploads_the_sample_photograph_and_shows_the_top_label(page, served, sample_png_path):
    page.goto(served + "/")
    page.wait_for_function("document.getElementById('model-info').textContent.startsWith('model ')")
    page.set_input_files("#file", str(sample_png_path))
    page.wait_for_function("document.getElementById('top-label').textContent === 'happy'")
    assert "1 face" in page.text_content("#status")
    assert page.locator("#faces li").count() == 1
    assert page.text_content("#faces li").startswith("happy")
    size = page.evaluate("[document.getElementById('view').width, document.getElementById('view').height]")
    assert size == [512, 512]  # the canvas shows the photograph at full size, with the box drawn on it
    assert page.get_attribute("#view", "aria-label").endswith("1 face boxed with landmarks")
    # the first landmark is drawn as a dot in the face's colour (happy: rgb(250, 200, 0))
    pixel = page.evaluate("""() => {
        const [x, y] = state.result.faces[0].landmarks[0];
        return Array.from(document.getElementById('view').getContext('2d').getImageData(x, y, 1, 1).data);
    }""")
    assert pixel[:3] == [250, 200, 0]


def test_page_shows_the_server_error_for_a_non_image(page, served, tmp_path):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"this is not an image")
    page.goto(served + "/")
    page.set_input_files("#file", str(bad))
    page.wait_for_function("document.getElementById('status').classList.contains('error')")
    text = page.text_content("#status")
    assert "422" in text and "photo.png: not a readable image" in text


def test_gradcam_toggle_follows_the_server_capability(page, served, sample_png_path):
    import httpx

    available = httpx.get(served + "/health", timeout=10).json()["capabilities"]["heatmap"]
    page.goto(served + "/")
    page.wait_for_function("document.getElementById('model-info').textContent.startsWith('model ')")
    assert page.is_enabled("#heatmap") == available
    if not available:
        return
    page.set_input_files("#file", str(sample_png_path))
    page.wait_for_function("document.getElementById('top-label').textContent === 'happy'")
    with page.expect_response(lambda r: "/v1/faces?heatmap=true" in r.url) as answer:
        page.check("#heatmap")
    assert answer.value.ok and answer.value.json()["heatmap_png"].startswith("data:image/png")
    page.wait_for_function("document.getElementById('status').textContent.includes('1 face')")


def test_webcam_snapshot_is_sent_and_answered(page, served):
    """Chromium's fake camera (a synthetic test pattern, no face) through the snapshot button."""
    page.goto(served + "/")
    assert page.is_hidden("#camera-view") and page.is_hidden("#camera-snap")
    page.click("#camera-start")
    page.wait_for_function("document.getElementById('camera-view').videoWidth > 0")
    with page.expect_response(lambda r: r.url.endswith("/v1/faces")) as answer:
        page.click("#camera-snap")
    assert answer.value.status == 200
    assert answer.value.json()["source"] == "webcam.png"
    page.wait_for_function("document.getElementById('status').textContent.startsWith('webcam.png:')")
    page.click("#camera-stop")
    assert page.is_hidden("#camera-view")


def test_api_docs_render_offline(page, served):
    pytest.importorskip("swagger_ui_bundle", reason="swagger-ui-bundle is not installed (docs use the CDN)")
    page.goto(served + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "AffectLab" in page.text_content(".swagger-ui .info .title")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/health", "/v1/faces", "/v1/video", "/v1/speech"} <= {p.replace("\u200b", "") for p in paths}
