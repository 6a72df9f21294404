"""The web page against a server with ``--api-key``: it asks for the key once and sends it as a Bearer header."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.service.service_fixtures import free_port, sample_png, sample_png_path, wait_healthy  # noqa: F401
from tests.service.test_service_browser import browser, page  # noqa: F401  (shared fixtures)

KEY = "page-key-42"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory) -> Iterator[str]:
    key_file = tmp_path_factory.mktemp("key") / "key.txt"
    key_file.write_text(KEY)
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("AFFECTLAB_API_KEY", None)
    cmd = [sys.executable, "-c", "import sys; from affectlab.cli import main; sys.exit(main())", "serve",
           "--port", str(port), "--api-key-file", str(key_file), "--log-level", "warning"]
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


def test_page_asks_for_the_key_once_and_sends_it(page, keyed_server, sample_png_path):
    page.goto(keyed_server + "/")
    page.wait_for_selector("#key-form", state="visible")
    assert "needs an API key" in page.text_content("#status")
    page.set_input_files("#file", str(sample_png_path))  # waits for the key, then goes
    page.fill("#api-key", KEY)
    with page.expect_request(lambda r: r.url.endswith("/v1/faces")) as sent:
        page.click("#key-form button[type=submit]")
    assert sent.value.headers["authorization"] == f"Bearer {KEY}"
    page.wait_for_function("document.getElementById('top-label').textContent === 'happy'")
    assert page.is_hidden("#key-form")
    page.reload()  # the same tab: not asked again
    page.wait_for_function("document.getElementById('model-info').textContent.startsWith('model ')")
    assert page.is_hidden("#key-form")
    page.set_input_files("#file", str(sample_png_path))
    page.wait_for_function("document.getElementById('status').textContent.includes('1 face')")


def test_a_wrong_key_is_asked_for_again(page, keyed_server, sample_png_path):
    page.goto(keyed_server + "/")
    page.wait_for_selector("#key-form", state="visible")
    page.fill("#api-key", "wrong")
    page.click("#key-form button[type=submit]")
    page.set_input_files("#file", str(sample_png_path))
    page.wait_for_selector("#key-form", state="visible")
    assert "refused the API key (error 401)" in page.text_content("#status")
    page.fill("#api-key", KEY)
    page.click("#key-form button[type=submit]")
    page.wait_for_function("document.getElementById('top-label').textContent === 'happy'")
