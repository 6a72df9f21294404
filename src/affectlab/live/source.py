"""Live frame sources: a camera, a device, a stream URL or a video file, read by a grabber thread.

:func:`open_source` turns the command line's SOURCE into a :class:`LiveSource`:

- ``0``, ``1``... : a camera by its index (OpenCV's default backend, V4L2 on Linux);
- ``/dev/video0`` (any character device): a capture device;
- ``rtsp://``, ``rtmp://``, ``http://``, ``https://``, ``udp://``, ``tcp://``, ``srt://`` URLs: a network stream
  read by OpenCV's FFmpeg backend (an MJPEG-over-HTTP camera, an RTSP camera, an HLS playlist...), with
  open and read timeouts;
- anything else: a video file or a folder of frames (:class:`~affectlab.video.reader.VideoReader`).

A :class:`FrameGrabber` reads the source in a background thread and keeps only the newest frame:
when the analysis takes a frame, it gets the latest one, and the frames read in between are counted
as dropped, never queued. With ``lossless`` (a file analysed as fast as it goes), the grabber waits
for each frame to be taken instead. With ``realtime``, a file is read at its own frame rate, like a
camera.

>>> spec = parse_source("0"); spec.kind, spec.camera
('camera', 0)
>>> parse_source("rtsp://user:secret@10.0.0.5/stream").name
'rtsp://user:***@10.0.0.5/stream'
"""

from __future__ import annotations

import math
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from affectlab.data.media import MAX_IMAGE_PIXELS, ImageTooLarge
from affectlab.errors import AffectLabError, ConfigError, MediaReadError
from affectlab.video.reader import DEFAULT_FPS, Frame, VideoReader

__all__ = [
    "STREAM_SCHEMES",
    "FrameGrabber",
    "GrabberState",
    "LiveSource",
    "SourceSpec",
    "SourceStalled",
    "open_source",
    "parse_source",
]

#: URL schemes read as network streams (OpenCV's FFmpeg backend).
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp", "mms")

#: Consecutive failed reads after which a camera or stream counts as ended (each retried after a pause).
MAX_READ_FAILURES = 5

SourceKind = Literal["camera", "device", "stream", "file"]


class SourceStalled(MediaReadError):
    """A camera or stream delivered no frame for longer than the timeout."""


@dataclass(frozen=True)
class SourceSpec:
    """What SOURCE names: ``kind`` and, by kind, the ``camera`` index, or the ``target`` path or URL.

    ``name`` is how messages and outputs call it (a URL's password is masked).
    """

    kind: SourceKind
    target: str
    name: str
    camera: int | None = None

    @property
    def is_live(self) -> bool:
        """A camera, device or stream: frames come at their own pace and cannot be waited for."""
        return self.kind != "file"


def _mask_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


_HELP = ("give a camera index (0), a device path (/dev/video0), a stream URL (rtsp://..., http://...) "
         "or a video file")


def parse_source(source: str | int | Path) -> SourceSpec:
    """What ``source`` names (:class:`SourceSpec`); a name that is none of them raises :class:`MediaReadError`.

    >>> parse_source("http://127.0.0.1:8080/video").kind
    'stream'
    >>> parse_source("ftp://host/clip.mp4")
    Traceback (most recent call last):
    ...
    affectlab.errors.ConfigError: ftp://host/clip.mp4: ftp:// streams are not read; use one of rtsp, rtsps, ...
    """
    if isinstance(source, int) and not isinstance(source, bool):
        source = str(source)
    text = str(source)
    if not text.strip():
        raise ConfigError(f"empty SOURCE: {_HELP}")
    if re.fullmatch(r"\d{1,3}", text.strip()):
        index = int(text.strip())
        return SourceSpec("camera", text.strip(), f"camera {index}", camera=index)
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if match:
        scheme = match.group(1).lower()
        if scheme == "file":
            return parse_source(urlsplit(text).path)
        if scheme not in STREAM_SCHEMES:
            raise ConfigError(f"{_mask_password(text)}: {scheme}:// streams are not read; use one of "
                              f"{', '.join(STREAM_SCHEMES)}")
        return SourceSpec("stream", text, _mask_password(text))
    path = Path(text)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if text.startswith("/dev/"):
            raise MediaReadError(f"{text}: no such device (is the camera plugged in?)") from None
        raise MediaReadError(f"{text}: not found; {_HELP}") from None
    except OSError as exc:
        raise MediaReadError(f"{text}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISCHR(mode):
        return SourceSpec("device", text, text)
    return SourceSpec("file", text, text)


class LiveSource:
    """An opened source: ``frames()`` yields :class:`~affectlab.video.reader.Frame` records (RGB).

    ``fps`` is the source's stated frame rate (:data:`~affectlab.video.reader.DEFAULT_FPS` when it
    states none), ``width`` / ``height`` its frame size. For a camera or a stream a frame's ``index``
    counts the frames read and its ``time`` is seconds since the first one; for a file they are the
    file's own.
    """

    def __init__(self, spec: SourceSpec, *, fps: float, width: int, height: int) -> None:
        self.spec = spec
        self.fps = fps
        self.width = width
        self.height = height
        self.unreadable = 0  # frames that failed to decode, skipped (cameras and streams)
        self.problems: list[str] = []

    @property
    def name(self) -> str:
        return self.spec.name

    def frames(self, stop: threading.Event) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or connection (called from the thread that reads)."""


class _FileSource(LiveSource):
    def __init__(self, spec: SourceSpec) -> None:
        self.reader = VideoReader(spec.target)
        info = self.reader.info
        super().__init__(spec, fps=info.fps, width=info.width, height=info.height)
        self.problems = self.reader.problems

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        for frame in self.reader:
            if stop.is_set():
                return
            yield frame


class _CaptureSource(LiveSource):
    """A camera, device or stream read with :class:`cv2.VideoCapture`."""

    def __init__(self, spec: SourceSpec, *, timeout: float, max_pixels: int) -> None:
        self.timeout = timeout
        ms = int(round(timeout * 1000))
        if spec.kind == "stream":
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            capture = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, params)
        elif spec.kind == "camera":
            capture = cv2.VideoCapture(int(spec.camera or 0))
        else:
            capture = cv2.VideoCapture(spec.target)
        if not capture.isOpened():
            capture.release()
            raise MediaReadError(_open_failure(spec, timeout))
        self.capture = capture
        started = time.monotonic()
        ok, bgr = capture.read()
        if not ok or bgr is None or bgr.size == 0:
            capture.release()
            waited = time.monotonic() - started
            if spec.kind == "stream" and waited >= 0.9 * timeout:
                raise SourceStalled(f"{spec.name}: no frame within {timeout:g} s of opening the stream")
            raise MediaReadError(f"{spec.name}: opened, but no frame could be read from it")
        height, width = bgr.shape[:2]
        if width * height > max_pixels:
            capture.release()
            raise ImageTooLarge(f"{spec.name}: frames of {width}x{height} pixels exceed the limit of "
                                f"{max_pixels} pixels")
        self._first: np.ndarray | None = bgr
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or not 0 < fps <= 240:
            fps = DEFAULT_FPS
        super().__init__(spec, fps=fps, width=width, height=height)

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        started = time.monotonic()
        index, failures = 0, 0
        bgr = self._first
        self._first = None
        while not stop.is_set():
            if bgr is None:
                asked = time.monotonic()
                ok, bgr = self.capture.read()
                if not ok or bgr is None or bgr.size == 0:
                    bgr = None
                    if stop.is_set():
                        return
                    if time.monotonic() - asked >= 0.9 * self.timeout:
                        raise SourceStalled(f"{self.name}: no frame for {self.timeout:g} s (the stream stalled)")
                    failures += 1
                    if failures >= MAX_READ_FAILURES:
                        return  # ended: a closed connection, an unplugged camera
                    time.sleep(0.02 * failures)
                    continue
                if failures:
                    self.unreadable += 1  # a frame that failed between two good ones: skipped
                    failures = 0
            yield Frame(index, round(time.monotonic() - started, 6), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
            bgr = None

    def close(self) -> None:
        self.capture.release()


def _open_failure(spec: SourceSpec, timeout: float) -> str:
    if spec.kind == "camera":
        return (f"{spec.name}: cannot be opened (no such camera, no permission to use it, or another program "
                "holds it)")
    if spec.kind == "device":
        return f"{spec.name}: cannot be opened as a camera (not a video device, or no permission)"
    return (f"{spec.name}: cannot open the stream (unreachable host, refused connection, no answer within "
            f"{timeout:g} s, or a format FFmpeg does not read)")


def open_source(source: str | int | Path | SourceSpec, *, timeout: float = 10.0,
                max_pixels: int = MAX_IMAGE_PIXELS) -> LiveSource:
    """Open SOURCE (:func:`parse_source`) and read its first frame.

    ``timeout``: seconds a stream may take to open or to deliver a frame. A source that cannot be
    opened, or whose first frame cannot be read, raises :class:`MediaReadError` naming it;
    frames over ``max_pixels`` raise :class:`~affectlab.data.media.ImageTooLarge`.
    """
    if not timeout > 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    spec = source if isinstance(source, SourceSpec) else parse_source(source)
    if spec.kind == "file":
        return _FileSource(spec)
    return _CaptureSource(spec, timeout=float(timeout), max_pixels=max_pixels)


@dataclass
class GrabberState:
    """Counters of a :class:`FrameGrabber`: frames ``read`` from the source, ``dropped`` (replaced by a
    newer one before the analysis took them), and why reading stopped (``ended``, ``error``)."""

    read: int = 0
    dropped: int = 0
    ended: bool = False
    error: AffectLabError | None = None
    last_read_at: float | None = None  # time.monotonic() of the newest frame


class FrameGrabber:
    """Read a :class:`LiveSource` in a background thread, keeping only the newest frame.

    Parameters
    ----------
    source
        The opened source.
    realtime
        Pace a file at its own frame rate (a camera or stream is paced by itself).
    lossless
        Wait for each frame to be taken instead of replacing it (a file analysed as fast as it
        goes: nothing is dropped). Ignored for cameras and streams, which cannot wait.

    Examples
    --------
    >>> import tempfile, cv2, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "clip.avi"
    >>> writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (32, 24))
    >>> for i in range(5):
    ...     writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    >>> writer.release()
    >>> with FrameGrabber(open_source(path), lossless=True) as grabber:
    ...     frames = list(iter(lambda: grabber.take(timeout=5.0), None))
    >>> [f.index for f in frames], grabber.state.dropped
    ([0, 1, 2, 3, 4], 0)
    """

    def __init__(self, source: LiveSource, *, realtime: bool = False, lossless: bool = False) -> None:
        self.source = source
        self.realtime = bool(realtime)
        self.lossless = bool(lossless) and not source.spec.is_live
        self.state = GrabberState()
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="affectlab-live-grabber", daemon=True)
        self.started_at: float | None = None

    # -- the reading thread -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            paced = self.realtime and not self.source.spec.is_live
            start = time.monotonic()
            for frame in self.source.frames(self._stop):
                if paced:
                    delay = start + frame.time - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                with self._cond:
                    if self.lossless:
                        while self._slot is not None and not self._stop.is_set():
                            self._cond.wait(0.1)
                    if self._stop.is_set():
                        return
                    if self._slot is not None:
                        self.state.dropped += 1
                    self._slot = frame
                    self.state.read += 1
                    self.state.last_read_at = time.monotonic()
                    self._cond.notify_all()
        except AffectLabError as exc:
            self.state.error = exc
        except cv2.error as exc:  # a decoder failure OpenCV raises instead of reporting
            self.state.error = MediaReadError(f"{self.source.name}: reading failed ({str(exc).strip()})")
        finally:
            with self._cond:
                self.state.ended = True
                self._cond.notify_all()
            self.source.close()

    # -- the consumer ------------------------------------------------------------------------------
    def start(self) -> FrameGrabber:
        """Start reading (once)."""
        if self.started_at is None:
            self.started_at = time.monotonic()
            self._thread.start()
        return self

    def take(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not taken yet; waits up to ``timeout`` seconds for one (``None``: for ever).

        Returns ``None`` when none came in time or when reading has ended (see :attr:`finished`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._slot is None and not self.state.ended:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            frame, self._slot = self._slot, None
            self._cond.notify_all()
            return frame

    @property
    def finished(self) -> bool:
        """Reading has ended and the last frame has been taken."""
        with self._cond:
            return self.state.ended and self._slot is None

    def stop(self, wait: float = 2.0) -> None:
        """Stop reading; waits up to ``wait`` seconds for the thread (a blocked network read may outlive it)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(wait)

    def __enter__(self) -> FrameGrabber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
