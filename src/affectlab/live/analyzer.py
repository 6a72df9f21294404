"""Frame-by-frame analysis of a live source: tracked faces and their expressions, one frame at a time.

:class:`LiveAnalyzer` keeps a :class:`~affectlab.video.tracker.FaceTracker` across the frames it is
given (faces keep their track ids; between whole-frame scans they are followed) and classifies each
face with the :class:`~affectlab.analysis.ExpressionAnalyzer`'s model at once: no batching over
frames, so every answer is ready when its frame is. ``smooth`` averages each track's probabilities
over the last seconds. :meth:`LiveFrame.to_dict` is the JSON record ``affectlab live`` writes per
analysed frame and the WebSocket ``/v1/stream`` answers with.

>>> import cv2, numpy as np
>>> from affectlab.data import sample_photo
>>> live = LiveAnalyzer(smooth=0.5)
>>> canvas = np.full((480, 640, 3), 60, np.uint8)
>>> canvas[60:420, 140:500] = cv2.resize(sample_photo(), (360, 360))
>>> record = live.step(canvas, frame=0, time=0.0).to_dict()
>>> [(f["track"], f["label"]) for f in record["faces"]]
[(1, 'happy')]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.analysis import ExpressionAnalyzer, landmarks_list
from affectlab.checks import is_number
from affectlab.data.media import to_gray, to_rgb
from affectlab.errors import ConfigError
from affectlab.face import FaceBox, align_face, as_uint8_image
from affectlab.models import DEFAULT_MODEL
from affectlab.video.tracker import FaceTracker

__all__ = ["LiveAnalyzer", "LiveFace", "LiveFrame", "Smoother", "TrackLinker"]


@dataclass
class LiveFace:
    """One face of one frame: its ``track`` id, box, and probabilities (smoothed when asked; ``raw``: this
    frame's own, kept only when smoothing)."""

    track: int
    box: FaceBox
    probabilities: np.ndarray
    raw: np.ndarray | None = None
    landmarks: np.ndarray | None = field(default=None, repr=False)
    pose: dict[str, float] | None = None

    def to_dict(self, class_names: list[str]) -> dict[str, Any]:
        """``{"track", "box", "label", "probabilities"[, "raw_probabilities"][, "landmarks", "pose"]}``."""
        out: dict[str, Any] = {
            "track": self.track,
            "box": self.box.as_list(),
            "label": class_names[int(np.argmax(self.probabilities))],
            "probabilities": {c: round(float(p), 4) for c, p in zip(class_names, self.probabilities)},
        }
        if self.raw is not None:
            out["raw_probabilities"] = {c: round(float(p), 4) for c, p in zip(class_names, self.raw)}
        if self.landmarks is not None:
            out["landmarks"] = landmarks_list(self.landmarks)
        if self.pose is not None:
            out["pose"] = {k: round(float(v), 2) for k, v in self.pose.items()}
        return out


@dataclass
class LiveFrame:
    """The analysis of one frame: its ``frame`` index and ``time`` (seconds) in the source, its faces."""

    frame: int
    time: float
    faces: list[LiveFace]
    class_names: list[str] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of the frame: ``{"frame", "time", "faces": [...]}`` (faces largest first)."""
        return {"frame": self.frame, "time": round(self.time, 3),
                "faces": [f.to_dict(self.class_names) for f in self.faces]}

    @property
    def labels(self) -> list[str]:
        return [self.class_names[int(np.argmax(f.probabilities))] for f in self.faces]


class Smoother:
    """Average each track's probabilities over its frames of the last ``window`` seconds.

    >>> s = Smoother(1.0)
    >>> s.add(1, 0.0, np.array([1.0, 0.0])).tolist(), s.add(1, 0.5, np.array([0.0, 1.0])).tolist()
    ([1.0, 0.0], [0.5, 0.5])
    >>> s.add(1, 2.0, np.array([0.0, 1.0])).tolist()  # the first two fell out of the window
    [0.0, 1.0]
    """

    def __init__(self, window: float) -> None:
        if not is_number(window) or not np.isfinite(window) or window <= 0:
            raise ConfigError(f"smooth must be a positive number of seconds, got {window!r}")
        self.window = float(window)
        self._history: dict[int, deque[tuple[float, np.ndarray]]] = {}

    def add(self, track: int, time: float, probabilities: np.ndarray) -> np.ndarray:
        """Record ``track``'s probabilities at ``time``; return its average over the window ending there."""
        history = self._history.setdefault(track, deque())
        history.append((time, np.asarray(probabilities, dtype=np.float64)))
        while history and history[0][0] <= time - self.window:
            history.popleft()
        mean = np.mean([p for _, p in history], axis=0)
        return mean / mean.sum() if mean.sum() > 0 else mean

    def forget(self, keep: set[int], time: float) -> None:
        """Drop the tracks not in ``keep`` whose last frame left the window."""
        for track in [t for t in self._history if t not in keep]:
            history = self._history[track]
            if not history or history[-1][0] <= time - self.window:
                del self._history[track]


class TrackLinker:
    """Keep a face's id when the tracker loses it across dropped frames and finds it again as a new track.

    The tracker associates boxes of consecutive frames by overlap; when frames are dropped, a moving face
    can jump farther than that allows, and comes back under a new tracker id. A new tracker id whose box
    lies within ``reach`` box widths of a face of the previous analysed frame that is gone now (and at
    most ``max_gap`` seconds earlier) takes over that face's id; other new ids get the next free one.

    >>> linker = TrackLinker()
    >>> linker.link({7: FaceBox(100, 100, 80, 80)}, 0.0)
    {7: 1}
    >>> linker.link({9: FaceBox(130, 120, 80, 80)}, 0.4)  # tracker id 9 is face 1, moved 36 px
    {9: 1}
    >>> linker.link({9: FaceBox(130, 120, 80, 80), 10: FaceBox(400, 100, 80, 80)}, 0.44)
    {9: 1, 10: 2}
    """

    def __init__(self, reach: float = 1.5, max_gap: float = 1.0) -> None:
        self.reach, self.max_gap = float(reach), float(max_gap)
        self._ids: dict[int, int] = {}
        self._last: dict[int, tuple[FaceBox, float]] = {}  # face id -> its box and time in the last frame seen
        self._next = 1

    def link(self, boxes: dict[int, FaceBox], time: float) -> dict[int, int]:
        """Face ids for this frame's ``{tracker id: box}``."""
        out = {t: self._ids[t] for t in boxes if t in self._ids}
        gone = {fid: seen for fid, seen in self._last.items()
                if fid not in out.values() and time - seen[1] <= self.max_gap}
        for tracker_id, box in sorted(boxes.items(), key=lambda kv: -kv[1].area):
            if tracker_id in out:
                continue
            best, best_distance = None, None
            for fid, (old, _) in gone.items():
                (cx, cy), (ox, oy) = box.center, old.center
                distance = float(np.hypot(cx - ox, cy - oy))
                if distance <= self.reach * max(box.w, old.w) and (best_distance is None or distance < best_distance):
                    best, best_distance = fid, distance
            if best is None:
                best, self._next = self._next, self._next + 1
            else:
                del gone[best]
            self._ids[tracker_id] = out[tracker_id] = best
        for tracker_id, fid in out.items():
            self._last[fid] = (boxes[tracker_id], time)
        for fid in [f for f, (_, seen) in self._last.items() if time - seen > self.max_gap]:
            del self._last[fid]
        return out


class LiveAnalyzer:
    """Track and classify the faces of consecutive frames, one frame per call.

    Parameters
    ----------
    analyzer
        An :class:`~affectlab.analysis.ExpressionAnalyzer` (its model and face front-end are used), or
        a model name to build one with ``weights``, ``detector`` and ``device``.
    scan_every
        Scan the whole frame for faces every N analysed frames; in between, tracked faces are followed
        (refitted landmarks with the ``"dlib"`` front-end, a window re-detection with ``"haar"``).
    max_faces
        Keep at most this many faces per frame (largest first).
    smooth
        Average each track's probabilities over this many seconds of frames (``None``: this frame's).
        The label follows the smoothed probabilities.

    One instance per source: the tracker's state is the faces seen in earlier frames.
    """

    def __init__(
        self,
        analyzer: ExpressionAnalyzer | str = DEFAULT_MODEL,
        *,
        weights: str | Path | None = None,
        detector: Any = "auto",
        device: str = "auto",
        scan_every: int = 10,
        max_faces: int | None = None,
        smooth: float | None = None,
    ) -> None:
        if isinstance(analyzer, str):
            analyzer = ExpressionAnalyzer(analyzer, weights=weights, detector=detector, device=device,
                                          max_faces=max_faces)
        self.analyzer = analyzer
        self.tracker = FaceTracker(analyzer.preprocess.detector, scan_every=scan_every, max_faces=max_faces)
        self.smoother = None if smooth is None or smooth == 0 else Smoother(smooth)
        self.linker = TrackLinker()
        self._had_faces = False
        self._gray_model = analyzer.model.config.channels == 1

    def warm_up(self, size: tuple[int, int] = (640, 480)) -> None:
        """Run the detector and the model once on a blank frame of ``size`` (width, height), so that the first
        real frame is not slowed by their one-time set-up; the tracker is not touched."""
        import scipy.optimize  # noqa: F401 - the tracker's association imports it on its first face

        blank = np.full((size[1], size[0]), 128, np.uint8)
        self.analyzer.preprocess.detector.detect(blank)
        pre = self.analyzer.preprocess
        channels = () if self._gray_model or pre.color == "gray" else (3,)
        self.analyzer.classify_crops(np.zeros((1, pre.size, pre.size, *channels), np.uint8))

    @property
    def class_names(self) -> list[str]:
        return list(self.analyzer.class_names)

    def step(self, image: np.ndarray, *, frame: int, time: float) -> LiveFrame:
        """Faces of the next frame (RGB or gray uint8 ``image``), tracked and classified."""
        image = as_uint8_image(image, name=f"frame {frame}")
        if image.ndim == 3 and image.shape[2] != 3:
            image = to_rgb(image)
        pre = self.analyzer.preprocess
        gray = to_gray(image)
        tracked = self.tracker.step(gray)
        if not tracked and self._had_faces:
            # every face of the last analysed frame was lost here. The tracker scans the whole frame for an
            # established face it loses, but not for one seen in fewer frames, which is what dropped frames
            # (a jump) make of a face that just appeared: with no live track left, this step scans.
            tracked = self.tracker.step(gray)
        self._had_faces = bool(tracked)
        source = gray if (self._gray_model or pre.color == "gray") else to_rgb(image)
        crops, poses = [], []
        for face in tracked:
            if face.landmarks is not None:
                crop = pre.from_landmarks(source, face.box, face.landmarks)
            else:
                crop = align_face(source, face.box, face.eyes, size=pre.size, margin=pre.margin,
                                  color="gray" if self._gray_model else pre.color)
            crops.append(crop.image)
            poses.append(crop.pose)
        probs = self.analyzer.classify_crops(np.stack(crops)) if crops else np.zeros((0, len(self.class_names)))
        ids = self.linker.link({face.track_id: face.box for face in tracked}, time)
        faces = []
        for face, p, pose in zip(tracked, probs, poses):
            p = p.astype(np.float64)
            shown, raw, track = p, None, ids[face.track_id]
            if self.smoother is not None:
                shown, raw = self.smoother.add(track, time, p), p
            faces.append(LiveFace(track, face.box, shown, raw, face.landmarks, pose))
        if self.smoother is not None:
            self.smoother.forget({f.track for f in faces}, time)
        return LiveFrame(frame, time, faces, self.class_names)
