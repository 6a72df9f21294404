"""``kind: pairs``: posed vs spontaneous from onset/apex pairs with DiffCNN, CompCNN and CompCNN-SVM.

Example config (``configs/pairs-proxy.yaml``)::

    kind: pairs
    name: pairs-proxy
    data:
      proxy: {source: ../../shared/datasets/ckplus48, pairs_per_face: 4, seed: 0}
      # or: manifest: path/to/pairs.csv   (columns onset,apex,label,subject; two labels)
    images: {size: 48, crop: 44}
    protocol: {n_folds: 10, val_subjects: 10, seed: 0}
    model: {channels: [8, 16, 16], fc: [64, 32], comb_init: subtraction}
    models: [DiffCNN, CompCNN-Sub@1, ..., CompCNN-Comb@3]    # default: all seven nets
    train: {epochs: 12, batch_size: 32, lr: 0.003, num_threads: 1}
    svm: {C: [0.001, 0.01, 0.1, 1.0]}
    baselines: {pixel_svm: true}

Protocol: subjects are split into ``n_folds`` disjoint test groups (subject-independent
group k-fold). In each fold ``val_subjects`` training subjects are held out as the validation
part: it chooses each net's epoch and every SVM's ``C``; the nets train on the rest. The SVMs
(CompCNN-Sub-SVM, CompCNN-Comb-SVM: the second-FC outputs of the three nets of one comparison
type, concatenated, standardised, linear SVM; and the "pixel difference + linear SVM" baseline)
are fitted on the training part, ``C`` is chosen on the validation part and the SVM is refitted on
training + validation. Test predictions of all folds are pooled for the error rate; the spread is
the standard deviation of the per-fold error rates. ``protocol.run_folds`` runs only the first
folds (for a quick, explicitly partial run).

Examples
--------
>>> result = run_pairs_experiment("configs/pairs-proxy.yaml", "runs/pairs")  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from affectlab.checks import is_integer, is_number
from affectlab.errors import ConfigError, DataError
from affectlab.evaluate.metrics import accuracy, uar
from affectlab.evaluate.protocols import check_disjoint_groups, make_protocol
from affectlab.experiments import runs, schema
from affectlab.experiments.config import integer_setting, names_the_file, read_raw_config, resolve_source, section
from affectlab.experiments.runs import ExperimentResult
from affectlab.models.augment import AugmentConfig
from affectlab.models.train import TrainConfig, resolve_device
from affectlab.pairs.networks import PAIR_MODELS, build_pair_network
from affectlab.pairs.proxy import (
    PAIR_CLASSES,
    ProxyConfig,
    ckplus_source_faces,
    make_proxy_pairs,
)
from affectlab.pairs.train import fit_pair_network, predict_pairs, second_fc_features
from affectlab.pairs.transforms import center_crop, stack_pairs

__all__ = ["PAIRS_KEYS", "PIXEL_BASELINE", "SVM_MODELS", "run_pairs_experiment"]

#: Top-level keys of a ``kind: pairs`` file (``run`` is provenance written by a run; ignored).
PAIRS_KEYS = ("kind", "name", "description", "data", "images", "protocol", "model", "models", "train", "svm",
              "baselines", "run", "_path")
SVM_MODELS = ("CompCNN-Sub-SVM", "CompCNN-Comb-SVM")
PIXEL_BASELINE = "pixel difference + linear SVM"
_IMAGES = {"size": 48, "crop": 44}
_PROTOCOL = {"n_folds": 10, "val_subjects": 10, "seed": 0, "run_folds": None}
_MODEL = {"channels": [16, 32, 32], "fc": [128, 64], "comb_init": "random"}
_AUGMENT = {"max_rotation_deg": 5.0, "max_scale": 0.05, "max_translate": 0.03, "flip": True}
_TRAIN = {"epochs": 12, "batch_size": 64, "lr": 0.003, "weight_decay": 1e-4, "schedule": "onecycle", "seed": 0,
          "device": "auto", "num_threads": None, "augment": _AUGMENT}
_SVM = {"C": [0.001, 0.01, 0.1, 1.0]}
_BASELINES = {"pixel_svm": True}


def _check_train(cfg: TrainConfig) -> None:
    """Refuse ``train`` values the trainer would only stumble on after the run folder exists."""
    for key, low in (("epochs", 1), ("batch_size", 1), ("seed", 0)):
        value = getattr(cfg, key)
        if not is_integer(value) or value < low:
            raise ConfigError(f"train.{key} must be an integer >= {low}, got {value!r}")
    if cfg.num_threads is not None and (not is_integer(cfg.num_threads) or cfg.num_threads < 1):
        raise ConfigError(f"train.num_threads must be null or an integer >= 1, got {cfg.num_threads!r}")
    if not is_number(cfg.lr) or not cfg.lr > 0:
        raise ConfigError(f"train.lr must be a number > 0, got {cfg.lr!r}")
    if not is_number(cfg.weight_decay) or cfg.weight_decay < 0:
        raise ConfigError(f"train.weight_decay must be a number >= 0, got {cfg.weight_decay!r}")
    if cfg.schedule not in ("cosine", "onecycle", "constant"):
        raise ConfigError(f"train.schedule must be cosine, onecycle or constant, got {cfg.schedule!r}")
    resolve_device(cfg.device)


def _load_pairs(raw: Mapping[str, Any], data: str | Path | None, base: Path | None, size: int) -> dict[str, Any]:
    section = raw.get("data")
    if not isinstance(section, Mapping) or (("proxy" in section) == ("manifest" in section)):
        raise ConfigError("data must be a mapping with exactly one of 'proxy' (generated pairs) or 'manifest' (CSV)")
    if set(section) - {"proxy", "manifest"}:
        raise ConfigError(f"data: unknown key(s) {', '.join(sorted(set(section) - {'proxy', 'manifest'}))}")
    override = data is not None
    if "manifest" in section:
        from affectlab.pairs.manifest import load_pair_images, read_pair_manifest

        path = resolve_source(str(data) if override else section["manifest"], None if override else base,
                              "--data" if override else "data.manifest")
        records = read_pair_manifest(path)
        labels = sorted({r.label for r in records})
        if len(labels) != 2:
            raise DataError(f"{path}: pairs need exactly two labels, found {len(labels)}: {', '.join(labels)}")
        classes = tuple(PAIR_CLASSES) if set(labels) == set(PAIR_CLASSES) else tuple(labels)
        onset, apex = load_pair_images(records, root=path.parent, size=size)
        return {"onset": onset, "apex": apex, "label": np.array([classes.index(r.label) for r in records]),
                "subject": np.array([r.subject for r in records], dtype=str), "classes": classes,
                "ids": [f"row{r.row}" for r in records], "source": {"manifest": str(path)}, "proxy": None}
    proxy = section["proxy"]
    if not isinstance(proxy, Mapping) or "source" not in proxy:
        raise ConfigError("data.proxy must be a mapping with 'source' (a CK+48 folder) and generator settings")
    source = resolve_source(str(data) if override else proxy["source"], None if override else base,
                            "--data" if override else "data.proxy.source")
    cfg = ProxyConfig.from_mapping({k: v for k, v in proxy.items() if k != "source"})
    faces, subjects, ids = ckplus_source_faces(source, size=size)
    pairs = make_proxy_pairs(faces, subjects, sources=ids, config=cfg)
    counter: dict[str, int] = {}
    pair_ids = []
    for src in pairs.source:
        counter[src] = counter.get(src, 0) + 1
        pair_ids.append(f"{src}#{counter[src] - 1}")
    return {"onset": pairs.onset, "apex": pairs.apex, "label": pairs.label, "subject": pairs.subject,
            "classes": PAIR_CLASSES, "ids": pair_ids, "source": {"proxy": {"source": str(source), **cfg.to_dict()}},
            "proxy": pairs, "n_faces": len(faces)}


def _svm_fit_predict(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], test: np.ndarray,
                     grid: list[float], seed: int) -> tuple[np.ndarray, float, float]:
    """Choose C on ``val`` (fit on ``train``), refit on train + val, predict ``test``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    def model(c: float):
        return make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=5000, random_state=seed))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = [accuracy(val[1], model(c).fit(*train).predict(val[0])) for c in grid]
        best = int(np.argmax(scores))  # first (smallest C) among ties
        final = model(grid[best]).fit(np.concatenate([train[0], val[0]]), np.concatenate([train[1], val[1]]))
    return final.predict(test), float(grid[best]), float(scores[best])


def _summary(name: str, kind: str, true: list[np.ndarray], pred: list[np.ndarray], extra: list[dict[str, Any]],
             n_total_folds: int) -> dict[str, Any]:
    y, p = np.concatenate(true), np.concatenate(pred)
    fold_err = np.array([1.0 - accuracy(t, q) for t, q in zip(true, pred)])
    return {
        "model": name, "kind": kind, "error_rate": 1.0 - accuracy(y, p), "accuracy": accuracy(y, p), "uar": uar(y, p),
        "fold_error_mean": float(fold_err.mean()),
        "fold_error_sd": float(fold_err.std(ddof=1)) if len(fold_err) > 1 else 0.0,
        "n_test": len(y), "n_folds": len(true), "n_folds_planned": n_total_folds,
        "folds": [{"error_rate": float(e), **x} for e, x in zip(fold_err, extra)],
    }


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| Method | Error rate (%) | fold error mean ± sd (%) | Accuracy | UAR | test pairs | folds |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['model']} | {100 * r['error_rate']:.2f} | {100 * r['fold_error_mean']:.2f} ± "
                     f"{100 * r['fold_error_sd']:.2f} | {r['accuracy']:.4f} | {r['uar']:.4f} | {r['n_test']} |"
                     f" {r['n_folds']} |")
    return "\n".join(lines)


@dataclass
class _PairsSettings:
    """A validated ``kind: pairs`` file (everything but the data, which is read after the run folder's check)."""

    raw: dict[str, Any]
    path: Path | None
    size: int
    crop: int
    n_folds: int
    n_val: int
    seed: int
    run_folds: int
    model: dict[str, Any]
    models: list[str]
    train: TrainConfig
    grid: list[float]
    recorded: dict[str, Any]  # the settings as written into config.yaml
    pixel_svm: bool

    @property
    def base(self) -> Path | None:
        """The config file's folder (relative data paths resolve against it)."""
        return Path(self.path).resolve().parent if self.path else None

    def build(self, name: str) -> Any:
        """A fresh pair network of this config."""
        return build_pair_network(name, channels=self.model["channels"], fc=self.model["fc"],
                                  input_size=(self.crop, self.crop), comb_init=self.model["comb_init"])

    def row_names(self) -> list[str]:
        """The results rows: the nets, the CompCNN-SVMs whose three nets are all run, the pixel baseline."""
        names = list(self.models) + [m for m, mode in zip(SVM_MODELS, ("Sub", "Comb"))
                                     if all(f"CompCNN-{mode}@{i}" in self.models for i in (1, 2, 3))]
        return names + ([PIXEL_BASELINE] if self.pixel_svm else [])


@names_the_file
def _read_settings(config: Mapping[str, Any] | str | Path) -> _PairsSettings:
    """Read config stage: every key checked (networks built once to check their sizes) before any work."""
    raw, path = read_raw_config(config)
    schema.refuse_unknown_keys(raw, PAIRS_KEYS, PAIRS_KEYS[:-1])
    images_cfg = section(raw, "images", _IMAGES)
    size = integer_setting(images_cfg["size"], "images.size", 16)
    crop = integer_setting(images_cfg["crop"], "images.crop", 8)
    if crop > size:
        raise ConfigError(f"images.crop {crop} must be <= images.size {size}")
    protocol = section(raw, "protocol", _PROTOCOL)
    n_folds = integer_setting(protocol["n_folds"], "protocol.n_folds", 2)
    n_val = integer_setting(protocol["val_subjects"], "protocol.val_subjects", 1)
    seed = integer_setting(protocol["seed"], "protocol.seed", 0)
    run_folds = (n_folds if protocol["run_folds"] is None
                 else integer_setting(protocol["run_folds"], "protocol.run_folds", 1))
    if run_folds > n_folds:
        raise ConfigError(f"protocol.run_folds {run_folds} is more than protocol.n_folds {n_folds}")
    model_cfg = section(raw, "model", _MODEL)
    models = raw.get("models") or list(PAIR_MODELS)
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"models must be a list of names from {', '.join(PAIR_MODELS)}")
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        raise ConfigError(f"models: {', '.join(repeated)} listed more than once")
    for name in models:  # validates names and sizes before any work
        build_pair_network(name, channels=model_cfg["channels"], fc=model_cfg["fc"], input_size=(crop, crop),
                           comb_init=model_cfg["comb_init"])
    train_cfg = section(raw, "train", _TRAIN)
    augment_cfg = section({"augment": train_cfg["augment"]}, "augment", _AUGMENT)
    try:
        tcfg = TrainConfig(**{k: v for k, v in train_cfg.items() if k != "augment"}, optimizer="adamw",
                           augment=AugmentConfig(**augment_cfg))
    except TypeError as exc:
        raise ConfigError(f"train: {exc}") from None
    _check_train(tcfg)
    svm_cfg = section(raw, "svm", _SVM)
    grid = svm_cfg["C"]
    if not isinstance(grid, list) or not grid or not all(is_number(c) and c > 0 for c in grid):
        raise ConfigError(f"svm.C must be a non-empty list of positive numbers, got {grid!r}")
    baselines = section(raw, "baselines", _BASELINES)
    if not isinstance(baselines["pixel_svm"], bool):
        raise ConfigError(f"baselines.pixel_svm must be true or false, got {baselines['pixel_svm']!r}")
    recorded = {"protocol": {**protocol, "n_folds": n_folds, "run_folds": run_folds}, "model": model_cfg,
                "models": list(models), "train": {**train_cfg, "augment": augment_cfg}, "svm": svm_cfg,
                "baselines": baselines}
    return _PairsSettings(raw, path, size, crop, n_folds, n_val, seed, run_folds, model_cfg, list(models), tcfg, grid,
                          recorded, baselines["pixel_svm"])


def _validation_parts(st: _PairsSettings, folds: list[Any], y: np.ndarray, subjects: np.ndarray,
                      classes: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Protocol stage: per fold, ``val_subjects`` training subjects drawn (seeded) to validate on; the rest train.
    Checked before the run folder exists."""
    rng = np.random.default_rng(st.seed)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for fold in folds:
        train_subjects = np.unique(subjects[fold.train])
        if st.n_val >= len(train_subjects):
            raise ConfigError(f"protocol.val_subjects {st.n_val} leaves no training subjects in {fold.name} "
                              f"({len(train_subjects)} non-test subjects)")
        val_subjects = rng.choice(train_subjects, size=st.n_val, replace=False)
        part_val = fold.train[np.isin(subjects[fold.train], val_subjects)]
        part_train = fold.train[~np.isin(subjects[fold.train], val_subjects)]
        if len(np.unique(y[part_train])) < 2:  # the nets and SVMs need both classes to learn from
            only = classes[int(y[part_train][0])] if part_train.size else "none"
            raise DataError(f"{fold.name}: its training part holds pairs of one class only ({only}); give more "
                            "subjects or pairs (a proxy's pairs_per_face, the manifest's rows of each label)")
        parts.append((part_train, part_val))
    return parts


def run_pairs_experiment(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: str | Path | None = None,
) -> ExperimentResult:
    """Train and test the pair models on subject-disjoint folds and write a run folder.

    ``data`` replaces ``data.proxy.source`` (the CK+48 folder) or ``data.manifest``. ``n_jobs``
    and ``cache`` are accepted for the common runner signature; training runs in this process
    (``train.num_threads`` sets torch's threads). The run folder is rewritten after every fold.
    """
    st = _read_settings(config)
    run = runs.RunFolder(out_dir, overwrite=overwrite)
    loaded = _load_pairs(st.raw, data, st.base, st.size)
    # hashed once here: the run folder is rewritten after every fold
    loaded["data_sha256"] = runs.array_fingerprint(loaded["onset"], loaded["apex"], loaded["label"], loaded["subject"])
    X = stack_pairs(loaded["onset"], loaded["apex"])
    y, subjects = loaded["label"], loaded["subject"]
    folds = list(make_protocol({"kind": "group_kfold", "n_splits": st.n_folds, "random_state": st.seed}
                               ).split(y, subjects))[:st.run_folds]
    parts = _validation_parts(st, folds, y, subjects, loaded["classes"])
    run.create()
    if st.train.num_threads:
        torch.set_num_threads(int(st.train.num_threads))
    results = _PairResults(st.row_names(), loaded)
    bar = tqdm(total=len(folds) * len(st.models), desc="pairs", unit="net", disable=not progress)
    for k, (fold, (part_train, part_val)) in enumerate(zip(folds, parts)):
        check_disjoint_groups(subjects, np.concatenate([part_train, part_val]), fold.test)
        check_disjoint_groups(subjects, part_train, part_val, what="train and validation")
        _pairs_fold(st, k, fold, {"train": part_train, "val": part_val, "test": fold.test}, X, y, results, bar)
        results.done.append(fold.name)
        rows, resolved, table = _write_run(run, st, loaded, results, X=X, y=y)
        if progress:
            tqdm.write(f"{fold.name}: " + ", ".join(
                f"{n} {100 * (1 - accuracy(y[fold.test], results.pred[n][-1])):.1f}%" for n in results.names))
    bar.close()
    return run.result(rows, resolved, n_folds=len(folds), markdown=table)


class _PairResults:
    """Every row's per-fold true and predicted labels, fold details, prediction records and training histories."""

    def __init__(self, names: list[str], loaded: Mapping[str, Any]) -> None:
        self.names, self.loaded = names, loaded
        self.true: dict[str, list[np.ndarray]] = {n: [] for n in names}
        self.pred: dict[str, list[np.ndarray]] = {n: [] for n in names}
        self.extra: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        self.predictions: list[dict[str, Any]] = []
        self.histories: dict[str, Any] = {}
        self.done: list[str] = []

    def record(self, name: str, fold: Any, p: np.ndarray, info: dict[str, Any]) -> None:
        y, classes = self.loaded["label"], self.loaded["classes"]
        self.true[name].append(y[fold.test])
        self.pred[name].append(p)
        self.extra[name].append({"fold": fold.name, **info})
        for i, q in zip(fold.test, p):
            self.predictions.append({"id": self.loaded["ids"][i], "fold": fold.name, "feature": name,
                                     "classifier": "softmax" if name in PAIR_MODELS else "linear_svm",
                                     "true": classes[y[i]], "pred": classes[q], "subject": self.loaded["subject"][i]})


def _pairs_fold(st: _PairsSettings, k: int, fold: Any, parts: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
                results: _PairResults, bar: Any) -> None:
    """Members and classifiers of one fold: every net trained (epoch chosen on the validation subjects) and
    tested; the CompCNN-SVMs on their nets' second-FC outputs; the pixel-difference baseline."""
    tcfg, features = st.train, {}
    for name in st.models:
        torch.manual_seed(tcfg.seed + 1000 * k)
        net = st.build(name)
        t0 = time.time()
        fit = fit_pair_network(net, train=(X[parts["train"]], y[parts["train"]]),
                               val=(X[parts["val"]], y[parts["val"]]), config=tcfg, progress=False)
        p = predict_pairs(net, X[fold.test], device=tcfg.device).argmax(1)
        results.record(name, fold, p, {"best_epoch": fit.best_epoch, "val_accuracy": fit.best_val_accuracy,
                                       "train_seconds": round(time.time() - t0, 1)})
        results.histories[f"{name}/{fold.name}"] = fit.history
        if name.startswith("CompCNN"):
            features[name] = {part: second_fc_features(net, X[idx], device=tcfg.device) for part, idx in parts.items()}
        bar.update(1)
        bar.set_postfix_str(f"{fold.name} {name} err {1 - accuracy(y[fold.test], p):.3f}")
    blocks: dict[str, dict[str, np.ndarray]] = {}
    for svm_name, mode in zip(SVM_MODELS, ("Sub", "Comb")):
        if svm_name in results.names:
            nets = [f"CompCNN-{mode}@{i}" for i in (1, 2, 3)]
            blocks[svm_name] = {part: np.concatenate([features[n][part] for n in nets], axis=1) for part in parts}
    if PIXEL_BASELINE in results.names:
        blocks[PIXEL_BASELINE] = {
            part: (center_crop(X[idx, 1], st.crop).astype(np.float32) - center_crop(X[idx, 0], st.crop)).reshape(
                len(idx), -1) / 255.0 for part, idx in parts.items()}
    for name, block in blocks.items():
        p, c, val_acc = _svm_fit_predict((block["train"], y[parts["train"]]), (block["val"], y[parts["val"]]),
                                         block["test"], st.grid, st.seed)
        results.record(name, fold, p, {"C": c, "val_accuracy": val_acc})


def _write_run(run: runs.RunFolder, st: _PairsSettings, loaded: Mapping[str, Any], results: _PairResults, *,
               X: np.ndarray, y: np.ndarray) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Write (or rewrite, after every fold) config.yaml, metrics.json, predictions.csv and report.md."""
    rows = [_summary(n, "net" if n in PAIR_MODELS else ("svm" if n in SVM_MODELS else "baseline"),
                     results.true[n], results.pred[n], results.extra[n], st.n_folds) for n in results.names]
    subjects, raw = loaded["subject"], st.raw
    resolved = {
        "kind": "pairs",
        "name": raw.get("name", "pairs"),
        **({"description": raw["description"]} if raw.get("description") else {}),
        "data": loaded["source"],
        "images": {"size": st.size, "crop": st.crop},
        **st.recorded,
        "run": run.provenance(config_path=st.path, packages=("torch",), threads=torch.get_num_threads(), n_pairs=len(y),
                              n_subjects=len(set(subjects.tolist())), folds_run=list(results.done),
                              data_sha256=loaded["data_sha256"]),
    }
    run.write_config(resolved)
    run.write_metrics({"rows": rows, "classes": list(loaded["classes"]), "histories": results.histories})
    run.write_predictions(results.predictions)
    examples = _write_examples(run.path, X, y) if loaded["proxy"] is not None else None
    table = _table(rows)
    _report(run.path, resolved, rows, table, loaded, examples)
    return rows, resolved, table


def _write_examples(out: Path, X: np.ndarray, y: np.ndarray, n: int = 4) -> str:
    """A strip per class: onset, apex and the (amplified) difference of the first ``n`` pairs."""
    import cv2

    strips = []
    for label in (0, 1):
        idx = np.flatnonzero(y == label)[:n]
        diff = np.clip((X[idx, 1].astype(np.int16) - X[idx, 0]) * 3 + 128, 0, 255).astype(np.uint8)
        strips.append(np.hstack([np.vstack([X[i, 0], X[i, 1], d]) for i, d in zip(idx, diff)]))
    image = cv2.resize(np.vstack([strips[0], np.full((4, strips[0].shape[1]), 255, np.uint8), strips[1]]), None,
                       fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(out / "examples.png"), image)
    return "examples.png"


def _placement_text(rows: list[dict[str, Any]]) -> str:
    by = {r["model"]: r for r in rows}
    lines = []
    for mode in ("Sub", "Comb"):
        found = [(i, by[f"CompCNN-{mode}@{i}"]["error_rate"]) for i in (1, 2, 3) if f"CompCNN-{mode}@{i}" in by]
        if found:
            i, err = min(found, key=lambda t: t[1])
            lines.append(f"- CompCNN-{mode}: lowest pooled error with the comparison after conv block {i}"
                         f" ({100 * err:.2f} %; " + ", ".join(f"@{j}: {100 * e:.2f} %" for j, e in found) + ").")
    nets = [r for r in rows if r["kind"] == "net"]
    if nets:
        best = min(nets, key=lambda r: r["error_rate"])
        lines.append(f"- Best single net: {best['model']} ({100 * best['error_rate']:.2f} %).")
    best_all = min(rows, key=lambda r: r["error_rate"])
    lines.append(f"- Best row overall: {best_all['model']} ({100 * best_all['error_rate']:.2f} %).")
    lines.append("- Differences smaller than the fold spread (sd column) are not evidence of a real ranking.")
    return "\n".join(lines)


def _report(out: Path, cfg: Mapping[str, Any], rows: list[dict[str, Any]], table: str, loaded: Mapping[str, Any],
            examples: str | None) -> None:
    run, protocol = cfg["run"], cfg["protocol"]
    lines = []
    if loaded["proxy"] is not None:
        p = cfg["data"]["proxy"]
        lines += [(
            "**These data are a PROXY, not a posed/spontaneous corpus.** No public posed/spontaneous collection is"
            " reachable here, so the pairs are generated (affectlab.pairs.proxy, seeded): onset = a real face (the"
            f" first frame of each of {loaded['n_faces']} CK+48 sequences, {run['n_subjects']} subjects);"
            " apex = the same face under a smooth local warp of Gaussian bumps. 'posed' raises the mouth corners"
            f" ({p['mouth_amplitude']} px); 'spontaneous' raises the mouth corners the same way and also raises the"
            f" cheeks ({p['cheek_amplitude']} px) and the lower eyelids ({p['lid_ratio']} of the cheek raise). Per-side"
            f" asymmetry ±{p['asymmetry']}, landmark jitter sd {p['center_jitter']} px,"
            f" apex rotation ±{p['rotation_deg']}°,"
            f" scale ±{p['scale']}, shift ±{p['translate']} px, brightness ±{p['brightness']},"
            f" contrast ±{p['contrast']},"
            f" pixel noise sd {p['noise']} on both images; {p['pairs_per_face']} pairs per face"
            f" ({'half of each class' if p['pairs_per_face'] % 2 == 0 else 'classes alternating over all pairs'}),"
            f" seed {p['seed']}. Numbers here say how the architectures compare on this synthetic task, not how they"
            " do on real posed/spontaneous expressions."),
            "",
        ]
    else:
        lines += [f"Pairs from the manifest `{cfg['data']['manifest']}`.", ""]
    n_done = len(run["folds_run"])
    if n_done < protocol["run_folds"]:
        partial = (f"**PARTIAL: only {n_done} of the {protocol['n_folds']} folds are done (the run is still going or"
                   " was stopped); the table covers those folds only.** ")
    elif n_done < protocol["n_folds"]:
        partial = (f"**PARTIAL: only the first {n_done} of the {protocol['n_folds']} folds were run"
                   " (protocol.run_folds).** ")
    else:
        partial = ""
    crop = cfg["images"]["crop"]
    lines += [
        (f"- pairs: {run['n_pairs']} ({run['n_subjects']} subjects), gray {cfg['images']['size']}x"
         f"{cfg['images']['size']}, nets see {crop}x{crop} crops (random crop + the same random affine/flip for"
         " both images in training, centre crop otherwise)."),
        (f"- protocol: {partial}subject-independent {protocol['n_folds']}-fold (group k-fold, seed {protocol['seed']});"
         f" per fold {protocol['val_subjects']} training subjects validate (epoch of each net, C of each SVM); no test"
         " pair is used for any choice. Error rate = 1 - accuracy of the pooled test predictions; ± = sd of the"
         " per-fold error rates."),
        (f"- nets: conv 3x3 channels {cfg['model']['channels']}, FC {cfg['model']['fc']}; dropout 0.05/0.15/0.25 after"
         " the pools, 0.5/0.25 after FC1/FC2; CompCNN paths share weights (and dropout masks in training);"
         " comparison ReLU(X - Y) or ReLU(A X + B Y) (X apex, Y onset)"
         f" (comb init {cfg['model']['comb_init']}). Training: {cfg['train']}."),
        ("- SVM rows: the second-FC outputs of CompCNN-Sub@1,2,3 (resp. Comb) concatenated, standardised, linear SVM"
         f" with C in {cfg['svm']['C']} chosen on the validation subjects, refitted on train + validation."),
        "- baseline: the raw pixel difference (apex - onset, centre crop) + the same linear SVM procedure.",
    ]
    kinds = [r["kind"] for r in rows]
    if kinds.count("net") == len(PAIR_MODELS) and kinds.count("svm") == len(SVM_MODELS):
        table_note = ("Rows: the 7 nets, the 2 CompCNN-SVMs (all 9 models of the method)"
                      + (" and the pixel-difference baseline.\n\n" if "baseline" in kinds else ".\n\n"))
    else:
        table_note = (f"Rows: {kinds.count('net')} of the 7 nets and {kinds.count('svm')} of the 2 CompCNN-SVMs"
                      f" (the config's models){' and the pixel-difference baseline' if 'baseline' in kinds else ''}."
                      "\n\n")
    sections = [("Data and protocol", "\n".join(lines)), ("Results", table_note + table),
                ("Which comparison placement won", _placement_text(rows))]
    fold_names = [f["fold"] for f in rows[0]["folds"]] if rows else []
    fold_table = ["| Method | " + " | ".join(fold_names) + " |", "| --- |" + " ---: |" * len(fold_names)]
    for r in rows:
        fold_table.append(f"| {r['model']} | " + " | ".join(f"{100 * f['error_rate']:.1f}" for f in r["folds"]) + " |")
    sections.append(("Per-fold test error rates (%)", "\n".join(fold_table)))
    if examples:
        caption = ("Top: posed; bottom: spontaneous. Each column: onset, apex, 3 x (apex - onset) + 128."
                   f"\n\n![examples]({examples})")
        sections.append(("Example pairs", caption))
    text = [f"# Posed vs spontaneous pairs: {cfg['name']}", ""]
    for heading, body in sections:
        text += [f"## {heading}", "", body.rstrip(), ""]
    (out / "report.md").write_text("\n".join(text), encoding="utf-8")
