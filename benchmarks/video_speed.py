"""Speed of the whole ``affectlab analyze VIDEO`` path on a generated 640x480 video of a real face.

The video is made here, in a temporary folder that is deleted afterwards (never committed):
scikit-image's astronaut photograph (a real face, ``affectlab.data.sample_photo()``) scaled to
360x360 and moved along a Lissajous path over a 640x480 textured canvas, 25 fps, 30 s
(750 frames), written with ``cv2.VideoWriter`` (MJPG in .avi by default, or mp4v in .mp4).

Every mode analyses the whole video with the default (bundled) expression model, on the CPU,
once per front-end (``--frontends``: ``dlib``, the landmark front-end, and ``haar``, the Haar
cascades), and reports frames/s of the whole run (decode + detection/tracking + alignment +
classification, wall clock) and the milliseconds per frame of each stage (decode runs in a
background thread, so the stage times can add up to more than the wall time):

- ``scan_every_frame``: face detection over the whole frame in every frame;
- ``tracking``: whole-frame scan every 10th frame; in between, the landmark front-end refits
  each track's landmarks in its last box and moves the box with them, the Haar front-end
  re-detects each face in a window around its last box (a loss triggers a full scan). This is
  the analyser's default.

Run (prints one JSON object with ``--json``)::

    python benchmarks/video_speed.py --json
    python benchmarks/video_speed.py --seconds 10 --modes tracking --frontends dlib
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

MODES = {"scan_every_frame": {"scan_every": 1}, "tracking": {"scan_every": 10}}


def make_face_video(path: Path, *, seconds: float = 30.0, fps: float = 25.0, size: tuple[int, int] = (640, 480),
                    face_side: int = 360, seed: int = 0) -> dict[str, object]:
    """Write the test video; returns its description."""
    from affectlab.data import sample_photo

    width, height = size
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(60, 200, (height, width, 3), dtype=np.uint8), (0, 0), 6)
    face = cv2.resize(cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR), (face_side, face_side),
                      interpolation=cv2.INTER_AREA)
    fourcc = "mp4v" if path.suffix.lower() == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with {fourcc}")
    n = round(seconds * fps)
    span_x, span_y = width - face_side, height - face_side
    for i in range(n):
        t = i / fps
        x = int(round(span_x * (0.5 + 0.5 * math.sin(2 * math.pi * t / 6.0))))
        y = int(round(span_y * (0.5 + 0.5 * math.sin(2 * math.pi * t / 4.0))))
        frame = background.copy()
        frame[y:y + face_side, x:x + face_side] = face
        writer.write(frame)
    writer.release()
    return {"frames": n, "fps": fps, "width": width, "height": height, "codec": fourcc,
            "face": f"skimage astronaut scaled to {face_side}x{face_side}, moving", "bytes": path.stat().st_size}


def run_mode(path: Path, mode: str, *, threads: int, analyzer: object, fps: float) -> dict[str, object]:
    from affectlab.video import VideoAnalyzer

    video = VideoAnalyzer(analyzer, threads=threads, **MODES[mode])  # type: ignore[arg-type]
    result = video.analyze(path)
    faces = sum(len(t.frames) for t in result.tracks)
    return {
        "frames": len(result.frame_indices),
        "frames_per_second": result.timing["frames_per_second"],
        "seconds": result.timing["seconds"],
        "ms_per_frame": result.timing["ms_per_frame"],
        "full_scans": result.timing["full_scans"],
        "window_redetections": result.timing["window_redetections"],
        "tracks": len(result.tracks),
        "frames_with_face": faces,
        "video_label": result.label,
        "limiting_stage": max(result.timing["ms_per_frame"], key=result.timing["ms_per_frame"].get),
        "real_time_factor": round(result.timing["frames_per_second"] / fps, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--seconds", type=float, default=30.0, help="video length (default 30)")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads of the analysis (default 1)")
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=list(MODES))
    parser.add_argument("--suffix", choices=[".avi", ".mp4"], default=".avi")
    parser.add_argument("--frontends", nargs="+", choices=["dlib", "haar"], default=["dlib", "haar"])
    args = parser.parse_args(argv)

    from affectlab.analysis import ExpressionAnalyzer

    started = time.perf_counter()
    load_before = os.getloadavg()
    report: dict[str, object] = {
        "benchmark": "video_speed",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "opencv": cv2.__version__,
                    "load_average_before": [round(x, 2) for x in load_before]},
        "threads": args.threads,
    }
    with tempfile.TemporaryDirectory(prefix="affectlab-video-") as tmp:
        path = Path(tmp) / f"face{args.suffix}"
        report["video"] = make_face_video(path, seconds=args.seconds, fps=args.fps)
        results: dict[str, dict[str, object]] = {}
        for frontend in args.frontends:
            analyzer = ExpressionAnalyzer(device="cpu", detector=frontend)
            report["model"] = f"{analyzer.model.config.name} (bundled, default), CPU"
            results[frontend] = {}
            for mode in args.modes:
                results[frontend][mode] = row = run_mode(path, mode, threads=args.threads, analyzer=analyzer,
                                                         fps=args.fps)
                if not args.json:
                    print(f"{frontend} {mode}: {row['frames_per_second']} frames/s, ms/frame {row['ms_per_frame']}",
                          file=sys.stderr)
        report["frontends"] = results
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
