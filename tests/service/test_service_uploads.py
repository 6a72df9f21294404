"""Upload reading and decoding on their own: limits, deadlines, decoding errors."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest
from starlette.requests import Request

from affectlab.errors import MediaReadError
from affectlab.service import UploadRejected, decode_image
from affectlab.service.uploads import read_body


def _request(chunks: list[bytes], delay: float = 0.0, headers: dict[str, str] | None = None) -> Request:
    pending = list(chunks)

    async def receive() -> dict:
        await asyncio.sleep(delay)
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw}, receive)


def test_body_is_read_in_chunks_up_to_the_limit():
    assert asyncio.run(read_body(_request([b"ab", b"cd"]), 4)) == b"abcd"
    with pytest.raises(UploadRejected) as info:
        asyncio.run(read_body(_request([b"ab", b"cde"]), 4))
    assert info.value.status == 413


def test_declared_length_over_the_limit_is_refused_before_reading():
    with pytest.raises(UploadRejected, match="upload of 99 bytes exceeds the limit of 4 bytes") as info:
        asyncio.run(read_body(_request([], headers={"content-length": "99"}), 4))
    assert info.value.status == 413


def test_a_stalled_upload_is_408_after_the_deadline():
    with pytest.raises(UploadRejected, match="did not arrive within 0.2 s") as info:
        asyncio.run(read_body(_request([b"a", b"b", b"c"], delay=0.15), 100, deadline_s=0.2))
    assert info.value.status == 408
    assert asyncio.run(read_body(_request([b"a", b"b"], delay=0.01), 100, deadline_s=5)) == b"ab"


def test_decode_image_gives_rgb_and_names_bad_bytes():
    bgr = np.zeros((5, 7, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    _, png = cv2.imencode(".png", bgr)
    rgb = decode_image(png.tobytes())
    assert rgb.shape == (5, 7, 3) and rgb[0, 0].tolist() == [255, 0, 0]
    with pytest.raises(MediaReadError, match="upload.jpg: not a readable image"):
        decode_image(b"\xff\xd8 truncated", name="upload.jpg")
    with pytest.raises(UploadRejected, match="7x5 pixels exceeds the limit of 30 pixels"):
        decode_image(png.tobytes(), max_pixels=30)
