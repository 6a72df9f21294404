"""``kind: deep`` experiments: fine-tune a pretrained network per fold and/or deep features + a classifier.

Every method runs under the same subject-independent protocol (e.g. 10 folds split by subject).
A ``finetune`` method starts each fold from the given weights (e.g. the FER2013-trained bundled
model), replaces the class layer, and selects the epoch on a validation part made of a fraction
of the *training* subjects of that fold; with ``refit`` it then trains again from the same start
on all training subjects with the same schedule, stopped after the selected number of epochs. The
test fold is only predicted, once, at the end. A
``features`` method takes the activations of a named layer of a fixed pretrained network and fits
a classifier (hyper-parameters by inner cross-validation by subject) on each training part.

Config::

    kind: deep
    name: ckplus48-deep
    data: {source: ../../shared/datasets/ckplus48}
    protocol: {kind: group_kfold, n_splits: 10, stratified: true, random_state: 0}
    methods:
      - label: finetune_mx
        type: finetune
        model: mini_xception
        init: default              # weights to start from (name, 'default' or a checkpoint path)
        validation_fraction: 0.15  # of each fold's training subjects; selects the epoch
        refit: true                # then retrain on all training subjects for that many epochs
        tta_flip: true             # average the test prediction with the mirrored face
        train: {epochs: 15, batch_size: 32, lr: 0.002}   # any TrainConfig field
      - label: deep_svm
        type: features
        model: mini_xception
        layer: pool
        classifier: {name: linear_svm, C_grid: [0.001, 0.01, 0.1, 1]}

A ``mean`` method (``{label: ensemble, type: mean, of: [finetune_a, finetune_b]}``) averages the
test-fold probabilities of finetune methods listed before it (an ensemble with nothing to tune).

``affectlab experiment CONFIG --out DIR`` writes config.yaml, metrics.json, predictions.csv,
report.md and one confusion-matrix plot per method.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from affectlab.classify.registry import create_classifier
from affectlab.data.loader import load_dataset
from affectlab.errors import ConfigError
from affectlab.evaluate.metrics import classification_metrics
from affectlab.evaluate.protocols import make_protocol
from affectlab.experiments import runs
from affectlab.experiments.config import names_the_file, parse_image_size, resolve_source, typed_entry
from affectlab.experiments.stages import load_gray_images
from affectlab.models import create_model, list_models, load_model, load_weights
from affectlab.models.augment import AugmentConfig
from affectlab.models.features import extract_features
from affectlab.models.train import TrainConfig, fit_classifier, predict_proba, seed_everything
from affectlab.models.training import subject_holdout, transfer_weights

__all__ = ["DEEP_METHOD_TYPES", "run_deep_experiment", "train_config_from_mapping"]

DEEP_METHOD_TYPES = ("finetune", "features", "mean")
_TOP_KEYS = {"kind", "name", "description", "data", "images", "protocol", "methods", "seed", "device", "run", "_path"}
_METHOD_KEYS = {
    "finetune": {"label", "type", "model", "init", "validation_fraction", "train", "augment", "refit", "tta_flip"},
    "features": {"label", "type", "model", "init", "layer", "spatial", "classifier"},
    "mean": {"label", "type", "of"},
}


def train_config_from_mapping(method: Mapping[str, Any], seed: int, device: str, key: str) -> Any:
    """A ``TrainConfig`` from a config entry's ``train`` and ``augment`` mappings; unknown settings raise
    :class:`ConfigError` naming ``key``."""

    train = dict(method.get("train") or {})
    known = {f.name for f in fields(TrainConfig)} - {"augment"}
    unknown = sorted(set(train) - known)
    if unknown:
        raise ConfigError(f"{key}.train.{unknown[0]} is not a training setting (known: {', '.join(sorted(known))})")
    augment = dict(method.get("augment") or {})
    aug_known = {f.name for f in fields(AugmentConfig)}
    bad = sorted(set(augment) - aug_known)
    if bad:
        raise ConfigError(f"{key}.augment.{bad[0]} is not an augmentation setting"
                          f" (known: {', '.join(sorted(aug_known))})")
    train.setdefault("seed", seed)
    train.setdefault("device", device)
    try:
        return TrainConfig(**train, augment=AugmentConfig(**augment))
    except TypeError as exc:
        raise ConfigError(f"{key}.train: {exc}") from None


def _parse_methods(raw: Mapping[str, Any]) -> list[dict[str, Any]]:

    methods = raw.get("methods")
    if not isinstance(methods, list) or not methods:
        raise ConfigError("methods: a non-empty list of finetune / features methods is required")
    out, labels = [], set()
    for i, method in enumerate(methods):
        key = f"methods[{i}]"
        kind = typed_entry(method, key, _METHOD_KEYS, "method")
        if kind == "mean":
            of = method.get("of")
            finetuned = {m["label"] for m in out if m["type"] == "finetune"}
            if not isinstance(of, list) or len(of) < 2 or any(o not in finetuned for o in of):
                raise ConfigError(f"{key}.of: a list of at least two labels of finetune methods listed before it "
                                  f"(listed so far: {', '.join(sorted(finetuned)) or 'none'})")
            label = str(method.get("label") or "mean_" + "_".join(of))
            if label in labels:
                raise ConfigError(f"{key}.label {label!r} is used twice")
            labels.add(label)
            out.append({**method, "label": label, "_key": key})
            continue
        model = method.get("model")
        if model not in list_models():
            raise ConfigError(f"{key}.model {model!r} is not a registered model (known: {', '.join(list_models())})")
        init = method.get("init")
        if isinstance(init, str) and init in list_models() and init != model:
            raise ConfigError(f"{key}.init {init!r}: weights of another network than {key}.model {model!r}")
        label = str(method.get("label") or f"{kind}_{model}")
        if label in labels:
            raise ConfigError(f"{key}.label {label!r} is used twice")
        labels.add(label)
        out.append({**method, "label": label, "_key": key})
    return out


def _resize_for(model_name: str, images: np.ndarray) -> np.ndarray:
    """Images resized to the size ``model_name`` is trained and evaluated on (e.g. 128x128 for VGG)."""
    import cv2


    config = create_model(model_name).config
    height, width = config.extras.get("eval_size") or config.input_size
    if images.shape[1:3] == (height, width):
        return images
    interpolation = cv2.INTER_AREA if images.shape[1] > height else cv2.INTER_LINEAR
    return np.stack([cv2.resize(im, (width, height), interpolation=interpolation) for im in images])


def _finetune_fold(method: Mapping[str, Any], images: np.ndarray, y: np.ndarray, groups: np.ndarray,
                   train_idx: np.ndarray, test_idx: np.ndarray, class_names: tuple[str, ...], seed: int,
                   device: str) -> dict[str, Any]:
    """Select the epoch on held-out training subjects; optionally refit on all training subjects."""

    cfg = train_config_from_mapping(method, seed, device, method["_key"])
    probe = create_model(method["model"], class_names=class_names)
    if cfg.crop_size is None and tuple(images.shape[1:3]) != tuple(probe.config.input_size):
        cfg.crop_size = int(probe.config.input_size[0])  # the 10-crop CNN: random crops of larger faces
    # "default" is the bundled weights of this method's own network (docs/experiments.md)
    init = load_model(method["init"], default=method["model"]) if method.get("init") is not None else None

    def fresh():
        seed_everything(cfg.seed)  # the new class layer's initial weights too (not whatever state the worker has)
        model = create_model(method["model"], class_names=class_names)
        copied = len(transfer_weights(model, init)) if init is not None else 0
        return model, copied

    fraction = float(method.get("validation_fraction", 0.15))
    inner_train, inner_val = subject_holdout(groups[train_idx], y[train_idx], fraction, seed)
    tr, va = train_idx[inner_train], train_idx[inner_val]
    started = time.perf_counter()
    model, copied = fresh()
    with tempfile.TemporaryDirectory(prefix="affectlab-finetune-") as tmp:
        result = fit_classifier(model, train=(images[tr], y[tr]), val=(images[va], y[va]), config=cfg,
                                out_dir=tmp, resume=False, progress=False)
        load_weights(model, result.best_path)
    if method.get("refit", False):
        # same schedule, stopped after the selected number of epochs, on all training subjects
        best = result.best_epoch
        model, _ = fresh()
        fit_classifier(model, train=(images[train_idx], y[train_idx]), val=(images[va], y[va]), config=cfg,
                       progress=False, on_epoch_end=lambda row: row["epoch"] >= best)
    proba = predict_proba(model, images[test_idx], device=cfg.device, tta_flip=bool(method.get("tta_flip", False)))
    return {
        "pred": proba.argmax(1), "decision": proba, "best_epoch": result.best_epoch,
        "val_accuracy": result.best_val_accuracy, "n_train": int(tr.size), "n_val": int(va.size),
        "refit_n_train": int(train_idx.size) if method.get("refit", False) else None,
        "init_tensors_copied": copied, "seconds": time.perf_counter() - started,
    }


def _features_fold(method: Mapping[str, Any], features: np.ndarray, y: np.ndarray, groups: np.ndarray,
                   train_idx: np.ndarray, test_idx: np.ndarray) -> dict[str, Any]:
    from sklearn.utils.validation import has_fit_parameter


    spec = dict(method.get("classifier") or {"name": "linear_svm"})
    name = spec.pop("name", "linear_svm")
    clf = create_classifier(name, **spec)
    started = time.perf_counter()
    kwargs = {"groups": groups[train_idx]} if has_fit_parameter(clf, "groups") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(features[train_idx], y[train_idx], **kwargs)
    decision = np.asarray(clf.decision_function(features[test_idx]))
    chosen = {}
    for attr in ("best_params_",):
        value = getattr(clf, attr, None)
        if isinstance(value, Mapping):
            chosen.update(value)
        elif value is not None:
            chosen[attr.rstrip("_")] = value
    return {"pred": np.asarray(clf.predict(features[test_idx])), "decision": decision, "chosen": chosen,
            "seconds": time.perf_counter() - started}


def run_deep_experiment(
    config: Mapping[str, Any],
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: Any = None,
):
    """Run a ``kind: deep`` experiment (see the module docstring) and write its run folder.

    ``n_jobs`` and ``cache`` are accepted for the common runner signature; folds run one after
    another (each fine-tuning already uses the torch threads).
    """

    d = _read_deep(config, data)
    run = runs.RunFolder(out_dir, overwrite=overwrite)
    ds, folds = _deep_dataset(d)
    run.create()
    labels_text = ds.labels.astype(str)
    class_names = tuple(c for c in ds.classes if c in set(labels_text.tolist()))
    index = {c: i for i, c in enumerate(class_names)}
    y = np.array([index[v] for v in labels_text], dtype=np.int64)
    groups = ds.groups
    if any(g is None for g in groups):
        raise ConfigError("deep experiments need a subject id for every sample (validation by subject)")
    groups = groups.astype(str)
    images = load_gray_images(ds, parse_image_size(d.raw.get("images")), progress=progress)
    resolved = {k: v for k, v in d.raw.items() if k != "_path"}
    resolved["data"] = {**d.data_cfg, "source": str(d.source)}
    resolved["run"] = run.provenance(config_path=d.path, packages=("torch",), dataset=ds, source=d.source,
                                     protocol=d.protocol, folds=folds)
    run.write_config(resolved)

    rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    probabilities: dict[str, list[np.ndarray]] = {}  # per method, per fold: test decisions (finetune: probabilities)
    for method in d.methods:
        row, records = _run_method(method, d, run, ds, folds, images, y, groups, class_names, probabilities,
                                   progress=progress)
        rows.append(row)
        predictions += records
    run.write_predictions(predictions)
    return _write_deep_outputs(run, d, resolved, ds, folds, class_names, rows)


class _DeepSettings:
    """A validated ``kind: deep`` file: the raw mapping, its path, data source, methods, protocol, seed, device."""

    def __init__(self, raw: dict[str, Any], path: Any, data_cfg: Mapping[str, Any], source: Path,
                 methods: list[dict[str, Any]], protocol: Any, seed: int, device: str) -> None:
        self.raw, self.path, self.data_cfg, self.source = raw, path, data_cfg, source
        self.methods, self.protocol, self.seed, self.device = methods, protocol, seed, device


@names_the_file
def _read_deep(config: Mapping[str, Any], data: str | Path | None) -> _DeepSettings:
    """Read config stage: every key checked before any work."""

    raw = dict(config)
    path = raw.get("_path")
    base = Path(path).resolve().parent if path else None
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a setting of a deep experiment"
                          f" (known: {', '.join(sorted(_TOP_KEYS - {'_path'}))})")
    data_cfg = raw.get("data") or {}
    if not isinstance(data_cfg, Mapping) or "source" not in data_cfg and data is None:
        raise ConfigError("data.source: the dataset to use is required")
    source = Path(data).resolve() if data is not None else resolve_source(data_cfg.get("source"), base, "data.source")
    if data is not None and not source.exists():
        raise ConfigError(f"--data {data}: not found")
    methods = _parse_methods(raw)
    protocol = make_protocol(raw.get("protocol") or {"kind": "group_kfold", "n_splits": 10, "stratified": True,
                                                       "random_state": 0})
    return _DeepSettings(raw, path, data_cfg, source, methods, protocol, int(raw.get("seed", 0)),
                         str(raw.get("device", "auto")))


def _deep_dataset(d: _DeepSettings) -> tuple[Any, list[Any]]:
    """Dataset and protocol stages: the labelled images and the folds."""

    options = {k: v for k, v in d.data_cfg.items() if k not in ("source", "format")}
    ds = load_dataset(d.source, format=d.data_cfg.get("format", "auto"), **options)
    if ds.kind != "image":
        raise ConfigError(f"data.source {d.source}: a {ds.kind} dataset; deep experiments run on images")
    ds = ds.subset([i for i, s in enumerate(ds.samples) if s.label is not None])
    return ds, d.protocol.folds(ds)


def _run_method(method: dict[str, Any], d: _DeepSettings, run: Any, ds: Any, folds: list[Any], images: np.ndarray,
                y: np.ndarray, groups: np.ndarray, class_names: tuple[str, ...],
                probabilities: dict[str, list[np.ndarray]], *, progress: bool) -> tuple[dict[str, Any], list[dict]]:
    """Members, classifier and metrics stages of one method over every fold: its results row and predictions
    (its test decisions per fold go into ``probabilities`` for later ``mean`` methods)."""

    kind, label = method["type"], method["label"]
    matrix = None
    if kind == "features":
        net = (load_model(method["init"], default=method["model"]) if method.get("init")
               else create_model(method["model"], pretrained=True))
        layer = method.get("layer") or net.config.feature_layers[0]
        matrix = extract_features(net, images, [layer], spatial=method.get("spatial", "avg"))[layer]
    method_images = _resize_for(method["model"], images) if kind == "finetune" else images
    labels_text = ds.labels.astype(str)
    pred_all = np.full(len(ds), -1, dtype=np.int64)
    fold_rows, per_fold, records = [], [], []
    probabilities[label] = []
    for i, fold in enumerate(tqdm(folds, desc=label, unit="fold", disable=not progress, leave=False)):
        if kind == "finetune":
            outcome = _finetune_fold(method, method_images, y, groups, fold.train, fold.test, class_names, d.seed,
                                     d.device)
        elif kind == "mean":
            proba = np.mean([probabilities[o][i] for o in method["of"]], axis=0)
            outcome = {"pred": proba.argmax(1), "decision": proba, "seconds": 0.0}
        else:
            outcome = _features_fold(method, matrix, y, groups, fold.train, fold.test)
        probabilities[label].append(outcome["decision"])
        pred_all[fold.test] = outcome["pred"]
        acc = float(np.mean(outcome["pred"] == y[fold.test]))
        extra = {k: v for k, v in outcome.items() if k not in ("pred", "decision")}
        fold_rows.append({"fold": fold.name, "n_test": int(fold.test.size), "accuracy": acc, **extra})
        per_fold.append(acc)
        for idx, p in zip(fold.test, outcome["pred"]):
            sample = ds.samples[int(idx)]
            records.append({"id": sample.id, "fold": fold.name, "feature": label, "classifier": kind,
                            "true": labels_text[idx], "pred": class_names[int(p)], "subject": sample.subject})
    names = list(class_names)
    metrics = classification_metrics(np.array(names)[y], np.array(names)[pred_all], names)
    png = run.save_confusion(metrics["confusion"], names, label, kind, title=f"{label} ({kind})")
    fold_acc = np.array(per_fold)
    params = {k: v for k, v in method.items() if not k.startswith("_")}
    row = {
        "feature": label, "classifier": kind if kind in ("finetune", "mean") else
        (method.get("classifier") or {}).get("name", "linear_svm"),
        "accuracy": metrics["accuracy"], "uar": metrics["uar"], "macro_f1": metrics["macro_f1"],
        "n_test": metrics["n"], "n_folds": len(folds), "fold_accuracy_mean": float(fold_acc.mean()),
        "fold_accuracy_std": float(fold_acc.std()), "params": params,
        "per_class_recall": metrics["per_class_recall"], "labels": names, "confusion": metrics["confusion"],
        "confusion_png": png, "folds": fold_rows,
        "seconds": round(sum(r.get("seconds", 0.0) for r in fold_rows), 3),
    }
    return row, records


def _write_deep_outputs(run: Any, d: _DeepSettings, resolved: dict[str, Any], ds: Any, folds: list[Any],
                        class_names: tuple[str, ...], rows: list[dict[str, Any]]) -> Any:
    """metrics.json and report.md of a deep run; the run's result."""
    elapsed = run.elapsed
    name = str(d.raw.get("name") or "deep")
    protocol, summary = d.protocol, ds.summary()
    run.write_metrics({"name": name, "dataset": resolved["run"]["dataset"],
                       "protocol": {"description": protocol.describe(), "n_folds": len(folds)},
                       "normalisation": "none (network input normalisation only)", "labels": list(class_names),
                       "rows": rows, "seconds": round(elapsed, 3)})
    classes_text = ", ".join(f"{c} {n}" for c, n in summary["classes"].items())
    data_text = (f"- source: `{d.source}` ({ds.name}), {len(ds)} labelled images, {summary['subjects']} subjects\n"
                 f"- classes: {classes_text}")
    protocol_text = (f"{protocol.describe()}; {len(folds)} fold(s). No test subject is ever trained on or used"
                     " for selection.")
    selection_text = ("Fine-tuning: the epoch is chosen on a validation part made of held-out *training* subjects"
                      " of each fold (`validation_fraction`); with `refit` the network is then retrained on all"
                      " training subjects for that many epochs. Per-fold best epochs are in metrics.json. Deep"
                      " features: the network is fixed; classifier hyper-parameters by inner CV on the training"
                      " part (by subject).")
    normalisation_text = ("No per-subject normalisation; each network normalises its [0, 1] input internally;"
                          " classifiers standardise features with training-part statistics.")
    sections = [("Data", data_text), ("Protocol", protocol_text), ("Selection", selection_text),
                ("Normalisation", normalisation_text)]
    run.write_report(title=f"{name} (kind: deep)", sections=sections, rows=rows)
    return run.result(rows, resolved, n_folds=len(folds), seconds=elapsed)
