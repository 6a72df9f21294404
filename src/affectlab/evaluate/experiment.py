"""Run an experiment: load images once, compute each feature once, fit every (feature,
classifier) on every fold's training part, pool the test predictions and write a run folder.

Examples
--------
>>> from affectlab.evaluate import run_experiment
>>> result = run_experiment("configs/ckplus48-baseline.yaml", "runs/ck")  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from affectlab.errors import ConfigError, ProtocolError
from affectlab.evaluate.config import ExperimentConfig, load_config
from affectlab.evaluate.metrics import classification_metrics
from affectlab.evaluate.protocols import Fold, make_protocol
from affectlab.evaluate import runs

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset

__all__ = ["ExperimentResult", "run_experiment", "load_gray_images", "standardise_per_group"]


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` produced.

    Attributes
    ----------
    rows
        One mapping per (feature, classifier): ``feature``, ``classifier``, ``accuracy``, ``uar``,
        ``macro_f1``, ``n_test``, ``params``... (as in ``metrics.json``).
    out_dir
        The run folder.
    config
        The resolved config with provenance (as in ``config.yaml``).
    n_folds
        Number of folds of the protocol.
    """

    rows: list[dict[str, Any]]
    out_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    n_folds: int = 0

    def table(self) -> str:
        """The results as a Markdown table."""
        return runs.markdown_table(self.rows)


def load_gray_images(
    dataset: Dataset, size: tuple[int, int] | None = None, *, progress: bool = True
) -> np.ndarray:
    """Read every sample as a gray uint8 image, resized to ``size`` = (height, width).

    Returns
    -------
    numpy.ndarray
        ``(N, H, W)`` uint8.

    Raises
    ------
    ConfigError
        ``size`` is ``None`` and the images differ in size.
    MediaReadError
        A file is missing or unreadable (named in the message).
    """
    import cv2

    from affectlab.data.media import read_image, to_gray

    images = []
    for sample in tqdm(dataset.samples, desc="images", unit="img", disable=not progress, leave=False):
        if sample.pixels is not None:
            image = to_gray(np.asarray(sample.pixels, dtype=np.uint8))
        elif sample.path is not None:
            path = Path(sample.path)
            if not path.is_absolute() and dataset.root is not None and (dataset.root / path).exists():
                path = dataset.root / path
            image = read_image(path, mode="gray")
        else:
            raise ConfigError(f"sample {sample.id!r} has neither a file nor inline pixels")
        if size is not None and image.shape != size:
            shrink = image.shape[0] > size[0] or image.shape[1] > size[1]
            image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        images.append(image)
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        a, b = sorted(shapes)[:2]
        raise ConfigError(
            f"images differ in size ({a[0]}x{a[1]} and {b[0]}x{b[1]}); set images: {{size: N}} in the config"
        )
    if not images:
        raise ConfigError("the dataset has no labelled images")
    return np.stack(images)


def standardise_per_group(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Z-score each feature within each group (subject/speaker) with that group's own statistics.

    Uses no labels, so it may see test subjects; constant features within a group become 0.
    """
    X = np.asarray(X, dtype=np.float64)
    out = np.empty_like(X)
    groups = np.asarray(groups, dtype=object)
    for g in dict.fromkeys(groups.tolist()):
        rows = groups == g
        mean = X[rows].mean(axis=0)
        std = X[rows].std(axis=0)
        out[rows] = (X[rows] - mean) / np.where(std > 0, std, 1.0)
    return out.astype(np.float32)


def _load(cfg: ExperimentConfig, dataset: Dataset | None) -> Dataset:
    if dataset is None:
        from affectlab.data.loader import load_dataset

        options = {k: v for k, v in cfg.data.items() if k not in ("source", "format")}
        dataset = load_dataset(cfg.source, format=cfg.data.get("format", "auto"), **options)
    if dataset.kind != "image":
        raise ConfigError(f"data.source {cfg.source}: a {dataset.kind} dataset; experiments run on images for now")
    labelled = [i for i, s in enumerate(dataset.samples) if s.label is not None]
    if not labelled:
        raise ConfigError(f"data.source {cfg.source}: no labelled samples")
    if len(labelled) < len(dataset):
        dataset = dataset.subset(labelled)
    return dataset


def _fit(estimator: Any, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
         validation: tuple[np.ndarray, np.ndarray] | None) -> int:
    """Fit, passing subjects / validation data when the estimator takes them; count convergence warnings."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.validation import has_fit_parameter

    kwargs: dict[str, Any] = {}
    if groups is not None and has_fit_parameter(estimator, "groups"):
        kwargs["groups"] = groups
    if validation is not None and has_fit_parameter(estimator, "X_val"):
        kwargs["X_val"], kwargs["y_val"] = validation
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(X, y, **kwargs)
    n_convergence = 0
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            n_convergence += 1
        else:
            warnings.warn(w.message, w.category, stacklevel=2)
    return n_convergence


def _versions() -> dict[str, str]:
    import numpy
    import sklearn

    from affectlab import __version__

    return {"affectlab": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__}


def _normalisation_text(cfg: ExperimentConfig) -> str:
    scaler = (
        "Each feature is standardised (zero mean, unit variance) with statistics of the training part"
        " of each fold only (the scaler is part of the classifier pipeline)."
    )
    if cfg.normalisation == "per_subject":
        return ("Per-subject: before classification every subject's features are z-scored with that"
                " subject's own mean and standard deviation (no labels used). " + scaler)
    return "Global (no per-subject normalisation). " + scaler


def run_experiment(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    dataset: Dataset | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> ExperimentResult:
    """Run the experiment described by ``config`` and write its run folder to ``out_dir``.

    Parameters
    ----------
    config
        A YAML file or a mapping (see :mod:`affectlab.evaluate.config` for the format).
    out_dir
        Run folder to create (must be absent or empty unless ``overwrite``).
    data
        Overrides ``data.source`` (relative to the CWD).
    dataset
        An already loaded :class:`~affectlab.data.Dataset` to use instead of ``data.source``.
    progress
        Show progress bars on stderr.
    overwrite
        Allow writing into a non-empty ``out_dir``.

    Raises
    ------
    ConfigError, ProtocolError, DataError, MediaReadError
        Bad config key, leaking or impossible split, unreadable data; the message names it.
    """
    from affectlab.classify.registry import create_classifier
    from affectlab.features.registry import create_feature, feature_info
    from affectlab.viz.confusion import save_confusion_matrix

    cfg = load_config(config, data=data, check_source=dataset is None)
    runs.prepare_run_dir(out_dir, overwrite=overwrite, create=False)
    ds = _load(cfg, dataset)
    protocol = make_protocol(cfg.protocol)
    folds: list[Fold] = protocol.folds(ds)  # raises ProtocolError on leakage before any work
    out = runs.prepare_run_dir(out_dir, overwrite=overwrite)
    y = ds.labels.astype(str)
    groups = ds.groups
    known_groups = groups if all(g is not None for g in groups) else None
    if cfg.normalisation == "per_subject" and known_groups is None:
        raise ProtocolError("normalisation per_subject needs a subject id for every sample")
    present = set(y.tolist())
    labels = [c for c in ds.classes if c in present] + sorted(present - set(ds.classes))

    summary = ds.summary()
    resolved = cfg.to_dict()
    if dataset is not None:
        resolved["data"]["source"] = str(ds.root) if ds.root is not None else ds.name
    resolved["run"] = {
        **_versions(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config_file": str(cfg.path.resolve()) if cfg.path is not None else None,
        "dataset": {"path": resolved["data"]["source"], "name": ds.name, "samples": len(ds),
                    "subjects": summary["subjects"], "classes": summary["classes"]},
        "protocol": protocol.describe(),
        "n_folds": len(folds),
        "folds": [{"name": f.name, "train": int(f.train.size), "test": int(f.test.size),
                   **({"validation": int(f.validation.size)} if f.validation.size else {})} for f in folds],
    }
    runs.write_config(out, resolved)

    images = load_gray_images(ds, cfg.image_size, progress=progress)

    def transform(component: Any, fit_idx: np.ndarray | None) -> np.ndarray:
        extractor = create_feature(component.name, **component.params)
        if fit_idx is not None:
            extractor.fit(images[fit_idx], y[fit_idx])
            X = extractor.transform(images)
        else:
            chunks = range(0, len(images), 256)
            bar = tqdm(chunks, desc=f"feature {component.label}", unit="batch", disable=not progress, leave=False)
            X = np.concatenate([extractor.fit(images[i:i + 256]).transform(images[i:i + 256]) for i in bar])
        X = np.asarray(X, dtype=np.float32)
        return standardise_per_group(X, groups) if cfg.normalisation == "per_subject" else X

    cache = {f.label: transform(f, None) for f in cfg.features if feature_info(f.name).stateless}

    rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    total = len(cfg.features) * len(cfg.classifiers) * len(folds)
    bar = tqdm(total=total, desc="fit", unit="fold", disable=not progress, leave=False)
    for feat in cfg.features:
        for clf in cfg.classifiers:
            bar.set_postfix_str(f"{feat.label} x {clf.label}")
            started = time.perf_counter()
            true_all, pred_all, fold_rows, selected = [], [], [], []
            n_convergence, dim = 0, 0
            for fold in folds:
                X = cache[feat.label] if feat.label in cache else transform(feat, fold.train)
                dim = X.shape[1]
                estimator = create_classifier(clf.name, **clf.params)
                validation = (X[fold.validation], y[fold.validation]) if fold.validation.size else None
                fold_groups = None if known_groups is None else known_groups[fold.train]
                n_convergence += _fit(estimator, X[fold.train], y[fold.train], fold_groups, validation)
                pred = np.asarray(estimator.predict(X[fold.test])).astype(str)
                true = y[fold.test]
                if hasattr(estimator, "best_params_"):
                    selected.append({"fold": fold.name, **estimator.best_params_})
                fold_rows.append({"fold": fold.name, "n_test": int(true.size),
                                  "accuracy": float(np.mean(pred == true))})
                true_all.append(true)
                pred_all.append(pred)
                for i, t, p in zip(fold.test, true, pred):
                    sample = ds.samples[int(i)]
                    predictions.append({"id": sample.id, "fold": fold.name, "feature": feat.label,
                                        "classifier": clf.label, "true": t, "pred": p, "subject": sample.subject})
                bar.update(1)
            metrics = classification_metrics(np.concatenate(true_all), np.concatenate(pred_all), labels)
            fold_acc = np.array([r["accuracy"] for r in fold_rows])
            png = runs.confusion_filename(feat.label, clf.label)
            save_confusion_matrix(np.asarray(metrics["confusion"]), labels, out / png,
                                  title=f"{feat.label} / {clf.label}")
            row: dict[str, Any] = {
                "feature": feat.label,
                "classifier": clf.label,
                "accuracy": metrics["accuracy"],
                "uar": metrics["uar"],
                "macro_f1": metrics["macro_f1"],
                "n_test": metrics["n"],
                "n_folds": len(folds),
                "fold_accuracy_mean": float(fold_acc.mean()),
                "fold_accuracy_std": float(fold_acc.std()),
                "feature_dim": int(dim),
                "params": {"feature": {"name": feat.name, **feat.params},
                           "classifier": {"name": clf.name, **clf.params}},
                "per_class_recall": metrics["per_class_recall"],
                "labels": labels,
                "confusion": metrics["confusion"],
                "confusion_png": png,
                "folds": fold_rows,
                "seconds": round(time.perf_counter() - started, 3),
            }
            if selected:
                row["selected_params"] = selected
            if n_convergence:
                row["convergence_warnings"] = n_convergence
            rows.append(row)
    bar.close()

    runs.write_predictions(out, predictions)
    runs.write_metrics(out, {"name": cfg.name, "dataset": resolved["run"]["dataset"],
                             "protocol": {**cfg.protocol, "description": protocol.describe(), "n_folds": len(folds)},
                             "normalisation": cfg.normalisation, "labels": labels, "rows": rows})
    counts = ", ".join(f"{c} {n}" for c, n in summary["classes"].items())
    size = f"{cfg.image_size[0]}x{cfg.image_size[1]}" if cfg.image_size else "original size"
    selection = ("Hyper-parameters were chosen on the training part of each fold only (inner cross-validation"
                 " by subject where subjects are known, or the validation split); chosen values are in metrics.json."
                 if any("selected_params" in r for r in rows) else
                 "Hyper-parameters were fixed in the config (none chosen on test data).")
    sections = [
        ("Data", f"- source: `{resolved['data']['source']}` ({ds.name}, {ds.kind})\n"
                 f"- {len(ds)} labelled samples, {summary['subjects']} subjects\n"
                 f"- classes: {counts}\n- images: gray, {size}"),
        ("Protocol", f"{protocol.describe()}; {len(folds)} fold(s)."),
        ("Normalisation", _normalisation_text(cfg)),
        ("Hyper-parameters", selection),
    ]
    generated = f"affectlab {resolved['run']['affectlab']}, {resolved['run']['timestamp']}"
    runs.write_report(out, title=f"{cfg.name} ({generated})", sections=sections, rows=rows)
    return ExperimentResult(rows=rows, out_dir=out, config=resolved, n_folds=len(folds))
