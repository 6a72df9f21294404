"""Compare two run folders: do they hold the same predictions and the same numbers?

Checks ``predictions.csv`` row by row (the rows of a run are matched on every column but the
predicted ones, so a change of row order alone is reported as such, not as moved predictions) and
every number in ``metrics.json`` except timings (keys holding ``seconds`` or ``time``) and run provenance
(paths, timestamps, commits, worker counts, cache statuses). Prints what differs and exits with 1
when anything does, 0 when both folders agree.

    python benchmarks/compare_runs.py BEFORE_DIR AFTER_DIR [--tolerance 0] [--max-lines 20] [--folds F ...]

``--folds fold01 fold02`` compares only the prediction rows of those folds (a run of some folds
against a full run, e.g. ``protocol.run_folds`` of a pairs config); metrics.json is then skipped,
since its pooled numbers cover other folds.

Used for the refactor checks in docs/results.md ("Refactor checks").
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

#: Columns holding what a model predicted (the rest identify the row).
PREDICTED = {"pred", "score", "prob", "probability", "decision", "distance", "predicted", "pred_label"}
#: metrics.json keys that are provenance or timing, not results.
IGNORED_KEYS = {"seconds", "timestamp", "time", "n_jobs", "feature_cache", "cache", "config_file",
                "affectlab_commit", "path", "source", "hits", "misses"}


def _is_predicted(column: str) -> bool:
    name = column.lower()
    return name in PREDICTED or name.startswith(("pred_", "score", "prob_", "decision_"))


def read_predictions(path: Path, folds: list[str] | None = None) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), [r for r in rows if folds is None or r.get("fold") in folds]


def compare_predictions(before: Path, after: Path, *, tolerance: float, max_lines: int,
                        folds: list[str] | None = None) -> list[str]:
    """Lines describing how the two predictions.csv differ (empty when they agree)."""
    columns_a, rows_a = read_predictions(before, folds)
    columns_b, rows_b = read_predictions(after, folds)
    if folds is not None and not rows_a:
        return [f"predictions.csv: no row of fold(s) {', '.join(folds)} in {before}"]
    out: list[str] = []
    if columns_a != columns_b:
        out.append(f"predictions.csv columns differ: {columns_a} vs {columns_b}")
    if len(rows_a) != len(rows_b):
        out.append(f"predictions.csv: {len(rows_a)} rows vs {len(rows_b)} rows")
    keys = [c for c in columns_a if c in columns_b and not _is_predicted(c)]
    values = [c for c in columns_a if c in columns_b and _is_predicted(c)]

    def key(row: dict[str, str]) -> tuple[str, ...]:
        return tuple(row.get(c, "") for c in keys)

    index_b: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for row in rows_b:
        index_b.setdefault(key(row), []).append(row)
    differing, missing = 0, 0
    for row in rows_a:
        matches = index_b.get(key(row))
        if not matches:
            missing += 1
            if len(out) < max_lines:
                out.append(f"  only in {before.parent.name}: {dict(row)}")
            continue
        other = matches.pop(0)
        changed = [c for c in values if not _same(row.get(c, ""), other.get(c, ""), tolerance)]
        if changed:
            differing += 1
            if len(out) < max_lines:
                shown = {c: row.get(c) for c in keys}
                out.append(f"  row {shown}: " + ", ".join(f"{c} {row.get(c)!r} -> {other.get(c)!r}" for c in changed))
    extra = sum(len(v) for v in index_b.values())
    if differing or missing or extra:
        out.append(f"predictions.csv: {differing} row(s) with other predictions, {missing} row(s) only before, "
                   f"{extra} row(s) only after (of {len(rows_a)})")
    elif [key(r) for r in rows_a] != [key(r) for r in rows_b]:
        out.append("predictions.csv: the same rows and predictions, in another order")
    return out


def _same(a: str, b: str, tolerance: float) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tolerance


def _walk(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            key = str(name).lower()
            if key in IGNORED_KEYS or "seconds" in key or "time" in key:  # timings (epoch_time_s, ...)
                continue
            _walk(item, f"{path}.{name}" if path else str(name), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", out)
    else:
        out[path] = value


def compare_metrics(before: Path, after: Path, *, tolerance: float, max_lines: int) -> list[str]:
    """Lines naming every number (and text) of metrics.json that differs, timings and provenance aside."""
    flat_a: dict[str, Any] = {}
    flat_b: dict[str, Any] = {}
    _walk(json.loads(before.read_text(encoding="utf-8")), "", flat_a)
    _walk(json.loads(after.read_text(encoding="utf-8")), "", flat_b)
    out = []
    for name in dict.fromkeys([*flat_a, *flat_b]):
        a, b = flat_a.get(name, "<absent>"), flat_b.get(name, "<absent>")
        if a == b:
            continue
        if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) \
                and abs(a - b) <= tolerance:
            continue
        out.append(f"  metrics.json {name}: {a!r} -> {b!r}")
    if len(out) > max_lines:
        out = out[:max_lines] + [f"  ... and {len(out) - max_lines} more"]
    return out


def compare_runs(before: Path, after: Path, *, tolerance: float = 0.0, max_lines: int = 20,
                 folds: list[str] | None = None) -> list[str]:
    """Every difference between two run folders' predictions and metrics (empty list: the same)."""
    out: list[str] = []
    checks = [("predictions.csv", functools.partial(compare_predictions, folds=folds))]
    if folds is None:
        checks.append(("metrics.json", compare_metrics))
    for name, compare in checks:
        a, b = before / name, after / name
        if not a.is_file() and not b.is_file():
            continue
        if not a.is_file() or not b.is_file():
            out.append(f"{name}: only in {before if a.is_file() else after}")
            continue
        out += compare(a, b, tolerance=tolerance, max_lines=max_lines)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.0, help="absolute difference allowed in numbers")
    parser.add_argument("--max-lines", type=int, default=20, help="differences shown per file")
    parser.add_argument("--folds", nargs="+", default=None, help="compare only the prediction rows of these folds")
    args = parser.parse_args(argv)
    for folder in (args.before, args.after):
        if not (folder / "predictions.csv").is_file() and not (folder / "metrics.json").is_file():
            print(f"{folder}: not a run folder (no predictions.csv, no metrics.json)", file=sys.stderr)
            return 2
    lines = compare_runs(args.before, args.after, tolerance=args.tolerance, max_lines=args.max_lines,
                         folds=args.folds)
    if not lines:
        n = Counter()
        if (args.before / "predictions.csv").is_file():
            n["prediction rows"] = len(read_predictions(args.before / "predictions.csv", args.folds)[1])
        what = (f"folds {', '.join(args.folds)}: predictions only" if args.folds
                else "metrics equal apart from timings and provenance")
        print(f"same: {args.before} and {args.after} ({n['prediction rows']} prediction rows; {what})")
        return 0
    print(f"differ: {args.before} vs {args.after}")
    print("\n".join(lines))
    return 1


if __name__ == "__main__":
    sys.exit(main())
