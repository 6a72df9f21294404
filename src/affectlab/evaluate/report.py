"""One results table from many run folders (``affectlab report``).

Every experiment kind writes ``metrics.json`` with a ``rows`` list; the columns that name a row
(task, feature, classifier, model, ...) and the metrics differ a little between kinds. This module
reads any number of run folders and lines their rows up: ``run``, ``method`` (the naming columns
joined by `` / ``), then each metric that some row has (blank where a row has none).

>>> import json, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "ck-hog"
>>> folder.mkdir()
>>> _ = (folder / "metrics.json").write_text(json.dumps({"rows": [
...     {"feature": "hog", "classifier": "svm", "accuracy": 0.9, "uar": 0.85, "n_test": 981}]}))
>>> print(results_markdown(collect_results([folder])))
| run | method | accuracy | UAR | n_test |
| --- | --- | ---: | ---: | ---: |
| ck-hog | hog / svm | 0.900 | 0.850 | 981 |
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from affectlab.checks import is_integer
from affectlab.errors import DataError

__all__ = ["METRIC_COLUMNS", "NAME_COLUMNS", "collect_results", "results_csv", "results_markdown", "sort_results"]

#: Row fields that name a method, in the order they are joined.
NAME_COLUMNS = ("task", "method", "fusion", "members", "feature", "classifier", "model", "kind", "normalisation",
                "level")
#: Metrics lined up in the table (in this order), with their headers.
METRIC_COLUMNS = {
    "accuracy": "accuracy", "uar": "UAR", "macro_f1": "macro-F1", "auc": "AUC", "error_rate": "error rate",
    "ccc": "CCC", "rmse": "RMSE", "pearson": "Pearson r", "fold_accuracy_mean": "fold acc. mean",
    "fold_accuracy_std": "fold acc. sd", "n_test": "n_test",
}


def _method(row: dict[str, Any]) -> str:
    parts: list[str] = []
    for key in NAME_COLUMNS:
        value = row.get(key)
        if value is None or isinstance(value, list | dict):
            continue
        seen = {piece for part in parts for piece in part.split(" / ")}
        if str(value) not in seen:  # e.g. a fusion member's feature is already in its "members" text
            parts.append(str(value))
    return " / ".join(parts) or "-"


def collect_results(run_dirs: Iterable[str | Path], *, contains: str | None = None) -> list[dict[str, Any]]:
    """The rows of every run folder's ``metrics.json``: ``{"run", "method", <metrics>...}``.

    ``contains`` keeps the rows whose method names include that text (case-insensitive).
    """
    table: list[dict[str, Any]] = []
    for run in run_dirs:
        folder = Path(run)
        path = folder / "metrics.json" if folder.is_dir() else folder
        if not path.is_file():
            raise DataError(f"{run}: no metrics.json (give run folders written by `affectlab experiment`)")
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not readable JSON ({exc})") from None
        rows = metrics.get("rows") if isinstance(metrics, dict) else None
        if not isinstance(rows, list):
            raise DataError(f"{path}: no 'rows' list (not a run folder's metrics)")
        name = path.parent.name or path.parent.resolve().name  # "." -> the folder's own name
        for row in rows:
            if not isinstance(row, dict):
                continue
            record: dict[str, Any] = {"run": name, "method": _method(row)}
            record.update({k: row[k] for k in METRIC_COLUMNS if isinstance(row.get(k), int | float)})
            if contains is None or contains.lower() in record["method"].lower():
                table.append(record)
    return table


def sort_results(table: list[dict[str, Any]], by: str, *, descending: bool | None = None) -> list[dict[str, Any]]:
    """Rows ordered by metric ``by`` (best first: descending, but ascending for error rate and RMSE);
    rows without it go last."""
    if by not in METRIC_COLUMNS:
        raise DataError(f"cannot sort by {by!r} (metrics: {', '.join(METRIC_COLUMNS)})")
    if descending is None:
        descending = by not in ("error_rate", "rmse")
    have = [r for r in table if by in r]
    return sorted(have, key=lambda r: r[by], reverse=descending) + [r for r in table if by not in r]


def _columns(table: Sequence[dict[str, Any]]) -> list[str]:
    present = {k for r in table for k in r}
    return ["run", "method", *[k for k in METRIC_COLUMNS if k in present]]


def _cell(value: Any, key: str) -> str:
    if value is None:
        return ""
    if key == "n_test" or is_integer(value):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def results_markdown(table: Sequence[dict[str, Any]]) -> str:
    """A Markdown table (metrics to 3 decimals, numbers right-aligned)."""
    columns = _columns(table)
    header = [METRIC_COLUMNS.get(c, c) for c in columns]
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if c in ("run", "method") else "---:" for c in columns) + " |"]
    lines += ["| " + " | ".join(_cell(r.get(c), c) for c in columns) + " |" for r in table]
    return "\n".join(lines)


def results_csv(table: Sequence[dict[str, Any]]) -> str:
    """CSV text with full-precision values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(table), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()
