"""Write a test clip for ``affectlab live``: the sample photograph (a smiling face) moving over a gray frame.

    python benchmarks/live_clip.py clip.avi                      # 10 s, 25 fps, 640x480 (the issue's clip)
    python benchmarks/live_clip.py fast.avi --fps 100            # a clip the analysis cannot keep up with
    affectlab live clip.avi --realtime -o out.jsonl

The face (360 px) slides left and right by 2 px a frame at 25 fps (the same distance per second at
other rates) and bobs up and down a little, so the tracker has to follow it.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np

from affectlab.data import sample_photo


def face_clip_frames(seconds: float = 10.0, fps: float = 25.0, size: tuple[int, int] = (640, 480),
                     side: int = 360):
    """The clip's RGB frames, one by one."""
    w, h = size
    face = cv2.resize(sample_photo(), (side, side), interpolation=cv2.INTER_AREA)
    travel_x, travel_y = max(0, w - side), max(0, h - side)
    n = int(round(seconds * fps))
    for i in range(n):
        t = i / fps
        # 50 px/s horizontally, bouncing between the edges; a slow vertical bob
        period = 2 * travel_x / 50.0 if travel_x else 1.0
        phase = (t % period) / period
        x = int(round(travel_x * (2 * phase if phase < 0.5 else 2 - 2 * phase)))
        y = int(round(travel_y / 2 + travel_y / 2 * math.sin(2 * math.pi * t / 4.0)))
        canvas = np.full((h, w, 3), 60, np.uint8)
        canvas[y:y + side, x:x + side] = face
        yield canvas


def write_clip(path: Path, *, seconds: float = 10.0, fps: float = 25.0, size: tuple[int, int] = (640, 480),
               side: int = 360) -> Path:
    """Write the clip (MJPG in .avi, mp4v in .mp4) and return its path."""
    fourcc = "mp4v" if path.suffix.lower() == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), size)
    if not writer.isOpened():
        raise SystemExit(f"{path}: OpenCV cannot write this video")
    for frame in face_clip_frames(seconds, fps, size, side):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the video to write (.avi or .mp4)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length (default 10)")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate (default 25)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--side", type=int, default=360, help="side of the face photograph in pixels (default 360)")
    args = parser.parse_args(argv)
    write_clip(args.path, seconds=args.seconds, fps=args.fps, size=(args.width, args.height), side=args.side)
    print(f"{args.path}: {args.seconds:g} s at {args.fps:g} fps, {args.width}x{args.height}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
