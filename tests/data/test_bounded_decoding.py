"""Images are sized from their header before decoding; formats whose header is not read are refused."""

from __future__ import annotations

import io
import time

import cv2
import numpy as np
import pytest
from PIL import Image

from affectlab.data.media import (
    ACCEPTED_IMAGE_FORMATS,
    ImageTooLarge,
    UnsupportedImageFormat,
    decode_image_bytes,
    image_header,
    read_image,
)
from affectlab.errors import MediaReadError
from tests.data.hostile_media import png_header_only, radiance_hdr

RNG = np.random.default_rng(7)
RGB = (RNG.random((37, 53, 3)) * 255).astype(np.uint8)


def _cv(suffix: str, image: np.ndarray, params: tuple[int, ...] = ()) -> bytes:
    ok, data = cv2.imencode(suffix, image, list(params))
    assert ok
    return data.tobytes()


def _pil(fmt: str, image: np.ndarray, **kw) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, fmt, **kw)
    return out.getvalue()


ENCODED = {
    "png": ("PNG", _cv(".png", RGB)),
    "png16-gray": ("PNG", _cv(".png", RGB[..., 0].astype(np.uint16) * 250)),
    "png-rgba": ("PNG", _cv(".png", np.dstack([RGB, RGB[..., 0]]))),
    "jpeg": ("JPEG", _cv(".jpg", RGB)),
    "jpeg-progressive": ("JPEG", _cv(".jpg", RGB, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))),
    "bmp": ("BMP", _cv(".bmp", RGB)),
    "pgm": ("PNM", _cv(".pgm", RGB[..., 0])),
    "pgm-ascii": ("PNM", _cv(".pgm", RGB[..., 0], (cv2.IMWRITE_PXM_BINARY, 0))),
    "ppm": ("PNM", _cv(".ppm", RGB)),
    "pbm": ("PNM", _pil("PPM", RGB[..., 0] > 100)),
    "tiff": ("TIFF", _cv(".tif", RGB)),
    "tiff-lzw": ("TIFF", _pil("TIFF", RGB, compression="tiff_lzw")),
    "webp-lossy": ("WebP", _cv(".webp", RGB, (cv2.IMWRITE_WEBP_QUALITY, 80))),
    "webp-lossless": ("WebP", _cv(".webp", RGB, (cv2.IMWRITE_WEBP_QUALITY, 101))),
    "webp-extended": ("WebP", _cv(".webp", np.dstack([RGB, RGB[..., 0]]), (cv2.IMWRITE_WEBP_QUALITY, 80))),
}


@pytest.mark.parametrize("case", sorted(ENCODED))
def test_the_header_gives_the_size_the_decoder_produces(case):
    fmt, data = ENCODED[case]
    header = image_header(data, name=case)
    assert (header.format, header.width, header.height) == (fmt, 53, 37)
    assert decode_image_bytes(data, name=case).shape == (37, 53, 3)
    assert decode_image_bytes(data, name=case, mode="gray").shape == (37, 53)
    assert fmt in ACCEPTED_IMAGE_FORMATS


def test_read_image_refuses_a_radiance_hdr_by_name_without_decoding(tmp_path):
    path = tmp_path / "sky.hdr"
    path.write_bytes(radiance_hdr(2000, 2000))  # OpenCV decodes it (48 MB float32) when asked
    with pytest.raises(UnsupportedImageFormat, match=r"sky.hdr: Radiance HDR images are not accepted; send PNG"):
        read_image(path)


@pytest.mark.parametrize(
    ("head", "name"),
    [(b"GIF89a\x10\x00\x10\x00", "GIF"), (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"), (b"P7\nWIDTH 4\n", "PAM"),
     (b"v/1\x01\x02\x00\x00\x00", "OpenEXR"), (b"PF\n4 4\n-1\n", "PFM"), (b"Y\xa6j\x95\x00", "Sun raster")],
)
def test_other_formats_opencv_would_decode_are_refused_by_name(head, name):
    with pytest.raises(UnsupportedImageFormat, match=f"x: {name} images are not accepted"):
        decode_image_bytes(head + b"\0" * 64, name="x")


def test_an_image_over_the_limit_is_refused_from_its_header_alone(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(20_000, 20_000))  # 400 MP announced, 80 bytes of pixel data
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="huge.png: image of 20000x20000 pixels exceeds the limit of 100000000"):
        read_image(path)
    with pytest.raises(ImageTooLarge, match="exceeds the limit of 1000 pixels"):
        read_image(tmp_path / "huge.png", max_pixels=1000)
    assert time.perf_counter() - started < 1.0
    assert isinstance(ImageTooLarge("x"), MediaReadError)  # callers that catch MediaReadError still do


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n\x00\x00", b"\xff\xd8\xff\xe0\x00", b"BM\x00", b"P5\n", b"II*\x00\xff\xff",
     b"RIFF\0\0\0\0WEBPVP8 "],
)
def test_a_truncated_header_is_one_clear_error(data):
    with pytest.raises(MediaReadError, match=r"^t: not a readable image \(corrupt .*header\)$"):
        decode_image_bytes(data, name="t")


def test_a_png_chunk_longer_than_the_file_is_refused_before_opencv_allocates_it():
    png = ENCODED["png"][1]
    idat = png.index(b"IDAT") - 4
    lying = png[:idat] + (0xC0000000).to_bytes(4, "big") + png[idat + 4 :]  # OpenCV 4.14 allocated 3 GB for it
    with pytest.raises(MediaReadError, match=r"^c.png: not a readable image \(corrupt PNG: chunk b'IDAT' of "
                                             r"3221225472 bytes at offset 33 runs past the end"):
        decode_image_bytes(lying, name="c.png")
    assert image_header(png).format == "PNG"  # a whole PNG passes


def test_a_png_of_a_million_empty_chunks_is_refused_quickly():
    import struct
    import zlib

    png = ENCODED["png"][1]
    empty = struct.pack(">I", 0) + b"tEXt" + struct.pack(">I", zlib.crc32(b"tEXt"))
    many = png[:33] + empty * 800_000 + png[33:]  # 9.6 MB: walking every chunk took 1.2 s
    started = time.perf_counter()
    with pytest.raises(MediaReadError, match=r"corrupt PNG: more than 65536 chunks"):
        image_header(many, name="many.png")
    assert time.perf_counter() - started < 0.5
