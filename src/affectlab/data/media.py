"""Reading images from disk or memory with one clear error per bad file.

Decoding is bounded before it starts: the width and height are read from the file's header
(:func:`image_header`) and an image over ``max_pixels`` is refused without decoding a pixel.
Only formats whose header says their size are read (PNG, JPEG, BMP, PGM/PPM/PBM, TIFF, WebP);
others that OpenCV could decode (Radiance ``.hdr``, OpenEXR, JPEG 2000, GIF, PAM, PFM, Sun
raster...) are refused by name, and anything else is "not a readable image".
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from affectlab.data.decoders import decoder_stderr_dropped
from affectlab.errors import ConfigError, MediaReadError

__all__ = [
    "read_image",
    "decode_image_bytes",
    "image_header",
    "sniff_image_format",
    "ImageHeader",
    "ImageTooLarge",
    "UnsupportedImageFormat",
    "ACCEPTED_IMAGE_FORMATS",
    "MAX_IMAGE_PIXELS",
    "to_gray",
    "to_rgb",
    "sample_photo",
    "pixel_values_problem",
    "IMAGE_SUFFIXES",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"})
ColorMode = Literal["rgb", "gray"]

#: Largest image (width x height) :func:`read_image` decodes unless told otherwise: 100 MP, 300 MB as RGB.
MAX_IMAGE_PIXELS = 100_000_000

#: The formats read (their header gives the size before decoding), by the name :func:`image_header` reports.
ACCEPTED_IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "PNM", "TIFF", "WebP")

# (signature, format name); checked in order. The accepted formats first, then formats OpenCV can
# decode (or that are images) that are refused by name rather than called unreadable.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"#?RADIANCE", "Radiance HDR"),
    (b"#?RGBE", "Radiance HDR"),
    (b"v/1\x01", "OpenEXR"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xffO\xffQ", "JPEG 2000"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\xff\x0a", "JPEG XL"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"P7", "PAM"),
    (b"PF", "PFM"),
    (b"Pf", "PFM"),
    (b"Y\xa6j\x95", "Sun raster"),
    (b"8BPS", "Photoshop"),
    (b"qoif", "QOI"),
    (b"\x00\x00\x01\x00", "ICO"),
)
_ISO_BRANDS = {b"avif": "AVIF", b"avis": "AVIF", b"heic": "HEIF", b"heix": "HEIF", b"mif1": "HEIF", b"msf1": "HEIF"}


class UnsupportedImageFormat(MediaReadError):
    """An image in a format that is not read (its size cannot be known without decoding it)."""


class ImageTooLarge(MediaReadError):
    """An image whose header states more pixels than allowed; nothing was decoded."""


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says: ``format`` (one of :data:`ACCEPTED_IMAGE_FORMATS`), ``width``, ``height``."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff_image_format(head: bytes) -> str | None:
    """The image format the first bytes announce (accepted or not), or ``None`` when none does.

    >>> [sniff_image_format(head) for head in (b"\\x89PNG\\r\\n\\x1a\\n....", b"#?RADIANCE\\n", b"hello")]
    ['PNG', 'Radiance HDR', None]
    """
    head = bytes(head[:32])
    if len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace():
        return "PNM"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _ISO_BRANDS:
        return _ISO_BRANDS[head[8:12]]
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def _png_size(data: bytes) -> tuple[int, int]:
    if data[12:16] != b"IHDR" or len(data) < 24:
        raise ValueError("the first chunk is not IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and data[20:21] == b"\x2f":
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise ValueError("no VP8, VP8L or VP8X header")


#: More chunks than any encoder writes (10 MB of 8 KB IDAT chunks is 1,280); walking them stays fast.
_MAX_PNG_CHUNKS = 65_536


def _png_chunks_problem(data: bytes) -> str | None:
    """Why the chunk lengths of a PNG do not fit in its bytes (``None``: they do).

    OpenCV's PNG reader allocates what a chunk's length field says before reading it: one
    corrupt length of 3 GB costs 3 GB of memory, whatever the image's size.
    """
    view = memoryview(data)
    pos, end = 8, len(data)
    for _ in range(_MAX_PNG_CHUNKS):
        if pos + 8 > end:
            return None
        (length,) = struct.unpack(">I", view[pos : pos + 4])
        kind = bytes(view[pos + 4 : pos + 8])
        if length > 0x7FFFFFFF or pos + 12 + length > end:
            return f"chunk {kind!r} of {length} bytes at offset {pos} runs past the end of the {end} bytes"
        if kind == b"IEND":
            return None
        pos += 12 + length
    return f"more than {_MAX_PNG_CHUNKS} chunks"


def _pillow_size(data: bytes, fmt: str) -> tuple[int, int]:
    # The plugin classes parse the header only (no pixel data), and without Pillow's global
    # decompression-bomb check, so that the caller's own limit decides.
    from PIL import BmpImagePlugin, JpegImagePlugin, PpmImagePlugin, TiffImagePlugin

    plugin = {"JPEG": JpegImagePlugin.JpegImageFile,
              "BMP": BmpImagePlugin.BmpImageFile, "PNM": PpmImagePlugin.PpmImageFile,
              "TIFF": TiffImagePlugin.TiffImageFile}[fmt]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = plugin(io.BytesIO(data))
        try:
            return int(image.size[0]), int(image.size[1])
        finally:
            image.close()


def image_header(data: bytes, *, name: str = "image") -> ImageHeader:
    """Format and size of encoded image bytes, from the header alone (no pixel is decoded).

    Raises
    ------
    UnsupportedImageFormat
        A known image format that is not read (e.g. Radiance ``.hdr``, GIF, JPEG 2000).
    MediaReadError
        Not an image, or a header that cannot be parsed; the message names ``name``.

    Examples
    --------
    >>> ok, png = cv2.imencode(".png", np.zeros((3, 4, 3), np.uint8))
    >>> image_header(png.tobytes())
    ImageHeader(format='PNG', width=4, height=3)
    """
    fmt = sniff_image_format(data)
    if fmt is None:
        raise MediaReadError(f"{name}: not a readable image (corrupt or unsupported format)")
    if fmt not in ACCEPTED_IMAGE_FORMATS:
        raise UnsupportedImageFormat(
            f"{name}: {fmt} images are not accepted; send {', '.join(ACCEPTED_IMAGE_FORMATS[:-1])} or "
            f"{ACCEPTED_IMAGE_FORMATS[-1]} (formats whose size is checked before decoding)"
        )
    if fmt == "PNG":  # the chunks first: Pillow would walk a million of them, OpenCV allocate a lying one
        problem = _png_chunks_problem(data)
        if problem:
            raise MediaReadError(f"{name}: not a readable image (corrupt PNG: {problem})")
    try:
        parse = {"WebP": _webp_size, "PNG": _png_size}.get(fmt)
        width, height = parse(data) if parse is not None else _pillow_size(data, fmt)
    except Exception:  # noqa: BLE001 - any parser failure is a corrupt header
        raise MediaReadError(f"{name}: not a readable image (corrupt {fmt} header)") from None
    if width < 1 or height < 1:
        raise MediaReadError(f"{name}: not a readable image ({fmt} header states {width}x{height} pixels)")
    return ImageHeader(fmt, width, height)


def decode_image_bytes(data: bytes, *, name: str = "image", mode: ColorMode = "rgb",
                       max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode encoded image bytes to uint8 RGB ``(H, W, 3)`` or gray ``(H, W)``, bounded by the header.

    The header is read first (:func:`image_header`); an image over ``max_pixels`` (``None``: no
    limit) raises :class:`ImageTooLarge` before any decoding.

    Raises
    ------
    ImageTooLarge, UnsupportedImageFormat, MediaReadError
        Too many pixels, a format that is not read, or not a readable image (named ``name``).

    >>> ok, png = cv2.imencode(".png", np.zeros((3, 4, 3), np.uint8))
    >>> decode_image_bytes(png.tobytes(), mode="gray").shape
    (3, 4)
    """
    if mode not in ("rgb", "gray"):
        raise ConfigError(f"read_image: mode must be 'rgb' or 'gray', got {mode!r}")
    header = image_header(data, name=name)
    if max_pixels is not None and header.pixels > max_pixels:
        raise ImageTooLarge(
            f"{name}: image of {header.width}x{header.height} pixels exceeds the limit of {max_pixels} pixels"
        )
    flag = cv2.IMREAD_GRAYSCALE if mode == "gray" else cv2.IMREAD_COLOR
    with decoder_stderr_dropped():  # libpng's own "libpng error: ..." line (the CLI only)
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if image is None or image.size == 0:
        raise MediaReadError(f"{name}: not a readable image (corrupt or unsupported format)")
    if max_pixels is not None and image.shape[0] * image.shape[1] > max_pixels:  # pragma: no cover - header lied
        raise ImageTooLarge(f"{name}: image of {image.shape[1]}x{image.shape[0]} pixels exceeds the limit of "
                            f"{max_pixels} pixels")
    if mode == "rgb":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def read_image(path: str | Path, *, mode: ColorMode = "rgb", max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as uint8, RGB ``(H, W, 3)`` or gray ``(H, W)``.

    The size is read from the header first (:func:`decode_image_bytes`): an image over
    ``max_pixels`` (default :data:`MAX_IMAGE_PIXELS`; ``None``: no limit) or in a format whose
    header is not read is refused before decoding.

    Raises
    ------
    MediaReadError
        The file is missing, empty, not an image or corrupt; the message names the file.
        :class:`ImageTooLarge` and :class:`UnsupportedImageFormat` are its subclasses.
    ConfigError
        ``mode`` is neither ``"rgb"`` nor ``"gray"``.

    Examples
    --------
    >>> import tempfile, cv2, numpy as np
    >>> p = tempfile.mktemp(suffix=".png"); _ = cv2.imwrite(p, np.zeros((4, 5, 3), np.uint8))
    >>> read_image(p).shape, read_image(p, mode="gray").shape
    ((4, 5, 3), (4, 5))
    """
    if mode not in ("rgb", "gray"):
        raise ConfigError(f"read_image: mode must be 'rgb' or 'gray', got {mode!r}")
    path = Path(path)
    if not path.exists():
        raise MediaReadError(f"{path}: file not found")
    if path.is_dir():
        raise MediaReadError(f"{path}: is a directory, expected an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise MediaReadError(f"{path}: empty file")
    return decode_image_bytes(data, name=str(path), mode=mode, max_pixels=max_pixels)


def pixel_values_problem(images: np.ndarray) -> str | None:
    """Why an image array is not uint8 (0..255) or finite floats in ``[0, 1]``; ``None`` when it is.

    The one rule of every array input (detector, explainers, Siamese training): 0..255 floats or
    NaN would otherwise be read as nonsense without a word. Callers raise their own error with it.

    >>> pixel_values_problem(np.array([[0.0, 255.0]]))
    'float values must lie in [0, 1], got values in [0, 255] (divide 0..255 images by 255, or pass uint8)'
    >>> pixel_values_problem(np.zeros((2, 2), np.uint8)) is None
    True
    """
    if images.dtype == np.uint8:
        return None
    if not np.issubdtype(images.dtype, np.floating):
        return f"expected uint8 (0..255) or float in [0, 1], got dtype {images.dtype}"
    if images.size and not np.all(np.isfinite(images)):
        return "float values must be finite (NaN or inf found)"
    if images.size and (images.min() < 0.0 or images.max() > 1.0):
        return (f"float values must lie in [0, 1], got values in [{float(images.min()):g}, {float(images.max()):g}]"
                " (divide 0..255 images by 255, or pass uint8)")
    return None


def to_gray(image: np.ndarray) -> np.ndarray:
    """RGB ``(H, W, 3)`` or gray ``(H, W)`` uint8 -> gray ``(H, W)`` uint8."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        return cv2.cvtColor(np.ascontiguousarray(image), code)
    raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Gray ``(H, W)`` or RGB(A) uint8 -> RGB ``(H, W, 3)`` uint8."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")


def sample_photo() -> np.ndarray:
    """The built-in sample face: scikit-image's public-domain astronaut photograph (RGB uint8)."""
    from skimage import data

    return data.astronaut()
