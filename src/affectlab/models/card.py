"""Model cards: a Markdown file next to the weights saying what the model is and how it was made.

A card is written from a training report (a mapping, as ``results.json`` holds): the data and
splits used, the selection rule, the metrics with UAR and the confusion matrix, the machine,
the wall time and the exact command.

>>> import tempfile, pathlib
>>> report = {"model": "m", "parameters": 10, "dataset": "toy", "train_split": "train", "n_train": 4,
...           "selection_split": "val", "n_val": 2, "accuracy": 0.5, "uar": 0.5, "best_epoch": 1,
...           "epochs_run": 1, "last_epoch_accuracy": 0.5, "class_names": ["a", "b"],
...           "confusion_matrix": [[1, 0], [1, 0]], "wall_time_s": 6.0, "train_config": {},
...           "machine": {"processor": "x86_64", "torch": "2", "threads": 1, "cuda": None}, "command": "cmd"}
>>> path = write_model_card(report, pathlib.Path(tempfile.mkdtemp()) / "m.md")
>>> "accuracy **0.5000**" in path.read_text()
True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["confusion_table", "write_model_card"]

_REFERENCE = {
    "fer2013": ("  For orientation, published FER2013 PrivateTest figures: human ~0.65, mini-Xception ~0.66,"
                " best single CNNs ~0.73."),
}


def confusion_table(names: list[str], matrix: list[list[int]]) -> str:
    """A Markdown confusion matrix (rows: true class)."""
    header = "| true \\ pred | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1) + "\n"
    rows = "".join(f"| {n} | " + " | ".join(str(v) for v in row) + " |\n" for n, row in zip(names, matrix))
    return header + rows


def _training_text(tc: Mapping[str, Any]) -> str:
    if not tc:
        return "not recorded"
    parts = [f"{tc.get('optimizer')} lr {tc.get('lr')} ({tc.get('schedule')} schedule)",
             f"weight decay {tc.get('weight_decay')}", f"batch {tc.get('batch_size')}", f"{tc.get('epochs')} epochs",
             f"label smoothing {tc.get('label_smoothing')}", f"mixup alpha {tc.get('mixup_alpha')}",
             f"class weighting {tc.get('class_weighting')}", f"augmentation {tc.get('augment')}"]
    if tc.get("crop_size"):
        parts.append(f"random {tc['crop_size']}x{tc['crop_size']} crops")
    if tc.get("patience"):
        parts.append(f"early stopping patience {tc['patience']}")
    if tc.get("precision"):
        parts.append(f"{tc['precision']} arithmetic")
    parts.append(f"seed {tc.get('seed')}")
    return ", ".join(str(p) for p in parts)


def write_model_card(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write the Markdown card of a training ``report`` to ``path`` and return the path.

    ``report`` keys: ``model``, ``parameters``, ``dataset``, ``train_split``, ``n_train``,
    ``selection_split``, ``n_val``, ``accuracy``, ``uar``, ``best_epoch``, ``epochs_run``,
    ``last_epoch_accuracy``, ``class_names``, ``confusion_matrix``, ``wall_time_s``,
    ``train_config``, ``machine``, ``command`` (FER2013 reports may use ``publictest_accuracy``
    / ``publictest_uar`` / ``last_epoch_publictest_accuracy`` instead).
    """
    r = dict(report)
    acc = r.get("accuracy", r.get("publictest_accuracy"))
    uar = r.get("uar", r.get("publictest_uar"))
    last = r.get("last_epoch_accuracy", r.get("last_epoch_publictest_accuracy"))
    dataset = str(r.get("dataset", "fer2013"))
    names = list(r["class_names"])
    machine = r.get("machine", {})
    sel = r.get("selection_split", "validation")
    reference = _REFERENCE.get(dataset.lower(), "")
    fer_note = ""
    if dataset.lower() == "fer2013":
        fer_note = (f"\n  PrivateTest (the usual FER2013 test split) is not available here, so the {sel} number below\n"
                    "  is a *validation* figure (it chose the epoch) and slightly optimistic; the last epoch's\n"
                    "  accuracy is given beside it.")
    text = f"""# Model card: `{r['model']}` trained on {dataset}

- **Task**: {len(names)} classes ({', '.join(names)}) from a face crop, input float in [0, 1].
- **Architecture**: `{r['model']}` from the AffectLab registry, {r['parameters']:,} parameters.
- **Data**: {dataset}, `{r.get('train_split')}` ({r.get('n_train', 0):,} faces) for fitting.
- **Selection**: the epoch with the best accuracy on `{sel}` ({r.get('n_val', 0):,} faces); no test data was used
  for any choice.{fer_note}
- **Results on {sel}**: accuracy **{acc:.4f}**, UAR **{uar:.4f}**
  (best epoch {r.get('best_epoch')} of {r.get('epochs_run')}; last epoch accuracy {last:.4f}).
{reference}
- **Training**: {_training_text(r.get('train_config') or {})}.
- **Machine**: {machine.get('processor')}, torch {machine.get('torch')}, {machine.get('threads')} thread(s),
  GPU: {machine.get('cuda') or 'none'}; wall time {float(r.get('wall_time_s', 0.0)) / 60:.1f} min.
- **Reproduce**: `{r.get('command')}`
- **Limits**: faces that are not frontal, small, or lit very differently from the training data are
  classified less reliably; rare classes (see their rows) are recalled less often.

## Confusion matrix on {sel} (rows: true class)

{confusion_table(names, r['confusion_matrix'])}"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("\n\n- **Training**", "\n- **Training**"), encoding="utf-8")
    return path
