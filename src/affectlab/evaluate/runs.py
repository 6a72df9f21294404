"""Run folders: one directory per experiment with config, metrics, predictions, plots and report.

Layout::

    DIR/config.yaml                        resolved config + provenance (version, time, data, folds)
    DIR/metrics.json                       {"rows": [...one per (feature, classifier)...], ...}
    DIR/predictions.csv                    id, fold, feature, classifier, true, pred, subject
    DIR/confusion_<feature>_<classifier>.png
    DIR/report.md                          data, protocol, normalisation, results table, plots
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from affectlab.errors import ConfigError

__all__ = [
    "prepare_run_dir",
    "confusion_filename",
    "markdown_table",
    "write_config",
    "write_metrics",
    "write_predictions",
    "write_report",
    "PREDICTION_COLUMNS",
]

PREDICTION_COLUMNS = ("id", "fold", "feature", "classifier", "true", "pred", "subject")


def prepare_run_dir(out_dir: str | Path, *, overwrite: bool = False, create: bool = True) -> Path:
    """Create ``out_dir``; refuse an existing non-empty folder unless ``overwrite``.

    ``create=False`` only checks (so a run can fail on bad data before leaving a folder).
    """
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ConfigError(f"--out {path}: folder is not empty (choose a new folder, or overwrite)")
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot create ({exc.strerror or exc})") from None
    return path


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def confusion_filename(feature: str, classifier: str) -> str:
    """``confusion_<feature>_<classifier>.png`` with unsafe characters replaced."""
    return f"confusion_{_safe(feature)}_{_safe(classifier)}.png"


def _jsonable(value: Any) -> Any:
    """Numpy scalars/arrays to Python, NaN/inf to ``None``."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The results as a Markdown table (one line per feature x classifier).

    Examples
    --------
    >>> print(markdown_table([{"feature": "hog", "classifier": "linear_svm", "accuracy": 0.8,
    ...                        "uar": 0.75, "macro_f1": 0.7, "n_test": 10}]))
    | feature | classifier | accuracy | UAR | macro-F1 | fold accuracy (mean ± sd) | n_test |
    | --- | --- | ---: | ---: | ---: | ---: | ---: |
    | hog | linear_svm | 0.800 | 0.750 | 0.700 | - | 10 |
    """
    head = "| feature | classifier | accuracy | UAR | macro-F1 | fold accuracy (mean ± sd) | n_test |"
    lines = [head, "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        mean, sd = r.get("fold_accuracy_mean"), r.get("fold_accuracy_std")
        several = r.get("n_folds", 2) > 1
        folds = f"{mean:.3f} ± {sd:.3f}" if several and mean is not None and sd is not None else "-"
        cells = [r["feature"], r["classifier"], _fmt(r.get("accuracy")), _fmt(r.get("uar")),
                 _fmt(r.get("macro_f1")), folds, _fmt(r.get("n_test"))]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def write_config(out_dir: Path, config: Mapping[str, Any]) -> Path:
    """Write ``config.yaml`` (keys in the given order)."""
    path = Path(out_dir) / "config.yaml"
    text = yaml.safe_dump(_jsonable(config), sort_keys=False, allow_unicode=True, default_flow_style=False)
    path.write_text(text, encoding="utf-8")
    return path


def write_metrics(out_dir: Path, metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics.json`` (NaN written as ``null``)."""
    path = Path(out_dir) / "metrics.json"
    path.write_text(json.dumps(_jsonable(metrics), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def write_predictions(out_dir: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``predictions.csv`` with :data:`PREDICTION_COLUMNS` (empty subject when unknown)."""
    path = Path(out_dir) / "predictions.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=PREDICTION_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in PREDICTION_COLUMNS})
    return path


def write_report(
    out_dir: Path,
    *,
    title: str,
    sections: Sequence[tuple[str, str]],
    rows: Sequence[Mapping[str, Any]],
) -> Path:
    """Write ``report.md``: ``sections`` (heading, text), the results table and the plot links."""
    lines = [f"# {title}", ""]
    for heading, text in sections:
        lines += [f"## {heading}", "", text.rstrip(), ""]
    lines += ["## Results", "", "Predictions of all folds are pooled before computing the metrics.", ""]
    lines += [markdown_table(rows), ""]
    plots = [(r["feature"], r["classifier"], r.get("confusion_png")) for r in rows if r.get("confusion_png")]
    if plots:
        lines += ["## Confusion matrices", "", "Counts in the cells; colours are row-normalised (recall).", ""]
        lines += [f"- [{f} / {c}]({png})" for f, c, png in plots]
        lines.append("")
    path = Path(out_dir) / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
