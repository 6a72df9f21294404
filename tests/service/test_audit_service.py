"""Session-7 audit of the service: regressions for what a demanding first user found."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import base64
import socket

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from affectlab.analysis import ExpressionAnalyzer
from affectlab.cli import main
from affectlab.data import sample_photo
from affectlab.service import ServiceSettings, create_app
from tests.service.service_fixtures import encode, sample_png  # noqa: F401  (shared fixtures)


@pytest.fixture(scope="module")
def analyzer() -> ExpressionAnalyzer:
    return ExpressionAnalyzer()


@pytest.fixture(scope="module")
def client(analyzer):
    with TestClient(create_app(ServiceSettings(), analyzer=analyzer)) as c:
        yield c


@pytest.mark.parametrize(
    ("query", "needles"),
    [
        ("/v1/faces?max_faces=0", ["query parameter 'max_faces'", "greater than or equal to 1", "(got '0')"]),
        ("/v1/faces?heatmap=maybe", ["query parameter 'heatmap'", "(got 'maybe')"]),
        ("/v1/video?fps=nan", ["query parameter 'fps'", "greater than 0", "(got 'nan')"]),
    ],
)
def test_a_bad_query_parameter_answers_one_message_naming_it(client, sample_png, query, needles):
    # docs/service.md: errors answer {"detail": "<one clear message>"}; FastAPI's default is a list of dicts
    res = client.post(query, content=sample_png, headers={"content-type": "image/png"})
    assert res.status_code == 422
    detail = res.json()["detail"]
    assert isinstance(detail, str), detail
    for needle in needles:
        assert needle in detail


def test_heatmap_covers_only_the_faces_the_answer_lists(client, encode):
    photo = sample_photo()
    two = np.ascontiguousarray(np.concatenate([photo, photo[:, ::-1]], axis=1))  # two faces, mirrored
    png = encode(two, ".png")
    both = client.post("/v1/faces", files={"file": ("two.png", png, "image/png")}).json()
    assert len(both["faces"]) == 2
    body = client.post("/v1/faces?max_faces=1&heatmap=true", files={"file": ("two.png", png, "image/png")}).json()
    [face] = body["faces"]
    overlay = cv2.imdecode(np.frombuffer(base64.b64decode(body["heatmap_png"].split(",", 1)[1]), np.uint8),
                           cv2.IMREAD_UNCHANGED)
    alpha = overlay[:, :, 3] > 0
    x, y, w, h = face["box"]
    inside = np.zeros_like(alpha)
    inside[y : y + h, x : x + w] = True
    assert alpha[inside].all()
    assert not alpha[~inside].any()  # before the fix the dropped face had a map too


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


@pytest.mark.parametrize("device, message", [("gpu", "expected auto, cpu, cuda or cuda:N"),
                                             ("cuda", "CUDA is not available")])
def test_an_unusable_device_is_one_line(device, message, capsys):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["analyze", "--device", device]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and repr(device) in err[0]
