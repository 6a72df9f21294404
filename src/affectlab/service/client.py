"""A small client of the service's WebSocket ``/v1/stream`` (needs the ``serve`` extra: ``websockets``).

>>> StreamClient.url_for("http://127.0.0.1:8000", smooth=0.5)
'ws://127.0.0.1:8000/v1/stream?smooth=0.5'

Against a running ``affectlab serve``::

    from affectlab.service.client import StreamClient
    with StreamClient("http://127.0.0.1:8000", api_key=None) as client:
        answer = client.analyze(frame)        # an RGB uint8 array, or JPEG/PNG bytes
        print(answer["faces"][0]["label"])

:meth:`StreamClient.analyze` sends one frame and waits for its answer (one at a time);
:meth:`StreamClient.send` and :meth:`StreamClient.receive` let frames go out faster than answers
come back, as a camera does (the server then drops the frames it has no time for: see each
answer's ``dropped``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np

from affectlab.errors import AffectLabError, ConfigError

__all__ = ["StreamClient", "StreamError", "encode_frame"]


class StreamError(AffectLabError):
    """The stream could not be opened, or closed, or an answer did not come in time."""


def encode_frame(image: np.ndarray, *, quality: int = 85, format: str = "jpeg") -> bytes:
    """An RGB (or gray) uint8 frame as JPEG (``quality`` 1-100) or PNG bytes.

    >>> encode_frame(np.zeros((4, 4, 3), np.uint8))[:2]
    b'\\xff\\xd8'
    """
    import cv2

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ConfigError(f"a frame must be a uint8 image array (H, W) or (H, W, 3), got {array.dtype} {array.shape}")
    bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    if format == "png":
        ok, data = cv2.imencode(".png", bgr)
    elif format == "jpeg":
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        raise ConfigError(f"format must be 'jpeg' or 'png', got {format!r}")
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ConfigError("the frame could not be encoded")
    return data.tobytes()


class StreamClient:
    """One WebSocket connection to ``/v1/stream``: one face tracker on the server for its frames.

    Parameters
    ----------
    server
        The server's address (``http://127.0.0.1:8000``) or the stream's URL (``ws://.../v1/stream``).
    api_key
        The server's API key, sent as ``Authorization: Bearer`` (when it has one).
    smooth, max_faces
        The stream's options (query parameters ``smooth`` and ``max_faces``).
    timeout
        Seconds to wait for the connection and for each answer.
    """

    def __init__(self, server: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 smooth: float | None = None, max_faces: int | None = None, timeout: float = 30.0) -> None:
        try:
            from websockets.sync.client import connect
        except ImportError:
            raise ConfigError("the stream client needs the websockets package: pip install 'affectlab[serve]'") \
                from None
        self.url = self.url_for(server, smooth=smooth, max_faces=max_faces)
        self.timeout = float(timeout)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        try:
            connection = connect(self.url, additional_headers=headers, subprotocols=["affectlab.stream"],
                                 open_timeout=self.timeout, max_size=None, compression=None)
        except Exception as exc:  # refused, 401/403 at the handshake, a timeout...
            raise StreamError(f"{self.url}: cannot open the stream ({exc})") from None
        # entered as a context manager (websockets 17 warns about a connection used without one); left in close()
        self._ws = connection.__enter__()
        self.sent = 0

    @staticmethod
    def url_for(server: str, *, smooth: float | None = None, max_faces: int | None = None) -> str:
        """``ws(s)://HOST/v1/stream?...`` for a server address or a stream URL."""
        parts = urlsplit(server if "://" in server else f"http://{server}")
        scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
        if scheme is None:
            raise ConfigError(f"{server}: give the server as http://HOST:PORT (or ws://HOST:PORT/v1/stream)")
        path = parts.path if parts.path.endswith("/v1/stream") else parts.path.rstrip("/") + "/v1/stream"
        query = {k: v for k, v in (("smooth", smooth), ("max_faces", max_faces)) if v is not None}
        return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))

    def send(self, frame: np.ndarray | bytes, *, quality: int = 85) -> int:
        """Send one frame (RGB array, JPEG-encoded here, or image bytes as they are); returns its ``seq``."""
        data = frame if isinstance(frame, bytes | bytearray) else encode_frame(frame, quality=quality)
        try:
            self._ws.send(bytes(data))
        except Exception as exc:
            raise StreamError(f"{self.url}: the stream closed ({exc})") from None
        self.sent += 1
        return self.sent - 1

    def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next answer (a dict: see :mod:`affectlab.service.stream`)."""
        try:
            text = self._ws.recv(timeout=self.timeout if timeout is None else timeout)
        except TimeoutError:
            raise StreamError(f"{self.url}: no answer within {self.timeout if timeout is None else timeout:g} s") \
                from None
        except Exception as exc:
            raise StreamError(f"{self.url}: the stream closed ({exc})") from None
        return json.loads(text)

    def analyze(self, frame: np.ndarray | bytes, *, quality: int = 85) -> dict[str, Any]:
        """Send one frame and return its answer (earlier frames' answers still on the way are skipped)."""
        seq = self.send(frame, quality=quality)
        while True:
            answer = self.receive()
            if answer.get("seq") == seq:
                return answer

    def close(self) -> None:
        """Close the connection (the server then drops this stream's tracker)."""
        self._ws.__exit__(None, None, None)

    def __enter__(self) -> StreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
