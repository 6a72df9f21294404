"""Warm single-image latency of ``ExpressionAnalyzer.analyze`` on one thread, old and new front-end.

Three scenes from scikit-image's astronaut photograph (a real face): the photo at 512x512, the
photo resized to 256x256, and the photo resized to 360x360 and pasted into a 640x480 gray frame.
For each front-end (``haar``: the Haar cascade with the eye-cascade alignment; ``dlib``: the
landmark front-end) the analyser is built once, run once to warm up, then timed ``--repeats``
times; the JSON gives the median and the fastest run in milliseconds (wall clock), the median
CPU time of the calling thread (less sensitive to other processes on a shared machine), the
faces found and the label, and the ratio haar / dlib of the medians, all from the same run.

Run::

    python benchmarks/latency.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import cv2
import numpy as np
import torch

from affectlab import ExpressionAnalyzer
from affectlab.data.media import sample_photo


def scenes() -> dict[str, np.ndarray]:
    """The three test images (RGB uint8)."""
    photo = sample_photo()
    small = cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[60:420, 140:500] = cv2.resize(photo, (360, 360), interpolation=cv2.INTER_AREA)
    return {"astronaut_512x512": photo, "astronaut_256x256": small, "astronaut_360_in_640x480": frame}


def time_analyzer(analyzer: ExpressionAnalyzer, image: np.ndarray, repeats: int) -> dict[str, object]:
    result = analyzer.analyze(image)  # warm-up
    times, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.thread_time()
        analyzer.analyze(image)
        times.append((time.perf_counter() - started) * 1000.0)
        cpu.append((time.thread_time() - started_cpu) * 1000.0)
    return {
        "median_ms": round(statistics.median(times), 2),
        "min_ms": round(min(times), 2),
        "median_cpu_ms": round(statistics.median(cpu), 2),
        "faces": len(result.faces),
        "label": result.faces[0].label if result.faces else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--frontends", nargs="+", default=["haar", "dlib"], choices=["haar", "dlib"])
    parser.add_argument("--json", action="store_true", help="Print one JSON object (default: indented).")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    images = scenes()
    results: dict[str, dict[str, object]] = {}
    for frontend in args.frontends:
        analyzer = ExpressionAnalyzer(detector=frontend, device="cpu")
        results[frontend] = {name: time_analyzer(analyzer, img, args.repeats) for name, img in images.items()}
    out: dict[str, object] = {
        "benchmark": "latency",
        "threads": 1,
        "repeats": args.repeats,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor()},
        "results": results,
    }
    if {"haar", "dlib"} <= results.keys():
        out["ratio_haar_over_dlib"] = {
            name: round(results["haar"][name]["median_ms"] / results["dlib"][name]["median_ms"], 2) for name in images
        }
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
