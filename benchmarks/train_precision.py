"""Seconds per FER2013 epoch in fp32 vs bf16 autocast, and the accuracy both reach, in one run (prints JSON).

    python benchmarks/train_precision.py [--data ../shared/datasets/fer2013/fer2013.csv.gz] [--threads 2]

Timing: each model trains one epoch on the same ``--subset`` faces of Training (a seeded random subset, 4,096 by
default) in each precision, alternating fp32 / bf16 ``--repeats`` times; the fastest epoch of each counts (the
least disturbed by other processes; all are printed) and is scaled to a full epoch of the 28,709 Training faces.
Augmentation and settings are those of the real runs (affine + flip, channels-last, batch 128; random 40x40
crops for ``resnet18_fer``).

Accuracy: ``resnet_fer`` trains ``--acc-epochs`` epochs on ``--acc-subset`` faces with each ``--seeds`` seed in
each precision and is scored on all 3,589 PublicTest faces after the last epoch (no epoch selection, so no
choice is made on PublicTest); the seed-to-seed spread is the noise the fp32 - bf16 difference is judged
against.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from affectlab.data.fer2013 import fer2013_arrays, load_fer2013
from affectlab.models import create_model
from affectlab.models.train import (
    TrainConfig,
    cpu_supports_bf16,
    fit_classifier,
    predict_proba,
    resolve_precision,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"
N_TRAINING = 28_709


def config(model_name: str, precision: str, epochs: int, seed: int, threads: int) -> TrainConfig:
    """The bundled resnet_fer's recipe (benchmarks/train_resnet_fer.sh); random 40x40 crops for resnet18_fer."""
    crop = 40 if model_name == "resnet18_fer" else None
    return TrainConfig(epochs=epochs, batch_size=128, optimizer="adamw", lr=3e-3, weight_decay=0.05,
                       schedule="onecycle", label_smoothing=0.1, seed=seed, device="cpu", num_threads=threads,
                       channels_last=True, crop_size=crop, precision=precision)  # type: ignore[arg-type]


def epoch_seconds(model_name: str, x: np.ndarray, y: np.ndarray, precision: str, threads: int) -> float:
    torch.manual_seed(0)
    model = create_model(model_name)
    result = fit_classifier(model, train=(x, y), val=None, config=config(model_name, precision, 1, 0, threads),
                            progress=False)
    return float(result.history[0]["epoch_time_s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared 2-core machine two threads are slower, see "
                             "benchmarks/train_fer2013_resnet18.sh)")
    parser.add_argument("--subset", type=int, default=4096, help="Training faces timed per epoch")
    parser.add_argument("--repeats", type=int, default=3, help="alternating fp32/bf16 timed epochs per model")
    parser.add_argument("--models", nargs="+", default=["resnet_fer", "resnet18_fer"])
    parser.add_argument("--acc-subset", type=int, default=8192, help="Training faces of the accuracy runs")
    parser.add_argument("--acc-epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    if not args.data.is_file():
        print(json.dumps({"skipped": f"{args.data} not found"}))
        return 0
    torch.set_num_threads(args.threads)
    data = load_fer2013(args.data)
    x_all, y_all = fer2013_arrays(data.filter(split="Training"))
    x_val, y_val = fer2013_arrays(data.filter(split="PublicTest"))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y_all))
    started = time.time()

    timing = {}
    sub = order[: args.subset]
    for name in args.models:
        times: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for _ in range(args.repeats):
            for precision in ("fp32", "bf16"):
                times[precision].append(epoch_seconds(name, x_all[sub], y_all[sub], precision, args.threads))
        med = {p: min(t) for p, t in times.items()}  # the least disturbed epoch of each
        scale = N_TRAINING / len(sub)
        timing[name] = {
            "timed_faces": len(sub),
            "epoch_s_on_subset": {p: [round(v, 2) for v in t] for p, t in times.items()},
            "s_per_full_epoch_fp32": round(med["fp32"] * scale, 1),
            "s_per_full_epoch_bf16": round(med["bf16"] * scale, 1),
            "speedup_bf16": round(med["fp32"] / med["bf16"], 2),
        }
        print(json.dumps({name: timing[name]}), file=sys.stderr)

    accuracy: dict[str, dict[str, float]] = {"fp32": {}, "bf16": {}}
    sub = order[: args.acc_subset]
    for seed in args.seeds:
        for precision in ("fp32", "bf16"):
            torch.manual_seed(seed)
            model = create_model("resnet_fer")
            fit_classifier(model, train=(x_all[sub], y_all[sub]), val=None, progress=False,
                           config=config("resnet_fer", precision, args.acc_epochs, seed, args.threads))
            pred = predict_proba(model, x_val, device="cpu").argmax(1)
            accuracy[precision][str(seed)] = round(float(np.mean(pred == y_val)), 4)
            print(json.dumps({"seed": seed, "precision": precision, "publictest_accuracy":
                              accuracy[precision][str(seed)]}), file=sys.stderr)
    mean = {p: float(np.mean(list(a.values()))) for p, a in accuracy.items()}
    spread = [abs(accuracy["fp32"][str(s)] - accuracy["fp32"][str(t)]) for s in args.seeds for t in args.seeds
              if s < t] + [abs(accuracy["bf16"][str(s)] - accuracy["bf16"][str(t)]) for s in args.seeds
                           for t in args.seeds if s < t]
    report = {
        "benchmark": "train_precision",
        "timing": timing,
        "accuracy": {
            "model": "resnet_fer",
            "train_faces": len(sub),
            "epochs": args.acc_epochs,
            "scored_on": f"PublicTest, all {len(y_val)} faces, last epoch (no selection)",
            "publictest_accuracy": accuracy,
            "mean_fp32": round(mean["fp32"], 4),
            "mean_bf16": round(mean["bf16"], 4),
            "bf16_minus_fp32": round(mean["bf16"] - mean["fp32"], 4),
            "seed_to_seed_spread_max": round(max(spread), 4) if spread else None,
        },
        "timing_rule": "fastest of the alternating repeats, scaled to 28,709 faces",
        "auto_resolves_to": resolve_precision("auto", "cpu"),
        "cpu_has_native_bf16": cpu_supports_bf16(),
        "threads": args.threads,
        "machine": {"processor": platform.processor() or platform.machine(), "torch": torch.__version__,
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "wall_time_s": round(time.time() - started, 1),
        "command": "python " + " ".join(sys.argv),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
