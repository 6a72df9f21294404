"""Fooling rate of the bundled expression model on correctly classified FER2013 PublicTest faces.

    python benchmarks/fool_rate.py [--n 200] [--bound 0.15] [--threshold 0.9] [--max-steps 100]
                                   [--method sign] [--data ../shared/datasets/fer2013/fer2013.csv.gz]

Protocol: read FER2013 ``Usage == PublicTest`` in file order, classify every face with the
bundled ``mini_xception``, keep the first ``--n`` that it classifies correctly, and attack each
towards its most likely wrong class (iterative gradient steps on that class's log-probability,
each pixel kept within ``bound`` x the value range [0, 1] of its original and inside [0, 1]),
stopping at probability >= ``threshold`` or after ``--max-steps``. This is what
``affectlab fool FACE --whole-frame`` does per face. Prints one JSON object: n, success rate,
median / max steps (of the successful faces and of all), largest |delta| relative to the bound,
and the success check (every success has probability >= threshold).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from affectlab.data.fer2013 import fer2013_arrays, load_fer2013
from affectlab.explain import fool
from affectlab.models import create_model
from affectlab.models.train import predict_proba

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--bound", type=float, default=0.15)
    parser.add_argument("--threshold", type=float, default=0.90)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--step-size", type=float, default=None)
    parser.add_argument("--method", choices=["sign", "scaled"], default="sign")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tick = time.time()
    data = load_fer2013(args.data, usage="PublicTest")
    X, y = fer2013_arrays(data)
    model = create_model("mini_xception", pretrained=True).eval()
    pred = predict_proba(model, X).argmax(1)
    correct = np.flatnonzero(pred == y)[: args.n]
    result = fool(model, X[correct], bound=args.bound, threshold=args.threshold, max_steps=args.max_steps,
                  step_size=args.step_size, method=args.method)
    delta = np.abs(result.delta).reshape(len(result), -1).max(axis=1)
    p_target = result.target_probability()
    ok = result.success
    print(json.dumps({
        "data": f"{args.data.name} PublicTest, first {len(correct)} faces classified correctly by mini_xception "
                f"(of {int(correct[-1]) + 1 if len(correct) else 0} read; PublicTest accuracy "
                f"{float(np.mean(pred == y)):.4f})",
        "n": len(correct),
        "method": args.method,
        "bound": args.bound,
        "threshold": args.threshold,
        "max_steps": args.max_steps,
        "step_size": args.step_size if args.step_size is not None else 1 / 255,
        "success_rate": round(float(ok.mean()), 4),
        "median_steps": float(np.median(result.steps[ok])) if ok.any() else None,
        "median_steps_all": float(np.median(result.steps)),
        "max_steps_taken": int(result.steps.max()),
        "max_abs_delta_over_bound": round(float(delta.max() / (args.bound * 1.0)), 4),
        "median_abs_delta_over_bound": round(float(np.median(delta) / args.bound), 4),
        "successes_with_probability_below_threshold": int(np.sum(ok & (p_target < args.threshold))),
        "median_target_probability": round(float(np.median(p_target)), 4),
        "seconds": round(time.time() - tick, 1),
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
