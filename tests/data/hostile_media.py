"""Small files that decode to huge images, and a video long enough to outlast a short timeout (no tests here)."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np


def radiance_hdr(width: int, height: int) -> bytes:
    """A Radiance ``.hdr`` of ``width`` x ``height`` in run-length scanlines: 10000 x 10000 is 6.4 MB.

    OpenCV decodes it to float32 RGB (1.2 GB at 10000 x 10000); Pillow cannot read its header.
    """
    assert 8 <= width < 32768
    runs = bytearray()
    left = width
    while left:
        n = min(127, left)
        runs += bytes([128 + n, 0x80])  # a run of n equal bytes
        left -= n
    line = bytes([2, 2, width >> 8, width & 255]) + bytes(runs) * 4
    header = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {height} +X {width}\n".encode()
    return header + line * height


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@lru_cache(maxsize=4)
def png_bomb(width: int, height: int) -> bytes:
    """A valid black RGB PNG of ``width`` x ``height``: 7000 x 5670 (39.7 MP) is ~120 KB, 119 MB decoded."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header states ``width`` x ``height`` followed by a few bytes of pixel data (truncated)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))


def face_video(path: Path, frames: int, size: tuple[int, int] = (320, 240), fps: float = 25.0) -> Path:
    """An MJPG AVI of the sample face sliding sideways (~17 KB a frame at 320 x 240)."""
    from affectlab.data import sample_photo

    width, height = size
    face = cv2.resize(cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR), (height, height))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    try:
        for i in range(frames):
            frame = np.zeros((height, width, 3), np.uint8)
            x = (3 * i) % (width - height + 1)
            frame[:, x : x + height] = face
            writer.write(frame)
    finally:
        writer.release()
    return path
