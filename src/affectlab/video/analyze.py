"""The video analyser: frames -> tracked, aligned faces -> expression probabilities per frame.

Pipeline per kept frame: decode (in a background thread, overlapping the rest) -> face
detection and tracking (:class:`~affectlab.video.tracker.FaceTracker`) -> alignment with the
track's base-face eyes and crop -> the expression model, batched over the faces of several
frames. The result holds one :class:`TrackResult` per person with its per-frame probabilities,
each track's pooled label and a video-level label (pooling over every face-frame).

Examples
--------
>>> import tempfile, cv2, numpy as np
>>> from pathlib import Path
>>> from affectlab.data import sample_photo
>>> path = Path(tempfile.mkdtemp()) / "face.avi"
>>> face = cv2.cvtColor(cv2.resize(sample_photo(), (200, 200)), cv2.COLOR_RGB2BGR)
>>> writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 240))
>>> for i in range(5):
...     canvas = np.zeros((240, 320, 3), np.uint8); canvas[20:220, 40 + 4 * i:240 + 4 * i] = face
...     writer.write(canvas)
>>> writer.release()
>>> result = VideoAnalyzer().analyze(path)
>>> result.status, [t.id for t in result.tracks], len(result.tracks[0].frames)
('ok', [1], 5)
"""

from __future__ import annotations

import contextlib
import csv
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from affectlab.analysis import ExpressionAnalyzer, landmarks_list
from affectlab.checks import is_integer
from affectlab.data.media import to_gray
from affectlab.errors import ConfigError, MediaReadError
from affectlab.face import FaceBox, align_face
from affectlab.models import DEFAULT_MODEL
from affectlab.video.reader import Frame, VideoInfo, VideoReader, prefetch
from affectlab.video.tracker import FaceTracker, TrackedFace

__all__ = [
    "ANNOTATE_CODECS",
    "POOLINGS",
    "WHOLE_FRAME_TRACK",
    "FaceFrame",
    "TrackResult",
    "VideoAnalyzer",
    "VideoResult",
    "annotate_codec",
    "compute_threads",
]

#: Ways of pooling per-frame probabilities into one label.
POOLINGS = ("mean", "max")

STAGES = ("decode", "detect", "align", "classify", "annotate")
#: Head-pose columns of the per-frame CSV (degrees; empty without landmarks).
POSE_COLUMNS = ("yaw", "pitch", "roll")

#: Track id of the whole-frame face used for frames without a detected face (``whole_frame``).
WHOLE_FRAME_TRACK = 0


@contextlib.contextmanager
def compute_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch and OpenCV threads, restoring the previous settings afterwards.

    On a busy 2-core machine one thread per library is several times faster than two: the
    work units (a 48x48 crop, a Haar scan) are too small to split, and idle threads spin.
    ``None`` leaves the libraries' settings alone.
    """
    if n is None:
        yield
        return
    import torch

    old_torch, old_cv = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(int(n))
    cv2.setNumThreads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old_torch)
        cv2.setNumThreads(old_cv)


def pool_probabilities(probabilities: np.ndarray, method: str = "mean") -> np.ndarray:
    """Pool ``(n_frames, n_classes)`` probabilities into one distribution (sums to 1).

    ``"mean"`` averages the frames; ``"max"`` takes each class's largest value, renormalised.

    >>> pool_probabilities(np.array([[0.8, 0.2], [0.4, 0.6]])).tolist()
    [0.6000000000000001, 0.4]
    """
    from affectlab.features.temporal import pool_frames

    if method not in POOLINGS:
        raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {method!r}")
    pooled = pool_frames(np.asarray(probabilities, dtype=np.float64), method=method)
    total = pooled.sum()
    return pooled / total if total > 0 else pooled


@dataclass
class FaceFrame:
    """One face of one track in one frame (``landmarks`` and ``pose`` with a landmark front-end)."""

    frame: int
    time: float
    box: FaceBox
    probabilities: np.ndarray
    aligned: bool = False
    landmarks: np.ndarray | None = field(default=None, repr=False)
    pose: dict[str, float] | None = None

    def extras(self) -> dict[str, Any]:
        """``landmarks`` and ``pose`` as the JSON outputs write them (empty without landmarks)."""
        out: dict[str, Any] = {}
        if self.landmarks is not None:
            out["landmarks"] = landmarks_list(self.landmarks)
        if self.pose is not None:
            out["pose"] = {k: round(float(v), 2) for k, v in self.pose.items()}
        return out


@dataclass
class TrackResult:
    """Everything about one tracked person.

    Attributes
    ----------
    id
        Track id (1, 2, ... in order of appearance; never reused in a video; 0 is the whole
        frame of frames without a detected face, only with ``whole_frame``).
    class_names
        Column order of the probabilities.
    frames
        The track's faces, in frame order.
    crops
        ``(n_frames, size, size)`` aligned gray crops when ``crop_size`` was asked for, else None.
    """

    id: int
    class_names: list[str]
    frames: list[FaceFrame] = field(default_factory=list)
    crops: np.ndarray | None = field(default=None, repr=False)
    pooling: str = "mean"

    @property
    def probabilities(self) -> np.ndarray:
        """``(n_frames, n_classes)`` per-frame probabilities."""
        return np.stack([f.probabilities for f in self.frames]) if self.frames else np.zeros((0, len(self.class_names)))

    @property
    def times(self) -> np.ndarray:
        """Time in seconds of each of the track's frames."""
        return np.array([f.time for f in self.frames], dtype=np.float64)

    @property
    def pooled(self) -> np.ndarray:
        """The track's probabilities pooled over its frames."""
        return pool_probabilities(self.probabilities, self.pooling)

    @property
    def label(self) -> str:
        """The track's label from the pooled probabilities."""
        return self.class_names[int(np.argmax(self.pooled))]

    def to_dict(self, *, frames: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "n_frames": len(self.frames),
            "first_time": round(self.frames[0].time, 3) if self.frames else None,
            "last_time": round(self.frames[-1].time, 3) if self.frames else None,
            "label": self.label,
            "probabilities": {c: round(float(p), 4) for c, p in zip(self.class_names, self.pooled)},
        }
        if frames:
            out["frames"] = [
                {"frame": f.frame, "time": round(f.time, 3), "box": f.box.as_list(),
                 "label": self.class_names[int(np.argmax(f.probabilities))],
                 "probabilities": {c: round(float(p), 4) for c, p in zip(self.class_names, f.probabilities)},
                 **f.extras()}
                for f in self.frames
            ]
        return out


@dataclass
class VideoResult:
    """The analysis of one video.

    ``status`` is ``"ok"`` or ``"no_face"``; ``timing`` gives seconds per stage and the frame
    rate of the whole run; ``problems`` lists non-fatal issues (skipped frame files, a
    truncated stream).
    """

    source: str
    info: VideoInfo
    class_names: list[str]
    tracks: list[TrackResult]
    frame_indices: list[int]
    frame_times: list[float]
    model: str
    pooling: str = "mean"
    sampling: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "ok" if any(t.frames for t in self.tracks) else "no_face"

    @property
    def probabilities(self) -> np.ndarray | None:
        """Video-level probabilities: every face-frame of every track pooled together."""
        stacks = [t.probabilities for t in self.tracks if t.frames]
        if not stacks:
            return None
        return pool_probabilities(np.concatenate(stacks), self.pooling)

    @property
    def label(self) -> str | None:
        """Video-level label (``None`` when no face was found)."""
        p = self.probabilities
        return None if p is None else self.class_names[int(np.argmax(p))]

    def to_dict(self, *, frames: bool = True) -> dict[str, Any]:
        """The JSON object printed by ``affectlab analyze VIDEO``."""
        p = self.probabilities
        return {
            "source": self.source,
            "status": self.status,
            "media": "video",
            "video": self.info.to_dict(),
            "sampling": {**self.sampling, "frames_analyzed": len(self.frame_indices)},
            "model": self.model,
            "pooling": self.pooling,
            "label": self.label,
            "probabilities": None if p is None else {c: round(float(v), 4) for c, v in zip(self.class_names, p)},
            "tracks": [t.to_dict(frames=frames) for t in self.tracks],
            "timing": self.timing,
            **({"problems": list(self.problems)} if self.problems else {}),
        }

    def rows(self) -> Iterator[dict[str, Any]]:
        """One flat record per (frame, face), frames in order: what :meth:`write_csv` writes.

        ``yaw``, ``pitch``, ``roll`` (degrees) and ``landmarks`` (a JSON string of ``[[x, y], ...]``)
        are empty for faces without landmarks.
        """
        faces = sorted(((f.frame, t.id, t, f) for t in self.tracks for f in t.frames), key=lambda r: (r[0], r[1]))
        for _, tid, _, f in faces:
            x, y, w, h = f.box.as_list()
            row: dict[str, Any] = {"frame": f.frame, "time": round(f.time, 4), "track": tid, "x": x, "y": y, "w": w,
                                   "h": h, "label": self.class_names[int(np.argmax(f.probabilities))]}
            row.update({c: round(float(v), 5) for c, v in zip(self.class_names, f.probabilities)})
            extras = f.extras()
            row.update({k: extras["pose"][k] if "pose" in extras else None for k in POSE_COLUMNS})
            row["landmarks"] = json.dumps(extras["landmarks"]) if "landmarks" in extras else None
            yield row

    def write_csv(self, path: str | Path) -> Path:
        """Per-frame CSV: ``frame,time,track,x,y,w,h,label,<one column per class>,yaw,pitch,roll,landmarks``."""
        path = Path(path)
        _make_parent(path, "CSV")
        columns = ["frame", "time", "track", "x", "y", "w", "h", "label", *self.class_names, *POSE_COLUMNS,
                   "landmarks"]
        try:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(self.rows())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write the CSV ({exc.strerror or exc})") from None
        return path

    def save_timeline(self, path: str | Path, *, title: str | None = None) -> Path:
        """Write the per-track probability timeline PNG (:func:`affectlab.viz.timeline.save_timeline`)."""
        from affectlab.viz.timeline import save_timeline

        series = [(t.id, t.times, t.probabilities) for t in self.tracks if t.frames]
        return save_timeline(series, self.class_names, path, duration=self.info.duration,
                             title=title or Path(self.source).name)


#: FourCC OpenCV writes for each container of an annotated video.
ANNOTATE_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def annotate_codec(path: str | Path) -> str:
    """FourCC for an annotated video written to ``path`` (:class:`ConfigError` for other containers).

    >>> annotate_codec("out.avi")
    'MJPG'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in ANNOTATE_CODECS:
        raise ConfigError(f"--annotate {path}: use a .mp4, .avi, .mov or .mkv file name")
    return ANNOTATE_CODECS[suffix]


def _make_parent(path: Path, what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot create the folder {path.parent} ({exc.strerror or exc})") from None


def _video_writer(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    codec = annotate_codec(path)
    _make_parent(path, "--annotate")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), float(fps), size)
    if not writer.isOpened():
        raise ConfigError(f"--annotate {path}: OpenCV cannot write this video (codec {codec})")
    return writer


class VideoAnalyzer:
    """Track faces through a video and classify their expression in every kept frame.

    Parameters
    ----------
    analyzer
        An :class:`~affectlab.analysis.ExpressionAnalyzer` (its model, detector, crop size and
        colour are used), or a model name to build one with ``weights`` and ``device``.
    scan_every
        Whole-frame face detection every N kept frames; in between, every tracked face is
        re-detected in a window around its last box (a loss triggers a whole-frame scan).
        ``1`` scans every frame.
    iou_threshold, max_missed, roi_margin
        Tracking (:class:`~affectlab.video.tracker.FaceTracker`).
    max_faces
        Keep at most this many faces per frame (largest first).
    whole_frame
        In a frame where no face is found, classify the whole frame as one face (track id
        :data:`WHOLE_FRAME_TRACK`, 0; for videos of pre-cropped faces). Also on when
        ``analyzer`` is an :class:`~affectlab.analysis.ExpressionAnalyzer` made with
        ``whole_frame=True``.
    min_track_frames
        Tracks seen in fewer kept frames are dropped as spurious detections (capped at the
        number of kept frames, so a one-frame input keeps its faces).
    pooling
        ``"mean"`` or ``"max"``: how each track's and the video's probabilities are pooled.
    batch_size
        Faces classified per model call (collected over consecutive frames).
    threads
        torch / OpenCV threads during the analysis (:func:`compute_threads`); decoding runs in
        one more background thread. ``None`` keeps the libraries' settings.
    prefetch_frames
        Frames decoded ahead in the background (0: decode in the main thread).
    """

    def __init__(
        self,
        analyzer: ExpressionAnalyzer | str = DEFAULT_MODEL,
        *,
        weights: str | Path | None = None,
        device: str = "auto",
        scan_every: int = 10,
        iou_threshold: float = 0.3,
        max_missed: int = 10,
        roi_margin: float = 0.5,
        max_faces: int | None = None,
        whole_frame: bool = False,
        min_track_frames: int = 3,
        pooling: str = "mean",
        batch_size: int = 64,
        threads: int | None = 1,
        prefetch_frames: int = 8,
    ) -> None:
        if isinstance(analyzer, str):
            analyzer = ExpressionAnalyzer(analyzer, weights=weights, device=device, max_faces=max_faces,
                                          whole_frame=whole_frame)
        self.analyzer = analyzer
        self.whole_frame = bool(whole_frame) or bool(analyzer.preprocess.whole_frame_fallback)
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if not is_integer(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.tracking = {"scan_every": scan_every, "iou_threshold": iou_threshold, "max_missed": max_missed,
                         "roi_margin": roi_margin, "max_faces": max_faces}
        FaceTracker(self.analyzer.preprocess.detector, **self.tracking)  # validates the settings now
        if not is_integer(min_track_frames) or min_track_frames < 1:
            raise ConfigError(f"min_track_frames must be a positive integer, got {min_track_frames!r}")
        self.min_track_frames = int(min_track_frames)
        self.pooling = pooling
        self.batch_size = int(batch_size)
        self.threads = threads
        self.prefetch_frames = int(prefetch_frames)

    @property
    def class_names(self) -> list[str]:
        return list(self.analyzer.class_names)

    def analyze(
        self,
        source: str | Path,
        *,
        every: int = 1,
        fps: float | None = None,
        max_frames: int | None = None,
        annotate: str | Path | None = None,
        crop_size: int | None = None,
        progress: bool = False,
    ) -> VideoResult:
        """Analyse a video file or a folder of frames.

        Parameters
        ----------
        source
            Video file or frame folder (:class:`~affectlab.video.reader.VideoReader`).
        every, fps, max_frames
            Frame sampling (every N-th frame, or a target frame rate) and a cap on kept frames.
        annotate
            Also write the kept frames with boxes, track ids and labels to this video file.
        crop_size
            Also keep each track's aligned gray crops of this size (e.g. 128, for temporal
            descriptors) in :attr:`TrackResult.crops`.
        progress
            A progress bar on stderr.

        Raises
        ------
        MediaReadError
            Missing, empty or corrupt video (named).
        """
        if crop_size is not None and (not is_integer(crop_size) or crop_size < 1):
            raise ConfigError(f"crop_size must be a positive integer or None, got {crop_size!r}")
        if annotate is not None and Path(annotate).resolve() == Path(source).resolve():
            raise ConfigError(f"--annotate {annotate}: that is the input video; refusing to overwrite it")
        reader = VideoReader(source, every=every, fps=fps, max_frames=max_frames)
        with compute_threads(self.threads):
            return self._run(reader, annotate=None if annotate is None else Path(annotate), crop_size=crop_size,
                             progress=progress)

    def _run(self, reader: VideoReader, *, annotate: Path | None, crop_size: int | None,
             progress: bool) -> VideoResult:
        from tqdm.auto import tqdm

        run = _VideoRun(self, reader, annotate=annotate, crop_size=crop_size)
        wall_started = time.perf_counter()
        bar = tqdm(total=reader.expected_frames, unit="frame", desc=Path(reader.source).name, disable=not progress,
                   leave=False)
        try:
            for frame in prefetch(run.decoded(), self.prefetch_frames):
                run.add(frame)
                bar.update(1)
            run.flush()
        finally:
            bar.close()
            run.close()
        return run.result(time.perf_counter() - wall_started)


class _VideoRun:
    """One pass of :class:`VideoAnalyzer` over a video: per frame, track the faces and crop them; every
    ``batch_size`` faces or frames, classify the crops and write the annotated frames; at the end, the
    tracks and timings as a :class:`VideoResult`. ``stage`` holds the seconds spent per stage."""

    def __init__(self, owner: VideoAnalyzer, reader: VideoReader, *, annotate: Path | None,
                 crop_size: int | None) -> None:
        self.owner, self.reader, self.crop_size = owner, reader, crop_size
        self.pre = owner.analyzer.preprocess
        self.tracker = FaceTracker(self.pre.detector, **owner.tracking)
        self.names = owner.class_names
        self.gray_model = owner.analyzer.model.config.channels == 1
        self.stage = dict.fromkeys(STAGES, 0.0)
        self.tracks: dict[int, TrackResult] = {}
        self.crops_by_track: dict[int, list[np.ndarray]] = {}
        self.indices: list[int] = []
        self.times: list[float] = []
        # frames waiting for their faces to be classified (the image only when annotating)
        self.pending: list[tuple[int, float, np.ndarray | None, list[TrackedFace], list[tuple[bool, Any]]]] = []
        self.pending_crops: list[np.ndarray] = []
        self.writer = None
        if annotate is not None:
            step = reader.every if reader.fps is None else 1
            out_fps = (reader.info.fps / step) if reader.fps is None else min(reader.fps, reader.info.fps)
            self.writer = _video_writer(annotate, out_fps, (reader.info.width, reader.info.height))
        self._decode_seconds = 0.0

    def decoded(self) -> Iterator[Frame]:
        """The reader's frames, timing the decoding (it runs in the prefetching thread)."""
        frames = iter(self.reader)
        while True:
            started = time.perf_counter()
            try:
                frame = next(frames)
            except StopIteration:
                return
            finally:
                self._decode_seconds += time.perf_counter() - started
            yield frame

    def add(self, frame: Frame) -> None:
        """Track the faces of one frame and queue their crops; classify once a batch is full."""
        self.indices.append(frame.index)
        self.times.append(frame.time)
        started = time.perf_counter()
        gray = to_gray(frame.image)
        faces = self.tracker.step(gray)
        if not faces and self.owner.whole_frame:
            faces = [TrackedFace(WHOLE_FRAME_TRACK, FaceBox(0, 0, gray.shape[1], gray.shape[0]))]
        self.stage["detect"] += time.perf_counter() - started
        started = time.perf_counter()
        source_image = gray if (self.gray_model or self.pre.color == "gray") else frame.image
        aligned = []
        for face in faces:
            crop = self._crop(source_image, face)
            self.pending_crops.append(crop.image)
            aligned.append((crop.aligned, crop.pose))
            if self.crop_size is not None:
                self.crops_by_track.setdefault(face.track_id, []).append(self._large_crop(gray, face))
        self.pending.append((frame.index, frame.time, frame.image if self.writer is not None else None, faces,
                             aligned))
        self.stage["align"] += time.perf_counter() - started
        if len(self.pending_crops) >= self.owner.batch_size or len(self.pending) >= self.owner.batch_size:
            self.flush()

    def _crop(self, source_image: np.ndarray, face: TrackedFace) -> Any:
        """The model's crop of one tracked face."""
        pre = self.pre
        if face.track_id == WHOLE_FRAME_TRACK:  # the whole frame, resized (FacePreprocessor's fallback)
            return pre._whole_frame(source_image)
        if face.landmarks is not None:  # framed by the eyes, with the head pose
            return pre.from_landmarks(source_image, face.box, face.landmarks)
        return align_face(source_image, face.box, face.eyes, size=pre.size, margin=pre.margin,
                          color="gray" if self.gray_model else pre.color)

    def _large_crop(self, gray: np.ndarray, face: TrackedFace) -> np.ndarray:
        """The gray ``crop_size`` crop of one tracked face kept with its track (``crop_size``)."""
        size = int(self.crop_size)  # type: ignore[arg-type]
        if face.track_id == WHOLE_FRAME_TRACK:
            return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
        if face.landmarks is not None:
            return self.pre.from_landmarks(gray, face.box, face.landmarks, size=size, color="gray").image
        return align_face(gray, face.box, face.eyes, size=size, margin=self.pre.margin, color="gray").image

    def flush(self) -> None:
        """Classify the queued crops, add them to their tracks, write the queued annotated frames."""
        if not self.pending:
            return
        names = self.names
        started = time.perf_counter()
        probs = (self.owner.analyzer.classify_crops(np.stack(self.pending_crops)) if self.pending_crops
                 else np.zeros((0, len(names))))
        self.stage["classify"] += time.perf_counter() - started
        k = 0
        for index, when, image, faces, aligned in self.pending:
            labels, scores = [], []
            for face, (was_aligned, pose) in zip(faces, aligned):
                p = probs[k].astype(np.float64)
                k += 1
                track = self.tracks.setdefault(face.track_id,
                                               TrackResult(face.track_id, names, pooling=self.owner.pooling))
                track.frames.append(FaceFrame(index, when, face.box, p, was_aligned, face.landmarks, pose))
                labels.append(names[int(np.argmax(p))])
                scores.append(float(np.max(p)))
            if self.writer is not None and image is not None:
                started = time.perf_counter()
                self.writer.write(cv2.cvtColor(_annotate(image, faces, labels, scores), cv2.COLOR_RGB2BGR))
                self.stage["annotate"] += time.perf_counter() - started
        self.pending.clear()
        self.pending_crops.clear()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()

    def result(self, wall: float) -> VideoResult:
        """The tracks seen in enough frames, with the sampling and the timings per stage."""
        owner, reader, tracks = self.owner, self.reader, self.tracks
        self.stage["decode"] = self._decode_seconds
        n = len(self.indices)
        if n == 0:
            raise MediaReadError(f"{reader.source}: no frame could be decoded (empty or corrupt video)")
        for tid, crops in self.crops_by_track.items():
            tracks[tid].crops = np.stack(crops)
        shortest = min(owner.min_track_frames, n)
        kept = [tracks[k] for k in sorted(tracks) if len(tracks[k].frames) >= shortest]
        timing = {
            "seconds": round(wall, 3),
            "frames_per_second": round(n / wall, 2) if wall > 0 else None,
            "ms_per_frame": {k: round(1000.0 * v / n, 3) for k, v in self.stage.items()},
            "full_scans": self.tracker.n_scans,
            "window_redetections": self.tracker.n_roi,
            "tracks_dropped": len(tracks) - len(kept),
            "threads": owner.threads,
            "note": "decode runs in a background thread, overlapping the other stages",
        }
        sampling = {"every": reader.every, "fps": reader.fps, "max_frames": reader.max_frames,
                    "scan_every": owner.tracking["scan_every"]}
        return VideoResult(
            source=str(reader.source), info=reader.info, class_names=self.names,
            tracks=kept, frame_indices=self.indices, frame_times=self.times,
            model=owner.analyzer.model.config.name, pooling=owner.pooling, sampling=sampling, timing=timing,
            problems=list(reader.problems),
        )


def _annotate(image: np.ndarray, faces: list[TrackedFace], labels: list[str], scores: list[float]) -> np.ndarray:
    from affectlab.viz.overlay import draw_faces

    canvas = draw_faces(image, [f.box.as_list() for f in faces], labels, scores, [f.landmarks for f in faces])
    for face in faces:
        x, y, _, h = face.box.as_list()
        cv2.putText(canvas, f"#{face.track_id}", (x + 2, y + h - 6), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.4, h / 150), (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
