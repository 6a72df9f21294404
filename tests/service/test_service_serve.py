"""``affectlab serve`` for real: a uvicorn subprocess on a loopback port."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from affectlab.cli import main
from tests.service.service_fixtures import face_iou, sample_png, served  # noqa: F401  (shared fixtures)


def test_serve_answers_faces_with_the_sample_photograph(served, sample_png, face_iou):
    res = httpx.post(served + "/v1/faces", files={"file": ("astronaut.png", sample_png, "image/png")}, timeout=30)
    assert res.status_code == 200, res.text
    [face] = res.json()["faces"]
    assert face["label"] == "happy" and face_iou(face["box"]) > 0.5


def test_serve_rejects_an_oversized_upload_with_413(served):
    big = b"\0" * (1024 * 1024 + 100)  # the server runs with --max-upload-mb 1
    try:
        res = httpx.post(served + "/v1/faces", files={"file": ("big.png", big, "image/png")}, timeout=30)
    except httpx.TransportError as exc:  # pragma: no cover - only if the server closes before the body is sent
        pytest.fail(f"connection dropped instead of a 413 answer: {exc}")
    assert res.status_code == 413
    assert "exceeds the limit" in res.json()["detail"]
    assert httpx.get(served + "/health", timeout=10).status_code == 200  # and keeps serving


@pytest.mark.parametrize(
    ("name", "data", "content_type", "status"),
    [("notes.txt", b"just text", "text/plain", 415), ("photo.png", b"not really a png", "image/png", 422)],
)
def test_serve_rejects_a_non_image_with_4xx(served, name, data, content_type, status):
    res = httpx.post(served + "/v1/faces", files={"file": (name, data, content_type)}, timeout=30)
    assert res.status_code == status
    assert name in res.json()["detail"]


def test_serve_handles_concurrent_clients(served, sample_png):
    def post(_: int) -> tuple[int, list]:
        res = httpx.post(served + "/v1/faces", content=sample_png, headers={"content-type": "image/png"}, timeout=60)
        return res.status_code, res.json()["faces"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(post, range(12)))
    assert {status for status, _ in answers} == {200}
    assert all(faces == answers[0][1] for _, faces in answers)


def test_serve_on_a_busy_port_is_one_line_and_exit_1(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status = main(["serve", "--port", str(port), "--log-level", "warning"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1  # uvicorn alone exits 3 after printing "serving ... on" the busy port
    assert err == [f"affectlab: error: --host 127.0.0.1 --port {port}: cannot listen there (Address already in use)"]


def test_serve_with_speech_weights_that_cannot_load_refuses_to_start(tmp_path, capsys):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a model")
    status = main(["serve", "--port", "0", "--speech-weights", str(bad), "--log-level", "warning"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1  # before: the server started, and /v1/speech answered 501
    assert len(err) == 1 and err[0].startswith(f"affectlab: error: --speech-weights {bad}: ")
