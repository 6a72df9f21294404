"""The WebSocket ``/v1/stream``: frames in as binary messages, one JSON answer per analysed frame.

The client sends each frame as one binary message (a JPEG or PNG image). The connection keeps
its own :class:`~affectlab.live.LiveAnalyzer` (a face tracker, so faces keep their ``track`` ids
from frame to frame) over the server's model. A reader task takes every message as it arrives and
keeps only the newest frame: when the client sends faster than frames are analysed, the frames
waiting are replaced (and counted), never queued, so each answer is about a recent frame.

Answers (JSON text messages), one per analysed frame::

    {"seq": 12, "dropped": 3, "frame": 12, "time": 0.48, "faces": [{"track": 1, "box": [x, y, w, h],
     "label": "happy", "probabilities": {...}, "landmarks": [[x, y], ...], "pose": {...}}], "seconds": 0.021}

``seq`` is the frame's number among the binary messages of the connection (from 0), ``dropped``
how many frames were replaced before being analysed so far, ``time`` seconds since the first
frame arrived, ``seconds`` the time the server spent on the frame. A frame that cannot be used
(not an image, a format that is not read, over the size or pixel limits of ``/v1/faces``)
gets ``{"seq", "dropped", "error", "status"}`` with the HTTP status ``/v1/faces`` would answer,
and the stream goes on. Query parameters: ``smooth`` (seconds: average each track's
probabilities, as ``affectlab live --smooth``), ``max_faces``. With an API key, the browser
gives it as the ``api_key`` query parameter or a ``bearer.KEY`` subprotocol
(:mod:`affectlab.service.access`); the server then accepts the connection with the subprotocol
``affectlab.stream`` when offered.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Query, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from affectlab.errors import AffectLabError
from affectlab.service.access import WS_KEY_PREFIX
from affectlab.service.uploads import UploadRejected, check_image_header, decode_image

__all__ = ["STREAM_SUBPROTOCOL", "add_stream_route", "websocket_support", "ws_message_limit"]

#: The subprotocol the server accepts a stream with when the client offers it (besides ``bearer.KEY``).
STREAM_SUBPROTOCOL = "affectlab.stream"


def websocket_support() -> bool:
    """Whether uvicorn can serve WebSockets here (it needs ``websockets`` or ``wsproto``)."""
    import importlib.util

    return any(importlib.util.find_spec(name) is not None for name in ("websockets", "wsproto"))


def ws_message_limit(settings: Any) -> int:
    """uvicorn's ``ws_max_size`` for ``settings``: twice the upload limit (at least 1 MiB).

    A frame up to the upload limit is analysed; one up to twice that gets a 413 answer and the stream
    goes on; a larger message makes uvicorn close the connection (code 1009) without reading it all.
    """
    return max(2 * int(settings.max_upload_bytes), 1 << 20)


@dataclass
class _Connection:
    """One client's stream: the newest frame waiting, the counters, and a lock so one message is sent at a time."""

    received: int = 0
    dropped: int = 0
    first_at: float | None = None
    waiting: tuple[int, float, bytes] | None = None
    closed: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _subprotocol(websocket: WebSocket) -> str | None:
    """The subprotocol to accept with: ours when offered, else an offered ``bearer.KEY`` (a browser refuses a
    connection accepted without one of the subprotocols it offered)."""
    offered = list(websocket.scope.get("subprotocols") or [])
    if STREAM_SUBPROTOCOL in offered:
        return STREAM_SUBPROTOCOL
    return next((p for p in offered if p.startswith(WS_KEY_PREFIX)), None)


def _analyze_frame(live: Any, image: Any, seq: int, when: float) -> dict[str, Any]:
    """On the inference thread: the connection's tracker and the model on one decoded frame."""
    started = time.perf_counter()
    out = live.step(image, frame=seq, time=when).to_dict()
    out["seconds"] = round(time.perf_counter() - started, 4)
    return out


def add_stream_route(app: FastAPI, state: Any) -> None:
    """Add ``/v1/stream`` to ``app``, served with ``state`` (:class:`~affectlab.service.app.ServiceState`)."""
    settings = state.settings

    @app.websocket("/v1/stream")
    async def stream(
        websocket: WebSocket,
        smooth: float | None = Query(None, gt=0, le=60),
        max_faces: int | None = Query(None, ge=1),
    ) -> None:
        from affectlab.live import LiveAnalyzer  # (the Live view is an optional part of the build)

        await websocket.accept(subprotocol=_subprotocol(websocket))
        live = LiveAnalyzer(state.analyzer, max_faces=max_faces or settings.max_faces, smooth=smooth)
        conn = _Connection()
        reader = asyncio.create_task(_read_frames(websocket, conn))
        try:
            while True:
                await conn.ready.wait()
                conn.ready.clear()
                if conn.waiting is None:
                    if conn.closed:
                        return
                    continue
                (seq, when, data), conn.waiting = conn.waiting, None
                answer = await _answer(state, live, data, seq, when)
                answer = {"seq": seq, "dropped": conn.dropped, **answer}
                if not await _send(websocket, conn, answer):
                    return
        finally:
            reader.cancel()
            if websocket.application_state != WebSocketState.DISCONNECTED and not conn.closed:
                try:
                    await websocket.close()
                except RuntimeError:  # already closed by the peer
                    pass


async def _read_frames(websocket: WebSocket, conn: _Connection) -> None:
    """Receive every message as it comes; keep only the newest frame (counting the replaced ones)."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is None:
                await _send(websocket, conn, {"seq": None, "dropped": conn.dropped, "status": 400,
                                              "error": "send each frame as a binary message (a JPEG or PNG image); "
                                                       "text messages are not read"})
                continue
            now = time.monotonic()
            if conn.first_at is None:
                conn.first_at = now
            if conn.waiting is not None:
                conn.dropped += 1
            conn.waiting = (conn.received, round(now - conn.first_at, 6), data)
            conn.received += 1
            conn.ready.set()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        conn.closed = True
        conn.ready.set()


async def _answer(state: Any, live: Any, data: bytes, seq: int, when: float) -> dict[str, Any]:
    """The frame's answer, or ``{"error", "status"}`` saying why it was not analysed."""
    settings = state.settings
    name = f"frame {seq}"
    try:
        if len(data) > settings.max_upload_bytes:
            raise UploadRejected(413, f"{name}: {len(data)} bytes exceed the limit of {settings.max_upload_bytes} "
                                      "bytes")
        if not data:
            raise UploadRejected(422, f"{name}: empty message")
        header = await run_in_threadpool(check_image_header, data, name=name, max_pixels=settings.max_pixels)
        deadline = time.monotonic() + settings.timeout_s
        try:
            async with state.pixels.hold(header.pixels, timeout=settings.timeout_s):
                image = await run_in_threadpool(decode_image, data, name=name, max_pixels=settings.max_pixels)
                return await state.engine.run_until(deadline, _analyze_frame, live, image, seq, when)
        except TimeoutError:
            raise UploadRejected(504, f"{name}: not started within {settings.timeout_s:g} s (server busy)") from None
    except UploadRejected as exc:
        return {"error": str(exc), "status": exc.status}
    except AffectLabError as exc:  # not an image, a corrupt one
        return {"error": str(exc), "status": 422}


async def _send(websocket: WebSocket, conn: _Connection, message: dict[str, Any]) -> bool:
    """Send one JSON message; ``False`` when the client has gone."""
    async with conn.send_lock:
        try:
            await websocket.send_json(message)
            return True
        except (WebSocketDisconnect, RuntimeError, OSError):
            conn.closed = True
            return False
