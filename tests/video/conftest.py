"""Small generated videos for the video tests (written to temporary folders, never committed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlab.data import sample_photo


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """Write RGB uint8 frames with OpenCV (MJPG in .avi, mp4v in .mp4)."""
    h, w = frames[0].shape[:2]
    fourcc = "mp4v" if path.suffix == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def face_frames(n: int = 12, *, step: int = 5, size: tuple[int, int] = (320, 240), side: int = 200,
                absent: tuple[int, ...] = ()) -> list[np.ndarray]:
    """The astronaut (a real face) translated by ``step`` px per frame; frames in ``absent`` are blank."""
    w, h = size
    face = cv2.resize(sample_photo(), (side, side), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        canvas = np.full((h, w, 3), 60, np.uint8)
        if i not in absent:
            x = 10 + step * i
            canvas[20:20 + side, x:x + side] = face
        frames.append(canvas)
    return frames


@pytest.fixture(scope="session")
def face_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "face.avi", face_frames())


@pytest.fixture(scope="session")
def make_video():
    """``make_video(path, frames, fps=25.0)`` -> path."""
    return write_video


@pytest.fixture(scope="session")
def make_face_frames():
    """``make_face_frames(n, step=..., absent=(...))`` -> RGB frames of a moving real face."""
    return face_frames


@pytest.fixture(scope="module")
def blank_video(tmp_path_factory, make_video):
    """Five uniform gray 48x48 frames: no face for the detector, one 'face' for whole-frame input."""
    return make_video(tmp_path_factory.mktemp("blank") / "gray48.avi", [np.full((48, 48, 3), 128, np.uint8)] * 5)
