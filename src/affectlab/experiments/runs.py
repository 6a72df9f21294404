"""Run folders: one directory per experiment with config, metrics, predictions, plots and report.

Every experiment kind writes its folder through one :class:`RunFolder`: it checks the folder before
any work (so bad data leaves nothing behind), creates it once the inputs are read, records the
provenance (package versions, commit, time, config file, data fingerprint, protocol and folds) in
``config.yaml`` and returns the :class:`ExperimentResult`.

Layout::

    DIR/config.yaml                        resolved config + provenance (version, time, data, folds)
    DIR/metrics.json                       {"rows": [...one per (feature, classifier)...], ...}
    DIR/predictions.csv                    id, fold, feature, classifier, true, pred, subject
    DIR/decisions.npz                      test-fold decision values per (feature, classifier)
    DIR/confusion_<feature>_<classifier>.png
    DIR/report.md                          data, protocol, normalisation, results table, plots
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from affectlab.checks import is_number
from affectlab.errors import ConfigError

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset
    from affectlab.evaluate.protocols import Fold

__all__ = [
    "ExperimentResult",
    "RunFolder",
    "prepare_run_dir",
    "confusion_filename",
    "markdown_table",
    "scalar_table",
    "package_versions",
    "array_fingerprint",
    "write_config",
    "write_metrics",
    "write_predictions",
    "write_report",
    "write_decisions",
    "load_decisions",
    "DecisionValues",
    "format_chosen",
    "PREDICTION_COLUMNS",
]

PREDICTION_COLUMNS = ("id", "fold", "feature", "classifier", "true", "pred", "subject")


@dataclass
class ExperimentResult:
    """What a run produced (every kind's runner returns one).

    Attributes
    ----------
    rows
        One mapping per (feature, classifier) or method, as in ``metrics.json``: ``feature``,
        ``classifier``, ``accuracy``, ``uar``, ``macro_f1``, ``n_test``, ``params``, ``chosen``
        (hyper-parameters chosen per fold and their median)...
    out_dir
        The run folder.
    config
        The resolved config with provenance (as in ``config.yaml``).
    n_folds
        Number of folds of the protocol.
    seconds
        Wall time of the run.
    markdown
        The results table, when a runner shapes its own (else built from ``rows``).
    """

    rows: list[dict[str, Any]]
    out_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    n_folds: int = 0
    seconds: float = 0.0
    markdown: str | None = None

    def table(self) -> str:
        """The results as a Markdown table (``markdown`` when the runner made its own)."""
        return self.markdown if self.markdown is not None else markdown_table(self.rows)


class RunFolder:
    """The run folder of one experiment: checked at once, created when the inputs are read, written once.

    ``RunFolder(out_dir, overwrite=...)`` refuses a non-empty folder before any work (nothing is
    created); :meth:`create` makes it once data and features are read, so an unreadable file leaves
    no folder behind. The ``write_*`` methods write ``config.yaml``, ``metrics.json``,
    ``predictions.csv``, ``decisions.npz``, ``report.md`` and the confusion plots;
    :meth:`provenance` is the ``run`` block of ``config.yaml``; :meth:`result` the run's
    :class:`ExperimentResult` (its ``seconds`` counted from the folder's creation).

    Examples
    --------
    >>> import tempfile
    >>> run = RunFolder(tempfile.mkdtemp() + "/run")
    >>> run.path.exists()
    False
    >>> run.create().is_dir()
    True
    >>> result = run.result([{"feature": "f", "classifier": "c", "accuracy": 1.0}], {"name": "x"}, n_folds=1)
    >>> (result.n_folds, result.out_dir == run.path)
    (1, True)
    """

    def __init__(self, out_dir: str | Path, *, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self.path = prepare_run_dir(out_dir, overwrite=overwrite, create=False)
        self.started = time.perf_counter()

    def create(self) -> Path:
        """Create the folder (checked again: something may have been written there since)."""
        self.path = prepare_run_dir(self.path, overwrite=self.overwrite)
        return self.path

    @property
    def elapsed(self) -> float:
        """Seconds since the run began (the folder object was made)."""
        return time.perf_counter() - self.started

    def provenance(
        self,
        *,
        config_path: str | Path | None,
        packages: Sequence[str] = (),
        dataset: Dataset | None = None,
        source: str | Path | None = None,
        protocol: Any = None,
        folds: Sequence[Fold] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The ``run`` block of ``config.yaml``: versions (:func:`package_versions` with ``packages``), UTC
        time, the config file, and when given the dataset (fingerprint and summary, under ``source``),
        the protocol's description and the folds' sizes; ``extra`` entries follow."""
        run: dict[str, Any] = {
            **package_versions(*packages),
            "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "config_file": str(Path(config_path).resolve()) if config_path else None,
        }
        if dataset is not None:
            summary = dataset.summary()
            run["data_sha256"] = dataset.fingerprint()
            run["dataset"] = {"path": str(source) if source is not None else None, "name": dataset.name,
                              "samples": len(dataset), "subjects": summary["subjects"],
                              "classes": summary["classes"]}
        if protocol is not None:
            run["protocol"] = protocol.describe()
        if folds is not None:
            run["n_folds"] = len(folds)
            run["folds"] = [{"name": f.name, "train": int(f.train.size), "test": int(f.test.size),
                             **({"validation": int(f.validation.size)} if f.validation.size else {})}
                            for f in folds]
        run.update(extra)
        return run

    def write_config(self, config: Mapping[str, Any]) -> Path:
        """``config.yaml``: the resolved config with its ``run`` provenance."""
        return write_config(self.path, config)

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        """``metrics.json`` (NaN as ``null``)."""
        return write_metrics(self.path, metrics)

    def write_predictions(self, rows: Iterable[Mapping[str, Any]]) -> Path:
        """``predictions.csv`` with :data:`PREDICTION_COLUMNS`."""
        return write_predictions(self.path, rows)

    def write_decisions(self, **kwargs: Any) -> Path:
        """``decisions.npz`` (see :func:`write_decisions`)."""
        return write_decisions(self.path, **kwargs)

    def write_report(self, *, title: str, sections: Sequence[tuple[str, str]],
                     rows: Sequence[Mapping[str, Any]]) -> Path:
        """``report.md``: sections, the results table and links to the plots."""
        return write_report(self.path, title=title, sections=sections, rows=rows)

    def save_confusion(self, confusion: Any, labels: Sequence[str], feature: str, classifier: str, *,
                       title: str | None = None) -> str:
        """Draw ``confusion_<feature>_<classifier>.png`` (counts; colours row-normalised); returns its name."""
        from affectlab.viz.confusion import save_confusion_matrix

        png = confusion_filename(feature, classifier)
        save_confusion_matrix(np.asarray(confusion), list(labels), self.path / png,
                              title=title or f"{feature} / {classifier}")
        return png

    def result(self, rows: list[dict[str, Any]], config: dict[str, Any], *, n_folds: int,
               seconds: float | None = None, markdown: str | None = None,
               result_type: type[ExperimentResult] | None = None) -> ExperimentResult:
        """The run's :class:`ExperimentResult` (``result_type``: a subclass a kind returns)."""
        cls = result_type or ExperimentResult
        return cls(rows=rows, out_dir=self.path, config=config, n_folds=n_folds,
                   seconds=self.elapsed if seconds is None else seconds, markdown=markdown)


def prepare_run_dir(out_dir: str | Path, *, overwrite: bool = False, create: bool = True) -> Path:
    """Create ``out_dir``; refuse an existing non-empty folder unless ``overwrite``.

    ``create=False`` only checks (so a run can fail on bad data before leaving a folder).
    """
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ConfigError(f"--out {path}: folder is not empty (choose a new folder, or pass --overwrite; "
                          "overwrite=True in Python)")
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


def format_chosen(chosen: Mapping[str, Any] | None) -> str:
    """``"C=0.0625"`` / ``"n_components=16"``: the median chosen value of each searched parameter.

    Examples
    --------
    >>> format_chosen({"C": {"median": 0.0625, "per_fold": [0.0625, 0.25]}})
    'C=0.0625'
    """
    if not chosen:
        return "-"
    parts = []
    for name, info in chosen.items():
        value = info.get("median") if isinstance(info, Mapping) else info
        parts.append(f"{name}={value:g}" if is_number(value) else f"{name}={value}")
    return ", ".join(parts)


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The results as a Markdown table (one line per feature x classifier).

    A ``chosen (median)`` column is added when rows carry hyper-parameters chosen per fold.

    Examples
    --------
    >>> print(markdown_table([{"feature": "hog", "classifier": "linear_svm", "accuracy": 0.8,
    ...                        "uar": 0.75, "macro_f1": 0.7, "n_test": 10}]))
    | feature | classifier | accuracy | UAR | macro-F1 | fold accuracy (mean ± sd) | n_test |
    | --- | --- | ---: | ---: | ---: | ---: | ---: |
    | hog | linear_svm | 0.800 | 0.750 | 0.700 | - | 10 |
    """
    if rows and any("feature" not in r or "classifier" not in r for r in rows):
        return scalar_table(rows)
    with_chosen = any(r.get("chosen") for r in rows)
    head = "| feature | classifier | accuracy | UAR | macro-F1 | fold accuracy (mean ± sd) | n_test |"
    rule = "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    if with_chosen:
        head, rule = head + " chosen (median) |", rule + " --- |"
    lines = [head, rule]
    for r in rows:
        mean, sd = r.get("fold_accuracy_mean"), r.get("fold_accuracy_std")
        several = r.get("n_folds", 2) > 1
        folds = f"{mean:.3f} ± {sd:.3f}" if several and mean is not None and sd is not None else "-"
        cells = [r["feature"], r["classifier"], _fmt(r.get("accuracy")), _fmt(r.get("uar")),
                 _fmt(r.get("macro_f1")), folds, _fmt(r.get("n_test"))]
        if with_chosen:
            cells.append(format_chosen(r.get("chosen")))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def scalar_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A Markdown table of the scalar (text, number, bool, None) values of ``rows``.

    ``columns`` defaults to every scalar key, in first-seen order; floats get 3 decimals.

    >>> print(scalar_table([{"task": "7class", "uar": 0.8123, "folds": [1, 2]}, {"task": "arousal", "wa": 0.9}]))
    | task | uar | wa |
    | --- | ---: | ---: |
    | 7class | 0.812 | - |
    | arousal | - | 0.900 |
    """
    def scalar(value: Any) -> bool:
        return value is None or isinstance(value, str | int | float | bool | np.integer | np.floating)

    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k, v in r.items() if scalar(v) and v is not None))
    numeric = [all(is_number(r.get(c)) for r in rows if r.get(c) is not None) for c in columns]
    lines = ["| " + " | ".join(columns) + " |",
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    for r in rows:
        cells = [_fmt(r.get(c)) if r.get(c) is not None else "-" for c in columns]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def package_versions(*optional: str) -> dict[str, str]:
    """Versions recorded in every run folder: affectlab, Python, numpy, scikit-learn, plus ``optional``
    packages that are installed (missing ones are left out).

    In a git checkout of the source, ``affectlab_commit`` records the commit (``+dirty`` when the
    package's files have uncommitted changes), so a result can be traced to the code that made it.

    >>> {"affectlab", "numpy", "python", "scikit-learn"} <= set(package_versions())
    True
    """
    import importlib.metadata
    import platform

    import sklearn

    from affectlab import __version__

    out = {"affectlab": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "scikit-learn": sklearn.__version__}
    commit = source_commit()
    if commit is not None:
        out["affectlab_commit"] = commit
    for package in optional:
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def array_fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 (hex) of arrays' dtypes, shapes and values, for data held in memory rather than as a Dataset.

    >>> a = np.arange(4)
    >>> array_fingerprint(a) == array_fingerprint(a.copy()) != array_fingerprint(a + 1)
    True
    """
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        if array.dtype == object:  # ids / subjects: their text
            array = np.asarray([str(v) for v in array.ravel()], dtype=str).reshape(array.shape)
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode() + array.tobytes())
    return digest.hexdigest()


@functools.cache
def source_commit() -> str | None:
    """The git commit of the affectlab source this process runs (``+dirty`` with uncommitted changes to
    the package), or ``None`` when it does not run from a git checkout (e.g. an installed wheel)."""
    import subprocess

    package = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        git("ls-files", "--error-unmatch", str(Path(__file__).resolve()))  # this very file is tracked
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", str(package))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


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


@dataclass
class DecisionValues:
    """Test-fold decision values of one (feature, classifier) pair, in sample order.

    Attributes
    ----------
    feature, classifier
        Labels of the pair (as in ``metrics.json``).
    values
        ``(n_samples, n_classes)`` float32; column ``j`` is class ``classes[j]``; NaN for samples
        never tested (and classes a fold's classifier never saw).
    fold
        ``(n_samples,)`` index into ``folds`` of the fold that tested each sample, -1 if none.
    ids, true, classes, folds
        Sample ids, true labels, the class order of the columns and the fold names.
    """

    feature: str
    classifier: str
    values: np.ndarray
    fold: np.ndarray
    ids: np.ndarray
    true: np.ndarray
    classes: list[str]
    folds: list[str]


def write_decisions(
    out_dir: Path,
    *,
    ids: Sequence[str],
    true: Sequence[str],
    classes: Sequence[str],
    folds: Sequence[str],
    fold_of_sample: np.ndarray,
    decisions: Mapping[tuple[str, str], np.ndarray],
) -> Path:
    """Write ``decisions.npz``: for every (feature, classifier) an ``(n_samples, n_classes)`` array.

    Keys: ``ids``, ``true``, ``classes``, ``folds``, ``fold`` (fold index per sample, -1 if never
    tested), ``pairs`` (``(P, 2)`` feature and classifier labels) and ``decision_<p>`` for pair
    ``p`` in the order of ``pairs``. Read it back with :func:`load_decisions`.
    """
    path = Path(out_dir) / "decisions.npz"
    arrays: dict[str, np.ndarray] = {
        "ids": np.asarray([str(i) for i in ids]),
        "true": np.asarray([str(t) for t in true]),
        "classes": np.asarray([str(c) for c in classes]),
        "folds": np.asarray([str(f) for f in folds]),
        "fold": np.asarray(fold_of_sample, dtype=np.int32),
        "pairs": np.asarray([[f, c] for f, c in decisions], dtype=str).reshape(-1, 2),
    }
    for p, values in enumerate(decisions.values()):
        arrays[f"decision_{p}"] = np.asarray(values, dtype=np.float32)
    np.savez_compressed(path, **arrays)
    return path


def load_decisions(run_dir: str | Path) -> dict[tuple[str, str], DecisionValues]:
    """The decision values of a run folder, keyed by ``(feature, classifier)``.

    Examples
    --------
    >>> decisions = load_decisions("runs/ck")  # doctest: +SKIP
    >>> d = decisions["hog", "linear_svm"]; d.values.shape  # doctest: +SKIP
    (981, 7)
    """
    path = Path(run_dir) / "decisions.npz"
    if not path.is_file():
        raise ConfigError(f"{path}: no decision values (not a run folder, or written by an older version)")
    with np.load(path, allow_pickle=False) as data:
        common = {k: data[k] for k in ("ids", "true", "classes", "folds", "fold")}
        out = {}
        for p, (feature, classifier) in enumerate(data["pairs"].tolist()):
            out[feature, classifier] = DecisionValues(
                feature=feature, classifier=classifier, values=data[f"decision_{p}"], fold=common["fold"],
                ids=common["ids"], true=common["true"], classes=common["classes"].tolist(),
                folds=common["folds"].tolist(),
            )
    return out
