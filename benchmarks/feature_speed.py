"""Speed of the registered face descriptors, in images per second, on 48x48 and 128x128 batches.

    python benchmarks/feature_speed.py --json [--data ../shared/datasets/ckplus48] [--batch 256]
        [--repeats 5] [--sizes 48 128] [--features lbp hog]

Images are real CK+48 faces (resized to each size) when the dataset is found, else random uint8
noise. Every registered feature is timed through its transformer (``fit`` once, untimed; then
``transform`` on the whole batch): one warm-up call, then ``--repeats`` calls, median time. For
LBP codes and HOG the same batch also goes through scikit-image, one image at a time with the same
parameters (``local_binary_pattern(P=8, R=1, method="nri_uniform")``; ``hog(orientations=9,
pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")``), and ``ratio`` is our
images/s over scikit-image's. A feature that fails (or is missing) is reported under ``errors``.
Run it niced on a shared machine: ``nice -n 10 python benchmarks/feature_speed.py --json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "ckplus48"
SLOW_S = 20.0  # a warm-up slower than this is not repeated


def load_faces(data: Path, n: int, size: int) -> tuple[np.ndarray, str]:
    """``n`` gray faces resized to ``size`` (spread over the sorted files), or random noise without data."""
    import cv2

    files = sorted(data.glob("*/*.png")) if data.is_dir() else []
    if not files:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, size=(n, size, size), dtype=np.uint8), "random uint8"
    picked = [files[i] for i in np.linspace(0, len(files) - 1, n).astype(int)]
    faces = []
    for path in picked:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image.shape != (size, size):
            shrink = image.shape[0] > size
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        faces.append(image)
    return np.stack(faces), f"{data.name} ({len(files)} faces; an even spread of them, resized)"


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``call`` after one warm-up call (a single timing if the warm-up is slow)."""
    start = time.perf_counter()
    call()
    warm = time.perf_counter() - start
    if warm > SLOW_S:
        return warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def skimage_references(images: np.ndarray) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """For each compared operation: (ours, scikit-image one image at a time) on the same batch."""
    from skimage.feature import hog, local_binary_pattern

    from affectlab.features import hog_descriptors, lbp_codes

    def sk_lbp() -> object:
        return [local_binary_pattern(x, 8, 1, method="nri_uniform") for x in images]

    def sk_hog() -> object:
        params = {"orientations": 9, "pixels_per_cell": (8, 8), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
        return [hog(x, **params) for x in images]

    return {
        "lbp_codes": (lambda: lbp_codes(images, P=8, R=1), sk_lbp),
        "hog": (lambda: hog_descriptors(images, orientations=9, pixels_per_cell=8, cells_per_block=2), sk_hog),
    }


def run(args: argparse.Namespace) -> dict:
    from affectlab.features import create_feature, list_features

    names = args.features or list_features()
    result: dict = {
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
        "repeats": args.repeats,
        "batch": {},
        "data": None,
        "images_per_s": {},
        "vs_skimage": {},
        "errors": {},
    }
    import skimage

    result["machine"]["scikit_image"] = skimage.__version__
    for size in args.sizes:
        batch = args.batch if size <= 64 else max(1, args.batch // 4)
        images, source = load_faces(args.data, batch, size)
        result["data"] = source
        result["batch"][str(size)] = batch
        speeds = result["images_per_s"].setdefault(str(size), {})
        for name in names:
            try:
                feature = create_feature(name)
                feature.fit(images)
                seconds = median_seconds(lambda f=feature, x=images: f.transform(x), args.repeats)
                speeds[name] = round(batch / seconds, 1)
            except Exception as exc:  # noqa: BLE001 - a broken or missing feature must not stop the others
                result["errors"][f"{name}@{size}"] = f"{type(exc).__name__}: {exc}"
        ratios = result["vs_skimage"].setdefault(str(size), {})
        for name, (ours, theirs) in skimage_references(images).items():
            ours_s = median_seconds(ours, args.repeats)
            theirs_s = median_seconds(theirs, args.repeats)
            ratios[name] = {
                "ours_images_per_s": round(batch / ours_s, 1),
                "skimage_images_per_s": round(batch / theirs_s, 1),
                "ratio": round(theirs_s / ours_s, 2),
            }
    if not result["errors"]:
        del result["errors"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: a short table)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CK+48 folder (random images if absent)")
    parser.add_argument("--batch", type=int, default=256, help="images per batch at 48x48 (a quarter at larger sizes)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls after the warm-up (median reported)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 128], help="square image sizes")
    parser.add_argument("--features", nargs="+", default=None, help="registered feature names (default: all)")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or min(args.sizes) < 16:
        parser.error("--batch and --repeats must be positive and --sizes at least 16")
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"data: {result['data']}; batches {result['batch']}; median of {args.repeats}")
    for size, speeds in result["images_per_s"].items():
        print(f"{size}x{size}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in speeds.items()))
        for name, r in result["vs_skimage"][size].items():
            print(f"  {name}: ours {r['ours_images_per_s']:,.0f}/s, scikit-image {r['skimage_images_per_s']:,.0f}/s,"
                  f" ratio {r['ratio']}")
    for key, message in result.get("errors", {}).items():
        print(f"error {key}: {message}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
