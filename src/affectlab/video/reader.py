"""Reading video frames: OpenCV capture or a folder of frame images, with frame sampling.

Frames come out as :class:`Frame` records (index in the source, time in seconds, RGB uint8
image). Sampling keeps every ``every``-th frame, or about ``fps`` frames per second of the
source's clock, never both. A missing, empty or corrupt video raises
:class:`~affectlab.errors.MediaReadError` naming the file before any frame is returned.

Examples
--------
>>> import tempfile, cv2, numpy as np
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "clip.avi"
>>> writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
>>> for i in range(6):
...     writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
>>> writer.release()
>>> reader = VideoReader(path, every=2)
>>> reader.info.fps, reader.info.width, reader.info.height
(10.0, 32, 24)
>>> [(f.index, f.time) for f in reader]
[(0, 0.0), (2, 0.2), (4, 0.4)]
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import cv2
import numpy as np

from affectlab.checks import is_integer, is_number
from affectlab.data.media import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS, ImageTooLarge, read_image, sniff_image_format
from affectlab.data.scan import VIDEO_SUFFIXES, natural_key
from affectlab.errors import AffectLabError, ConfigError, MediaReadError

__all__ = [
    "VIDEO_SUFFIXES",
    "Frame",
    "FrameDeadlineExceeded",
    "VideoInfo",
    "VideoReader",
    "frame_files",
    "is_video_path",
    "prefetch",
    "read_limits",
    "sampled",
]

# FFmpeg's own messages ("moov atom not found"...) would add lines to our single error line; OpenCV
# reads this once, when its FFmpeg backend starts. A value set by the user is kept.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

#: Frame rate assumed for a folder of frames (and for videos that do not state one).
DEFAULT_FPS = 25.0

T = TypeVar("T")


class FrameDeadlineExceeded(AffectLabError):
    """Reading stopped between two frames because the deadline of :func:`read_limits` passed."""


@dataclass(frozen=True)
class _Limits:
    deadline: float | None = None
    max_pixels: int | None = None


_NO_LIMITS = _Limits()
_LIMITS: contextvars.ContextVar[_Limits | None] = contextvars.ContextVar("affectlab_video_read_limits", default=None)


@contextlib.contextmanager
def read_limits(*, deadline: float | None = None, max_pixels: int | None = None) -> Iterator[None]:
    """Bounds for the :class:`VideoReader` objects created inside the block (in this thread or task).

    ``deadline`` (a :func:`time.monotonic` time): reading stops between two frames once it has
    passed, raising :class:`FrameDeadlineExceeded` (also from the background thread of
    :func:`prefetch`), so that work given up on does not go on. ``max_pixels``: a video whose
    frames are larger (width x height, from the container before a frame is read) raises
    :class:`~affectlab.data.media.ImageTooLarge`.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     _ = cv2.imwrite(str(folder / f"f{i}.png"), np.zeros((24, 32, 3), np.uint8))
    >>> with read_limits(deadline=time.monotonic() + 60):
    ...     len(list(VideoReader(folder)))
    3
    >>> with read_limits(deadline=time.monotonic() - 1):
    ...     frames = VideoReader(folder)
    >>> next(iter(frames))
    Traceback (most recent call last):
    ...
    affectlab.video.reader.FrameDeadlineExceeded: ...: reading stopped at the deadline
    """
    token = _LIMITS.set(_Limits(deadline, max_pixels))
    try:
        yield
    finally:
        _LIMITS.reset(token)


@dataclass(frozen=True)
class Frame:
    """One decoded frame: ``index`` in the source (0-based), ``time`` in seconds, RGB ``image``."""

    index: int
    time: float
    image: np.ndarray = field(repr=False)


@dataclass
class VideoInfo:
    """What the source says about itself.

    Attributes
    ----------
    source
        The file or folder.
    kind
        ``"video"`` (a file read by OpenCV) or ``"frames"`` (a folder of images).
    fps
        Frames per second of the source (``DEFAULT_FPS`` when unknown).
    frame_count
        Frames announced by the container (may be approximate), or the number of frame files.
        A container that states no count (an unfinished recording) gives 1 until the video has
        been read to its end; then it is the number of frames decoded.
    width, height
        Frame size in pixels.
    """

    source: str
    kind: Literal["video", "frames"]
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration(self) -> float:
        """Seconds covered by ``frame_count`` frames."""
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "fps": round(self.fps, 3), "frame_count": self.frame_count,
                "width": self.width, "height": self.height, "duration": round(self.duration, 3)}


def is_video_path(path: str | Path) -> bool:
    """True when the suffix is a video container OpenCV usually reads (``.mp4``, ``.avi``...).

    >>> is_video_path("clip.MP4"), is_video_path("photo.png")
    (True, False)
    """
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _natural_key(name: str) -> list[object]:  # (affectlab.clips sorts with it too)
    return natural_key(name, fold_case=True)


def frame_files(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` in natural order (``f2.png`` before ``f10.png``).

    Raises
    ------
    MediaReadError
        The folder does not exist or holds no images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MediaReadError(f"{folder}: frame folder not found")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise MediaReadError(f"{folder}: folder holds no image frames ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return sorted(files, key=lambda p: _natural_key(p.name))


def sampled(n_or_indices: Iterable[int], *, source_fps: float, every: int = 1,
            fps: float | None = None) -> Iterator[int]:
    """The source frame indices kept by the sampling rule, from an iterable of indices.

    ``every`` keeps indices ``0, every, 2 every, ...``; ``fps`` keeps the first frame of each
    ``1 / fps`` second interval of the source's clock (all frames when ``fps >= source_fps``).

    >>> list(sampled(range(10), source_fps=25, every=3))
    [0, 3, 6, 9]
    >>> list(sampled(range(10), source_fps=25, fps=10))
    [0, 3, 5, 8]
    """
    for index in n_or_indices:
        if _keep(index, source_fps, every, fps):
            yield index


def _keep(index: int, source_fps: float, every: int, fps: float | None) -> bool:
    if fps is None:
        return index % every == 0
    if fps >= source_fps:
        return True
    # keep the first frame whose time reaches the next multiple of 1 / fps
    ratio = fps / source_fps
    return index == 0 or math.floor(index * ratio + 1e-9) > math.floor((index - 1) * ratio + 1e-9)


def _check_sampling(every: int, fps: float | None) -> tuple[int, float | None]:
    if not is_integer(every) or every < 1:
        raise ConfigError(f"every must be a positive integer (keep every N-th frame), got {every!r}")
    if fps is not None:
        if every != 1:
            raise ConfigError("give either every (keep every N-th frame) or fps (target frame rate), not both")
        if not is_number(fps) or not math.isfinite(fps) or fps <= 0:
            raise ConfigError(f"fps must be a positive number of frames per second, got {fps!r}")
        fps = float(fps)
    return int(every), fps


class VideoReader:
    """Iterate over the (sampled) frames of a video file or a folder of frames.

    Parameters
    ----------
    source
        A video file (any container OpenCV's FFmpeg backend reads: mp4, avi, mov, mkv, webm...)
        or a folder of frame images (read in natural file-name order).
    every
        Keep every N-th frame (1: all).
    fps
        Or: keep about this many frames per second (by the source's clock).
    max_frames
        Stop after this many kept frames (``None``: all).
    frames_fps
        Frame rate of a folder of frames (folders carry no clock).

    Raises
    ------
    MediaReadError
        Missing, empty or unreadable source (a video whose first frame cannot be decoded is
        treated as corrupt); the message names it.
    ConfigError
        Bad sampling arguments.

    Notes
    -----
    Frames skipped by the sampling are only grabbed (demuxed and decoded by FFmpeg, not
    converted), which is cheaper than reading them. A frame that fails to decode in the middle
    of a video ends the stream; ``problems`` says so. Unreadable files in a frame folder are
    skipped and listed in ``problems``.
    """

    def __init__(
        self,
        source: str | Path,
        *,
        every: int = 1,
        fps: float | None = None,
        max_frames: int | None = None,
        frames_fps: float = DEFAULT_FPS,
    ) -> None:
        self.source = Path(source)
        self.every, self.fps = _check_sampling(every, fps)
        if max_frames is not None and (not is_integer(max_frames) or max_frames < 1):
            raise ConfigError(f"max_frames must be a positive integer or None, got {max_frames!r}")
        self.max_frames = None if max_frames is None else int(max_frames)
        if not is_number(frames_fps) or not frames_fps > 0:
            raise ConfigError(f"frames_fps must be a positive number, got {frames_fps!r}")
        self.problems: list[str] = []
        self._limits = _LIMITS.get() or _NO_LIMITS  # kept: frames may be read in another thread (prefetch)
        self._image_limit = MAX_IMAGE_PIXELS if self._limits.max_pixels is None else self._limits.max_pixels
        self._count_known = True
        self._files: list[Path] | None = None
        self._first: np.ndarray | None = None
        if self.source.is_dir():
            self._files = frame_files(self.source)
            first = self._read_first_file()
            h, w = first.shape[:2]
            self.info = VideoInfo(str(self.source), "frames", float(frames_fps), len(self._files), w, h)
        else:
            self.info = self._probe_video()

    # ---------------------------------------------------------------------------------------
    def _read_first_file(self) -> np.ndarray:
        assert self._files is not None
        for path in self._files:
            try:
                self._first = read_image(path, mode="rgb", max_pixels=self._image_limit)
                return self._first
            except MediaReadError as exc:
                self.problems.append(str(exc))
        raise MediaReadError(f"{self.source}: none of the {len(self._files)} frame files could be read")

    def _check_deadline(self) -> None:
        deadline = self._limits.deadline
        if deadline is not None and time.monotonic() > deadline:
            raise FrameDeadlineExceeded(f"{self.source}: reading stopped at the deadline")

    def _open(self) -> cv2.VideoCapture:
        path = self.source
        if not path.exists():
            raise MediaReadError(f"{path}: file not found")
        if path.stat().st_size == 0:
            raise MediaReadError(f"{path}: empty file")
        with path.open("rb") as handle:
            still = sniff_image_format(handle.read(32))
        if still is not None and still != "GIF":  # OpenCV would read it as a one-frame video
            raise MediaReadError(f"{path}: a {still} still image, not a video")
        self._check_deadline()
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            capture.release()
            raise MediaReadError(f"{path}: not a readable video (corrupt or unsupported format)")
        return capture

    def _check_frame_size(self, capture: cv2.VideoCapture) -> None:
        # before the first frame is decoded: the size the container (stream header) states
        limit = self._image_limit
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if (width < 1 or height < 1) and self._limits.max_pixels is not None:
            raise MediaReadError(f"{self.source}: not a readable video (the container states no frame size)")
        if width * height > limit:
            raise ImageTooLarge(f"{self.source}: video frames of {width}x{height} pixels exceed the limit of "
                                f"{limit} pixels")

    def _probe_video(self) -> VideoInfo:
        capture = self._open()
        try:
            self._check_frame_size(capture)
            ok, frame = capture.read()
            if not ok or frame is None or frame.size == 0:
                raise MediaReadError(f"{self.source}: no frame could be decoded (empty or corrupt video)")
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        finally:
            capture.release()
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            self.problems.append(f"{self.source}: frame rate unknown, assuming {DEFAULT_FPS:g} fps")
            fps = DEFAULT_FPS
        h, w = frame.shape[:2]
        self._count_known = count > 0  # 0, or a huge negative number, when the container states none
        return VideoInfo(str(self.source), "video", fps, count if self._count_known else 1, w, h)

    @property
    def expected_frames(self) -> int | None:
        """How many frames sampling should keep (from the announced frame count; ``None``: not stated)."""
        if not self._count_known:
            return self.max_frames
        n = sum(1 for _ in sampled(range(self.info.frame_count), source_fps=self.info.fps, every=self.every,
                                   fps=self.fps))
        return n if self.max_frames is None else min(n, self.max_frames)

    def __iter__(self) -> Iterator[Frame]:
        frames = self._iter_files() if self._files is not None else self._iter_video()
        for kept, frame in enumerate(frames):
            if self.max_frames is not None and kept >= self.max_frames:
                return
            yield frame

    def _iter_files(self) -> Iterator[Frame]:
        assert self._files is not None
        size = (self.info.height, self.info.width)
        for index, path in enumerate(self._files):
            if not _keep(index, self.info.fps, self.every, self.fps):
                continue
            self._check_deadline()
            try:
                image = read_image(path, mode="rgb", max_pixels=self._image_limit)
            except MediaReadError as exc:
                if str(exc) not in self.problems:
                    self.problems.append(str(exc))
                continue
            if image.shape[:2] != size:
                self.problems.append(f"{path}: frame of {image.shape[1]}x{image.shape[0]} resized to "
                                     f"{size[1]}x{size[0]} (the first frame's size)")
                image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
            yield Frame(index, index / self.info.fps, image)

    def _iter_video(self) -> Iterator[Frame]:
        capture = self._open()
        try:
            index = 0
            while True:
                self._check_deadline()
                if _keep(index, self.info.fps, self.every, self.fps):
                    ok, bgr = capture.read()
                    if not ok or bgr is None:
                        break
                    yield Frame(index, round(index / self.info.fps, 6), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                elif not capture.grab():
                    break
                index += 1
            if index == 0:  # pragma: no cover - the probe already read one frame
                raise MediaReadError(f"{self.source}: no frame could be decoded (empty or corrupt video)")
            if not self._count_known:  # read to the end: now the count (and the duration) is known
                self.info.frame_count, self._count_known = index, True
                self.problems.append(f"{self.source}: the container states no frame count (unfinished recording?);"
                                     f" {index} frames decoded")
            elif index > self.info.frame_count:  # an approximate count that was too low
                self.info.frame_count = index
            if self.info.frame_count > 1 and index < 0.9 * self.info.frame_count:
                self.problems.append(f"{self.source}: decoding stopped after {index} of {self.info.frame_count}"
                                     " announced frames (truncated or corrupt video)")
        finally:
            capture.release()


_END = object()


def prefetch(items: Iterable[T], size: int = 8) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``size`` items ahead (decoding overlaps the work).

    Exceptions raised by ``items`` are re-raised in the caller. OpenCV releases the GIL while
    decoding, so on two cores decoding and face detection run side by side.

    >>> list(prefetch(range(5), size=2))
    [0, 1, 2, 3, 4]
    """
    if size < 1:
        yield from items
        return
    buffer: queue.Queue[object] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
            buffer.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            buffer.put(exc)

    thread = threading.Thread(target=work, name="affectlab-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
