"""Train an expression CNN on FER2013 Training, select the epoch on PublicTest, write a model card.

    python benchmarks/train_fer2013.py --model mini_xception --epochs 40 --out runs/mx-fer2013 \
        [--data ../shared/datasets/fer2013/fer2013.csv.gz] [--install]

The ResNet candidate for the bundled model: ``benchmarks/train_resnet_fer.sh`` (resnet_fer, 24
epochs, AdamW, label smoothing, channels-last; one CPU thread). Any registered model works; the
10-crop CNN is trained on random 40x40 crops and validated with 10-crop averaging automatically.

Protocol: fit on ``Usage == Training`` (28,709 faces); the checkpoint is chosen by PublicTest
accuracy (3,589 faces), the split FER2013 provides for model selection. PrivateTest, the usual
test split, is not available here, so the PublicTest figure is a validation number.
``--install`` copies the selected weights and card into ``src/affectlab/weights/``.
Prints one JSON object with the results. Interrupted runs resume from ``OUT/last.pt``.

Cross-fitting (members of ``configs/fer2013-fusion.yaml``): ``--crossfit-fold I --crossfit-splits N``
trains on Training *without* its I-th of N stratified parts (``affectlab.evaluate.protocols.crossfit_folds``,
the folds the fusion runner uses) for exactly ``--epochs`` epochs and saves the last epoch as
``OUT/final.pt`` with the fingerprint of the held-out part. The held-out part is only monitored,
never used to choose an epoch; PublicTest is not read at all in this mode.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from affectlab.data.fer2013 import fer2013_arrays, load_fer2013
from affectlab.evaluate.metrics import classification_metrics
from affectlab.evaluate.protocols import crossfit_fingerprint, crossfit_folds
from affectlab.labels import FER2013_CLASSES
from affectlab.models import create_model, load_weights, save_weights
from affectlab.models.augment import AugmentConfig
from affectlab.models.card import write_model_card
from affectlab.models.train import (
    PRECISIONS,
    TrainConfig,
    fit_classifier,
    machine_description,
    predict_proba,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mini_xception")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw")
    parser.add_argument("--schedule", choices=["onecycle", "cosine", "constant"], default="onecycle")
    parser.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0 = off)")
    parser.add_argument("--class-weighting", action="store_true", help="inverse-frequency class weights")
    parser.add_argument("--patience", type=int, default=None, help="early stopping on PublicTest accuracy")
    parser.add_argument("--rotation", type=float, default=10.0, help="max rotation (degrees)")
    parser.add_argument("--scale", type=float, default=0.1, help="max relative scale change")
    parser.add_argument("--translate", type=float, default=0.1, help="max shift (fraction of the side)")
    parser.add_argument("--erase", type=float, default=0.0, help="random-erasing probability per face (0 = off)")
    parser.add_argument("--channels-last", action="store_true", help="NHWC layout (faster on CPU)")
    parser.add_argument("--precision", choices=list(PRECISIONS), default="auto",
                        help="training arithmetic: auto = bf16 where the CPU/GPU computes it natively, else fp32")
    parser.add_argument("--crop-size", type=int, default=None,
                        help="random square training crops (default: the model's input when it is smaller than 48)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows of each split (smoke tests)")
    parser.add_argument("--install", action="store_true", help="copy weights + card into the package")
    parser.add_argument("--crossfit-fold", type=int, default=None,
                        help="train without this held-out part of Training (0-based; see above)")
    parser.add_argument("--crossfit-splits", type=int, default=2, help="number of cross-fitting parts")
    parser.add_argument("--crossfit-seed", type=int, default=0, help="seed of the cross-fitting split")
    args = parser.parse_args()

    data = load_fer2013(args.data)
    x_train, y_train = fer2013_arrays(data.filter(split="Training"))
    if args.crossfit_fold is not None:
        if args.limit:
            x_train, y_train = x_train[: args.limit], y_train[: args.limit]
        return crossfit(args, x_train, y_train)
    x_val, y_val = fer2013_arrays(data.filter(split="PublicTest"))
    if args.limit:
        x_train, y_train, x_val, y_val = (x_train[: args.limit], y_train[: args.limit],
                                          x_val[: args.limit], y_val[: args.limit])
    model = create_model(args.model)
    cfg = train_config(args, model, x_train)
    result = fit_classifier(model, train=(x_train, y_train), val=(x_val, y_val), config=cfg, out_dir=args.out)
    load_weights(model, result.best_path)
    pred = predict_proba(model, x_val).argmax(1)
    names = list(model.config.class_names)
    final = result.history[-1]
    scores = classification_metrics(y_val, pred, range(len(names)))
    acc, uar = scores["accuracy"], scores["uar"]
    mirror = predict_proba(model, x_val, tta_flip=True).argmax(1)  # for the record: the epoch was chosen without it
    mirror_scores = classification_metrics(y_val, mirror, range(len(names)))
    report = {
        "model": args.model,
        "dataset": "fer2013",
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "train_split": "Training",
        "n_train": len(y_train),
        "selection_split": "PublicTest",
        "n_val": len(y_val),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "publictest_accuracy": acc,
        "publictest_uar": uar,
        "accuracy": acc,
        "uar": uar,
        "publictest_accuracy_mirror_tta": mirror_scores["accuracy"],
        "publictest_uar_mirror_tta": mirror_scores["uar"],
        "last_epoch_publictest_accuracy": final["val_accuracy"],
        "last_epoch_accuracy": final["val_accuracy"],
        "confusion_matrix": scores["confusion"],
        "class_names": names,
        "wall_time_s": round(result.wall_time_s, 1),
        "train_config": {**asdict(cfg), "schedule": result.schedule, "precision": result.precision},  # as run
        "machine": machine_description(),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
    }
    (args.out / "results.json").write_text(json.dumps(report, indent=2))
    card = write_model_card(report, args.out / f"{args.model}_fer2013.md")
    if args.install:
        weights_dir = REPO / "src" / "affectlab" / "weights"
        shutil.copy(result.best_path, weights_dir / f"{args.model}_fer2013.pt")
        shutil.copy(card, weights_dir / card.name)
    print(json.dumps({k: v for k, v in report.items() if k not in ("train_config", "confusion_matrix")}))
    return 0



def train_config(args: argparse.Namespace, model, x_train: np.ndarray) -> TrainConfig:
    crop = args.crop_size
    if crop is None and tuple(model.config.input_size) != tuple(x_train.shape[1:]):
        crop = int(model.config.input_size[0])  # e.g. the 10-crop CNN: random 40x40 crops of 48x48 faces
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        optimizer=args.optimizer,
        schedule=args.schedule,
        mixup_alpha=args.mixup,
        class_weighting=args.class_weighting,
        patience=args.patience,
        augment=AugmentConfig(max_rotation_deg=args.rotation, max_scale=args.scale,
                              max_translate=args.translate, flip=True, erase_prob=args.erase),
        seed=args.seed,
        num_threads=args.threads,
        channels_last=args.channels_last,
        crop_size=crop,
        precision=args.precision,
    )


def crossfit(args: argparse.Namespace, x_train: np.ndarray, y_train: np.ndarray) -> int:
    """Train on Training minus one cross-fitting part; save the last epoch with the part's fingerprint."""
    if args.install:
        raise SystemExit("--install and --crossfit-fold exclude each other"
                         " (a cross-fitted net is not the bundled model)")
    names = np.asarray(FER2013_CLASSES)[y_train]
    parts = crossfit_folds(names, args.crossfit_splits, seed=args.crossfit_seed)
    if not 0 <= args.crossfit_fold < len(parts):
        raise SystemExit(f"--crossfit-fold must be in 0..{len(parts) - 1}")
    fit, held = parts[args.crossfit_fold]
    model = create_model(args.model)
    cfg = train_config(args, model, x_train)
    result = fit_classifier(model, train=(x_train[fit], y_train[fit]), val=(x_train[held], y_train[held]),
                            config=cfg, out_dir=args.out)
    info = {"split": "Training", "fold": args.crossfit_fold, "n_splits": args.crossfit_splits,
            "seed": args.crossfit_seed, "n_fit": int(fit.size), "n_held_out": int(held.size),
            "fingerprint": crossfit_fingerprint(names, held)}
    final = save_weights(model, args.out / "final.pt", extra={"epoch": len(result.history), "crossfit": info})
    last = result.history[-1]
    report = {"model": args.model, "dataset": "fer2013", "crossfit": info, "weights": str(final),
              "epochs_run": len(result.history), "held_out_accuracy_last_epoch": last["val_accuracy"],
              "held_out_uar_last_epoch": last["val_uar"], "wall_time_s": round(result.wall_time_s, 1),
              "train_config": asdict(cfg), "machine": machine_description(),
              "command": "python " + " ".join(shlex.quote(a) for a in sys.argv)}
    (args.out / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "train_config"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
