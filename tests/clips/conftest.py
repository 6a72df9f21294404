"""Small generated clips for the clip tests (written to temporary folders, never committed).

The face is scikit-image's astronaut (the bundled sample photograph, ``affectlab.data.sample_photo``),
pasted into grey 320x240 frames and moved a few pixels per frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlab.data import sample_photo

SIDE = 160


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """Write RGB uint8 frames with OpenCV (MJPG in .avi, mp4v in .mp4)."""
    h, w = frames[0].shape[:2]
    fourcc = "mp4v" if path.suffix == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def face_frames(n: int = 8, *, step: int = 3, absent: tuple[int, ...] = (), mirror: bool = False) -> list[np.ndarray]:
    """The astronaut translated by ``step`` px per frame in x and 1 px in y; frames in ``absent`` are blank."""
    face = cv2.resize(sample_photo(), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    if mirror:
        face = face[:, ::-1]
    frames = []
    for i in range(n):
        canvas = np.full((240, 320, 3), 90, np.uint8)
        if i not in absent:
            x, y = 40 + step * i, 30 + i
            canvas[y:y + SIDE, x:x + SIDE] = face
        frames.append(canvas)
    return frames


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    """A folder with a face clip, a mirrored one, a blank one, a 2-frame one, a corrupt one and a gap clip."""
    folder = tmp_path_factory.mktemp("clips")
    write_clip(folder / "face.avi", face_frames())
    write_clip(folder / "mirrored.avi", face_frames(mirror=True, step=-3))
    write_clip(folder / "blank.avi", [np.full((240, 320, 3), 90, np.uint8)] * 6)
    write_clip(folder / "short.avi", face_frames(2))
    write_clip(folder / "gap.avi", face_frames(10, absent=(4, 5)))
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    return folder


def write_training_clips(folder: Path) -> list[str]:
    """Six clips in ``folder``: the astronaut (label "plain", subjects s0-s2) and mirrored ("mirror", s3-s5), and
    their ``manifest.csv``; returns the manifest's lines."""
    rows = ["path,label,subject"]
    for k in range(3):
        write_clip(folder / f"p{k}.avi", face_frames(6, step=2 + k))
        write_clip(folder / f"m{k}.avi", face_frames(6, step=2 + k, mirror=True))
        rows += [f"p{k}.avi,plain,s{k}", f"m{k}.avi,mirror,s{k + 3}"]
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return rows
