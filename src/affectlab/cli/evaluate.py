"""``affectlab evaluate``: accuracy, UAR, per-class recall and confusion matrix of a model on a dataset."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click

from affectlab.errors import ConfigError, DataError

__all__ = ["evaluate_command", "format_evaluation"]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def format_evaluation(result: dict[str, Any]) -> str:
    """A readable summary: headline metrics, per-class recall and the confusion matrix."""
    labels = result["labels"]
    width = max(8, *(len(x) for x in labels))
    lines = [
        f"model {result['model']} on {result['dataset']}"
        + (f" [{result['split']}]" if result.get("split") and result["split"] not in result["dataset"] else ""),
        f"  samples   {result['n']}",
        *([f"  TTA       {result['tta']}"] if result.get("tta") else []),
        f"  accuracy  {result['accuracy']:.4f}",
        f"  UAR       {result['uar']:.4f}",
        f"  macro-F1  {result['macro_f1']:.4f}",
        "",
        "per-class recall:",
    ]
    for label in labels:
        recall = result["per_class_recall"].get(label)
        shown = "-" if recall is None or (isinstance(recall, float) and math.isnan(recall)) else f"{recall:.4f}"
        lines.append(f"  {label:<{width}} {shown}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted):"]
    lines.append(" " * (width + 2) + " ".join(f"{x[:7]:>7}" for x in labels))
    for label, row in zip(labels, result["confusion"]):
        lines.append(f"  {label:<{width}}" + " ".join(f"{v:>7d}" for v in row))
    if result.get("unknown_labels"):
        missing = ", ".join(f"{k} ({v})" for k, v in result["unknown_labels"].items())
        lines += ["", f"note: the model has no class for {missing}; those samples count as errors"]
    if isinstance(result.get("predictions"), str):
        lines += ["", f"predictions: {result['predictions']}"]
    return "\n".join(lines)


def _load(source: Path, data_format: str, split: str | None, progress: bool | None):
    """Load the dataset; for a FER2013 CSV with ``--split``, parse only that split's rows."""
    from affectlab.data.loader import detect_format, load_dataset

    fmt = detect_format(source) if data_format == "auto" and source.is_file() else data_format
    if fmt != "fer2013":
        return load_dataset(source, format=data_format)
    show = bool(progress)
    if split is not None:
        try:
            return load_dataset(source, format="fer2013", usage=split, progress=show)
        except DataError as exc:
            if "no data rows" not in str(exc):
                raise
    return load_dataset(source, format="fer2013", progress=show)  # select_split lists the splits present


def _check_writable(path: Path) -> None:
    """Refuse a --predictions file that cannot be written, before the model and the data are read."""
    import os

    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if existing == path.absolute():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ConfigError(f"--predictions {str(path)!r}: cannot write there "
                          f"({existing} is {'not a folder' if not existing.is_dir() else 'not writable'})")


@click.command("evaluate")
@click.option("--model", "model_spec", default="default", show_default=True, metavar="NAME_OR_PATH",
              help="'default' (the bundled model), a registered model name (its bundled weights) or a checkpoint file.")
@click.option("--data", "source", required=True, type=click.Path(path_type=Path),
              help="A dataset any affectlab reader takes (FER2013 CSV, class folders, manifest...).")
@click.option("--split", default=None, metavar="NAME",
              help="Only samples of this split (e.g. PublicTest, or any Usage value in a FER2013 CSV).")
@click.option("--format", "data_format", default="auto", show_default=True,
              help="Dataset format (see affectlab data info).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto (GPU when present), cpu or cuda.")
@click.option("--tta", type=click.Choice(["auto", "none", "mirror"]), default="auto", show_default=True,
              help="Test-time augmentation: the model's own setting (auto), none, or mirror (mean of the face and "
                   "its mirror image).")
@click.option("--predictions", "predictions_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE.csv", help="Also write one row per face: index, id, true and predicted class, and the "
                                       "probability of every class.")
@click.option("--progress/--no-progress", default=None, help="Progress bars on stderr (default: on a terminal).")
def evaluate_command(model_spec: str, source: Path, split: str | None, data_format: str, as_json: bool,
                     batch_size: int, device: str, tta: str, predictions_path: Path | None,
                     progress: bool | None) -> None:
    """Score an expression model on a labelled dataset.

    Prints accuracy, UAR (mean per-class recall), macro-F1, per-class recall and the
    confusion matrix. Faces are used as the dataset gives them (FER2013 and CK+48 are
    already cropped), resized to the model's input when needed.

    \b
    Examples:
      affectlab evaluate --data ../shared/datasets/fer2013/fer2013.csv.gz --split PublicTest
      affectlab evaluate --model resnet_fer --data fer2013.csv.gz --split PrivateTest --json
      affectlab evaluate --model runs/resnet-fer2013/best.pt --data fer2013.csv.gz --split PublicTest
      affectlab evaluate --model mini_xception --data ../shared/datasets/ckplus48
      affectlab evaluate --data fer2013.csv.gz --split PublicTest --tta mirror --predictions publictest.csv
    """
    from affectlab.models import load_model
    from affectlab.models.device import resolve_device
    from affectlab.models.evaluation import evaluate_model, write_predictions

    show = progress if progress is not None else sys.stderr.isatty()
    resolve_device(device)  # before the model and the data are read
    if predictions_path is not None:
        _check_writable(predictions_path)
    model = load_model(model_spec)
    dataset = _load(source, data_format, split, show)
    result = evaluate_model(model, dataset, split=split, batch_size=batch_size, device=device, progress=show,
                            tta=tta, keep_predictions=predictions_path is not None)
    if predictions_path is not None:
        result["predictions"] = str(write_predictions(result, predictions_path))
    result["model_spec"] = str(model_spec)
    result["data"] = str(source)
    if as_json:
        click.echo(json.dumps(_plain(result)))
    else:
        click.echo(format_evaluation(result))
