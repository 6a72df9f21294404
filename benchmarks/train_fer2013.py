"""Train an expression CNN on FER2013 Training, select the epoch on PublicTest, write a model card.

    python benchmarks/train_fer2013.py --model mini_xception --epochs 40 --out runs/mx-fer2013 \
        [--data ../shared/datasets/fer2013/fer2013.csv.gz] [--install]

Protocol: fit on ``Usage == Training`` (28,709 faces); the checkpoint is chosen by PublicTest
accuracy (3,589 faces), the split FER2013 provides for model selection. PrivateTest, the usual
test split, is not available here, so the PublicTest figure is a validation number.
``--install`` copies the selected weights and card into ``src/affectlab/weights/``.
Prints one JSON object with the results. Interrupted runs resume from ``OUT/last.pt``.
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
from affectlab.models import create_model, load_weights
from affectlab.models.augment import AugmentConfig
from affectlab.models.train import TrainConfig, fit_classifier, machine_description, predict_proba

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def confusion(y: np.ndarray, pred: np.ndarray, n: int) -> list[list[int]]:
    cm = np.zeros((n, n), dtype=int)
    np.add.at(cm, (y, pred), 1)
    return cm.tolist()


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
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows of each split (smoke tests)")
    parser.add_argument("--install", action="store_true", help="copy weights + card into the package")
    args = parser.parse_args()

    data = load_fer2013(args.data)
    x_train, y_train = fer2013_arrays(data.filter(split="Training"))
    x_val, y_val = fer2013_arrays(data.filter(split="PublicTest"))
    if args.limit:
        x_train, y_train, x_val, y_val = x_train[: args.limit], y_train[: args.limit], x_val[: args.limit], y_val[: args.limit]
    model = create_model(args.model)
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        augment=AugmentConfig(max_rotation_deg=10, max_scale=0.1, max_translate=0.1, flip=True),
        seed=args.seed,
        num_threads=args.threads,
    )
    result = fit_classifier(model, train=(x_train, y_train), val=(x_val, y_val), config=cfg, out_dir=args.out)

    load_weights(model, result.best_path)
    pred = predict_proba(model, x_val).argmax(1)
    names = list(model.config.class_names)
    final = result.history[-1]
    report = {
        "model": args.model,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "train_split": "Training",
        "n_train": int(len(y_train)),
        "selection_split": "PublicTest",
        "n_val": int(len(y_val)),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "publictest_accuracy": float(np.mean(pred == y_val)),
        "publictest_uar": float(np.mean([np.mean(pred[y_val == c] == c) for c in np.unique(y_val)])),
        "last_epoch_publictest_accuracy": final["val_accuracy"],
        "confusion_matrix": confusion(y_val, pred, len(names)),
        "class_names": names,
        "wall_time_s": round(result.wall_time_s, 1),
        "train_config": asdict(cfg),
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


def write_model_card(r: dict, path: Path) -> Path:
    names = r["class_names"]
    header = "| true \\ pred | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1) + "\n"
    rows = "".join(f"| {n} | " + " | ".join(str(v) for v in row) + " |\n" for n, row in zip(names, r["confusion_matrix"]))
    tc = r["train_config"]
    path.write_text(
        f"""# Model card: `{r['model']}` trained on FER2013

- **Task**: 7 basic expressions ({', '.join(names)}) from a 48x48 gray face crop, input float in [0, 1].
- **Architecture**: `{r['model']}` from the AffectLab registry, {r['parameters']:,} parameters.
- **Data**: FER2013 (Goodfellow et al. 2013), `Usage == Training` ({r['n_train']:,} faces) for fitting.
- **Selection**: the epoch with the best accuracy on `PublicTest` ({r['n_val']:,} faces), FER2013's
  model-selection split. PrivateTest (the usual test split) is not available here, so the
  PublicTest number below is a *validation* figure and slightly optimistic; the last epoch's
  accuracy is given beside it.
- **Results on PublicTest**: accuracy **{r['publictest_accuracy']:.4f}**, UAR **{r['publictest_uar']:.4f}**
  (best epoch {r['best_epoch']} of {r['epochs_run']}; last epoch accuracy {r['last_epoch_publictest_accuracy']:.4f}).
  For orientation, published PrivateTest figures: human ~0.65, mini-Xception ~0.66.
- **Training**: {tc['optimizer']} lr {tc['lr']} ({tc['schedule']} schedule), weight decay {tc['weight_decay']},
  batch {tc['batch_size']}, {tc['epochs']} epochs, label smoothing {tc['label_smoothing']}, augmentation
  {tc['augment']}, seed {tc['seed']}.
- **Machine**: {r['machine']['processor']}, torch {r['machine']['torch']}, {r['machine']['threads']} threads,
  GPU: {r['machine']['cuda'] or 'none'}; wall time {r['wall_time_s'] / 60:.1f} min.
- **Reproduce**: `{r['command']}`
- **Limits**: FER2013 faces are web images with label noise; expect lower accuracy on faces that
  are not frontal, small, or lit very differently; disgust has few training examples (see its row).

## Confusion matrix on PublicTest (rows: true class)

{header}{rows}"""
    )
    return path


if __name__ == "__main__":
    raise SystemExit(main())
