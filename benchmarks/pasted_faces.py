"""FER2013 faces pasted into larger frames: the test scenes of the face front-end benchmarks.

Each face (48x48 gray) is upscaled to ``face_size`` pixels (bicubic) and pasted at a random place
into a ``320x240`` RGB frame cut at a random place from one of five scikit-image pictures
(coffee, chelsea, rocket, immunohistochemistry, camera; picture ``i % 5`` for face ``i``),
Gaussian-blurred (sigma 3) so the background holds no sharp face-like structure. The paste
positions are returned for scoring only: no front-end under test may use them.

Used by ``benchmarks/frontend.py`` (PublicTest faces) and ``benchmarks/calibrate_framing.py``
(Training faces), both with the defaults above. ``benchmarks/frontend_crops.py`` renders Training
faces for fine-tuning with other ``pictures`` (:data:`TRAINING_PICTURES`), a face side drawn per
frame (``face_size=(low, high)``) and a background blur drawn per frame (``blur=(low, high)``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

FRAME_SIZE = (320, 240)  # width, height
PICTURES = ("coffee", "chelsea", "rocket", "immunohistochemistry", "camera")
#: Face-free scikit-image pictures none of the benchmark's ``PICTURES``: backgrounds of training frames.
TRAINING_PICTURES = ("brick", "grass", "gravel", "coins", "moon", "hubble_deep_field", "text", "page", "horse",
                     "clock", "retina", "cell")


@dataclass(frozen=True)
class PastedFace:
    """One rendered frame and where its face went: ``(x, y, side)`` in frame pixels."""

    frame: np.ndarray
    x: int
    y: int
    side: int

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """Frame coordinates -> coordinates of the original 48x48 face."""
        return (np.asarray(points, dtype=np.float64) - (self.x, self.y)) * (48.0 / self.side)

    def contains(self, cx: float, cy: float) -> bool:
        """Whether the point ``(cx, cy)`` lies on the pasted face."""
        return self.x <= cx < self.x + self.side and self.y <= cy < self.y + self.side


def _backgrounds(pictures: Sequence[str] = PICTURES, sigma: float | None = 3.0) -> list[np.ndarray]:
    """The pictures as RGB uint8, at least ``FRAME_SIZE``, Gaussian-blurred by ``sigma`` (``None``: not)."""
    from skimage import data

    width, height = FRAME_SIZE
    out = []
    for name in pictures:
        img = getattr(data, name)()
        if img.dtype != np.uint8:  # e.g. horse (bool): values in [0, 1]
            img = (np.asarray(img, np.float64) * 255.0).round().clip(0, 255).astype(np.uint8)
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        img = np.ascontiguousarray(img[..., :3])
        scale = max(width / img.shape[1], height / img.shape[0], 1.0)
        if scale > 1.0:
            img = cv2.resize(img, (int(np.ceil(img.shape[1] * scale)), int(np.ceil(img.shape[0] * scale))))
        out.append(img if sigma is None else cv2.GaussianBlur(img, (0, 0), sigma))
    return out


def pasted_faces(faces: np.ndarray, *, seed: int = 0, face_size: int | tuple[int, int] = 144,
                 pictures: Sequence[str] = PICTURES,
                 blur: float | tuple[float, float] = 3.0) -> Iterator[PastedFace]:
    """Render every ``(48, 48)`` uint8 face of ``faces`` into its own frame (reproducible by ``seed``).

    Face ``i`` goes on picture ``pictures[i % len(pictures)]``. ``face_size``: the pasted side, or
    ``(low, high)`` to draw it per frame (integers, both included). ``blur``: the background's
    Gaussian sigma, or ``(low, high)`` to draw it per frame (uniform; the cut frame is blurred
    before the face goes in). With the defaults the frames are those of ``benchmarks/frontend.py``
    (the extra draws happen only for ranges).
    """
    rng = np.random.default_rng(seed)
    width, height = FRAME_SIZE
    sizes = (face_size, face_size) if isinstance(face_size, (int, np.integer)) else tuple(face_size)
    if not 1 <= sizes[0] <= sizes[1] <= min(width, height):
        raise ValueError(f"face_size must lie in [1, {min(width, height)}], got {face_size!r}")
    per_frame_blur = not isinstance(blur, (int, float, np.number))
    backgrounds = _backgrounds(pictures, None if per_frame_blur else float(blur))
    for i, face in enumerate(faces):
        bg = backgrounds[i % len(backgrounds)]
        side = int(rng.integers(sizes[0], sizes[1] + 1)) if sizes[0] != sizes[1] else sizes[0]
        bx = int(rng.integers(0, bg.shape[1] - width + 1))
        by = int(rng.integers(0, bg.shape[0] - height + 1))
        frame = bg[by:by + height, bx:bx + width].copy()
        if per_frame_blur:
            frame = cv2.GaussianBlur(frame, (0, 0), float(rng.uniform(blur[0], blur[1])))
        x = int(rng.integers(0, width - side + 1))
        y = int(rng.integers(0, height - side + 1))
        big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        frame[y:y + side, x:x + side] = big[..., None]
        yield PastedFace(frame, x, y, side)
