"""The live loop: newest frame -> tracked faces and expressions -> JSON line (and annotated video).

:class:`LiveRun` takes frames from a :class:`~affectlab.live.source.FrameGrabber` (which keeps only
the newest one, counting the frames it replaced as dropped) and analyses each with a
:class:`~affectlab.live.analyzer.LiveAnalyzer` until the source ends, ``duration`` seconds have
passed, a ``stop`` event is set (Ctrl-C in ``affectlab live``), or a camera or stream stalls. The
outputs are complete whichever way it stops: every analysed frame has its JSON line, flushed as it
is written, and the annotated video is closed.

>>> import tempfile, io, json, cv2, numpy as np
>>> from affectlab.data import sample_photo
>>> from affectlab.live import LiveAnalyzer, open_source
>>> path = Path(tempfile.mkdtemp()) / "face.avi"
>>> face = cv2.cvtColor(cv2.resize(sample_photo(), (200, 200)), cv2.COLOR_RGB2BGR)
>>> writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 240))
>>> for i in range(5):
...     canvas = np.zeros((240, 320, 3), np.uint8); canvas[20:220, 40 + 4 * i:240 + 4 * i] = face
...     writer.write(canvas)
>>> writer.release()
>>> sink = io.StringIO()
>>> stats = LiveRun(open_source(path), LiveAnalyzer(), sink=sink).run()
>>> stats.read, stats.analysed, stats.dropped, stats.reason
(5, 5, 0, 'end')
>>> [json.loads(line)["faces"][0]["label"] for line in sink.getvalue().splitlines()]
['happy', 'happy', 'happy', 'happy', 'happy']
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from affectlab.errors import AffectLabError
from affectlab.live.analyzer import LiveAnalyzer, LiveFrame
from affectlab.live.source import FrameGrabber, LiveSource, SourceStalled
from affectlab.video.analyze import _annotate, _video_writer, compute_threads
from affectlab.video.tracker import TrackedFace

__all__ = ["STOP_REASONS", "LiveRun", "LiveStats"]

#: Why a run stopped, as :attr:`LiveStats.reason` says it.
STOP_REASONS = {
    "end": "the source ended",
    "duration": "the duration was reached",
    "interrupted": "stopped by the user",
    "stalled": "the source stalled",
    "error": "reading failed",
}


@dataclass
class LiveStats:
    """What a run did: frames ``read`` from the source, ``analysed``, ``dropped`` (read while the analysis
    was busy and replaced by a newer frame), ``unreadable`` (failed to decode, skipped), ``seconds`` of wall
    time from the start of reading, why it stopped (``reason``, a key of :data:`STOP_REASONS`, with
    ``error`` for ``"stalled"`` / ``"error"``), and each track's summed probabilities."""

    source: str
    class_names: list[str] = field(repr=False)
    read: int = 0
    analysed: int = 0
    dropped: int = 0
    unreadable: int = 0
    seconds: float = 0.0
    reason: str = "end"
    error: str | None = None
    frames_with_faces: int = 0
    tracks: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    track_frames: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def fps(self) -> float:
        """Frames analysed per second of wall time."""
        return self.analysed / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed(self) -> bool:
        """The run stopped on a problem of the source (a stall, a read error), not by ending or being stopped."""
        return self.reason in ("stalled", "error")

    def add(self, result: LiveFrame) -> None:
        self.analysed += 1
        if result.faces:
            self.frames_with_faces += 1
        for face in result.faces:
            p = face.raw if face.raw is not None else face.probabilities
            self.tracks[face.track] = self.tracks.get(face.track, 0) + p
            self.track_frames[face.track] = self.track_frames.get(face.track, 0) + 1

    def track_labels(self) -> dict[int, str]:
        """Each track's label from its mean probabilities over its analysed frames."""
        return {t: self.class_names[int(np.argmax(p))] for t, p in sorted(self.tracks.items())}

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "frames_read": self.read, "frames_analysed": self.analysed,
                "frames_dropped": self.dropped, "frames_unreadable": self.unreadable,
                "seconds": round(self.seconds, 3), "fps": round(self.fps, 2), "reason": self.reason,
                **({"error": self.error} if self.error else {}),
                "tracks": {str(t): {"frames": self.track_frames[t], "label": label}
                           for t, label in self.track_labels().items()}}

    def progress_line(self) -> str:
        """A short status: time, frames read / analysed / dropped, fps and the faces' labels."""
        return (f"{self.seconds:6.1f} s  read {self.read}  analysed {self.analysed}  dropped {self.dropped}  "
                f"{self.fps:5.1f} fps")

    def summary(self) -> list[str]:
        """The final lines for stderr: the counts and rate, then one line per track."""
        why = STOP_REASONS.get(self.reason, self.reason)
        lines = [f"{self.source}: {self.read} frames read, {self.analysed} analysed, {self.dropped} dropped"
                 + (f", {self.unreadable} unreadable (skipped)" if self.unreadable else "")
                 + f"; {self.fps:.1f} frames/s analysed over {self.seconds:.1f} s ({why})"]
        labels = self.track_labels()
        if not labels:
            lines.append("no face found" if self.analysed else "no frame analysed")
        for track, label in labels.items():
            lines.append(f"track {track}: {self.track_frames[track]} frames, {label}")
        return lines


class _Annotator:
    """The annotated video: each analysed frame shown until the next one (dropped frames' slots repeat it), so
    the video keeps the source's clock."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], *, every_frame: bool) -> None:
        import affectlab.viz.overlay  # noqa: F401 - imported now, not while the first frame waits

        self.path, self.fps, self.every_frame = path, float(fps), every_frame
        self.size = size
        self.writer = _video_writer(self.path, self.fps, size)
        self.written = 0
        self._last: np.ndarray | None = None

    def write(self, image: np.ndarray, result: LiveFrame) -> None:
        if image.shape[1::-1] != self.size:  # a stream that changed its frame size: fit it to the video's
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        faces = [TrackedFace(f.track, f.box, None, f.landmarks) for f in result.faces]
        scores = [float(np.max(f.probabilities)) for f in result.faces]
        frame = cv2.cvtColor(_annotate(image, faces, result.labels, scores), cv2.COLOR_RGB2BGR)
        if not self.every_frame and self._last is not None:
            slot = int(round(result.time * self.fps))  # this frame's place on the source's clock
            for _ in range(max(0, slot - self.written)):
                self.writer.write(self._last)
                self.written += 1
        self.writer.write(frame)
        self.written += 1
        self._last = frame

    def close(self) -> None:
        self.writer.release()


class LiveRun:
    """Analyse a live source frame by frame, newest frame first.

    Parameters
    ----------
    source
        An opened :class:`~affectlab.live.source.LiveSource` (:func:`~affectlab.live.source.open_source`).
    analyzer
        The :class:`~affectlab.live.analyzer.LiveAnalyzer` (its tracker follows this source).
    realtime
        Read a file at its own frame rate, dropping the frames the analysis has no time for (a camera or
        stream always is). Without it a file is analysed frame by frame, none dropped.
    duration
        Stop after this many seconds (of wall time; of the video's clock for a file without ``realtime``).
    sink
        Where the JSON lines go (one per analysed frame, flushed as written); ``None``: nowhere.
    annotate
        Also write the analysed frames with boxes, track ids, labels and landmarks to this video.
    stall_timeout
        A camera or stream that delivers no frame for this many seconds ends the run (``reason``
        ``"stalled"``).
    progress
        Called with the :class:`LiveStats` after each analysed frame.
    threads
        torch / OpenCV threads for the analysis (:func:`~affectlab.video.analyze.compute_threads`); the
        grabber decodes in one more thread.
    """

    def __init__(
        self,
        source: LiveSource,
        analyzer: LiveAnalyzer,
        *,
        realtime: bool = False,
        duration: float | None = None,
        sink: TextIO | None = None,
        annotate: str | Path | None = None,
        stall_timeout: float = 10.0,
        progress: Callable[[LiveStats], None] | None = None,
        threads: int | None = 1,
    ) -> None:
        self.source = source
        self.analyzer = analyzer
        self.realtime = bool(realtime)
        self.duration = duration
        self.sink = sink
        self.annotate = None if annotate is None else Path(annotate)
        self.stall_timeout = float(stall_timeout)
        self.progress = progress
        self.threads = threads

    def run(self, stop: threading.Event | None = None) -> LiveStats:
        """Run until the source ends, the duration passes, ``stop`` is set or the source stalls."""
        stop = stop or threading.Event()
        lossless = not self.realtime and not self.source.spec.is_live
        stats = LiveStats(self.source.name, self.analyzer.class_names)
        grabber = FrameGrabber(self.source, realtime=self.realtime, lossless=lossless)
        annotator = None
        try:
            with compute_threads(self.threads):
                if self.annotate is not None:
                    annotator = _Annotator(self.annotate, self.source.fps, (self.source.width, self.source.height),
                                           every_frame=lossless)
                self.analyzer.warm_up((self.source.width, self.source.height))
                started = time.monotonic()
                grabber.start()
                try:
                    self._loop(grabber, stats, stop, annotator, started, lossless)
                finally:
                    grabber.stop()
                    stats.seconds = time.monotonic() - started
                    stats.read, stats.dropped = grabber.state.read, grabber.state.dropped
                    stats.unreadable = self.source.unreadable
        finally:
            if annotator is not None:
                annotator.close()
            if grabber.started_at is None:  # never read: release the camera or connection here
                self.source.close()
        return stats

    def _loop(self, grabber: FrameGrabber, stats: LiveStats, stop: threading.Event, annotator: _Annotator | None,
              started: float, lossless: bool) -> None:
        live = self.source.spec.is_live
        while True:
            if stop.is_set():
                stats.reason = "interrupted"
                return
            now = time.monotonic()
            if self.duration is not None and not lossless and now - started >= self.duration:
                stats.reason = "duration"
                return
            frame = grabber.take(timeout=0.05)
            if frame is None:
                if grabber.finished:
                    error = grabber.state.error
                    if error is not None:
                        stats.reason = "stalled" if isinstance(error, SourceStalled) else "error"
                        stats.error = str(error)
                    else:
                        stats.reason = "end"
                    return
                last = grabber.state.last_read_at or started
                if live and now - last > self.stall_timeout + 1.0:  # a read that never returns (a camera)
                    stats.reason = "stalled"
                    stats.error = f"{self.source.name}: no frame for {self.stall_timeout:g} s (the source stalled)"
                    return
                continue
            if self.duration is not None and lossless and frame.time >= self.duration:
                stats.reason = "duration"
                return
            result = self.analyzer.step(frame.image, frame=frame.index, time=frame.time)
            stats.add(result)
            if self.sink is not None:
                self._write(json.dumps(result.to_dict()) + "\n")
            if annotator is not None:
                annotator.write(frame.image, result)
            stats.seconds = time.monotonic() - started
            stats.read, stats.dropped = grabber.state.read, grabber.state.dropped
            if self.progress is not None:
                self.progress(stats)

    def _write(self, line: str) -> None:
        assert self.sink is not None
        try:
            self.sink.write(line)
            self.sink.flush()
        except OSError as exc:
            raise AffectLabError(f"cannot write the JSON lines ({exc.strerror or exc})") from None
