"""The FastAPI app in-process: answers, limits, validation, timeouts and optional routes."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import base64
import re
import threading
import time

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from affectlab.analysis import ExpressionAnalyzer
from affectlab.data import sample_photo
from affectlab.service import STATIC_DIR, ServiceSettings, create_app
from tests.service.service_fixtures import encode, face_iou, sample_png  # noqa: F401  (shared fixtures)

LIMIT = 2_000_000


@pytest.fixture(scope="module")
def analyzer() -> ExpressionAnalyzer:
    return ExpressionAnalyzer()


@pytest.fixture(scope="module")
def client(analyzer):
    with TestClient(create_app(ServiceSettings(max_upload_bytes=LIMIT), analyzer=analyzer)) as c:
        yield c


def test_health_describes_model_limits_and_capabilities(client):
    info = client.get("/health").json()
    assert info["status"] == "ok"
    assert info["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert info["limits"]["max_upload_bytes"] == LIMIT
    assert info["capabilities"]["faces"] is True
    for name in ("speech", "video", "heatmap"):
        assert info["capabilities"][name] == (name not in info["unavailable"])


def test_faces_finds_the_happy_astronaut(client, sample_png, face_iou):
    res = client.post("/v1/faces", files={"file": ("astronaut.png", sample_png, "image/png")})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "ok" and body["source"] == "astronaut.png"
    assert body["image_size"] == [512, 512]
    [face] = body["faces"]
    assert face["label"] == "happy"
    assert face_iou(face["box"]) > 0.5
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert face["probabilities"]["happy"] == max(face["probabilities"].values())
    assert len(face["landmarks"]) == 5 and set(face["pose"]) == {"yaw", "pitch", "roll"}  # the landmark front-end
    x, y, w, h = face["box"]
    assert all(x <= px <= x + w and y <= py <= y + h for px, py in face["landmarks"])


def test_raw_image_body_and_jpeg_give_the_same_face(client, sample_png, encode):
    multipart = client.post("/v1/faces", files={"file": ("a.png", sample_png, "image/png")}).json()
    raw = client.post("/v1/faces", content=sample_png, headers={"content-type": "image/png"}).json()
    assert raw["faces"] == multipart["faces"]
    jpeg = client.post("/v1/faces", files={"file": ("a.jpg", encode(sample_photo(), ".jpg"), "image/jpeg")})
    assert jpeg.status_code == 200 and jpeg.json()["faces"][0]["label"] == "happy"


def test_image_without_a_face_is_no_face(client, encode):
    blank = np.full((64, 64, 3), 128, np.uint8)
    body = client.post("/v1/faces", files={"file": ("grey.png", encode(blank), "image/png")}).json()
    assert body["status"] == "no_face" and body["faces"] == []


def test_oversized_upload_is_413_with_and_without_content_length(client):
    big = b"\0" * (LIMIT + 10)
    res = client.post("/v1/faces", files={"file": ("big.png", big, "image/png")})
    assert res.status_code == 413
    assert "exceeds the limit of 2000000 bytes" in res.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(3):
            yield b"\0" * (LIMIT // 2)

    res = client.post("/v1/faces", content=chunks(), headers={"content-type": "image/png"})
    assert res.status_code == 413


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"files": {"file": ("notes.txt", b"hello", "text/plain")}}, 415, "'notes.txt' has content type 'text/plain'"),
        ({"files": {"file": ("fake.png", b"hello, not a png", "image/png")}}, 422, "fake.png: not a readable image"),
        ({"files": {"file": ("empty.png", b"", "image/png")}}, 422, "'empty.png' is empty"),
        ({"json": {"image": "x"}}, 415, "content type 'application/json' not accepted"),
        ({"data": {"other": "1"}, "files": {"other_file": ("a.png", b"x", "image/png")}}, 422,
         "no file in field 'file'"),
        ({"content": b"x", "headers": {"content-type": "multipart/form-data"}}, 400, "malformed multipart"),
    ],
)
def test_bad_uploads_get_a_4xx_with_a_clear_message(client, kwargs, status, needle):
    res = client.post("/v1/faces", **kwargs)
    assert res.status_code == status, res.text
    assert needle in res.json()["detail"]


def test_bad_query_parameter_is_422(client, sample_png):
    res = client.post("/v1/faces?max_faces=0", content=sample_png, headers={"content-type": "image/png"})
    assert res.status_code == 422


def test_image_over_the_pixel_limit_is_413(analyzer, sample_png):
    with TestClient(create_app(ServiceSettings(max_pixels=100_000), analyzer=analyzer)) as c:
        res = c.post("/v1/faces", files={"file": ("astronaut.png", sample_png, "image/png")})
    assert res.status_code == 413
    assert "512x512 pixels exceeds the limit of 100000 pixels" in res.json()["detail"]


class _SlowAnalyzer:
    """The real analyser, 0.5 s slower per image."""

    def __init__(self, inner: ExpressionAnalyzer) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def analyze(self, image, *, source="<array>"):
        time.sleep(0.5)
        return self._inner.analyze(image, source=source)


def test_inference_past_the_timeout_is_504(analyzer, sample_png):
    with TestClient(create_app(ServiceSettings(timeout_s=0.1), analyzer=_SlowAnalyzer(analyzer))) as c:
        res = c.post("/v1/faces", content=sample_png, headers={"content-type": "image/png"})
    assert res.status_code == 504
    assert "did not finish within 0.1 s" in res.json()["detail"]


def test_concurrent_requests_get_identical_answers(client, sample_png):
    answers: list[dict] = []
    lock = threading.Lock()

    def post() -> None:
        res = client.post("/v1/faces", content=sample_png, headers={"content-type": "image/png"})
        with lock:
            answers.append({"status": res.status_code, "faces": res.json().get("faces")})

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a["status"] for a in answers] == [200] * 6
    assert all(a["faces"] == answers[0]["faces"] for a in answers)


@pytest.mark.parametrize(("route", "content_type", "capability"),
                         [("/v1/speech", "audio/wav", "speech"), ("/v1/video", "video/mp4", "video")])
def test_optional_routes_answer_501_until_their_module_lands(client, route, content_type, capability):
    info = client.get("/health").json()
    if info["capabilities"][capability]:
        pytest.skip(f"{capability} is available in this build")
    res = client.post(route, content=b"RIFF....", headers={"content-type": content_type})
    assert res.status_code == 501
    assert "not available" in res.json()["detail"] or "not wired" in res.json()["detail"]


def test_heatmap_request(client, sample_png):
    info = client.get("/health").json()
    res = client.post("/v1/faces?heatmap=true", content=sample_png, headers={"content-type": "image/png"})
    if not info["capabilities"]["heatmap"]:
        assert res.status_code == 501
        assert "heatmap is not available" in res.json()["detail"]
    else:
        assert res.status_code == 200, res.text
        body = res.json()
        url = body["heatmap_png"]
        assert url.startswith("data:image/png;base64,")
        rgba = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)
        assert rgba.shape == (512, 512, 4)
        x, y, w, h = body["faces"][0]["box"]
        inside = np.zeros((512, 512), bool)
        inside[y : y + h, x : x + w] = True
        assert (rgba[..., 3][inside] == 255).all() and (rgba[..., 3][~inside] == 0).all()


def test_web_page_is_served_and_needs_no_outside_network(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="top-label"' in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    for file in STATIC_DIR.iterdir():  # no CDN: every reference is local
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", file.read_text()), file.name
        assert "cdn" not in file.read_text().lower(), file.name


def test_openapi_documents_the_upload(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/faces"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert {"/health", "/v1/faces", "/v1/speech", "/v1/video"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_docs_are_served_without_a_cdn_when_swagger_ui_bundle_is_installed(client):
    pytest.importorskip("swagger_ui_bundle", reason="swagger-ui-bundle is not installed (docs use the CDN)")
    html = client.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200


@pytest.fixture(scope="module")
def sample_video(tmp_path_factory) -> bytes:
    """A 1 s MJPG clip (10 fps, 256x256) of the astronaut drifting sideways."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (256, 256))
    frame = cv2.resize(cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR), (256, 256))
    for i in range(10):
        writer.write(np.roll(frame, 2 * i, axis=1))
    writer.release()
    return path.read_bytes()


def test_video_gives_a_per_frame_summary(client, sample_video):
    if not client.get("/health").json()["capabilities"]["video"]:
        pytest.skip("affectlab.video is not available in this build")
    res = client.post("/v1/video?fps=10&max_frames=6", files={"file": ("clip.avi", sample_video, "video/x-msvideo")})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["source"] == "clip.avi" and body["status"] == "ok" and body["label"] == "happy"
    assert body["sampling"]["frames_analyzed"] == 6
    [track] = body["tracks"]
    assert [f["frame"] for f in track["frames"]] == list(range(6))
    assert all(f["label"] == "happy" for f in track["frames"])
    bad = client.post("/v1/video", files={"file": ("broken.mp4", b"not a video" * 20, "video/mp4")})
    assert bad.status_code == 422 and "broken.mp4: not a readable video" in bad.json()["detail"]


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
