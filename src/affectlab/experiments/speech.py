"""Speech emotion experiments (``kind: speech``): features x normalisations x tasks x models.

A config names the audio data, the speaker-independent protocol, the normalisation schemes, the
feature sets (openSMILE ComParE 2016 / eGeMAPS v02, self-supervised embeddings from a local
checkpoint, early fusion of other entries), the tasks (categorical, a relabelling of the
categories, or a dimensional proxy from an affective norm) and the models. Each feature is
extracted once (cached on disk, keyed by the audio files' contents and the extractor settings);
every (feature, normalisation) pair is then evaluated fold by fold, the predictions of all test
folds are pooled, and ``metrics.json`` gets one row per (task, feature, model, normalisation):
accuracy (WA), UAR, macro-F1 and the confusion matrix for categories, CCC, RMSE and Pearson's r
for dimensions. Hyper-parameters are chosen inside each training part only, by inner folds over
its speakers (``inner_splits`` >= training speakers gives leave-one-speaker-out).
The config is validated by :mod:`affectlab.experiments.speech_config` (re-exported here).

Example config (``configs/emodb-loso.yaml``)::

    kind: speech
    name: emodb-loso
    data: {source: ../../shared/datasets/emodb, format: emodb}
    audio: {sample_rate: 16000, min_duration: 0.25, nan_policy: raise}
    protocol: {kind: logo}                      # leave-one-speaker-out
    normalisation: [per_speaker, global]
    features:
      - {name: compare_2016, label: ComParE}
      - {name: egemaps_v02, label: eGeMAPS}
      - {name: fusion, label: ComParE+eGeMAPS, of: [ComParE, eGeMAPS]}
      - {name: ssl, label: WavLM, model_dir: /models/wavlm-base-plus, layer: null}
    classifiers: [{name: linear_svm, C_grid: auto, inner_splits: 9}]
    regressors: [{name: rbf_svr, C_grid: auto, inner_splits: 9}]
    tasks:
      - {name: 7class}
      - {name: arousal, map: {high: [anger, fear, happiness], low: [boredom, disgust, neutral, sadness]}}
      - {name: dim_proxy, type: regression, norm: warriner2013}
    featurewise: {features: [ComParE], top_k: 20, norm: warriner2013}   # targets: auto (ratings when the
                                                                         # data has them, else the norm)
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from affectlab.classify.registry import create_classifier
from affectlab.errors import ConfigError, DataError, ProtocolError
from affectlab.evaluate.metrics import classification_metrics, regression_metrics, uar
from affectlab.evaluate.protocols import make_protocol
from affectlab.experiments import runs
from affectlab.experiments.config import read_raw_config
from affectlab.experiments.runs import ExperimentResult, format_chosen
from affectlab.experiments.speech_config import (
    SPEECH_CONFIG_KEYS,
    SpeechConfig,
    SpeechFeature,
    SpeechTask,
    _Model,
    _task_dict,
    load_speech_config,
)
from affectlab.experiments.stages import fit_with_groups, open_feature_cache, summarise_chosen
from affectlab.parallel import run_tasks

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset

__all__ = [
    "SPEECH_CONFIG_KEYS",
    "SpeechConfig",
    "SpeechExperimentResult",
    "SpeechFeature",
    "SpeechTask",
    "load_speech_config",
    "run_speech_experiment",
    "speech_table",
]


class SpeechExperimentResult(ExperimentResult):
    """:class:`~affectlab.experiments.features.ExperimentResult` whose table shows tasks and normalisations."""

    def table(self) -> str:
        """The rows as a Markdown table."""
        return speech_table(self.rows)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def speech_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of speech rows (proxy rows are marked).

    >>> print(speech_table([{"task": "7class", "feature": "ComParE", "classifier": "linear_svm",
    ...                      "normalisation": "per_speaker", "accuracy": 0.8, "uar": 0.75, "n_test": 10}]))
    | task | feature | model | normalisation | WA | UAR | CCC | RMSE | n | chosen (median) |
    | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |
    | 7class | ComParE | linear_svm | per_speaker | 0.800 | 0.750 | - | - | 10 | - |
    """

    lines = ["| task | feature | model | normalisation | WA | UAR | CCC | RMSE | n | chosen (median) |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        task = f"{r['task']} (proxy)" if r.get("proxy") else r["task"]
        lines.append(
            f"| {task} | {r['feature']} | {r['classifier']} | {r['normalisation']} | {_fmt(r.get('accuracy'))} | "
            f"{_fmt(r.get('uar'))} | {_fmt(r.get('ccc'))} | {_fmt(r.get('rmse'))} | {_fmt(r.get('n_test'))} | "
            f"{format_chosen(r.get('chosen'))} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- features

def _code_hash(*modules: str) -> str:
    import importlib

    digest = hashlib.sha256()
    for name in modules:
        file = importlib.import_module(name).__file__
        if file:
            digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:16]


#: Packages whose versions a speech run records.
_SPEECH_PACKAGES = ("opensmile", "soundfile", "soxr", "transformers", "torch")


def _versions() -> dict[str, str]:
    return runs.package_versions(*_SPEECH_PACKAGES)


def _model_fingerprint(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(model_dir).rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(model_dir)).encode())
        digest.update(str(file.stat().st_size).encode())
        with open(file, "rb") as handle:  # the head and tail of each file: fast, and changes with the weights
            digest.update(handle.read(1 << 20))
            handle.seek(max(file.stat().st_size - (1 << 20), 0))
            digest.update(handle.read())
    return digest.hexdigest()


def _extract(feature: SpeechFeature, paths: list[str], file_hashes: list[str], cfg: SpeechConfig, *,
             cache: Any, n_jobs: int, progress: bool) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """One extractor's matrix (from the cache when there), its column names and how it was got."""
    from affectlab.audio.io import file_sha256  # noqa: F401  (hashes are computed by the caller)

    started = time.perf_counter()
    audio = cfg.audio
    if feature.name == "ssl":
        from affectlab.audio.ssl import SSLEmbedder, resolve_device

        model_dir = Path(feature.params["model_dir"]).expanduser()
        if not model_dir.is_absolute() and cfg.path is not None and (cfg.path.parent / model_dir).is_dir():
            model_dir = cfg.path.parent / model_dir
        spec = {"extractor": "ssl", "model": _model_fingerprint(model_dir) if model_dir.is_dir() else str(model_dir),
                "layer": feature.params.get("layer"), "max_seconds": feature.params.get("max_seconds"),
                "code": _code_hash("affectlab.audio.io", "affectlab.audio.ssl")}

        def compute() -> np.ndarray:
            embedder = SSLEmbedder(model_dir, layer=feature.params.get("layer"),
                                   device=resolve_device(str(feature.params.get("device", "auto"))),
                                   batch_size=int(feature.params.get("batch_size", 8)),
                                   max_seconds=feature.params.get("max_seconds"))
            return embedder.embed_files(paths, progress=progress, min_duration=float(audio["min_duration"]))

        names_of: Any = None
    else:
        from affectlab.audio.opensmile import extract_opensmile, opensmile_feature_names

        spec = {"extractor": "opensmile", "set": feature.name, "sample_rate": audio["sample_rate"],
                "min_duration": audio["min_duration"], "nan_policy": audio["nan_policy"],
                "code": _code_hash("affectlab.audio.io", "affectlab.audio.opensmile"),
                "versions": {k: v for k, v in _versions().items() if k in ("opensmile", "soxr", "soundfile")}}

        def compute() -> np.ndarray:
            return extract_opensmile(paths, feature_set=feature.name, sample_rate=int(audio["sample_rate"]),
                                     nan_policy=audio["nan_policy"], min_duration=float(audio["min_duration"]),
                                     n_jobs=n_jobs, progress=progress)

        names_of = feature.name
    spec["files"] = hashlib.sha256("\n".join(file_hashes).encode()).hexdigest()
    status = None
    if cache is not None:
        key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
        X, hit = cache.get_or_compute(key, compute, {"feature": feature.label, **spec, "n_files": len(paths)})
        status = "hit" if hit else "miss"
    else:
        X = compute()
    X = np.asarray(X, dtype=np.float32)
    if names_of is not None:
        names = opensmile_feature_names(names_of)
    else:
        names = [f"{feature.label}_{i}" for i in range(X.shape[1])]
    info = {"extractor": feature.name, "dim": int(X.shape[1]), "cache": status,
            "seconds": round(time.perf_counter() - started, 3), **{k: v for k, v in feature.params.items()}}
    return X, names, info


# ----------------------------------------------------------------------------------------- folds

def _chosen(estimator: Any) -> dict[str, Any]:
    params = dict(getattr(estimator, "best_params_", {}) or {})
    return {k.split("__")[-1]: v for k, v in params.items()}


def _fold_job(job: tuple[int, int, int], X: np.ndarray, targets: dict[str, np.ndarray], groups: np.ndarray,
              train: np.ndarray, test: np.ndarray, models: list[tuple[str, str, str, Any]]) -> dict[str, Any]:
    """Fit every (task, model) on one fold's training part; predict its test part."""
    import warnings

    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    results = []
    for task, kind, label, template in models:
        started = time.perf_counter()
        estimator = clone(template)
        y = targets[task]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit_with_groups(estimator, X[train], y[train], groups[train])
        pred = np.asarray(estimator.predict(X[test]))
        results.append({"task": task, "kind": kind, "model": label, "pred": pred, "chosen": _chosen(estimator),
                        "inner_cv": getattr(estimator, "inner_cv_", None),
                        "seconds": time.perf_counter() - started})
    return {"job": job, "results": results}


# ------------------------------------------------------------------------------------------ runner

def _load_dataset(cfg: SpeechConfig) -> Dataset:
    from affectlab.data.loader import load_dataset

    options = {k: v for k, v in cfg.data.items() if k != "format"}
    ds = load_dataset(cfg.source, format=cfg.data.get("format", "auto"), **options)
    if ds.kind != "audio":
        raise ConfigError(f"data.source {cfg.source}: a {ds.kind} dataset; speech experiments need audio")
    keep = [i for i, s in enumerate(ds.samples) if s.label is not None and s.path is not None]
    if not keep:
        raise ConfigError(f"data.source {cfg.source}: no labelled audio files")
    return ds.subset(keep) if len(keep) < len(ds) else ds


def _groups(ds: Dataset, group_by: str) -> np.ndarray:
    values = []
    for sample in ds.samples:
        value = sample.subject if group_by in ("speaker", "subject") else sample.extras.get(group_by)
        if value is None or value == "":
            raise ProtocolError(f"protocol.group_by {group_by!r}: sample {sample.id!r} has no value "
                                "(use 'speaker', or a manifest column such as 'session')")
        values.append(str(value))
    return np.asarray(values)


def _targets(task: SpeechTask, labels: np.ndarray, ds: Dataset) -> tuple[dict[str, np.ndarray], list[str]]:
    """Target arrays per row-task name and the class order (classification) or dimension names."""
    from affectlab.audio.norms import DIMENSIONS, category_to_vad

    if task.type == "regression" and not task.proxy:
        values = np.full((len(ds), len(task.dimensions)), np.nan)
        for i, sample in enumerate(ds.samples):
            for j, dim in enumerate(task.dimensions):
                try:
                    values[i, j] = float(sample.extras[dim])
                except (KeyError, TypeError, ValueError):
                    raise DataError(f"task {task.name!r}: sample {sample.id!r} has no numeric {dim!r}"
                                    " (targets: extras reads per-utterance ratings from manifest columns)") from None
        return {task.name: values}, list(task.dimensions)
    if task.type == "regression":
        vad = category_to_vad(labels, task.norm)
        columns = [DIMENSIONS.index(d) for d in task.dimensions]
        return {task.name: vad[:, columns]}, list(task.dimensions)
    if task.mapping is None:
        return {task.name: labels.astype(str)}, []
    missing = sorted(set(labels.tolist()) - set(task.mapping))
    if missing:
        raise ConfigError(f"task {task.name!r}: map does not say where class(es) {', '.join(missing)} go")
    mapped = np.array([task.mapping[v] for v in labels.tolist()])
    return {task.name: mapped}, list(dict.fromkeys(task.mapping.values()))


def _write_predictions(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = ("id", "fold", "task", "feature", "model", "normalisation", "true", "pred", "subject")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _safe(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def run_speech_experiment(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: str | Path | Any | None = None,
) -> SpeechExperimentResult:
    """Run a ``kind: speech`` experiment and write its run folder.

    Parameters
    ----------
    config
        The mapping read from the YAML (``_path``: the file's path) or a YAML path.
    out_dir
        Run folder (absent or empty unless ``overwrite``).
    data
        Overrides ``data.source``.
    progress
        Progress bars on stderr.
    overwrite
        Allow a non-empty ``out_dir``.
    n_jobs
        Processes for feature extraction and folds (``None``: 1, ``-1``: all cores).
    cache
        Feature cache folder or :class:`~affectlab.features.cache.FeatureCache` (``None``: no cache).

    Returns
    -------
    SpeechExperimentResult
        ``rows``: one per (task, feature, model, normalisation), as in ``metrics.json``.
    """
    from joblib import delayed, effective_n_jobs

    from affectlab.audio.normalise import normalise

    raw, raw_path = read_raw_config(config)
    raw["_path"] = raw_path
    cfg = load_speech_config(raw, data=data)
    run = runs.RunFolder(out_dir, overwrite=overwrite)
    ds = _load_dataset(cfg)
    labels = np.array([s.label for s in ds.samples], dtype=str)
    speakers = np.array([s.subject if s.subject is not None else "" for s in ds.samples], dtype=object)
    groups = _groups(ds, cfg.group_by)
    protocol = make_protocol(cfg.protocol)
    folds = list(protocol.split(labels, groups=groups))
    if "per_speaker" in cfg.normalisations and any(s == "" for s in speakers):
        raise ProtocolError("normalisation per_speaker needs a speaker id for every sample")
    featurewise_targets = _featurewise_targets(cfg.featurewise, labels, ds) if cfg.featurewise else None
    out = run.create()
    jobs = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    feature_cache = open_feature_cache(cache)
    targets, orders = _task_targets(cfg, labels, ds)
    models, model_of = _task_models(cfg)
    resolved = {**cfg.to_dict(), "run": _provenance(run, cfg, ds, protocol, folds, jobs, feature_cache)}
    run.write_config(resolved)

    matrices, names, feature_info = _speech_features(cfg, ds, feature_cache, jobs, progress)
    active = _active_models(cfg, model_of)
    normalised = {(f, n): normalise(matrices[cfg.features[f].label], speakers, cfg.normalisations[n])
                  for f, n in active}
    tasks = [delayed(_fold_job)((f, n, k), normalised[f, n], targets, groups, fold.train, fold.test,
                                [models[m] for m in active[f, n]])
             for f, n in active for k, fold in enumerate(folds)]
    outcomes = {outcome["job"]: outcome for outcome in run_tasks(tasks, jobs, progress=progress)}
    rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    for f, n in active:
        feature, scheme = cfg.features[f], cfg.normalisations[n]
        for j, m in enumerate(active[f, n]):
            task, model_label = model_of[m][0], models[m][2]
            per_fold = [outcomes[f, n, k]["results"][j] for k in range(len(folds))]
            pooled = _Pooled(task, targets[task.name], per_fold, folds, feature.label, model_label, scheme,
                             int(matrices[feature.label].shape[1]))
            if task.type == "classification":
                order = orders[task.name] or [c for c in ds.classes if c in set(pooled.y.tolist())]
                row_list, records = [_classification_row(pooled, order, run)], _classification_records(pooled)
            else:
                row_list, records = _regression_rows(pooled), _regression_records(pooled)
            rows += row_list
            predictions += [{**r, "id": ds.samples[r["idx"]].id, "subject": speakers[r["idx"]]} for r in records]
    _write_predictions(out / "predictions.csv", predictions)
    featurewise_out = _featurewise(cfg, matrices, names, featurewise_targets, out) if featurewise_targets else []
    return _write_outputs(run, cfg, resolved, rows, feature_info, featurewise_out, ds.summary(), len(folds), jobs)


def _task_targets(cfg: SpeechConfig, labels: np.ndarray,
                  ds: Dataset) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Every task's target array (by row-task name) and its class order or dimension names."""
    targets: dict[str, np.ndarray] = {}
    orders: dict[str, list[str]] = {}
    for task in cfg.tasks:
        t, order = _targets(task, labels, ds)
        targets.update(t)
        orders[task.name] = order
    return targets, orders


def _task_models(cfg: SpeechConfig) -> tuple[list[tuple[str, str, str, Any]], list[tuple[SpeechTask, _Model]]]:
    """Classifiers stage: ``(task, type, label, estimator)`` for every model a task uses, and its (task, entry)."""

    models: list[tuple[str, str, str, Any]] = []
    model_of: list[tuple[SpeechTask, _Model]] = []
    for task in cfg.tasks:
        pool = cfg.classifiers if task.type == "classification" else cfg.regressors
        for component in pool:
            if task.models and component.label not in task.models:
                continue
            estimator = create_classifier(component.name, **component.params)
            models.append((task.name, task.type, component.label, estimator))
            model_of.append((task, component))
    return models, model_of


def _provenance(run: runs.RunFolder, cfg: SpeechConfig, ds: Dataset, protocol: Any, folds: list[Any], jobs: int,
                feature_cache: Any) -> dict[str, Any]:
    """The run block of config.yaml, with the speech libraries' versions and folds split by speaker (or group)."""
    summary = ds.summary()
    block = run.provenance(config_path=cfg.path, packages=_SPEECH_PACKAGES)
    block.update({
        "data_sha256": ds.fingerprint(),
        "dataset": {"path": str(cfg.source), "name": ds.name, "samples": len(ds), "speakers": summary["subjects"],
                    "classes": summary["classes"]},
        "protocol": protocol.describe().replace("subject", "speaker") if cfg.group_by == "speaker"
        else f"leave-one-{cfg.group_by}-group-out",
        "n_folds": len(folds),
        "folds": [{"name": f.name, "train": int(f.train.size), "test": int(f.test.size)} for f in folds],
        "n_jobs": jobs,
        "feature_cache": None if feature_cache is None else str(feature_cache.directory),
    })
    return block


def _speech_features(cfg: SpeechConfig, ds: Dataset, feature_cache: Any, jobs: int,
                     progress: bool) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Members stage: every feature set once for all utterances (from the cache when there); ``fusion`` entries
    concatenate earlier ones. Returns the matrices, their column names and how each was got."""
    from affectlab.audio.io import file_sha256

    paths = [str(s.path if Path(s.path).is_absolute() or ds.root is None else ds.root / s.path) for s in ds.samples]
    file_hashes = [file_sha256(p) for p in paths] if feature_cache is not None else []
    matrices: dict[str, np.ndarray] = {}
    names: dict[str, list[str]] = {}
    feature_info: dict[str, dict[str, Any]] = {}
    for feature in cfg.features:
        if feature.name == "fusion":
            parts = feature.params["of"]
            matrices[feature.label] = np.hstack([matrices[p] for p in parts])
            names[feature.label] = [f"{p}:{n}" for p in parts for n in names[p]]
            feature_info[feature.label] = {"extractor": "fusion (early, concatenation)", "of": list(parts),
                                           "dim": int(matrices[feature.label].shape[1])}
            continue
        X, column_names, info = _extract(feature, paths, file_hashes, cfg, cache=feature_cache, n_jobs=jobs,
                                         progress=progress)
        matrices[feature.label], names[feature.label], feature_info[feature.label] = X, column_names, info
    return matrices, names, feature_info


def _active_models(cfg: SpeechConfig, model_of: list[tuple[SpeechTask, _Model]]) -> dict[tuple[int, int], list[int]]:
    """``{(feature index, normalisation index): [model indices]}`` for the combinations some task runs."""
    active = {}
    for f in range(len(cfg.features)):
        for n in range(len(cfg.normalisations)):
            label, scheme = cfg.features[f].label, cfg.normalisations[n]
            use = [m for m, (task, component) in enumerate(model_of)
                   if task.applies(label, scheme) and component.applies(label, scheme)]
            if use:
                active[f, n] = use
    return active


class _Pooled:
    """One (task, feature, model, normalisation)'s test predictions of all folds, pooled in sample order."""

    def __init__(self, task: SpeechTask, y: np.ndarray, per_fold: list[dict[str, Any]], folds: list[Any],
                 feature: str, model: str, scheme: str, feature_dim: int) -> None:
        self.task, self.y, self.folds, self.feature, self.model, self.scheme = task, y, folds, feature, model, scheme
        self.pred = np.empty(y.shape, dtype=y.dtype if task.type == "classification" else np.float64)
        self.selected = []
        for k, fold in enumerate(folds):
            self.pred[fold.test] = per_fold[k]["pred"]
            if per_fold[k]["chosen"]:
                self.selected.append({"fold": fold.name, **per_fold[k]["chosen"]})
        self.common = {"feature": feature, "classifier": model, "normalisation": scheme, "n_folds": len(folds),
                       "feature_dim": feature_dim, "seconds": round(sum(r["seconds"] for r in per_fold), 3),
                       "inner_cv": per_fold[0]["inner_cv"]}

    def record(self, idx: int, task: str, true: Any, pred: Any, fold: str) -> dict[str, Any]:
        return {"idx": idx, "fold": fold, "task": task, "feature": self.feature, "model": self.model,
                "normalisation": self.scheme, "true": true, "pred": pred}


def _classification_row(p: _Pooled, order: list[str], run: runs.RunFolder) -> dict[str, Any]:
    """Metrics stage of a classification task: WA, UAR, macro-F1, per-fold UAR, the confusion plot."""
    from affectlab.viz.confusion import save_confusion_matrix

    name = p.task.name
    metrics = classification_metrics(p.y, p.pred, order)
    png = f"confusion_{_safe(name)}_{_safe(p.feature)}_{_safe(p.model)}_{p.scheme}.png"
    save_confusion_matrix(np.asarray(metrics["confusion"]), order, run.path / png,
                          title=f"{name}: {p.feature} / {p.model} / {p.scheme}")
    row = {"task": name, **p.common, "accuracy": metrics["accuracy"], "uar": metrics["uar"],
           "macro_f1": metrics["macro_f1"], "n_test": metrics["n"], "labels": order,
           "confusion": metrics["confusion"], "per_class_recall": metrics["per_class_recall"],
           "fold_uar": {fold.name: _fold_uar(p.y[fold.test], p.pred[fold.test]) for fold in p.folds},
           "confusion_png": png, "proxy": False}
    if p.selected:
        row["chosen"] = summarise_chosen(p.selected)
    return row


def _classification_records(p: _Pooled) -> list[dict[str, Any]]:
    return [p.record(idx, p.task.name, p.y[idx], p.pred[idx], fold.name) for fold in p.folds for idx in fold.test]


def _regression_rows(p: _Pooled) -> list[dict[str, Any]]:
    """Metrics stage of a regression task: CCC, RMSE and Pearson per dimension (proxy rows marked)."""

    task, rows = p.task, []
    for j, (dim, row_task) in enumerate(zip(task.dimensions, task.row_names())):
        metrics = regression_metrics(p.y[:, j], p.pred[:, j])
        row = {"task": row_task, **p.common, "ccc": metrics["ccc"], "rmse": metrics["rmse"],
               "pearson": metrics["pearson"], "n_test": metrics["n"], "proxy": task.proxy}
        if task.proxy:
            row["norm"] = task.norm
            row["note"] = f"proxy: targets are the {task.norm} {dim} ratings of each utterance's category"
        chosen_j = [{"fold": s["fold"], "C": (s["C"][j] if isinstance(s.get("C"), list) else s.get("C"))}
                    for s in p.selected if "C" in s]
        if chosen_j:
            row["chosen"] = summarise_chosen(chosen_j)
        rows.append(row)
    return rows


def _regression_records(p: _Pooled) -> list[dict[str, Any]]:
    return [p.record(idx, row_task, f"{p.y[idx, j]:.4f}", f"{p.pred[idx, j]:.4f}", fold.name)
            for j, row_task in enumerate(p.task.row_names()) for fold in p.folds for idx in fold.test]


def _write_outputs(run: runs.RunFolder, cfg: SpeechConfig, resolved: dict[str, Any], rows: list[dict[str, Any]],
                   feature_info: dict[str, dict[str, Any]], featurewise_out: list[dict[str, Any]],
                   summary: dict[str, Any], n_folds: int, jobs: int) -> SpeechExperimentResult:
    """metrics.json and report.md of a speech run; the run's result."""
    from affectlab.audio.normalise import describe_normalisation

    elapsed = run.elapsed
    norms_text = {s: describe_normalisation(s) for s in cfg.normalisations}
    run.write_metrics({
        "name": cfg.name, "kind": "speech", "dataset": resolved["run"]["dataset"],
        "protocol": {**cfg.protocol, "group_by": cfg.group_by, "description": resolved["run"]["protocol"],
                     "n_folds": n_folds},
        "normalisation": norms_text, "rows": rows, "features": feature_info,
        "featurewise": featurewise_out, "n_jobs": jobs, "seconds": round(elapsed, 3),
        "pooling": "predictions of all test folds are pooled before computing each metric",
    })
    _write_report(run.path, cfg, resolved, rows, feature_info, norms_text, featurewise_out, summary)
    return run.result(rows, resolved, n_folds=n_folds, seconds=elapsed, result_type=SpeechExperimentResult)


def _fold_uar(true: np.ndarray, pred: np.ndarray) -> float:

    return uar(true, pred)


def _rated(ds: Dataset, dim: str) -> np.ndarray | None:
    """Every sample's numeric ``dim`` rating (manifest column), or ``None`` when one has none."""
    values = []
    for sample in ds.samples:
        try:
            value = float(sample.extras[dim])
        except (KeyError, TypeError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        values.append(value)
    return np.asarray(values, dtype=np.float64)


def _featurewise_targets(spec: Mapping[str, Any], labels: np.ndarray,
                         ds: Dataset) -> tuple[np.ndarray, list[str], bool]:
    """``(Y, dimensions, proxy)`` for the feature-wise CCC, decided before any feature is extracted.

    ``targets: extras`` reads per-utterance ratings (manifest columns named like the dimensions);
    ``norm`` maps each category to the norm's coordinates (a proxy); ``auto`` (the default) takes
    the ratings when every sample has them (all of ``dimensions`` when given, else at least one of
    valence, arousal, dominance), else the norm.
    """
    from affectlab.audio.norms import DIMENSIONS, category_to_vad

    mode = str(spec.get("targets", "auto"))
    wanted = [str(d) for d in spec["dimensions"]] if spec.get("dimensions") else None
    ratings = {d: _rated(ds, d) for d in (wanted or DIMENSIONS)}
    rated = [d for d, v in ratings.items() if v is not None]
    complete = rated == wanted if wanted else bool(rated)
    if mode == "extras" or (mode == "auto" and complete):
        if not complete:
            missing = next(d for d, v in ratings.items() if v is None) if wanted else "/".join(DIMENSIONS)
            raise DataError(f"featurewise.targets extras: not every sample has a numeric {missing} rating (a "
                            "manifest column of that name); give those, or targets: norm for category proxies")
        return np.column_stack([ratings[d] for d in rated]), rated, False
    dims = wanted or list(DIMENSIONS)
    vad = category_to_vad(labels, str(spec["norm"]))
    return vad[:, [DIMENSIONS.index(d) for d in dims]], dims, True


def _featurewise(cfg: SpeechConfig, matrices: dict[str, np.ndarray], names: dict[str, list[str]],
                 targets: tuple[np.ndarray, list[str], bool], out: Path) -> list[dict[str, Any]]:
    """Feature-wise CCC of each requested feature set against the utterances' ratings, or the V/A/D proxy
    of their labels (:func:`_featurewise_targets`)."""
    from affectlab.audio.featurewise import analyse_featurewise, top_k_table
    from affectlab.audio.norms import get_norm
    from affectlab.viz.ccc import save_ccc_scatter

    assert cfg.featurewise is not None
    Y, dims, proxy = targets
    norm = str(cfg.featurewise["norm"])
    top_k = int(cfg.featurewise["top_k"])
    source = (f"{norm} valence/arousal/dominance of each utterance's category (a proxy: {get_norm(norm).citation})"
              if proxy else f"each utterance's own {'/'.join(dims)} ratings (manifest columns)")
    results = []
    for label in cfg.featurewise["features"]:
        result = analyse_featurewise(matrices[label], Y, names[label], dims, feature_set=label)
        stem = f"featurewise_{_safe(label)}"
        result.to_csv(out / f"{stem}.csv")
        table = top_k_table(result, top_k)
        (out / f"{stem}_top{top_k}.md").write_text(
            f"# Feature-wise CCC, {label} (top {top_k} by |CCC| per dimension)\n\n"
            f"Labels: {source}. Features and labels min-max normalised over all "
            f"{matrices[label].shape[0]} utterances; CCC per feature per dimension.\n\n{table}\n", encoding="utf-8")
        scatter = None
        if "valence" in dims and "arousal" in dims:  # the V/A plane; otherwise the table and CSV say it all
            scatter = f"{stem}_scatter.png"
            what = f"V/A proxy labels, {norm}" if proxy else "V/A ratings"
            save_ccc_scatter(result.ccc[:, dims.index("arousal")], result.ccc[:, dims.index("valence")],
                             out / scatter, names=result.names, top_k=10, title=f"Feature-wise CCC, {label} ({what})")
        entry = {"feature": label, "dim": int(matrices[label].shape[1]), "proxy": proxy, "dimensions": dims,
                 "csv": f"{stem}.csv", "scatter_png": scatter, "top_k_md": f"{stem}_top{top_k}.md",
                 "top": {d: [{"feature": n, "ccc": round(v, 4)} for _, n, v in result.top(d, top_k)] for d in dims},
                 "table": table}
        if proxy:
            entry["norm"] = norm
        results.append(entry)
    return results


def _write_report(out: Path, cfg: SpeechConfig, resolved: dict[str, Any], rows: list[dict[str, Any]],
                  feature_info: dict[str, dict[str, Any]], norms_text: dict[str, str],
                  featurewise_out: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    from affectlab.audio.norms import get_norm
    from affectlab.audio.opensmile import OPENSMILE_LICENCE

    counts = ", ".join(f"{c} {n}" for c, n in summary["classes"].items())
    lines = [f"# {cfg.name} (affectlab {resolved['run']['affectlab']}, {resolved['run']['timestamp']})", ""]
    if cfg.description:
        lines += [str(cfg.description).strip(), ""]
    lines += ["## Data", "", f"- source: `{cfg.source}`",
              (f"- {resolved['run']['dataset']['samples']} utterances, {summary['subjects']} speakers;"
               f" classes: {counts}"),
              (f"- audio: mono, resampled to {cfg.audio['sample_rate']} Hz (soxr), at least"
               f" {cfg.audio['min_duration']} s; NaN functionals: {cfg.audio['nan_policy']}"), ""]
    lines += ["## Protocol", "", (f"{resolved['run']['protocol']}; {resolved['run']['n_folds']} folds. The predictions"
              " of all test folds are pooled, then WA (accuracy) and UAR (mean per-class recall) or CCC and RMSE are"
              " computed once. Hyper-parameters (C, k) are chosen inside each training part only, by inner folds over"
              " its speakers; the values chosen per fold are in metrics.json (`chosen`)."), ""]
    lines += ["## Normalisation", ""] + [f"- **{k}**: {v}" for k, v in norms_text.items()] + [
        "", "Every row of the table names its normalisation.", ""]
    lines += ["## Features", ""]
    for label, info in feature_info.items():
        lines.append(f"- {label}: {info.get('extractor')} ({info.get('dim')} dims"
                     + (f", cache {info['cache']}" if info.get("cache") else "") + ")")
    if any(f.name in ("compare_2016", "egemaps_v02") for f in cfg.features):
        lines += ["", f"openSMILE licence: {OPENSMILE_LICENCE}"]
    lines += [""]
    tasks_text = []
    for task in cfg.tasks:
        if task.type == "regression" and not task.proxy:
            tasks_text.append(f"- {', '.join(task.row_names())}: per-utterance ratings from the manifest columns "
                              f"{', '.join(task.dimensions)}")
        elif task.type == "regression":
            tasks_text.append(f"- **{', '.join(task.row_names())}: dimensional PROXY.** Each utterance's target is the "
                              f"{task.norm} rating of the word naming its category ({get_norm(task.norm).citation}); "
                              "the targets are constant within a category, so these rows measure how well the model "
                              "orders the categories along each dimension, not agreement with dimensional ratings "
                              "of the utterances.")
        elif task.mapping:
            grouped = _task_dict(task)["map"]
            tasks_text.append(f"- {task.name}: " + "; ".join(f"{t} = {', '.join(s)}" for t, s in grouped.items()))
        else:
            tasks_text.append(f"- {task.name}: the dataset's categories")
    lines += ["## Tasks", ""] + tasks_text + [""]
    lines += ["## Results", "", speech_table(rows), ""]
    best = {}
    for r in rows:
        key = r["task"]
        score = r.get("uar") if r.get("uar") is not None else r.get("ccc")
        if score is not None and (key not in best or score > best[key][0]):
            best[key] = (score, r)
    if best:
        lines += ["Best row per task: " + "; ".join(
            f"{k}{' (proxy)' if r.get('proxy') else ''}: {r['feature']} / {r['classifier']} / {r['normalisation']} "
            f"{'UAR' if r.get('uar') is not None else 'CCC'} {s:.3f}" for k, (s, r) in best.items()), ""]
    pngs = [r for r in rows if r.get("confusion_png")]
    if pngs:
        lines += ["## Confusion matrices", "", "Counts in the cells; colours are row-normalised (recall).", ""]
        lines += [f"- [{r['task']}: {r['feature']} / {r['classifier']} / {r['normalisation']}]({r['confusion_png']})"
                  for r in pngs]
        lines.append("")
    if featurewise_out:
        proxy = featurewise_out[0]["proxy"]
        lines += [f"## Feature-wise CCC ({'proxy labels' if proxy else 'per-utterance ratings'})", ""]
        for f in featurewise_out:
            scatter = f"Scatter: [{f['scatter_png']}]({f['scatter_png']}); " if f["scatter_png"] else ""
            labels_are = (f"the {f['norm']} V/A/D proxy of each category" if f["proxy"]
                          else f"each utterance's own {'/'.join(f['dimensions'])} ratings")
            lines += [f"### {f['feature']}", "", (f"{scatter}all features: [{f['csv']}]({f['csv']}). "
                      f"Labels are {labels_are}."), "", f["table"], ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
