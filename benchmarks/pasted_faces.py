"""FER2013 faces pasted into larger frames: the test scenes of the face front-end benchmarks.

Each face (48x48 gray) is upscaled to ``face_size`` pixels (bicubic) and pasted at a random place
into a ``320x240`` RGB frame cut at a random place from one of five scikit-image pictures
(coffee, chelsea, rocket, immunohistochemistry, camera; picture ``i % 5`` for face ``i``),
Gaussian-blurred (sigma 3) so the background holds no sharp face-like structure. The paste
positions are returned for scoring only: no front-end under test may use them.

Used by ``benchmarks/frontend.py`` (PublicTest faces) and ``benchmarks/calibrate_framing.py``
(Training faces).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

FRAME_SIZE = (320, 240)  # width, height
PICTURES = ("coffee", "chelsea", "rocket", "immunohistochemistry", "camera")


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


def _backgrounds() -> list[np.ndarray]:
    from skimage import data

    width, height = FRAME_SIZE
    out = []
    for name in PICTURES:
        img = getattr(data, name)()
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        img = np.ascontiguousarray(img[..., :3])
        scale = max(width / img.shape[1], height / img.shape[0], 1.0)
        if scale > 1.0:
            img = cv2.resize(img, (int(np.ceil(img.shape[1] * scale)), int(np.ceil(img.shape[0] * scale))))
        out.append(cv2.GaussianBlur(img, (0, 0), 3.0))
    return out


def pasted_faces(faces: np.ndarray, *, seed: int = 0, face_size: int = 144) -> Iterator[PastedFace]:
    """Render every ``(48, 48)`` uint8 face of ``faces`` into its own frame (reproducible by ``seed``)."""
    rng = np.random.default_rng(seed)
    width, height = FRAME_SIZE
    backgrounds = _backgrounds()
    for i, face in enumerate(faces):
        bg = backgrounds[i % len(backgrounds)]
        bx = int(rng.integers(0, bg.shape[1] - width + 1))
        by = int(rng.integers(0, bg.shape[0] - height + 1))
        frame = bg[by:by + height, bx:bx + width].copy()
        x = int(rng.integers(0, width - face_size + 1))
        y = int(rng.integers(0, height - face_size + 1))
        big = cv2.resize(face, (face_size, face_size), interpolation=cv2.INTER_CUBIC)
        frame[y:y + face_size, x:x + face_size] = big[..., None]
        yield PastedFace(frame, x, y, face_size)
