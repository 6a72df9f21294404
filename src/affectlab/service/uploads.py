"""Reading uploads safely: body size limit, content-type checks and image decoding.

Every rejection is an :class:`UploadRejected` carrying the HTTP status and one clear message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import cv2  # noqa: F401  (the doctest below)
import numpy as np
from starlette.datastructures import UploadFile
from starlette.requests import Request

from affectlab.data.media import (
    ImageHeader,
    ImageTooLarge,
    UnsupportedImageFormat,
    decode_image_bytes,
    image_header,
)
from affectlab.errors import AffectLabError

__all__ = ["UploadRejected", "Upload", "read_body", "read_upload", "decode_image", "check_image_header"]

#: Name of the multipart form field that carries the media file.
FILE_FIELD = "file"
_GENERIC_TYPES = ("application/octet-stream", "")


class UploadRejected(AffectLabError):
    """An upload the service will not process; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    """The bytes of one uploaded file with its (client-given) name and content type."""

    data: bytes
    filename: str
    content_type: str


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int, *, deadline_s: float | None = None) -> bytes:
    """The request body, refusing (413) anything larger than ``limit`` bytes before reading it all.

    With ``deadline_s``, a body that has not fully arrived in that many seconds is refused with
    408 (a slow or stalled client does not hold the request forever).
    """
    if deadline_s is None:
        return await _read_body(request, limit)
    try:
        async with asyncio.timeout(deadline_s):
            return await _read_body(request, limit)
    except TimeoutError:
        raise UploadRejected(408, f"the upload did not arrive within {deadline_s:g} s") from None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise UploadRejected(400, f"bad Content-Length header {declared!r}") from None
        if size > limit:
            raise UploadRejected(413, f"upload of {size} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise UploadRejected(413, f"upload exceeds the limit of {limit} bytes")
    return bytes(body)


def _replay(request: Request, body: bytes) -> Request:
    """A copy of ``request`` whose body is ``body`` (already read under the size limit)."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def _check_kind(content_type: str, kind: str, filename: str) -> None:
    if content_type in _GENERIC_TYPES or content_type.startswith(f"{kind}/"):
        return
    raise UploadRejected(
        415, f"upload {filename!r} has content type {content_type!r}; expected {kind}/* or application/octet-stream"
    )


async def read_upload(request: Request, *, kind: str, limit: int, deadline_s: float | None = None) -> Upload:
    """The uploaded file of a request: multipart field ``file``, or a raw ``<kind>/*`` body.

    Parameters
    ----------
    kind
        ``"image"``, ``"audio"`` or ``"video"``: the content types accepted besides
        ``application/octet-stream``.
    limit
        Largest accepted body in bytes (413 above it).
    deadline_s
        Seconds the whole body may take to arrive (408 after).
    """
    media_type = _media_type(request.headers.get("content-type"))
    if media_type == "multipart/form-data":
        body = await read_body(request, limit, deadline_s=deadline_s)
        try:
            form = await _replay(request, body).form(max_files=1, max_fields=16)
        except Exception as exc:  # malformed multipart (no boundary, truncated part...)
            raise UploadRejected(400, f"malformed multipart/form-data body ({exc})") from None
        item = form.get(FILE_FIELD)
        if not isinstance(item, UploadFile):
            raise UploadRejected(422, f"multipart form has no file in field {FILE_FIELD!r}")
        filename = item.filename or "upload"
        part_type = _media_type(item.content_type)
        _check_kind(part_type, kind, filename)
        data = await item.read()
        await form.close()
    elif media_type.startswith(f"{kind}/") or media_type == "application/octet-stream":
        data = await read_body(request, limit, deadline_s=deadline_s)
        filename = request.headers.get("x-filename") or "upload"
        part_type = media_type
    else:
        shown = media_type or "none"
        raise UploadRejected(
            415,
            f"content type {shown!r} not accepted; send multipart/form-data with the file in field "
            f"{FILE_FIELD!r}, or the raw file as {kind}/* or application/octet-stream",
        )
    if not data:
        raise UploadRejected(422, f"upload {filename!r} is empty")
    return Upload(data, filename, part_type)


def decode_image(data: bytes, *, name: str = "upload", max_pixels: int | None = None) -> np.ndarray:
    """Decode image bytes (PNG, JPEG, BMP, PGM/PPM, TIFF, WebP) to RGB uint8 ``(H, W, 3)``.

    The header is read first (:func:`affectlab.data.media.image_header`) so that an image over
    ``max_pixels`` is refused before decoding, and so is a format whose header is not read.

    Raises
    ------
    MediaReadError
        The bytes are not a readable image; the message names ``name``.
    UploadRejected
        The image is larger than ``max_pixels`` (status 413) or in a format that is not read,
        such as Radiance ``.hdr`` or GIF (status 415).

    Examples
    --------
    >>> ok, png = cv2.imencode(".png", np.zeros((3, 4, 3), np.uint8))
    >>> decode_image(png.tobytes()).shape
    (3, 4, 3)
    """
    try:
        return decode_image_bytes(data, name=name, mode="rgb", max_pixels=max_pixels)
    except ImageTooLarge as exc:
        raise UploadRejected(413, str(exc)) from None
    except UnsupportedImageFormat as exc:
        raise UploadRejected(415, str(exc)) from None


def check_image_header(data: bytes, *, name: str = "upload", max_pixels: int | None = None) -> ImageHeader:
    """The image's header (format and size) without decoding it; refusals as in :func:`decode_image`."""
    try:
        header = image_header(data, name=name)
    except UnsupportedImageFormat as exc:
        raise UploadRejected(415, str(exc)) from None
    if max_pixels is not None and header.pixels > max_pixels:
        raise UploadRejected(
            413, f"{name}: image of {header.width}x{header.height} pixels exceeds the limit of {max_pixels} pixels"
        )
    return header
