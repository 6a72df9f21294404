"""The WebSocket ``/v1/stream``: frames in, one answer per analysed frame, drops instead of queues, limits, key."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from affectlab import ExpressionAnalyzer
from affectlab.data import sample_photo
from affectlab.service import ServiceSettings, create_app
from tests.service.service_fixtures import free_port

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def frame(shift: int = 0, size: tuple[int, int] = (640, 480), side: int = 360) -> np.ndarray:
    """The sample photograph (a smiling face) on a gray frame, moved ``shift`` px to the right."""
    w, h = size
    canvas = np.full((h, w, 3), 60, np.uint8)
    x, y = (w - side) // 2 - 40 + shift, (h - side) // 2
    canvas[y:y + side, x:x + side] = cv2.resize(sample_photo(), (side, side), interpolation=cv2.INTER_AREA)
    return canvas


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


@pytest.fixture(scope="module")
def analyzer() -> ExpressionAnalyzer:
    return ExpressionAnalyzer()


@pytest.fixture(scope="module")
def client(analyzer) -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(), analyzer=analyzer)) as test_client:
        yield test_client


def test_each_frame_gets_its_answer_with_tracked_faces(client):
    with client.websocket_connect("/v1/stream", subprotocols=["affectlab.stream"]) as ws:
        assert ws.accepted_subprotocol == "affectlab.stream"
        answers = []
        for i in range(5):
            ws.send_bytes(jpeg(frame(3 * i)))
            answers.append(ws.receive_json())
    assert [a["seq"] for a in answers] == [0, 1, 2, 3, 4] == [a["frame"] for a in answers]
    assert all(a["dropped"] == 0 and a["seconds"] > 0 for a in answers)
    assert answers[0]["time"] == 0.0 and all(a["time"] <= b["time"] for a, b in zip(answers, answers[1:]))
    for answer in answers:
        [face] = answer["faces"]
        assert face["track"] == 1 and face["label"] == "happy" and list(face["probabilities"]) == CLASSES
        assert face["box"][0] > 0 and len(face["box"]) == 4
        if "landmarks" in face:  # the landmark front-end
            assert len(face["landmarks"]) == 5 and set(face["pose"]) == {"yaw", "pitch", "roll"}
    xs = [a["faces"][0]["box"][0] for a in answers]
    assert xs[-1] - xs[0] == pytest.approx(12, abs=4)  # the box follows the face, 3 px a frame


def test_a_bad_frame_gets_an_error_and_the_stream_goes_on(client):
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(b"this is not an image")
        bad = ws.receive_json()
        ws.send_text("hello")
        text = ws.receive_json()
        ws.send_bytes(b"")
        empty = ws.receive_json()
        ws.send_bytes(jpeg(frame()))
        good = ws.receive_json()
    assert bad["seq"] == 0 and bad["status"] == 422 and "frame 0: not a readable image" in bad["error"]
    assert text["seq"] is None and text["status"] == 400 and "binary message" in text["error"]
    assert empty["seq"] == 1 and empty["status"] == 422 and "empty" in empty["error"]
    assert good["seq"] == 2 and good["faces"][0]["label"] == "happy"


def test_the_size_and_pixel_limits_of_faces_apply(analyzer):
    settings = ServiceSettings(max_upload_bytes=30_000, max_pixels=200_000)
    big = jpeg(frame())  # 640x480: 307,200 pixels, about 34 KB
    wide = jpeg(np.full((250, 1000, 3), 90, np.uint8))  # 250,000 pixels in a few KB
    assert len(big) > 30_000 and len(wide) < 30_000
    with TestClient(create_app(settings, analyzer=analyzer)) as client, \
            client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(big)
        too_big = ws.receive_json()
        ws.send_bytes(wide)
        too_many = ws.receive_json()
        ws.send_bytes(jpeg(frame(size=(320, 240), side=200)))
        fine = ws.receive_json()
    assert too_big["status"] == 413 and "exceed the limit of 30000 bytes" in too_big["error"]
    assert too_many["status"] == 413 and "1000x250 pixels exceeds the limit of 200000 pixels" in too_many["error"]
    assert fine["seq"] == 2 and fine["faces"][0]["label"] == "happy"


def test_frames_sent_faster_than_analysed_are_dropped_not_queued(client):
    with client.websocket_connect("/v1/stream") as ws:
        for i in range(20):  # all at once: the server analyses one while the others arrive
            ws.send_bytes(jpeg(frame(i)))
        answers = [ws.receive_json()]
        while answers[-1]["seq"] != 19:
            answers.append(ws.receive_json())
    seqs = [a["seq"] for a in answers]
    assert seqs == sorted(seqs) and len(seqs) < 20  # the newest frame each time, never a backlog
    assert answers[-1]["dropped"] == 20 - len(answers)  # every frame was analysed or counted as dropped
    assert all(a["faces"] and a["faces"][0]["label"] == "happy" for a in answers)


def test_each_connection_has_its_own_tracker_and_options(client):
    with client.websocket_connect("/v1/stream?smooth=0.5") as one, client.websocket_connect("/v1/stream") as two:
        one.send_bytes(jpeg(frame()))
        two.send_bytes(jpeg(frame()))
        a, b = one.receive_json(), two.receive_json()
    assert a["faces"][0]["track"] == 1 and b["faces"][0]["track"] == 1
    assert "raw_probabilities" in a["faces"][0] and "raw_probabilities" not in b["faces"][0]


def test_the_api_key_as_query_parameter_or_subprotocol(analyzer):
    settings = ServiceSettings(api_key="s3cret")
    with TestClient(create_app(settings, analyzer=analyzer)) as client:
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/v1/stream"):
                pass
        assert refused.value.code == 1008
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect("/v1/stream", subprotocols=["bearer.wrong"]):
                pass
        with client.websocket_connect("/v1/stream?api_key=s3cret") as ws:
            ws.send_bytes(jpeg(frame()))
            assert ws.receive_json()["faces"]
        with client.websocket_connect("/v1/stream", subprotocols=["affectlab.stream", "bearer.s3cret"]) as ws:
            assert ws.accepted_subprotocol == "affectlab.stream"
        with client.websocket_connect("/v1/stream", subprotocols=["bearer.s3cret"]) as ws:
            assert ws.accepted_subprotocol == "bearer.s3cret"  # a browser needs one of its offers back
        with client.websocket_connect("/v1/stream", headers={"Authorization": "Bearer s3cret"}) as ws:
            ws.send_bytes(jpeg(frame()))
            assert ws.receive_json()["seq"] == 0


@contextlib.contextmanager
def uvicorn_server(app) -> Iterator[str]:
    """The app under uvicorn (its WebSocket protocol from the serve extra) on a free loopback port."""
    import uvicorn

    from affectlab.service.stream import ws_message_limit

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            ws_max_size=ws_message_limit(app.state.affectlab.settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_client_sends_30_frames_one_at_a_time_and_gets_30_answers(analyzer):
    pytest.importorskip("websockets", reason="the serve extra's websockets")
    from affectlab.service.client import StreamClient

    with uvicorn_server(create_app(ServiceSettings(api_key="k1"), analyzer=analyzer)) as url:
        with StreamClient(url, api_key="k1") as client:
            answers = [client.analyze(frame(2 * i)) for i in range(30)]
    assert [a["seq"] for a in answers] == list(range(30))
    assert all(a["dropped"] == 0 for a in answers)
    assert all(len(a["faces"]) == 1 and a["faces"][0]["label"] == "happy" for a in answers)
    assert {a["faces"][0]["track"] for a in answers} == {1}


def test_the_client_says_why_a_stream_cannot_open(analyzer):
    pytest.importorskip("websockets", reason="the serve extra's websockets")
    from affectlab.service.client import StreamClient, StreamError

    with uvicorn_server(create_app(ServiceSettings(api_key="k1"), analyzer=analyzer)) as url:
        with pytest.raises(StreamError, match=r"/v1/stream: cannot open the stream"):
            StreamClient(url, api_key="wrong", timeout=5)
    with pytest.raises(StreamError, match="cannot open the stream"):
        StreamClient(f"http://127.0.0.1:{free_port()}", timeout=5)
