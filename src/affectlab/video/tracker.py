"""Face tracking across frames: detect, associate boxes by overlap (IoU), re-detect on loss.

:class:`IoUTracker` is the association alone (any detector, any boxes): each frame's boxes are
matched to the live tracks by maximum total IoU (Hungarian assignment) above a threshold;
unmatched boxes start new tracks, tracks unmatched for more than ``max_missed`` frames end.
A track id is never reused.

:class:`FaceTracker` drives a detector over a video: it scans the whole frame for faces every
``scan_every`` frames (and whenever nothing is tracked), and in the other frames re-detects each
tracked face inside a window around its last box, which is much cheaper than a full scan; a face
lost in its window triggers a full scan of the same frame. Each track also keeps the eye
positions of its base face (the first frame where the eyes were found) relative to its box, so
every later crop is rotated like the base face (per-track alignment).

With a landmark detector (``landmarks(image, box)``, the ``"dlib"`` front-end) the frames between
scans detect nothing: each track's landmarks are refitted inside its last box, and the box follows
them (:func:`follow_box`); faces narrower than :data:`MIN_FOLLOW_FACE` are re-detected in a window
instead. A fit whose shape is no longer a plausible face, or a box whose pixels
no longer look like the track's face (:func:`appearance`), counts as a loss and triggers a full
scan; the periodic scans catch the rest.

Examples
--------
>>> from affectlab.face import FaceBox
>>> tracker = IoUTracker(iou_threshold=0.3)
>>> [t.id for t, _ in tracker.update([FaceBox(10, 10, 50, 50)])]
[1]
>>> [t.id for t, _ in tracker.update([FaceBox(14, 12, 50, 50), FaceBox(200, 10, 40, 40)])]
[1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from affectlab.checks import is_integer
from affectlab.data.media import to_gray
from affectlab.errors import ConfigError
from affectlab.face import (
    EyePair,
    FaceBox,
    FaceDetector,
    HaarCascadeDetector,
    create_detector,
    eye_centres,
)

__all__ = [
    "ROI_FACE_PIXELS",
    "FaceTracker",
    "IoUTracker",
    "Track",
    "TrackedFace",
    "box_iou",
    "appearance",
    "follow_box",
    "iou_matrix",
    "plausible_landmarks",
]

#: Re-detection windows are shrunk so the tracked face is about this wide (the Haar window is 20 px).
ROI_FACE_PIXELS = 40
#: A track whose eyes are not found after this many attempts is cropped unrotated.
MAX_EYE_ATTEMPTS = 5
#: Landmark following: fit rounds per frame, and the least appearance similarity (see :func:`appearance`)
#: between a followed face and the track's face of the frame before (lower: lost, scan the frame).
FOLLOW_ROUNDS = 2
MIN_APPEARANCE = 0.5
#: Faces narrower than this (pixels) are re-detected near their last box instead of followed.
MIN_FOLLOW_FACE = 64


def iou_matrix(a: Sequence[FaceBox], b: Sequence[FaceBox]) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``: ``(len(a), len(b))``.

    >>> iou_matrix([FaceBox(0, 0, 10, 10)], [FaceBox(5, 0, 10, 10), FaceBox(20, 20, 5, 5)]).round(3).tolist()
    [[0.333, 0.0]]
    """
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    A = np.array([[x.x, x.y, x.x + x.w, x.y + x.h] for x in a], dtype=np.float64)
    B = np.array([[x.x, x.y, x.x + x.w, x.y + x.h] for x in b], dtype=np.float64)
    iw = np.clip(np.minimum(A[:, None, 2], B[None, :, 2]) - np.maximum(A[:, None, 0], B[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(A[:, None, 3], B[None, :, 3]) - np.maximum(A[:, None, 1], B[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (A[:, 2] - A[:, 0]) * (A[:, 3] - A[:, 1])
    area_b = (B[:, 2] - B[:, 0]) * (B[:, 3] - B[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_iou(a: FaceBox, b: FaceBox) -> float:
    """IoU of two boxes.

    >>> box_iou(FaceBox(0, 0, 10, 10), FaceBox(0, 0, 10, 10))
    1.0
    """
    return float(iou_matrix([a], [b])[0, 0])


@dataclass
class Track:
    """A tracked person: a stable ``id``, the last box and bookkeeping.

    ``eyes`` holds the base face's eye centres as fractions of its box (``((lx, ly), (rx, ry))``
    with 0..1 across the box), or ``None`` until they are found.
    """

    id: int
    box: FaceBox
    first_frame: int
    last_frame: int
    hits: int = 1
    missed: int = 0
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None
    eye_attempts: int = 0
    landmarks: np.ndarray | None = field(default=None, repr=False)
    #: Landmark following: box centre minus landmark centroid at the last scan, and its pixels.
    offset: tuple[float, float] = (0.0, 0.0)
    patch: np.ndarray | None = field(default=None, repr=False)

    def eyes_in(self, box: FaceBox) -> EyePair | None:
        """The base face's eyes placed in ``box`` (image pixels), or ``None``."""
        if self.eyes is None:
            return None
        (lx, ly), (rx, ry) = self.eyes
        return ((box.x + lx * box.w, box.y + ly * box.h), (box.x + rx * box.w, box.y + ry * box.h))


class IoUTracker:
    """Associate per-frame face boxes into tracks by overlap.

    Parameters
    ----------
    iou_threshold
        Smallest IoU for a box to continue a track.
    max_missed
        A track survives this many consecutive frames without a box, then ends (so a face
        re-detected after a short loss keeps its id).
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 10) -> None:
        if not 0.0 < float(iou_threshold) <= 1.0:
            raise ConfigError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
        if not is_integer(max_missed) or max_missed < 0:
            raise ConfigError(f"max_missed must be a non-negative integer, got {max_missed!r}")
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self.tracks: list[Track] = []
        self.frame = -1
        self._next_id = 1

    def update(self, boxes: Sequence[FaceBox], frame: int | None = None) -> list[tuple[Track, FaceBox]]:
        """Feed one frame's boxes; returns ``(track, box)`` for every box, in the order given."""
        from scipy.optimize import linear_sum_assignment

        self.frame = self.frame + 1 if frame is None else int(frame)
        boxes = list(boxes)
        assigned: dict[int, Track] = {}
        if self.tracks and boxes:
            iou = iou_matrix([t.box for t in self.tracks], boxes)
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= self.iou_threshold:
                    assigned[int(c)] = self.tracks[int(r)]
        matched = {id(t) for t in assigned.values()}
        for track in self.tracks:
            if id(track) not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        out = []
        for i, box in enumerate(boxes):
            track = assigned.get(i)
            if track is None:
                track = Track(self._next_id, box, self.frame, self.frame)
                self._next_id += 1
                self.tracks.append(track)
            else:
                track.box, track.last_frame, track.missed = box, self.frame, 0
                track.hits += 1
            out.append((track, box))
        return out


@dataclass
class TrackedFace:
    """A face in one frame: its track, box and the eyes used to align it (image pixels).

    ``landmarks`` (``(N, 2)`` image pixels) are set with a landmark detector.
    """

    track_id: int
    box: FaceBox
    eyes: EyePair | None = field(default=None)
    landmarks: np.ndarray | None = field(default=None, repr=False)


def follow_box(box: FaceBox, landmarks: np.ndarray, offset: tuple[float, float],
               shape: tuple[int, ...]) -> FaceBox | None:
    """``box`` (same size) centred where ``landmarks`` put the face: their centroid plus ``offset``.

    ``offset`` is the box centre minus the landmarks' centroid in the frame where the box was
    detected. The size is kept (scans refresh it): landmarks fitted in a box scale with the box, so
    following their spread would feed on itself. Clipped to an image of ``shape``; ``None`` when
    less than half the box is left in the image.

    >>> pts = np.array([[10.0, 10.0], [30.0, 10.0], [20.0, 30.0]])
    >>> follow_box(FaceBox(0, 0, 40, 40), pts + 5, (0.0, 3.33), (200, 200))
    FaceBox(x=5, y=5, w=40, h=40, score=None)
    """
    cx, cy = np.asarray(landmarks, dtype=np.float64).mean(axis=0) + offset
    H, W = shape[:2]
    x0, y0 = max(0, int(round(cx - box.w / 2))), max(0, int(round(cy - box.h / 2)))
    x1, y1 = min(W, int(round(cx + box.w / 2))), min(H, int(round(cy + box.h / 2)))
    if x1 - x0 < 0.5 * box.w or y1 - y0 < 0.5 * box.h:
        return None
    return FaceBox(x0, y0, x1 - x0, y1 - y0, box.score)


def appearance(gray: np.ndarray, box: FaceBox, size: int = 24) -> np.ndarray | None:
    """The box's pixels resized to ``size`` x ``size``, zero-mean and unit-norm (``None`` if flat).

    Two faces of one track have a dot product near 1; a face against what replaced it (a blank
    wall, a scene cut) far less.
    """
    patch = cv2.resize(gray[box.y:box.y + box.h, box.x:box.x + box.w], (size, size),
                       interpolation=cv2.INTER_AREA).astype(np.float64)
    patch -= patch.mean()
    norm = float(np.linalg.norm(patch))
    return None if norm < 2.0 * size else patch / norm


def plausible_landmarks(landmarks: np.ndarray, box: FaceBox) -> bool:
    """Whether 5 or 68 landmarks fitted in ``box`` still look like a face there.

    The eyes must be 20-70 % of the box width apart, the eye line tilted less than 45 degrees,
    and the nose (5 points: the nose base; 68: the nose tip) below the eye line and between
    the eyes. A box that slid off the face usually fails one of these.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape == (5, 2):
        a, b, nose = pts[0:2].mean(axis=0), pts[2:4].mean(axis=0), pts[4]
    elif pts.shape == (68, 2):
        a, b, nose = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0), pts[30]
    else:
        return False
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    dx, dy = right - left
    distance = float(np.hypot(dx, dy))
    if not 0.2 * box.w <= distance <= 0.7 * box.w or abs(dy) > abs(dx):
        return False
    # the nose in the eyes' own frame: along the eye line between them, and below it
    u = np.array([dx, dy]) / distance
    rel = nose - (left + right) / 2
    along, below = float(rel @ u), float(rel[0] * -u[1] + rel[1] * u[0])
    return abs(along) < 0.5 * distance and below > 0.1 * distance


class FaceTracker:
    """Detect and track faces through the frames of a video.

    Parameters
    ----------
    detector
        A detector name (``"haar"``, ``"dlib"``) or object with ``detect(image) -> list[FaceBox]``
        (and optionally ``detect_eyes(image, box)``, or ``landmarks(image, box)``, which switches
        the frames between scans to landmark following).
    scan_every
        Scan the whole frame every N frames (1: every frame). In between, tracked faces are
        re-detected in a window around their last box; a face lost there triggers a full scan.
    roi_margin
        The re-detection window extends the last box by this fraction of its size on each side.
    iou_threshold, max_missed
        Association (:class:`IoUTracker`).
    max_faces
        Keep at most this many (largest) faces per frame.
    align
        Locate the eyes of each new track (every ``eye_retry`` frames until found) for alignment.
    eye_retry
        Frames between two attempts at finding a track's eyes (at most ``MAX_EYE_ATTEMPTS``).
    min_hits
        Only a track seen in at least this many frames triggers a whole-frame scan when it is
        lost in its window (a one-frame false detection does not).

    Examples
    --------
    >>> import numpy as np, cv2
    >>> from affectlab.data import sample_photo
    >>> canvas = np.zeros((240, 320, 3), np.uint8)
    >>> canvas[20:220, 60:260] = cv2.resize(sample_photo(), (200, 200))
    >>> tracker = FaceTracker(scan_every=5)
    >>> ids = [[f.track_id for f in tracker.step(np.roll(canvas, 2 * i, axis=1))] for i in range(4)]
    >>> ids
    [[1], [1], [1], [1]]
    """

    def __init__(
        self,
        detector: str | FaceDetector = "haar",
        *,
        scan_every: int = 10,
        roi_margin: float = 0.5,
        iou_threshold: float = 0.3,
        max_missed: int = 10,
        max_faces: int | None = None,
        align: bool = True,
        eye_retry: int = 10,
        min_hits: int = 3,
    ) -> None:
        if not is_integer(scan_every) or scan_every < 1:
            raise ConfigError(f"scan_every must be a positive integer, got {scan_every!r}")
        if not 0.1 <= float(roi_margin) <= 2.0:
            raise ConfigError(f"roi_margin must be in [0.1, 2], got {roi_margin!r}")
        self.detector = create_detector(detector) if isinstance(detector, str) else detector
        if not callable(getattr(self.detector, "detect", None)):
            raise ConfigError(f"detector must be a registry name or have a detect() method, got {detector!r}")
        self.scan_every = int(scan_every)
        self.roi_margin = float(roi_margin)
        self.max_faces = max_faces
        self.align = bool(align)
        self.eye_retry = max(1, int(eye_retry))
        self.min_hits = max(1, int(min_hits))
        self.tracker = IoUTracker(iou_threshold, max_missed)
        self._roi_detector = self._make_roi_detector()
        self._frame = -1
        self._since_scan = 0
        self.n_scans = 0
        self.n_roi = 0

    def _make_roi_detector(self) -> FaceDetector:
        det = self.detector
        if isinstance(det, HaarCascadeDetector):
            # the window is (1 + 2 margin) times the face: search faces of 0.6x-1.4x the last size;
            # the window is shrunk to ROI_FACE_PIXELS-wide faces first (no upscaling here)
            side = 1.0 + 2.0 * self.roi_margin
            return HaarCascadeDetector(
                cascade=det.cascade, scale_factor=det.scale_factor, min_neighbors=det.min_neighbors,
                min_size_fraction=0.6 / side, max_size_fraction=min(1.0, 1.4 / side), upscale_to=0,
                pad_fraction=det.pad_fraction, nms_threshold=det.nms_threshold,
                contained_threshold=det.contained_threshold, rotations=(), equalize=det.equalize,
            )
        return det

    @property
    def tracks(self) -> list[Track]:
        """Live tracks."""
        return self.tracker.tracks

    def _scan(self, gray: np.ndarray) -> list[FaceBox]:
        self.n_scans += 1
        self._since_scan = 0
        boxes = list(self.detector.detect(gray))
        return boxes[: self.max_faces] if self.max_faces is not None else boxes

    def _redetect(self, gray: np.ndarray, track: Track) -> FaceBox | None:
        """The face of ``track`` searched in a window around its last box (None if not found)."""
        self.n_roi += 1
        H, W = gray.shape
        b = track.box
        mx, my = self.roi_margin * b.w, self.roi_margin * b.h
        x0, y0 = max(0, int(b.x - mx)), max(0, int(b.y - my))
        x1, y1 = min(W, int(np.ceil(b.x + b.w + mx))), min(H, int(np.ceil(b.y + b.h + my)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        roi = gray[y0:y1, x0:x1]
        scale = 1.0
        if isinstance(self._roi_detector, HaarCascadeDetector) and b.w > ROI_FACE_PIXELS:
            scale = ROI_FACE_PIXELS / b.w  # a smaller window: same search, fewer pixels
            roi = cv2.resize(roi, (max(1, round(roi.shape[1] * scale)), max(1, round(roi.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
        found = self._roi_detector.detect(roi)
        if not found:
            return None
        shifted = []
        for f in found:
            fx, fy = x0 + f.x / scale, y0 + f.y / scale
            fw, fh = f.w / scale, f.h / scale
            bx0, by0 = max(0, round(fx)), max(0, round(fy))
            bx1, by1 = min(W, round(fx + fw)), min(H, round(fy + fh))
            if bx1 - bx0 >= 1 and by1 - by0 >= 1:
                shifted.append(FaceBox(bx0, by0, bx1 - bx0, by1 - by0, f.score))
        if not shifted:
            return None
        iou = iou_matrix([b], shifted)[0]
        best = int(np.argmax(iou))
        return shifted[best] if iou[best] > 0 else None

    @property
    def follows_landmarks(self) -> bool:
        """Whether tracks are followed by refitting landmarks (a landmark detector)."""
        return callable(getattr(self.detector, "landmarks", None))

    def _follow(self, gray: np.ndarray, track: Track) -> tuple[FaceBox, np.ndarray] | None:
        """Refit ``track``'s landmarks near its last box; the moved box and the points, or None if lost.

        Two rounds (fit, move the box to the fit, fit again): a fit lags a face that moved within
        its box. Lost: landmarks that are no longer a face's, or pixels unlike the track's last.
        """
        self.n_roi += 1
        box: FaceBox | None = track.box
        points = track.landmarks
        for _ in range(FOLLOW_ROUNDS):
            points = self.detector.landmarks(gray, box)
            if not plausible_landmarks(points, box):
                return None
            box = follow_box(box, points, track.offset, gray.shape)
            if box is None:
                return None
        patch = appearance(gray, box)
        if patch is None or track.patch is None or float((patch * track.patch).sum()) < MIN_APPEARANCE:
            return None
        track.patch = patch
        return box, points

    def _step_landmarks(self, gray: np.ndarray) -> list[TrackedFace]:
        live = [t for t in self.tracker.tracks if t.missed == 0]
        fitted: dict[int, np.ndarray] = {}
        if not live or self._since_scan >= self.scan_every or self._frame == 0:
            boxes = self._scan(gray)
        else:
            boxes = []
            for track in live:
                if track.box.w >= MIN_FOLLOW_FACE:
                    found = self._follow(gray, track)
                else:  # landmarks of a small face are too coarse to follow: detect it near its last box
                    box = self._redetect(gray, track)
                    found = None if box is None else (box, None)
                if found is None:
                    if track.hits >= self.min_hits:  # an established face lost: scan the whole frame now
                        boxes, fitted = self._scan(gray), {}
                        break
                    continue
                boxes.append(found[0])
                if found[1] is not None:
                    fitted[len(boxes) - 1] = found[1]
        faces = []
        for i, (track, box) in enumerate(self.tracker.update(boxes, self._frame)):
            if i in fitted:
                points = fitted[i]
            else:  # a detected box: it anchors the following until the next scan
                points = self.detector.landmarks(gray, box)
                cx, cy = box.center
                mx, my = points.mean(axis=0)
                track.offset, track.patch = (cx - mx, cy - my), appearance(gray, box)
            track.landmarks = points
            eyes = eye_centres(points) if self.align else None
            faces.append(TrackedFace(track.id, box, eyes, points))
        faces.sort(key=lambda f: -f.box.area)
        return faces

    def step(self, image: np.ndarray) -> list[TrackedFace]:
        """Faces of the next frame (RGB or gray uint8), each with its track id, largest first."""
        self._frame += 1
        self._since_scan += 1
        gray = to_gray(image)
        if self.follows_landmarks:
            return self._step_landmarks(gray)
        live = [t for t in self.tracker.tracks if t.missed == 0]
        if not live or self._since_scan >= self.scan_every or self._frame == 0:
            boxes = self._scan(gray)
        else:
            boxes, lost = [], False
            for track in live:
                box = self._redetect(gray, track)
                if box is not None:
                    boxes.append(box)
                elif track.hits >= self.min_hits:
                    lost = True  # an established face vanished from its window
                    break
            if lost:  # re-detect on loss: scan the whole frame now
                boxes = self._scan(gray)
        pairs = self.tracker.update(boxes, self._frame)
        faces = []
        for track, box in pairs:
            retry = track.eye_attempts < MAX_EYE_ATTEMPTS and (self._frame - track.first_frame) % self.eye_retry == 0
            if self.align and track.eyes is None and (track.eye_attempts == 0 or retry):
                self._find_eyes(gray, track, box)
            faces.append(TrackedFace(track.id, box, track.eyes_in(box) if self.align else None))
        faces.sort(key=lambda f: -f.box.area)
        return faces

    def _find_eyes(self, gray: np.ndarray, track: Track, box: FaceBox) -> None:
        locate = getattr(self.detector, "detect_eyes", None)
        track.eye_attempts += 1
        if locate is None:
            return
        eyes = locate(gray, box)
        if eyes is not None:
            (lx, ly), (rx, ry) = eyes
            track.eyes = (((lx - box.x) / box.w, (ly - box.y) / box.h), ((rx - box.x) / box.w, (ry - box.y) / box.h))
