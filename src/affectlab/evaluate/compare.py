"""Is method A really better than method B on the same test samples?

Two paired analyses of the predictions two methods made for the same samples:

- **McNemar's exact test** on the discordant pairs (A right and B wrong, or the reverse): a two-sided
  binomial test of ``min(b, c)`` successes in ``b + c`` trials at 1/2 (``scipy.stats.binomtest``).
- **Paired bootstrap confidence intervals** of the accuracy and UAR differences (A - B), resampling
  whole **subjects** with replacement when subjects are known (samples of one person are not
  independent; resampling them one by one gives intervals that are too narrow), else samples.
  Percentile intervals.

``compare_run_rows`` reads the ``predictions.csv`` of run folders (one line per test prediction:
``id, fold, feature, classifier, true, pred, subject``), so any two rows of one run, or of two runs
over the same samples, can be compared (``affectlab compare``).

>>> import numpy as np
>>> true = np.array(list("aabbccaabbcc"))
>>> a = true.copy(); b = true.copy(); b[:4] = list("bbaa")     # B wrong on the first four
>>> result = compare_predictions(true, a, b, n_boot=200)
>>> (result.a_only_right, result.b_only_right, round(result.mcnemar_p, 3))
(4, 0, 0.125)
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import DataError
from affectlab.evaluate.metrics import accuracy, uar

__all__ = ["Comparison", "compare_predictions", "compare_run_rows", "method_rows", "read_predictions",
           "weighted_scores"]


@dataclass(frozen=True)
class Comparison:
    """Paired comparison of methods ``a`` and ``b`` on ``n`` shared samples (differences are A - B)."""

    a: str
    b: str
    n: int
    accuracy_a: float
    accuracy_b: float
    uar_a: float
    uar_b: float
    a_only_right: int
    b_only_right: int
    mcnemar_p: float
    accuracy_diff_ci: tuple[float, float]
    uar_diff_ci: tuple[float, float]
    confidence: float
    n_boot: int
    resampled: str  # "subjects (G)", "subjects of the pairs (G)" or "samples"

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)

    def summary(self) -> str:
        """A few lines a person reads."""
        level = f"{self.confidence:.0%}"
        accuracy = (f"accuracy  A {self.accuracy_a:.4f}  B {self.accuracy_b:.4f}  "
                    f"A-B {self.accuracy_a - self.accuracy_b:+.4f}  "
                    f"{level} CI [{self.accuracy_diff_ci[0]:+.4f}, {self.accuracy_diff_ci[1]:+.4f}]")
        uar = (f"UAR       A {self.uar_a:.4f}  B {self.uar_b:.4f}  A-B {self.uar_a - self.uar_b:+.4f}  "
               f"{level} CI [{self.uar_diff_ci[0]:+.4f}, {self.uar_diff_ci[1]:+.4f}]")
        mcnemar = (f"McNemar (exact): only A right {self.a_only_right}, only B right {self.b_only_right}, "
                   f"p = {self.mcnemar_p:.4g}")
        header = f"A = {self.a}\nB = {self.b}\n{self.n} shared test samples; bootstrap resamples {self.resampled}"
        return "\n".join([header, accuracy, uar, mcnemar])


def weighted_scores(weights: np.ndarray, correct: np.ndarray, onehot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and UAR of each row of sample weights ``(B, n)``."""
    accuracy = weights @ correct / weights.sum(axis=1)
    totals = weights @ onehot
    hits = weights @ (onehot * correct[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(totals > 0, hits / totals, np.nan)
    return accuracy, np.nanmean(recall, axis=1)


def compare_predictions(
    true: Sequence[Any],
    pred_a: Sequence[Any],
    pred_b: Sequence[Any],
    *,
    groups: Sequence[Any] | None = None,
    names: tuple[str, str] = ("A", "B"),
    n_boot: int = 2000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> Comparison:
    """McNemar's exact test and paired bootstrap intervals for two methods' predictions of the same samples.

    ``groups`` (subject ids, one per sample) makes the bootstrap resample subjects; ``"a|b"`` ids
    (pairs of two people) resample people and weight each pair by the draws of both; ``None`` or any
    missing id resamples samples.
    """
    from scipy.stats import binomtest

    y = np.asarray(true).astype(str)
    a, b = np.asarray(pred_a).astype(str), np.asarray(pred_b).astype(str)
    if not (y.shape == a.shape == b.shape) or y.ndim != 1 or y.size == 0:
        raise DataError(f"compare: true and both predictions need one value per sample, got {y.shape}, {a.shape}, "
                        f"{b.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    right_a, right_b = a == y, b == y
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    p_value = 1.0 if only_a + only_b == 0 else float(binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)

    classes, y_index = np.unique(y, return_inverse=True)
    onehot = np.eye(classes.size)[y_index]
    ids = None if groups is None else np.asarray([str(g) if g is not None else "" for g in groups])
    if ids is not None and all(n.count("|") == 1 and "" not in n.split("|") for n in ids):
        # pairs of two people ("s10|s13", as Siamese runs write them): resample people; a pair counts
        # (draws of its first person) x (draws of its second)
        firsts, seconds = zip(*(n.split("|") for n in ids))
        units, index = np.unique(np.concatenate([firsts, seconds]), return_inverse=True)
        unit_of, second_of = index[: y.size], index[y.size:]
        resampled = f"subjects of the pairs ({units.size})"
    elif ids is not None and all(ids != ""):
        units, unit_of = np.unique(ids, return_inverse=True)
        second_of, resampled = None, f"subjects ({units.size})"
    else:
        units, unit_of = np.arange(y.size), np.arange(y.size)
        second_of, resampled = None, "samples"
    rng = np.random.default_rng(random_state)
    diffs_acc, diffs_uar = [], []
    for start in range(0, n_boot, 250):
        draws = rng.multinomial(units.size, np.full(units.size, 1.0 / units.size), size=min(250, n_boot - start))
        weights = draws[:, unit_of].astype(np.float64)
        if second_of is not None:
            weights *= draws[:, second_of]
            weights = weights[weights.sum(axis=1) > 0]  # a draw that keeps no pair says nothing
        acc_a, uar_a = weighted_scores(weights, right_a.astype(np.float64), onehot)
        acc_b, uar_b = weighted_scores(weights, right_b.astype(np.float64), onehot)
        diffs_acc.append(acc_a - acc_b)
        diffs_uar.append(uar_a - uar_b)
    tail = (1.0 - confidence) / 2 * 100
    acc_ci = np.percentile(np.concatenate(diffs_acc), [tail, 100 - tail]) if n_boot else (np.nan, np.nan)
    uar_ci = np.percentile(np.concatenate(diffs_uar), [tail, 100 - tail]) if n_boot else (np.nan, np.nan)
    acc_a, uar_a, acc_b, uar_b = accuracy(y, a), uar(y, a), accuracy(y, b), uar(y, b)
    return Comparison(
        a=names[0], b=names[1], n=int(y.size), accuracy_a=float(acc_a), accuracy_b=float(acc_b),
        uar_a=float(uar_a), uar_b=float(uar_b), a_only_right=only_a, b_only_right=only_b, mcnemar_p=p_value,
        accuracy_diff_ci=(float(acc_ci[0]), float(acc_ci[1])), uar_diff_ci=(float(uar_ci[0]), float(uar_ci[1])),
        confidence=confidence, n_boot=n_boot, resampled=resampled,
    )


_NOT_METHOD = ("id", "fold", "true", "pred", "subject")


def read_predictions(path: str | Path) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of a run folder's ``predictions.csv`` (``path`` is the file or its folder) and the
    columns that name a method (e.g. ``feature, classifier``; speech runs: ``task, feature, model,
    normalisation``)."""
    file = Path(path)
    if file.is_dir():
        file = file / "predictions.csv"
    if not file.is_file():
        raise DataError(f"{file}: no predictions file (a run folder holds predictions.csv)")
    from affectlab.data.textio import csv_errors, open_text

    with csv_errors(file), open_text(file) as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        missing = [c for c in ("id", "true", "pred") if c not in fields]
        if missing:
            raise DataError(f"{file}: missing column(s) {', '.join(missing)} (a predictions file has id, true, pred "
                            "and the columns that name the method)")
        rows = []
        for row in reader:
            if None in row or None in row.values():
                raise DataError(f"{file}: line {reader.line_num} has {'more' if None in row else 'fewer'} fields "
                                f"than the header ({len(fields)})")
            rows.append(row)
        return rows, [c for c in fields if c not in _NOT_METHOD]


def method_rows(rows: list[dict[str, str]], columns: list[str], method: str,
                 where: str) -> dict[str, dict[str, str]]:
    """The predictions of one method, keyed by sample id. ``method`` gives the method columns' values
    joined by ``/``, left to right; leading values are enough when they single one method out. Spaces around
    a ``/`` do not count (``lbp / pls``, as tables print it, is ``lbp/pls``)."""
    parts = [part.strip() for part in method.split("/")]
    if len(parts) > len(columns):
        raise DataError(f"{where}: {method!r} has {len(parts)} parts; methods there have {len(columns)} "
                        f"({'/'.join(columns)})")
    known = sorted({"/".join(r[c] for c in columns) for r in rows})
    chosen = [r for r in rows if all(r[c].strip() == v for c, v in zip(columns, parts))]
    if not chosen:
        raise DataError(f"{where}: no predictions of {method!r} (methods there, as {'/'.join(columns)}: "
                        f"{', '.join(known)})")
    matched = sorted({"/".join(r[c] for c in columns) for r in chosen})
    if len(matched) > 1:
        raise DataError(f"{where}: {method!r} is ambiguous; name one of {', '.join(matched)}")
    by_id: dict[str, dict[str, str]] = {}
    for r in chosen:
        if r["id"] in by_id:
            raise DataError(f"{where}: sample {r['id']!r} is predicted twice by {method!r}")
        by_id[r["id"]] = r
    return by_id


def _looks_continuous(values: list[str]) -> bool:
    """More than 20 distinct values (true and predicted), all numbers: a regression, not classes."""
    distinct = set(values)
    if len(distinct) <= 20:
        return False
    try:
        [float(v) for v in distinct]
    except ValueError:
        return False
    return True


def compare_run_rows(
    run_a: str | Path,
    method_a: str,
    method_b: str,
    *,
    run_b: str | Path | None = None,
    n_boot: int = 2000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> Comparison:
    """Compare two methods' predictions from run folders (``method`` = the method columns' values joined by
    ``/``, e.g. ``feature/classifier``; a leading part alone when it is unambiguous).

    Both must have predicted the same sample ids with the same true labels; B is read from ``run_b``
    when given, else from ``run_a``.
    """
    where_a, where_b = str(run_a), str(run_b or run_a)
    rows_a, columns_a = read_predictions(run_a)
    rows_b, columns_b = (rows_a, columns_a) if run_b is None else read_predictions(run_b)
    a = method_rows(rows_a, columns_a, method_a, where_a)
    b = method_rows(rows_b, columns_b, method_b, where_b)
    if set(a) != set(b):
        raise DataError(f"{method_a!r} ({where_a}) and {method_b!r} ({where_b}) predicted different samples "
                        f"({len(set(a) - set(b))} only in A, {len(set(b) - set(a))} only in B): "
                        "compare runs over the same test samples")
    ids = sorted(a)
    if _looks_continuous([v for i in ids for v in (a[i]["true"], a[i]["pred"], b[i]["pred"])]):
        raise DataError(f"{method_a!r}: the values are continuous (a regression task); compare handles "
                        "class predictions (for dimensions read CCC / RMSE in the run's metrics.json)")
    clash = next((i for i in ids if a[i]["true"] != b[i]["true"]), None)
    if clash is not None:
        raise DataError(f"sample {clash!r}: true label {a[clash]['true']!r} in A but {b[clash]['true']!r} in B")
    return compare_predictions(
        [a[i]["true"] for i in ids], [a[i]["pred"] for i in ids], [b[i]["pred"] for i in ids],
        groups=[a[i].get("subject") or None for i in ids], names=(method_a, method_b), n_boot=n_boot,
        confidence=confidence, random_state=random_state,
    )
