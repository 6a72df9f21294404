"""Face front-ends on FER2013 PublicTest faces pasted into larger frames: found, accuracy, speed.

All 3,589 PublicTest faces (``--faces N``: N of them at random, e.g. 600 for a quick look; the order is drawn with
``--seed``, 0 by default; about 8 minutes for all) are upscaled to 144x144 and
pasted at random places into 320x240 frames cut from blurred scikit-image pictures
(``benchmarks/pasted_faces.py``). Each front-end analyses every frame with the bundled model,
one thread, and never sees the paste positions; they serve only to score:

- ``found``: share of frames with a detected face whose box centre lies on the pasted face;
- ``accuracy``: end-to-end accuracy of the largest face's label (a frame without a face counts
  wrong, so does a largest face that is not the pasted one);
- ``accuracy_found`` against ``direct_crop_accuracy_found``: on the frames where the face was
  found, the end-to-end accuracy and the bundled model's accuracy on the original 48x48 crops of
  the same faces (what a perfect front-end would give); ``found_gap_ci``: a 95 % paired bootstrap
  interval (2,000 resamples of the found faces, seed 0) of their difference;
- ``ms_per_frame``: mean wall time of ``ExpressionAnalyzer.analyze`` per frame.

``haar`` is the Haar cascade with the eye-cascade alignment (the front-end before the landmark
one), ``dlib`` the landmark front-end; both run in the same process, on the same frames.

Run::

    python benchmarks/frontend.py --json
    python benchmarks/frontend.py --json --frontends dlib --weights runs/my-model/best.pt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from affectlab import ExpressionAnalyzer
from affectlab.data.fer2013 import fer2013_arrays, load_fer2013

from pasted_faces import pasted_faces

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def evaluate(analyzer: ExpressionAnalyzer, scenes: list, y: np.ndarray, direct: np.ndarray) -> dict[str, object]:
    found = np.zeros(len(y), bool)
    correct = np.zeros(len(y), bool)
    seconds = 0.0
    for i, scene in enumerate(scenes):
        started = time.perf_counter()
        result = analyzer.analyze(scene.frame)
        seconds += time.perf_counter() - started
        found[i] = any(scene.contains(*f.box.center) for f in result.faces)
        if result.faces and scene.contains(*result.faces[0].box.center):
            correct[i] = analyzer.class_names.index(result.faces[0].label) == y[i]
    direct_ok = direct == y
    gap = correct[found].astype(float) - direct_ok[found].astype(float)
    boot = np.random.default_rng(0).integers(0, len(gap), (2000, len(gap))) if len(gap) else None
    return {
        "found": round(float(found.mean()), 4),
        "n_found": int(found.sum()),
        "accuracy": round(float(correct.mean()), 4),
        "accuracy_found": round(float(correct[found].mean()), 4) if found.any() else None,
        "direct_crop_accuracy_found": round(float(direct_ok[found].mean()), 4) if found.any() else None,
        "found_gap_ci": ([round(float(v), 4) for v in np.percentile(gap[boot].mean(axis=1), [2.5, 97.5])]
                         if boot is not None else None),
        "ms_per_frame": round(1000.0 * seconds / len(y), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--faces", type=int, default=3589,
                        help="how many PublicTest faces (default: all 3,589, about 8 min; 600 for a quick look)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frontends", nargs="+", default=["haar", "dlib"], choices=["haar", "dlib"])
    parser.add_argument("--weights", type=Path, default=None,
                        help="a trained checkpoint (.pt) to use instead of the bundled default model")
    parser.add_argument("--json", action="store_true", help="Print one JSON object (default: indented).")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"{args.data}: FER2013 CSV not found", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    X, y = fer2013_arrays(load_fer2013(args.data, usage="PublicTest"))
    pick = np.random.default_rng(args.seed).choice(len(X), size=min(args.faces, len(X)), replace=False)
    X, y = X[pick], y[pick]
    scenes = list(pasted_faces(X, seed=args.seed))
    results: dict[str, object] = {}
    direct = None
    for frontend in args.frontends:
        analyzer = ExpressionAnalyzer(weights=args.weights, detector=frontend, device="cpu")
        if direct is None:
            direct = analyzer.classify_crops(X).argmax(axis=1)
        results[frontend] = evaluate(analyzer, scenes, y, direct)
    out = {
        "benchmark": "frontend",
        "data": "FER2013 PublicTest",
        "faces": len(y),
        "seed": args.seed,
        "frame": "320x240, face 144x144",
        "model": analyzer.model.config.name,
        "weights": str(args.weights) if args.weights else "bundled",
        "direct_crop_accuracy": round(float((direct == y).mean()), 4),
        "results": results,
    }
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
