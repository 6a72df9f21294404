"""API key, allowed hosts, the pixel budget and deadlines, in-process (issue 25)."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from affectlab.analysis import ExpressionAnalyzer
from affectlab.cli.serve import exposure_warning
from affectlab.errors import ConfigError
from affectlab.service import InferenceEngine, ServiceSettings, UploadRejected, create_app
from affectlab.service.access import AccessMiddleware
from affectlab.service.engine import current_deadline
from affectlab.service.limits import PixelBudget
from tests.service.service_fixtures import sample_png  # noqa: F401  (shared fixtures)

KEY = "k-123"


@pytest.fixture(scope="module")
def analyzer() -> ExpressionAnalyzer:
    return ExpressionAnalyzer()


@pytest.fixture(scope="module")
def keyed(analyzer):
    with TestClient(create_app(ServiceSettings(api_key=KEY), analyzer=analyzer)) as client:
        yield client


def _png(client: TestClient, png: bytes, **headers: str):
    return client.post("/v1/faces", content=png, headers={"content-type": "image/png", **headers})


def test_api_routes_need_the_bearer_key(keyed, sample_png):
    assert _png(keyed, sample_png).status_code == 401
    assert _png(keyed, sample_png, authorization=f"Basic {KEY}").status_code == 401
    assert _png(keyed, sample_png, authorization=f"Bearer {KEY}x").status_code == 401
    ok = _png(keyed, sample_png, authorization=f"Bearer {KEY}")
    assert ok.status_code == 200 and ok.json()["faces"]
    refused = _png(keyed, sample_png)
    assert refused.json() == {"detail": "this server needs an API key: send the header 'Authorization: Bearer <key>'"}
    assert refused.headers["www-authenticate"] == 'Bearer realm="affectlab"'


def test_health_page_and_docs_stay_open_and_say_a_key_is_needed(keyed):
    health = keyed.get("/health").json()
    assert health["api_key_required"] is True
    for path in ("/", "/static/app.js", "/docs", "/openapi.json"):
        assert keyed.get(path).status_code == 200, path
    spec = keyed.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": "affectlab serve --api-key"}
    assert spec["paths"]["/v1/faces"]["post"]["security"] == [{"apiKey": []}]
    assert "security" not in spec["paths"]["/health"]["get"]


def test_without_a_key_nothing_changes(analyzer, sample_png):
    with TestClient(create_app(ServiceSettings(), analyzer=analyzer)) as client:
        assert client.get("/health").json()["api_key_required"] is False
        assert _png(client, sample_png).status_code == 200


def test_the_key_is_not_shown_by_the_settings():
    assert KEY not in repr(ServiceSettings(api_key=KEY))
    for bad in ("", " k", "two words"):
        with pytest.raises(ConfigError, match="api_key must be a non-empty string without spaces"):
            ServiceSettings(api_key=bad)
    assert ServiceSettings.from_env({"AFFECTLAB_API_KEY": "abc", "AFFECTLAB_ALLOWED_HOSTS": "a.org, *.b.org"}) \
        == ServiceSettings(api_key="abc", allowed_hosts=("a.org", "*.b.org"))


def test_allowed_hosts_refuse_other_host_headers(analyzer):
    app = create_app(ServiceSettings(allowed_hosts=("faces.example.org", "localhost")), analyzer=analyzer)
    with TestClient(app, base_url="http://faces.example.org") as client:
        assert client.get("/health").status_code == 200
        assert client.get("/health", headers={"host": "localhost:8000"}).status_code == 200
        evil = client.get("/health", headers={"host": "evil.test"})
        assert evil.status_code == 400
        assert evil.json()["detail"] == "Host 'evil.test' is not served here (affectlab serve --allowed-host)"


def _echo_app(key: str) -> AccessMiddleware:
    async def echo(ws: WebSocket) -> None:
        await ws.accept(subprotocol=ws.scope.get("subprotocols", [None])[0] if ws.scope.get("subprotocols") else None)
        await ws.send_text("hello")
        await ws.close()

    return AccessMiddleware(Starlette(routes=[WebSocketRoute("/v1/live", echo)]), api_key=key)


def test_a_websocket_gives_the_key_as_query_parameter_or_subprotocol():
    client = TestClient(_echo_app(KEY))
    with client.websocket_connect(f"/v1/live?api_key={KEY}") as ws:
        assert ws.receive_text() == "hello"
    with client.websocket_connect("/v1/live", subprotocols=[f"bearer.{KEY}"]) as ws:
        assert ws.receive_text() == "hello"
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect("/v1/live?api_key=wrong") as ws:
            ws.receive_text()
    assert closed.value.code == 1008


def test_binding_beyond_localhost_without_a_key_warns():
    assert exposure_warning("127.0.0.1", None) is None and exposure_warning("::1", None) is None
    assert exposure_warning("0.0.0.0", "key") is None
    warning = exposure_warning("0.0.0.0", None)
    assert warning and warning.startswith("--host 0.0.0.0 accepts connections from other machines") \
        and "--api-key-file" in warning


def test_the_pixel_budget_admits_in_order_and_frees_on_timeout():
    budget = PixelBudget(100)
    order: list[str] = []

    async def job(name: str, pixels: int, hold_s: float, timeout: float = 5.0) -> None:
        try:
            async with budget.hold(pixels, timeout=timeout):
                order.append(name)
                await asyncio.sleep(hold_s)
        except TimeoutError:
            order.append(f"{name} timed out")

    async def scenario() -> None:
        first = asyncio.create_task(job("big", 80, 0.2))
        await asyncio.sleep(0.01)
        late = asyncio.create_task(job("too late", 50, 0.0, timeout=0.05))
        second = asyncio.create_task(job("second", 50, 0.0))
        third = asyncio.create_task(job("small", 10, 0.0))  # fits now, but waits its turn behind "second"
        await asyncio.gather(first, late, second, third)

    asyncio.run(scenario())
    assert order == ["big", "too late timed out", "second", "small"]
    assert budget.used == 0


def test_a_call_queued_past_its_deadline_is_dropped_and_a_running_one_sees_it():
    engine = InferenceEngine(timeout_s=0.3)
    seen: list[float | None] = []
    started = threading.Event()

    def slow() -> None:
        started.set()
        seen.append(current_deadline())
        time.sleep(0.6)

    def never() -> None:  # pragma: no cover - must not run
        seen.append(-1.0)

    async def scenario() -> tuple[str, str]:
        first = asyncio.create_task(engine.run(slow))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(engine.run(never))
        outcomes = []
        for task in (first, second):
            try:
                await task
                outcomes.append("done")
            except UploadRejected as exc:
                outcomes.append(str(exc.status))
        return tuple(outcomes)

    assert asyncio.run(scenario()) == ("504", "504")
    time.sleep(0.7)
    engine.close()
    assert started.is_set() and len(seen) == 1 and seen[0] is not None
    assert current_deadline() is None


def test_a_recording_longer_than_ten_minutes_is_refused_from_its_header(keyed):
    import io

    import numpy as np
    import soundfile as sf

    if not keyed.get("/health").json()["capabilities"]["speech"]:
        pytest.skip("speech analysis is not available in this build")
    wav = io.BytesIO()  # 610 s of 8 kHz 8-bit: 4.9 MB, inside the upload limit
    sf.write(wav, np.full(610 * 8000, 0.1, np.float32), 8000, format="WAV", subtype="PCM_U8")
    started = time.perf_counter()
    res = keyed.post("/v1/speech", files={"file": ("talk.wav", wav.getvalue(), "audio/wav")},
                     headers={"authorization": f"Bearer {KEY}"})
    assert res.status_code == 413
    assert res.json()["detail"] == "talk.wav: recording of 610 s exceeds the limit of 600 s"
    assert time.perf_counter() - started < 5


def test_fields_the_analyser_adds_to_a_face_reach_the_client(analyzer, sample_png):
    class Result:
        def __init__(self, inner):
            self.inner, self.faces = inner, inner.faces

        def to_dict(self):
            out = self.inner.to_dict()
            for face in out["faces"]:
                face["landmarks"] = [[1.0, 2.0]]  # e.g. what a landmark front-end adds
            out["front_end"] = "test"
            return out

    class Adding:
        def __getattr__(self, name):
            return getattr(analyzer, name)

        def analyze(self, image, source):
            return Result(analyzer.analyze(image, source=source))

    with TestClient(create_app(ServiceSettings(), analyzer=Adding())) as client:
        body = _png(client, sample_png).json()
    assert body["faces"][0]["landmarks"] == [[1.0, 2.0]] and body["front_end"] == "test"
