"""Fine-tune an expression checkpoint on FER2013 Training faces as the landmark front-end crops them.

The classifier of ``ExpressionAnalyzer(detector="dlib")`` was trained on FER2013's own 48x48
crops and never saw faces as the front-end produces them from a frame (resampled, levelled,
framed a little differently); ``benchmarks/frontend.py`` measures what that costs. This script
starts from a checkpoint (``--weights``; default: the bundled default model's weights) and trains
it a few epochs at a low learning rate on the union of the original Training crops and the
front-end crops of the same faces written by ``benchmarks/frontend_crops.py`` (only the faces the
front-end found), with the training recipe's augmentation and loss (``train_resnet_fer.sh``:
affine jitter 10 deg / 0.1 / 0.1 + flip, label smoothing 0.1, weight decay 0.05, batch 128,
channels-last), AdamW with a one-cycle schedule peaking at ``--lr``. The epoch is chosen by
accuracy on PublicTest (the original 48x48 crops; the selection split of this project's FER
models, as in ``train_fer2013.py``). PrivateTest is not available here.

Precise BatchNorm (default; ``--no-precise-bn``: the trainer's own selection): after every epoch
the BatchNorm running statistics are recomputed in one pass over the un-augmented training faces
(both sources) before the epoch is scored and saved. The running averages the trainer keeps come
from the last augmented batches and cost the fine-tuned net about half a point on PublicTest:
1 epoch at lr 1e-7 (weights unchanged) scored 0.6358 against the bundled model's 0.6414 (0.6447
with precise BN alone). Only training faces go into the statistics; PublicTest only chooses the
epoch.

Results (bundled ``resnet_fer``, 25,841 front-end crops of seed 0 + 28,709 originals, 5 epochs,
lr 3e-4, bf16, one thread, ~90 s per epoch; PublicTest accuracy without / with mirror averaging,
and ``frontend.py --frontends dlib --faces 3589``: end-to-end vs direct-crop accuracy on the found
faces):

- bundled: 0.6414 / 0.6459; found faces 0.6400 vs 0.6495 (gap -0.95 points);
- ``--no-precise-bn`` (epoch 5): 0.6386 / 0.6456; 0.6464 vs 0.6520 (gap -0.56);
- precise BN (default, epoch 5): 0.6453 / 0.6551; 0.6489 vs 0.6628 (gap -1.39).

Writes into ``--out`` (keep it outside the repository): ``best.pt`` (weights of the chosen epoch,
loadable with ``affectlab.models.load_model`` / ``--weights``), ``last.pt`` (to resume),
``history.json`` (the trainer's; with precise BN its validation columns are empty, the scores are in
``selection.json``) and ``results.json`` (the starting checkpoint's PublicTest accuracy/UAR as epoch 0,
the history, the chosen epoch's accuracy/UAR with and without mirror averaging, the settings, the
machine, the command). Nothing is installed into the package. Prints the results as one JSON line.

Run (one thread, as the project trains its FER models on CPU)::

    python benchmarks/frontend_crops.py --out /root/affectlab-frontend-crops/train-seed0.npz
    python benchmarks/finetune_frontend.py --crops /root/affectlab-frontend-crops/train-seed0.npz \\
        --out /root/affectlab-frontend-ft/resnet_fer-pbn --epochs 5 --lr 3e-4
    python benchmarks/frontend.py --json --frontends dlib \\
        --weights /root/affectlab-frontend-ft/resnet_fer-pbn/best.pt
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from affectlab.data.fer2013 import fer2013_arrays, load_fer2013
from affectlab.evaluate.metrics import classification_metrics
from affectlab.models import DEFAULT_MODEL, AffectNet, load_model, load_weights, save_weights
from affectlab.models.augment import AugmentConfig
from affectlab.models.train import PRECISIONS, TrainConfig, fit_classifier, machine_description, predict_proba

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"
DEFAULT_CROPS = Path("/root/affectlab-frontend-crops/train-seed0.npz")


def scores(model, x: np.ndarray, y: np.ndarray, *, mirror: bool = False) -> dict[str, float]:
    """Accuracy and UAR (mean per-class recall) of ``model`` on uint8 faces ``x``."""
    metrics = classification_metrics(y, predict_proba(model, x, tta_flip=mirror).argmax(1), np.unique(y))
    return {"accuracy": round(metrics["accuracy"], 4), "uar": round(metrics["uar"], 4)}


def precise_bn(model: AffectNet, x: np.ndarray, *, batch_size: int = 256) -> None:
    """Recompute every BatchNorm's running mean and variance over the uint8 faces ``x`` (no gradients)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over all batches
    was_training = model.training
    model.train()
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).float().div_(255.0)
            model(batch.unsqueeze(1).to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)


def frontend_crops(paths: list[Path], y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """The found crops of every ``frontend_crops.py`` file, their labels (checked against Training)."""
    xs, ys, info = [], [], []
    for path in paths:
        with np.load(path) as d:
            found, index, labels = d["found"], d["index"], d["labels"]
            if not np.array_equal(y_train[index], labels):
                raise SystemExit(f"{path}: its labels are not those of the Training rows it names")
            xs.append(d["crops"][found])
            ys.append(labels[found])
            info.append({"path": str(path), "faces": int(len(found)), "found": int(found.sum()),
                         "seed": int(d["seed"]) if "seed" in d else None})
    return np.concatenate(xs), np.concatenate(ys), {"files": info}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default",
                        help="starting checkpoint: a .pt file, a registered model name, or 'default' "
                             f"(the bundled {DEFAULT_MODEL})")
    parser.add_argument("--crops", type=Path, nargs="+", default=[DEFAULT_CROPS],
                        help="front-end crops written by benchmarks/frontend_crops.py")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, required=True, help="run folder (outside the repository)")
    parser.add_argument("--no-original", action="store_true",
                        help="train on the front-end crops only (default: with the original Training crops)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--schedule", choices=["onecycle", "cosine", "constant"], default="onecycle")
    parser.add_argument("--rotation", type=float, default=10.0, help="max rotation (degrees)")
    parser.add_argument("--scale", type=float, default=0.1, help="max relative scale change")
    parser.add_argument("--translate", type=float, default=0.1, help="max shift (fraction of the side)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--precise-bn", action=argparse.BooleanOptionalAction, default=True,
                        help="recompute BatchNorm statistics on the clean training faces before scoring each epoch")
    parser.add_argument("--precision", choices=list(PRECISIONS), default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N faces of each training source and of PublicTest (smoke tests)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"{args.data}: FER2013 CSV not found", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    started = time.time()

    data = load_fer2013(args.data)
    x_orig, y_orig = fer2013_arrays(data.filter(split="Training"))
    x_val, y_val = fer2013_arrays(data.filter(split="PublicTest"))
    x_front, y_front, crops_info = frontend_crops(args.crops, y_orig)
    if args.limit:
        x_orig, y_orig, x_front, y_front = (x_orig[: args.limit], y_orig[: args.limit],
                                            x_front[: args.limit], y_front[: args.limit])
        x_val, y_val = x_val[: args.limit], y_val[: args.limit]
    if args.no_original:
        x_train, y_train = x_front, y_front
    else:
        x_train, y_train = np.concatenate([x_orig, x_front]), np.concatenate([y_orig, y_front])

    model = load_model(args.weights)
    start = {"publictest": scores(model, x_val, y_val),
             "publictest_mirror_tta": scores(model, x_val, y_val, mirror=True)}
    if args.precise_bn:  # the starting weights with the statistics the fine-tuned epochs get
        bn_model = load_model(args.weights)
        precise_bn(bn_model, x_train)
        start["publictest_precise_bn"] = scores(bn_model, x_val, y_val)
        del bn_model
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer="adamw",
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        label_smoothing=args.label_smoothing,
        augment=AugmentConfig(max_rotation_deg=args.rotation, max_scale=args.scale,
                              max_translate=args.translate, flip=True),
        seed=args.seed,
        device="cpu",
        num_threads=args.threads,
        channels_last=args.channels_last,
        precision=args.precision,
    )
    if args.precise_bn:
        result, selection = fit_precise_bn(model, x_train, y_train, x_val, y_val, cfg, args.out)
        best_epoch, best_path, history = selection["best_epoch"], args.out / "best.pt", selection["epochs"]
    else:
        result = fit_classifier(model, train=(x_train, y_train), val=(x_val, y_val), config=cfg, out_dir=args.out)
        best_epoch, best_path, history = result.best_epoch, result.best_path, result.history
    load_weights(model, best_path)
    model.to(memory_format=torch.contiguous_format)
    best = {"publictest": scores(model, x_val, y_val),
            "publictest_mirror_tta": scores(model, x_val, y_val, mirror=True)}
    report = {
        "benchmark": "finetune_frontend",
        "model": model.config.name,
        "start_weights": args.weights,
        "crops": crops_info,
        "n_train_original": 0 if args.no_original else len(y_orig),
        "n_train_frontend": len(y_front),
        "n_train": len(y_train),
        "selection_split": "PublicTest",
        "n_val": len(y_val),
        "start": start,
        "precise_bn": args.precise_bn,
        "best_epoch": best_epoch,
        "best": best,
        "publictest_accuracy": best["publictest"]["accuracy"],
        "publictest_uar": best["publictest"]["uar"],
        "history": [{"epoch": 0, "val_accuracy": start["publictest"]["accuracy"],
                     "val_uar": start["publictest"]["uar"]}] + history,
        "best_path": str(best_path),
        "wall_time_s": round(time.time() - started, 1),
        "train_config": {**asdict(cfg), "schedule": result.schedule, "precision": result.precision},
        "machine": machine_description(),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
    }
    (args.out / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k not in ("train_config", "machine")}))
    return 0


def fit_precise_bn(model: AffectNet, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                   y_val: np.ndarray, cfg: TrainConfig, out: Path) -> tuple[object, dict[str, object]]:
    """Train ``cfg.epochs`` epochs; after each, precise BN, score PublicTest, keep the best as ``best.pt``.

    The epoch scores go to ``out/selection.json`` (read back when an interrupted run resumes).
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / "selection.json"
    selection: dict[str, object] = (json.loads(path.read_text()) if (out / "last.pt").is_file() and path.is_file()
                                    else {"best_epoch": 0, "best_accuracy": -1.0, "epochs": []})

    def on_epoch_end(row: dict[str, float]) -> None:
        tick = time.time()
        precise_bn(model, x_train)
        score = scores(model, x_val, y_val)
        row = {**row, "val_accuracy": score["accuracy"], "val_uar": score["uar"],
               "precise_bn_s": round(time.time() - tick, 1)}
        if score["accuracy"] > selection["best_accuracy"]:
            selection.update(best_epoch=int(row["epoch"]), best_accuracy=score["accuracy"])
            save_weights(model, out / "best.pt", extra={"epoch": int(row["epoch"]), "val_accuracy": score["accuracy"],
                                                        "precise_bn": True})
        selection["epochs"].append(row)
        path.write_text(json.dumps(selection, indent=2))
        print(f"epoch {row['epoch']}: precise BN, PublicTest accuracy {score['accuracy']:.4f} UAR {score['uar']:.4f}"
              f"{'  *best' if selection['best_epoch'] == row['epoch'] else ''}", file=sys.stderr)

    result = fit_classifier(model, train=(x_train, y_train), val=None, config=cfg, out_dir=out,
                            on_epoch_end=on_epoch_end)
    return result, selection


if __name__ == "__main__":
    raise SystemExit(main())
