"""Audit of the web page (``GET /``) as a person uses it in a browser: errors, recovery, keyboard, phone.

Headless Chromium through playwright, like test_service_browser.py; skips with the reason when
no browser (or playwright) is installed.
"""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import re

import pytest

from tests.service.service_fixtures import encode, sample_png, sample_png_path, served  # noqa: F401  (shared fixtures)
from tests.service.test_service_browser import CHROMIUM_FLAGS, _chromium

READY = "document.getElementById('model-info').textContent.startsWith('model ')"
SETTLED = "!document.getElementById('status').textContent.startsWith('Analysing')"


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (test extra)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(browser, served):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(30_000)
    page.goto(served + "/")
    page.wait_for_function(READY)
    yield page
    page.close()


def _status(page) -> tuple[str, bool]:
    page.wait_for_function(SETTLED)
    return page.text_content("#status"), page.evaluate("document.getElementById('status').classList.contains('error')")


def _upload_sample(page, path) -> None:
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.getElementById('top-label').textContent === 'happy'")


def test_file_chooser_is_reachable_with_the_keyboard(page):
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file"  # the first stop, before the webcam button
    outline = page.evaluate("getComputedStyle(document.querySelector('label[for=file]')).outlineStyle")
    assert outline != "none"  # the styled label shows where the focus is
    # Space on the focused input is the browser's own activation: it dispatches a trusted click, which is what
    # opens the chooser. The test checks that click (what the page controls: nothing swallows the key) rather
    # than the native dialog, which a headless Chromium in CI once failed to open (a 30 s wait, passing here).
    page.evaluate("window.__clicks = [];"
                  "document.getElementById('file').addEventListener('click', e => window.__clicks.push(e.isTrusted))")
    page.keyboard.press("Space")
    page.wait_for_function("window.__clicks.length > 0", timeout=10_000)
    assert page.evaluate("window.__clicks") == [True]
    assert not page.evaluate("document.getElementById('file').multiple")


def test_an_error_clears_the_previous_result_and_the_page_recovers(page, sample_png_path, tmp_path):
    _upload_sample(page, sample_png_path)
    bad = tmp_path / "holiday.jpg"
    bad.write_text("a text file renamed .jpg\n")
    page.set_input_files("#file", str(bad))
    text, is_error = _status(page)
    assert is_error and "holiday.jpg: not a readable image" in text and "422" in text
    assert page.text_content("#top-label") != "happy"  # not the astronaut's answer beside the error
    assert page.locator("#faces li").count() == 0
    assert page.evaluate("[view.width, view.height]") != [512, 512]
    _upload_sample(page, sample_png_path)
    assert not _status(page)[1]


def test_the_same_file_can_be_chosen_again(page, sample_png_path):
    _upload_sample(page, sample_png_path)
    # browsers fire no "change" for the file already chosen; the page empties the input so that a retry works
    assert page.evaluate("document.getElementById('file').value") == ""


def test_a_stopped_server_gets_a_message_that_says_so_and_the_next_upload_works(page, sample_png_path):
    _upload_sample(page, sample_png_path)
    page.route("**/v1/faces*", lambda route: route.abort("connectionrefused"))
    page.set_input_files("#file", str(sample_png_path))
    text, is_error = _status(page)
    assert is_error and "astronaut.png was not analysed" in text and "affectlab serve" in text
    assert page.locator("#faces li").count() == 0
    page.unroute("**/v1/faces*")
    _upload_sample(page, sample_png_path)
    assert not _status(page)[1]


def test_a_plain_text_error_page_is_shown_not_a_json_parse_error(page, sample_png_path):
    page.route("**/v1/faces*", lambda route: route.fulfill(status=502, content_type="text/plain", body="Bad Gateway"))
    page.set_input_files("#file", str(sample_png_path))
    text, is_error = _status(page)
    assert is_error and text == "Error 502: astronaut.png: Bad Gateway"


def test_an_older_answer_arriving_after_a_newer_one_is_dropped(page, sample_png_path, tmp_path, encode):
    import numpy as np

    blank = tmp_path / "blank.png"
    blank.write_bytes(encode(np.full((40, 60, 3), 128, np.uint8), ".png"))
    page.evaluate("""() => {  // hold the first analysis' answer back 1.5 s
        const real = window.fetch; let first = true;
        window.fetch = async (...args) => {
            const delay = first && String(args[0]).startsWith('/v1/faces'); if (delay) first = false;
            const res = await real(...args);
            if (delay) await new Promise((r) => setTimeout(r, 1500));
            return res;
        };
    }""")
    page.set_input_files("#file", str(sample_png_path))
    page.set_input_files("#file", str(blank))
    page.wait_for_function("document.getElementById('status').textContent.startsWith('blank.png:')")
    page.wait_for_timeout(2000)  # the astronaut's late answer has come and gone
    assert page.text_content("#status").startswith("blank.png: no face found")
    assert page.evaluate("[view.width, view.height]") == [60, 40]


def test_a_file_over_the_upload_limit_is_refused_in_the_page_in_megabytes(page, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * 1_500_000)  # the served fixture accepts 1 MiB
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/v1/faces" in r.url else None)
    page.set_input_files("#file", str(big))
    text, is_error = _status(page)
    assert is_error and text.startswith("big.jpg is 1.4 MB; this server accepts files up to 1.0 MB")
    assert sent == []


def test_results_are_text_for_screen_readers(page, sample_png_path):
    _upload_sample(page, sample_png_path)
    assert re.search(r"^astronaut\.png: 1 face in [\d.]+ s; top label: happy \d+\.\d%$", page.text_content("#status"))
    assert page.get_attribute("#view", "role") == "img"
    assert page.get_attribute("#view", "aria-label") == "astronaut.png: 1 face boxed with landmarks"
    chart = page.get_attribute("#chart", "aria-label")
    assert page.get_attribute("#chart", "role") == "img" and "happy" in chart and "neutral" in chart and "%" in chart
    face = page.locator("#faces li button")  # focusable: a face can be picked with the keyboard
    assert face.count() == 1 and face.get_attribute("aria-pressed") == "true"


def test_phone_width_has_no_sideways_scrolling(browser, served, sample_png_path):
    phone = browser.new_page(viewport={"width": 360, "height": 740}, is_mobile=True)
    try:
        phone.goto(served + "/")
        phone.wait_for_function(READY)
        _upload_sample(phone, sample_png_path)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        phone.close()


def test_an_image_the_browser_cannot_draw_is_said_so(page, tmp_path):
    import cv2

    from affectlab.data import sample_photo

    tif = tmp_path / "photo.tif"
    assert cv2.imwrite(str(tif), cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    page.set_input_files("#file", str(tif))
    text, is_error = _status(page)
    assert not is_error and "1 face" in text and "cannot display this image format" in text


def test_turning_the_overlay_off_needs_no_new_analysis(page, sample_png_path):
    if not page.is_enabled("#heatmap"):
        pytest.skip("the server has no Grad-CAM (affectlab.explain) in this build")
    _upload_sample(page, sample_png_path)
    with page.expect_response(lambda r: "/v1/faces?heatmap=true" in r.url):
        page.check("#heatmap")
    page.wait_for_function("document.getElementById('view').getAttribute('aria-label').includes('Grad-CAM')")
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/v1/faces" in r.url else None)
    page.uncheck("#heatmap")
    page.check("#heatmap")
    page.uncheck("#heatmap")
    page.wait_for_timeout(300)
    assert sent == [] and "Grad-CAM" not in page.get_attribute("#view", "aria-label")


def test_loading_the_page_asks_nothing_of_the_internet_and_logs_no_errors(browser, served):
    page = browser.new_page()
    outside, errors = [], []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((served, "data:", "blob:")) else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(served + "/")
        page.wait_for_function(READY)
        page.wait_for_timeout(300)
    finally:
        page.close()
    assert outside == [] and errors == []  # no favicon.ico 404 either


def test_a_server_down_when_the_page_loads_is_said_in_the_status_line(browser, served):
    page = browser.new_page()
    page.route("**/health", lambda route: route.abort("connectionrefused"))
    try:
        page.goto(served + "/")
        page.wait_for_function("document.getElementById('status').classList.contains('error')")
        assert page.text_content("#model-info") == "server not reachable"
        assert "not reachable" in page.text_content("#status") and "affectlab serve" in page.text_content("#status")
    finally:
        page.close()
