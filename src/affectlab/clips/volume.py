"""A video clip -> an aligned face volume ``(T, size, size)``: track the main face, align, resample.

:class:`VolumeBuilder` reads a clip twice. The first pass tracks every face with the video
tracker (:class:`~affectlab.video.tracker.FaceTracker`: a full scan every ``scan_every`` frames,
landmarks followed in between) and keeps the eye centres of each track per frame. The **main
face** is the track present in the most frames (ties: the larger mean box). Its eye positions are
completed over the frames where it was lost (linear interpolation in time, held before its first
and after its last frame) and smoothed over ``smooth`` frames (a straight line fitted in each
window, Savitzky-Golay of order 1, so steady motion passes unchanged while the landmarks'
frame-to-frame noise does not shake the volume). The second pass aligns only the
frames the volume keeps: a similarity transform puts the eyes where ``framing`` says
(:func:`~affectlab.face.align_to_eyes`, FER2013's framing by default), so the face has the same
position, size and roll in every frame.

Time is resampled to ``frames`` frames by taking the nearest frame to ``frames`` evenly spaced
positions from the first to the last frame. The rules for the clips that do not fit:

- **lost frames** (``missing``): ``"fill"`` aligns the frame with the interpolated eyes
  (``fill="interpolate"``: the face is usually still there, only undetected) or copies the nearest
  frame where the face was found (``fill="nearest"``); a clip whose face is lost in more than
  ``max_missing`` of its frames is refused either way. ``"refuse"`` refuses a clip with any lost
  frame.
- **short clips** (``short``): a clip with fewer frames than ``frames`` is refused (``"refuse"``,
  the default: a volume must not hold the same frame twice without the user knowing) or its frames
  are repeated to the requested length (``"repeat"``: nearest-frame resampling).
- **no face** in any frame, and an **unreadable** file (missing, empty, corrupt, not a video)
  are always refused.

Each refusal raises a :class:`~affectlab.clips.errors.ClipRefused` whose message is one line
naming the file.

Examples
--------
>>> import tempfile, cv2, numpy as np
>>> from pathlib import Path
>>> from affectlab.data import sample_photo
>>> path = Path(tempfile.mkdtemp()) / "face.avi"
>>> face = cv2.cvtColor(cv2.resize(sample_photo(), (200, 200)), cv2.COLOR_RGB2BGR)
>>> writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 240))
>>> for i in range(6):
...     canvas = np.full((240, 320, 3), 60, np.uint8); canvas[20:220, 40 + 3 * i:240 + 3 * i] = face
...     writer.write(canvas)
>>> writer.release()
>>> v = clip_volume(path, frames=3, size=48)
>>> v.volume.shape, v.frame_indices, v.n_face_frames
((3, 48, 48), [0, 3, 5], 6)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.checks import is_integer, is_number
from affectlab.clips.errors import ClipMissingFrames, ClipNoFace, ClipTooShort, ClipUnreadable
from affectlab.errors import AffectLabError, ConfigError, MediaReadError
from affectlab.face.align import DOWNSCALES, FER2013_EYE_FRAMING, EyeFraming

__all__ = [
    "VOLUME_VERSION",
    "FaceVolume",
    "VolumeBuilder",
    "VolumeSettings",
    "clip_volume",
    "nearest_positions",
]

#: Version of what :class:`VolumeBuilder` computes, in cache keys: bump it with every change of its output.
VOLUME_VERSION = 2  # 2: eye positions smoothed by a line fit (Savitzky-Golay), not a moving average

MISSING = ("fill", "refuse")
FILLS = ("interpolate", "nearest")
SHORT = ("refuse", "repeat")
#: Eye centres as fractions of a face box when the detector gives none (a Haar box without eyes).
BOX_EYES = ((0.3, 0.38), (0.7, 0.38))


def _framing(value: Any) -> EyeFraming:
    if isinstance(value, EyeFraming):
        return value
    if value in (None, "fer2013"):
        return FER2013_EYE_FRAMING
    if isinstance(value, Mapping):
        unknown = set(value) - {"eye_x", "eye_y", "eye_distance"}
        if unknown:
            raise ConfigError(f"framing: unknown key {sorted(unknown)[0]!r} (known: eye_x, eye_y, eye_distance)")
        base = asdict(FER2013_EYE_FRAMING)
        return EyeFraming(**{**base, **dict(value)})
    raise ConfigError(f"framing must be 'fer2013' or {{eye_x, eye_y, eye_distance}}, got {value!r}")


@dataclass(frozen=True)
class VolumeSettings:
    """How a clip becomes a face volume (see the module docstring for the rules).

    Parameters
    ----------
    frames
        Frames of the volume (``T``).
    size
        Side of every aligned frame in pixels.
    framing
        Where the eyes go in a frame (:class:`~affectlab.face.EyeFraming`, or a mapping of its
        fields); FER2013's by default.
    missing, fill, max_missing
        Frames where the main face is lost: ``"fill"`` them (``"interpolate"`` or ``"nearest"``)
        unless more than ``max_missing`` of the clip's frames are lost, or ``"refuse"`` the clip.
    short
        Clips with fewer than ``frames`` frames: ``"refuse"`` or ``"repeat"`` frames.
    smooth
        Smoothing window (frames, odd; an even one is used less one) over the eye positions; 1 or 2 = none.
    keep_tilt
        Eye-line tilts up to this many degrees are left alone (0: every face is levelled; 90: none is
        rotated, only scaled and shifted), as :data:`~affectlab.face.FER2013_FRAMING` does.
    detector
        Face front-end (``"auto"``: the landmark front-end when installed, else Haar).
    scan_every
        Full-frame face scans every N frames (the tracker follows faces in between).
    max_frames
        Read at most this many frames of a clip (``None``: all).
    downscale
        How a face larger than ``size`` is shrunk: ``"area"`` (box filter) or ``"lanczos"`` (sharper, closer to
        the face as a camera at that resolution would see it; :data:`affectlab.face.align.Downscale`).
    """

    frames: int = 16
    size: int = 64
    framing: EyeFraming = FER2013_EYE_FRAMING
    missing: str = "fill"
    fill: str = "interpolate"
    max_missing: float = 0.5
    short: str = "refuse"
    smooth: int = 5
    keep_tilt: float = 0.0
    detector: str = "auto"
    scan_every: int = 10
    max_frames: int | None = 3000
    downscale: str = "area"

    def __post_init__(self) -> None:
        object.__setattr__(self, "framing", _framing(self.framing))
        for name, lowest in (("frames", 1), ("size", 8), ("smooth", 1), ("scan_every", 1)):
            value = getattr(self, name)
            if not is_integer(value) or value < lowest:
                raise ConfigError(f"clip volume: {name} must be an integer >= {lowest}, got {value!r}")
        if self.max_frames is not None and (not is_integer(self.max_frames) or self.max_frames < 1):
            raise ConfigError(f"clip volume: max_frames must be a positive integer or None, got {self.max_frames!r}")
        for name, allowed in (("missing", MISSING), ("fill", FILLS), ("short", SHORT), ("downscale", DOWNSCALES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"clip volume: {name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        if not is_number(self.keep_tilt) or not 0.0 <= float(self.keep_tilt) <= 90.0:
            raise ConfigError(f"clip volume: keep_tilt must be a number of degrees in [0, 90], got {self.keep_tilt!r}")
        if not is_number(self.max_missing) or not 0.0 <= float(self.max_missing) < 1.0:
            raise ConfigError(f"clip volume: max_missing must be a fraction in [0, 1), got {self.max_missing!r}")
        if not isinstance(self.detector, str):
            raise ConfigError(f"clip volume: detector must be a front-end name, got {self.detector!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> VolumeSettings:
        """Settings from a config mapping (unknown keys raise :class:`~affectlab.errors.ConfigError`).

        >>> VolumeSettings.from_mapping({"frames": 3, "size": 48}).frames
        3
        """
        mapping = dict(mapping or {})
        known = [f.name for f in fields(cls)]
        unknown = [k for k in mapping if k not in known]
        if unknown:
            raise ConfigError(f"clip volume: unknown setting {unknown[0]!r} (known: {', '.join(known)})")
        return cls(**mapping)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for run folders and cache keys)."""
        out = asdict(self)
        out["framing"] = asdict(self.framing)
        return out


@dataclass
class FaceVolume:
    """The aligned face volume of one clip and how it was obtained.

    Attributes
    ----------
    path
        The clip.
    volume
        ``(frames, size, size)`` uint8 gray.
    frame_indices
        Source frame (position in the clip) of each volume frame.
    filled
        Per volume frame: the main face was not detected there (the frame was filled).
    n_frames
        Frames read from the clip.
    n_face_frames
        Frames where the main face was detected.
    track_id, n_tracks
        The main face's track and how many tracks the clip had.
    eyes
        ``(n_frames, 2, 2)`` eye centres ``(left, right)`` used for every frame (after
        interpolation and smoothing), image pixels.
    fps
        The clip's frame rate.
    problems
        Warnings from reading (e.g. decoding stopped early).
    seconds
        Wall time to build the volume.
    """

    path: str
    volume: np.ndarray = field(repr=False)
    frame_indices: list[int]
    filled: list[bool]
    n_frames: int
    n_face_frames: int
    track_id: int
    n_tracks: int
    eyes: np.ndarray = field(repr=False)
    fps: float = 25.0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def missing_fraction(self) -> float:
        """Share of the clip's frames where the main face was lost."""
        return 1.0 - self.n_face_frames / self.n_frames if self.n_frames else 1.0

    def summary(self) -> dict[str, Any]:
        """Plain values, without the arrays."""
        return {"path": self.path, "frames": self.n_frames, "face_frames": self.n_face_frames,
                "tracks": self.n_tracks, "filled": int(sum(self.filled)), "frame_indices": list(self.frame_indices),
                "fps": round(self.fps, 3), "seconds": round(self.seconds, 3), "problems": list(self.problems)}


def nearest_positions(n: int, length: int) -> np.ndarray:
    """Indices of the frames nearest to ``length`` evenly spaced positions over ``n`` frames.

    >>> nearest_positions(24, 3).tolist(), nearest_positions(2, 4).tolist()
    ([0, 12, 23], [0, 0, 1, 1])
    """
    if n < 1 or length < 1:
        raise ValueError(f"nearest_positions: n and length must be >= 1, got {n}, {length}")
    pos = np.linspace(0.0, n - 1.0, length)
    return np.floor(pos + 0.5).astype(int).clip(0, n - 1)


def _complete(eyes: np.ndarray, found: np.ndarray, smooth: int) -> np.ndarray:
    """Eye positions ``(n, 4)`` with the lost frames interpolated (held at the ends), then smoothed."""
    n = eyes.shape[0]
    t = np.arange(n)
    out = np.empty_like(eyes)
    for j in range(eyes.shape[1]):
        out[:, j] = np.interp(t, t[found], eyes[found, j])
    window = min(smooth, n if n % 2 else n - 1)
    if window > 2:  # a line fitted in every window: steady motion passes unchanged, also at the ends
        from scipy.signal import savgol_filter

        out = savgol_filter(out, window_length=window if window % 2 else window - 1, polyorder=1, axis=0,
                            mode="interp")
    return out


@dataclass
class _Track:
    frames: dict[int, tuple[np.ndarray, Any]] = field(default_factory=dict)  # position -> (eyes (4,), box)
    area: float = 0.0


class VolumeBuilder:
    """Builds :class:`FaceVolume` objects from clips with one face front-end (reused across clips).

    Parameters
    ----------
    settings
        :class:`VolumeSettings` (or a mapping of them); keyword arguments override single fields.
    detector
        A front-end object to use instead of ``settings.detector`` (e.g. one shared by threads).

    Examples
    --------
    >>> VolumeBuilder(frames=3, size=48).settings.frames
    3
    """

    def __init__(self, settings: VolumeSettings | Mapping[str, Any] | None = None, *, detector: Any = None,
                 **overrides: Any) -> None:
        if settings is None or isinstance(settings, Mapping):
            settings = VolumeSettings.from_mapping({**dict(settings or {}), **overrides})
        elif overrides:
            settings = replace(settings, **overrides)
        self.settings: VolumeSettings = settings
        self._detector = detector

    @property
    def detector(self) -> Any:
        """The face front-end (created on first use)."""
        if self._detector is None:
            from affectlab.face.dlib_detector import make_frontend

            self._detector = make_frontend(self.settings.detector)
        return self._detector

    def _reader(self, path: Path) -> Any:
        from affectlab.video.reader import VideoReader

        if path.is_dir():
            raise ClipUnreadable(f"{path}: is a folder, not a video clip")
        try:
            return VideoReader(path, max_frames=self.settings.max_frames)
        except MediaReadError as exc:
            raise ClipUnreadable(str(exc)) from None

    def _track(self, path: Path) -> tuple[dict[int, _Track], int, Any]:
        """First pass: every track's eyes per frame position; the number of frames read."""
        from affectlab.face.landmarks import eye_centres
        from affectlab.video.tracker import FaceTracker

        reader = self._reader(path)
        tracker = FaceTracker(self.detector, scan_every=self.settings.scan_every)
        tracks: dict[int, _Track] = {}
        n = 0
        try:
            for n, frame in enumerate(reader, start=1):
                for face in tracker.step(frame.image):
                    if face.landmarks is not None:
                        eyes = eye_centres(face.landmarks)
                    elif face.eyes is not None:
                        eyes = face.eyes
                    else:
                        b = face.box
                        eyes = tuple((b.x + fx * b.w, b.y + fy * b.h) for fx, fy in BOX_EYES)
                    track = tracks.setdefault(face.track_id, _Track())
                    track.frames[n - 1] = (np.asarray(eyes, dtype=np.float64).reshape(4), face.box)
                    track.area += face.box.area
        except AffectLabError as exc:
            raise ClipUnreadable(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None
        return tracks, n, reader

    def __call__(self, path: str | Path) -> FaceVolume:
        """The face volume of the clip at ``path``.

        Raises
        ------
        ClipUnreadable, ClipTooShort, ClipNoFace, ClipMissingFrames
            One line naming the file and the reason (all are :class:`ClipRefused`).
        """
        from affectlab.face.align import align_to_eyes

        started = time.perf_counter()
        s = self.settings
        path = Path(path)
        tracks, n, reader = self._track(path)
        if n == 0:
            raise ClipUnreadable(f"{path}: no frame could be decoded")
        if n < s.frames and s.short == "refuse":
            raise ClipTooShort(f"{path}: {n} frame(s), fewer than the {s.frames} the volume needs "
                               "(short: repeat would repeat frames)")
        if not tracks:
            raise ClipNoFace(f"{path}: no face found in {n} frame(s)")
        main_id = max(tracks, key=lambda k: (len(tracks[k].frames), tracks[k].area / len(tracks[k].frames), -k))
        main = tracks[main_id]
        found = np.zeros(n, bool)
        found[list(main.frames)] = True
        lost = int(n - found.sum())
        if lost and s.missing == "refuse":
            raise ClipMissingFrames(f"{path}: the face is lost in {lost} of {n} frames (missing: refuse)")
        if lost > s.max_missing * n:
            raise ClipMissingFrames(f"{path}: the face is lost in {lost} of {n} frames, more than max_missing "
                                    f"{s.max_missing:g}")
        raw = np.full((n, 4), np.nan)
        for position, (eyes, _) in main.frames.items():
            raw[position] = eyes
        eyes = _complete(raw, found, s.smooth)
        detected = np.flatnonzero(found)
        wanted = nearest_positions(n, s.frames)
        # the frame each volume frame is cut from: itself, or (fill: nearest) the nearest detected frame
        source = wanted.copy()
        if s.fill == "nearest":
            nearest = detected[np.abs(detected[None, :] - wanted[:, None]).argmin(axis=1)]
            source = np.where(found[wanted], wanted, nearest)
        box_of = {p: box for p, (_, box) in main.frames.items()}
        crops: dict[int, np.ndarray] = {}
        needed = set(source.tolist())
        try:
            for position, frame in enumerate(self._reader(path)):
                if position in needed:
                    near = detected[np.abs(detected - position).argmin()]
                    e = eyes[position]
                    face = align_to_eyes(frame.image, box_of[int(near)], ((e[0], e[1]), (e[2], e[3])), s.framing,
                                         size=s.size, color="gray", keep_tilt=float(s.keep_tilt),
                                         downscale=s.downscale)
                    crops[position] = face.image
                if position >= source.max():
                    break
        except AffectLabError as exc:
            raise ClipUnreadable(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None
        absent = sorted(needed - set(crops))
        if absent:
            raise ClipUnreadable(f"{path}: frame {absent[0]} could not be decoded again (the clip changed?)")
        volume = np.stack([crops[p] for p in source.tolist()])
        return FaceVolume(
            path=str(path), volume=volume, frame_indices=source.tolist(),
            filled=[not bool(found[p]) for p in wanted.tolist()], n_frames=n, n_face_frames=int(found.sum()),
            track_id=int(main_id), n_tracks=len(tracks), eyes=eyes.reshape(n, 2, 2),
            fps=float(reader.info.fps), problems=list(reader.problems),
            seconds=time.perf_counter() - started,
        )


def clip_volume(path: str | Path, settings: VolumeSettings | Mapping[str, Any] | None = None, *,
                detector: Any = None, **overrides: Any) -> FaceVolume:
    """The face volume of one clip (:class:`VolumeBuilder` with ``settings`` and ``overrides``).

    Raises
    ------
    ClipRefused
        Unreadable, too short, no face, too many lost frames; one line naming the file.
    """
    return VolumeBuilder(settings, detector=detector, **overrides)(path)

