"""Fit the landmark front-end's constants on FER2013 Training faces (never PublicTest).

Pastes Training faces into frames as ``benchmarks/frontend.py`` does (other faces, another seed),
runs dlib's HOG detector, the Haar cascade and the 5-point landmark model, and maps what they
found back into the 48x48 frame of the original face (the known paste position is used here,
for fitting, and nowhere in the front-end). Prints one JSON object:

- ``framing``: medians of the eye midpoint ``(eye_x, eye_y)`` and the eye distance, as fractions
  of the face's side: where FER2013 puts the eyes (``affectlab.face.FER2013_FRAMING``);
- ``haar_to_hog``: medians of ``(dx, dy, scale)`` from a Haar box to dlib's box of the same face,
  as fractions of the Haar side (``affectlab.face.dlib_detector._HAAR_TO_HOG``);
- the spreads (quartiles) and counts behind them.

Run::

    python benchmarks/calibrate_framing.py --faces 3000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from affectlab.data.fer2013 import fer2013_arrays, load_fer2013
from affectlab.face import HaarCascadeDetector, eye_centres
from affectlab.face.dlib_detector import DlibFrontEnd

from pasted_faces import pasted_faces

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def _quartiles(values: list[float]) -> list[float]:
    return [round(float(v), 4) for v in np.percentile(values, [25, 50, 75])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--faces", type=int, default=3000, help="Training faces to use (random, seeded).")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"{args.data}: FER2013 CSV not found", file=sys.stderr)
        return 2
    started = time.perf_counter()
    X, _ = fer2013_arrays(load_fer2013(args.data, usage="Training"))
    pick = np.random.default_rng(args.seed).choice(len(X), size=min(args.faces, len(X)), replace=False)
    front = DlibFrontEnd(fallback="none")
    haar = HaarCascadeDetector()
    eyes_x, eyes_y, dists, haar_fit = [], [], [], []
    n_hog = n_haar = 0
    for scene in pasted_faces(X[pick], seed=args.seed):
        hog = [b for b in front.detect(scene.frame) if scene.contains(*b.center)]
        cascade = [b for b in haar.detect(scene.frame) if scene.contains(*b.center)]
        n_haar += bool(cascade)
        if not hog:
            continue
        n_hog += 1
        box = hog[0]
        (lx, ly), (rx, ry) = eye_centres(scene.to_face(front.landmarks(scene.frame, box)))
        eyes_x.append((lx + rx) / 2 / 48)
        eyes_y.append((ly + ry) / 2 / 48)
        dists.append(float(np.hypot(rx - lx, ry - ly)) / 48)
        if cascade:
            h = cascade[0]
            haar_fit.append(((box.x - h.x) / h.w, (box.y - h.y) / h.h, box.w / h.w))
    fit = np.array(haar_fit)
    result = {
        "benchmark": "calibrate_framing",
        "data": "FER2013 Training",
        "faces": len(pick),
        "seed": args.seed,
        "found_hog": n_hog,
        "found_haar": n_haar,
        "framing": {"eye_x": round(float(np.median(eyes_x)), 4), "eye_y": round(float(np.median(eyes_y)), 4),
                    "eye_distance": round(float(np.median(dists)), 4)},
        "framing_quartiles": {"eye_x": _quartiles(eyes_x), "eye_y": _quartiles(eyes_y),
                              "eye_distance": _quartiles(dists)},
        "haar_to_hog": [round(float(v), 4) for v in np.median(fit, axis=0)],
        "haar_to_hog_pairs": len(fit),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
