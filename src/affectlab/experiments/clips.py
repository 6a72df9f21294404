"""``kind: clips`` experiments: video clips -> aligned face volumes -> sequence features -> classifiers (-> fusion).

The runner reads a clip manifest (``path,label,subject[,id]``), turns every clip into the main
face's aligned volume (:mod:`affectlab.clips`: tracked, aligned on fixed eye positions, resampled
to ``volume.frames`` frames of ``volume.size`` pixels), and then does what ``kind: sequences``
does with frame folders: every sequence feature (``lbp_top``, ``lpq_top``, ``sift_top``,
``sift_lbp``, ``pooled`` frame features, deep ones included) x every classifier, folds split by
subject, one prediction per clip. With a ``fusion`` section it does what ``kind: fusion`` does
with image features: every feature x classifier is a member, scored out of fold on each training
part, and the fusion network (and the other methods of ``fusion.methods``) is fitted on those
values (:func:`affectlab.experiments.fusion.fusion_fold`, the same code).

Clips that give no volume (unreadable, shorter than ``volume.frames`` with ``short: refuse``, no
face, too many lost frames) are left out of every fold and listed in the report, one line each;
the others are used.

Config (see ``configs/ckplus48-clips.yaml``)::

    kind: clips
    name: ckplus48-clips
    data: {clips: /root/affectlab-clips/ckplus48/manifest.csv}
    volume: {frames: 3, size: 48}           # affectlab.clips.VolumeSettings
    protocol: {kind: group_kfold, n_splits: 10}
    features: [{name: lbp_top, levels: 3}, {name: pooled, feature: hog, pooling: mean}]
    classifiers: [{name: linear_svm, C_grid: auto}]
    fusion: {oof_splits: 5, methods: [net_svm, net_all]}   # optional

Volumes and stateless clip features are cached in the feature cache (``--cache``) by the clips'
file hashes, the volume settings and the declared versions; features that learn (codebooks)
are fitted on each fold's training clips only (and cached per fold).
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from joblib import delayed, effective_n_jobs

from affectlab.checks import is_integer
from affectlab.classify.registry import create_classifier
from affectlab.clips.dataset import load_clips
from affectlab.clips.features import clip_features
from affectlab.clips.volume import VolumeSettings
from affectlab.errors import ConfigError, ProtocolError
from affectlab.evaluate.metrics import classification_metrics
from affectlab.evaluate.protocols import Fold, Protocol, make_protocol
from affectlab.experiments import runs
from affectlab.experiments.config import Component, names_the_file, parse_components, resolve_source
from affectlab.experiments.fusion import METHOD_TEXT, FusionInputs, FusionSpec, fusion_fold, read_fusion_spec
from affectlab.experiments.runs import ExperimentResult
from affectlab.experiments.schema import Rule
from affectlab.experiments.stages import open_feature_cache, pool_fold_results, test_classifier
from affectlab.features.temporal import create_sequence_feature, sequence_feature_is_stateless
from affectlab.parallel import run_tasks
from affectlab.viz.confusion import save_confusion_matrix

__all__ = ["CLIP_CONFIG_KEYS", "ClipConfig", "load_clip_config", "run_clips_experiment"]

CLIP_CONFIG_KEYS = ("kind", "name", "description", "data", "volume", "protocol", "features", "classifiers", "fusion",
                    "seed", "run", "_path")
_SEED = Rule("an integer", is_integer)


@dataclass(frozen=True)
class ClipConfig:
    """A validated ``kind: clips`` file: the clip manifest or folder (absolute), the volume settings, the
    protocol, the sequence features and classifiers, and the optional fusion section with its seed."""

    name: str
    clips: Path
    volume: VolumeSettings
    protocol: Protocol
    features: tuple[Component, ...]
    classifiers: tuple[Component, ...]
    fusion: FusionSpec | None = None
    seed: int = 0
    description: str | None = None
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (``config.yaml`` of the run folder, without its ``run`` provenance)."""
        return {
            "kind": "clips", "name": self.name, **({"description": self.description} if self.description else {}),
            "data": {"clips": str(self.clips)}, "volume": self.volume.to_dict(), "protocol": self.protocol.to_dict(),
            "features": [c.to_dict() for c in self.features], "classifiers": [c.to_dict() for c in self.classifiers],
            **({"fusion": self.fusion.to_dict(), "seed": self.seed} if self.fusion is not None else {}),
        }


@names_the_file
def load_clip_config(raw: Mapping[str, Any], data: str | Path | None = None) -> ClipConfig:
    """Read config stage: a ``kind: clips`` mapping (``raw["_path"]``: the file, for relative paths) checked as a
    whole; ``data`` replaces ``data.clips``."""

    unknown = [k for k in raw if k not in CLIP_CONFIG_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in the clips config (known: {', '.join(CLIP_CONFIG_KEYS[:-2])})")
    path = Path(raw["_path"]) if raw.get("_path") is not None else None
    spec = raw.get("data")
    spec = {"clips": spec} if isinstance(spec, str) else spec if spec is not None else {}
    if not isinstance(spec, Mapping) or set(spec) - {"clips"}:
        raise ConfigError(f"data must be a clip manifest path or a mapping with only 'clips' (data: {{clips: "
                          f"manifest.csv}}), got {spec!r}")
    if data is None and "clips" not in spec:
        raise ConfigError("missing key 'data.clips' (a clip manifest CSV or a folder of clips)")
    base = None if (data is not None or path is None) else path.parent
    clips = resolve_source(str(data) if data is not None else spec["clips"], base, "data.clips", what="clip manifest")
    volume = raw.get("volume")
    if volume is not None and not isinstance(volume, Mapping):
        raise ConfigError(f"volume must be a mapping of clip volume settings (frames, size, missing, ...), got "
                          f"{volume!r}")
    for key in ("features", "classifiers"):
        if key not in raw:
            raise ConfigError(f"missing key {key!r}")
    features = tuple(Component(*c) for c in parse_components(raw["features"], "features", create_sequence_feature))
    classifiers = tuple(Component(*c) for c in parse_components(raw["classifiers"], "classifiers", create_classifier))
    fusion = None
    if raw.get("fusion") is not None:

        fusion = read_fusion_spec(raw["fusion"], [f.label for f in features], [c.label for c in classifiers])
    seed = _SEED.check(raw.get("seed", 0), "seed")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(f"description must be text, got {description!r}")
    return ClipConfig(
        name=str(raw.get("name") or (path.stem if path is not None else "clips")), clips=clips,
        volume=VolumeSettings.from_mapping(volume),
        protocol=make_protocol(dict(raw.get("protocol") or {"kind": "group_kfold", "n_splits": 10})),
        features=features, classifiers=classifiers, fusion=fusion, seed=seed, description=description, path=path)


def _matrix(clips: Any, feature: Component, fold: Fold | None, cache_dir: str | None) -> np.ndarray:
    """The feature matrix of every clip; a feature that learns is fitted on ``fold.train`` only."""

    X, _ = clip_features(clips, feature.name, feature.params, fit_on=None if fold is None else fold.train,
                         cache=cache_dir)
    return X


def _fold_task(k: int, fold: Fold, feature: Component, X: np.ndarray | None, clips: Any, y: np.ndarray,
               groups: np.ndarray, classifiers: tuple[Component, ...], labels: list[str],
               cache_dir: str | None) -> dict[str, Any]:
    """One fold of one feature, as ``kind: sequences``: (the learned feature fitted on the training clips and
    cached,) every classifier fitted and tested (:func:`~affectlab.experiments.stages.test_classifier`)."""

    started = time.perf_counter()
    if X is None:
        X = _matrix(clips, feature, fold, cache_dir)
    feature_seconds = time.perf_counter() - started
    results = [test_classifier(c.label, create_classifier(c.name, **c.params), X, y, fold, groups, labels,
                               feature=feature.label)
               for c in classifiers]
    return {"fold": k, "dim": int(X.shape[1]), "feature_seconds": feature_seconds, "results": results}


def _fusion_task(k: int, fold: Fold, features: tuple[Component, ...], matrices: dict[str, np.ndarray], clips: Any,
                 y: np.ndarray, groups: np.ndarray, classifiers: tuple[Component, ...], labels: list[str],
                 spec: FusionSpec, cache_dir: str | None, seed: int) -> dict[str, Any]:
    """One outer fold of the fusion: every member's test and out-of-fold decisions, then the fusion methods."""

    fold_matrices = dict(matrices)
    for feature in features:
        if feature.label not in fold_matrices:  # learns (codebooks, no labels): fitted on this training part
            fold_matrices[feature.label] = _matrix(clips, feature, fold, cache_dir)
    templates = [(c.label, create_classifier(c.name, **c.params)) for c in classifiers]
    triples = [(f.label, f.name, None) for f in features]
    return fusion_fold(k, fold, FusionInputs(triples, fold_matrices, templates, y, groups, labels, spec, seed=seed))


def _refusal_lines(clips: Any) -> str:
    if not clips.refused:
        return "Every listed clip gave a face volume."
    lines = [f"{len(clips.refused)} of {clips.listed} clip(s) gave no face volume and are left out of every fold:"]
    lines += [f"- `{r.id}` ({r.reason}): {r.message}" for r in clips.refused]
    return "\n".join(lines)


def _pool_fusion(outcomes: list[dict[str, Any]], folds: list[Fold], clips: Any, y: np.ndarray, labels: list[str],
                 spec: FusionSpec, out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows and prediction records of the members and fusion methods, as ``kind: fusion`` writes them."""

    rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []

    def add(feature: str, classifier: str, method: str, members: str, preds: list[np.ndarray],
            extra: dict[str, Any]) -> None:
        true = np.concatenate([y[f.test] for f in folds])
        metrics = classification_metrics(true, np.concatenate(preds), labels)
        fold_acc = np.array([np.mean(p == y[f.test]) for p, f in zip(preds, folds)])
        png = runs.confusion_filename(feature, classifier)
        save_confusion_matrix(np.asarray(metrics["confusion"]), labels, out / png, title=f"{feature} / {classifier}")
        rows.append({"feature": feature, "classifier": classifier, "method": method, "members": members,
                     "accuracy": metrics["accuracy"], "uar": metrics["uar"], "macro_f1": metrics["macro_f1"],
                     "n_test": metrics["n"], "n_folds": len(folds), "fold_accuracy_mean": float(fold_acc.mean()),
                     "fold_accuracy_std": float(fold_acc.std()), "per_class_recall": metrics["per_class_recall"],
                     "labels": labels, "confusion": metrics["confusion"], "confusion_png": png, **extra})
        predictions.extend({"id": clips.ids[int(i)], "fold": f.name, "feature": feature, "classifier": classifier,
                            "true": y[int(i)], "pred": p, "subject": clips.subjects[int(i)]}
                           for f, fold_pred in zip(folds, preds) for i, p in zip(f.test, fold_pred))

    for j, member in enumerate(outcomes[0]["members"]):
        add(member["feature"], member["classifier"], "member", f"{member['feature']} / {member['classifier']}",
            [o["members"][j]["pred"] for o in outcomes],
            {"chosen_per_fold": [o["members"][j]["best_params"] for o in outcomes]})
    for method in spec.methods:
        name, members = METHOD_TEXT[method]
        infos = [o["fused"][method]["info"] for o in outcomes]
        extra: dict[str, Any] = {"fusion": method, "per_fold": infos}
        if method.startswith("net_"):
            lams = sorted(i["lam"] for i in infos)
            extra["lambda_median"] = lams[(len(lams) - 1) // 2]
            extra["lambda_at_grid_edge"] = sum(bool(i["lam_at_grid_edge"]) for i in infos)
            members = f"{members} ({len(infos[0]['members'])})"
        if method == "early" and spec.early is not None:
            members = " + ".join(spec.early.features or [])
        add(method, "fusion", name, members, [o["fused"][method]["pred"] for o in outcomes], extra)
    return rows, predictions


def _read_clips(cfg: ClipConfig, feature_cache: Any, jobs: int, progress: bool):
    """The clips as volumes, their labels and subjects, and the protocol's folds (checked: no shared subject)."""

    clips = load_clips(str(cfg.clips), cfg.volume, cache=feature_cache, n_jobs=jobs, progress=progress)
    y = clips.labels.astype(str)
    if np.any(clips.labels == None):  # noqa: E711 - an object array
        raise ConfigError(f"{cfg.clips}: every clip needs a label for an experiment")
    groups = clips.subjects.astype(str)
    folds = list(cfg.protocol.split(y, groups))
    for fold in folds:
        if set(groups[fold.train]) & set(groups[fold.test]):
            raise ProtocolError(f"fold {fold.name}: a subject is in both train and test")
    return clips, y, groups, folds


def _resolved_config(cfg: ClipConfig, clips: Any, folds: list, jobs: int) -> dict[str, Any]:
    """The run's config.yaml: the settings as used, and the provenance of the data and folds."""
    protocol = cfg.protocol
    resolved = cfg.to_dict()
    resolved["run"] = {
        **runs.package_versions(), "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "config_file": str(cfg.path.resolve()) if cfg.path is not None else None,
        "dataset": {"path": str(cfg.clips), **clips.summary()},
        "refused": [{"id": r.id, "reason": r.reason, "message": r.message} for r in clips.refused],
        "data_sha256": runs.array_fingerprint(np.asarray(clips.ids, dtype=object), clips.labels, clips.subjects,
                                              clips.volumes),
        "protocol": protocol.describe(), "n_folds": len(folds),
        "folds": [{"name": f.name, "train": int(f.train.size), "test": int(f.test.size)} for f in folds],
        "n_jobs": jobs,
    }
    return resolved


def _stateless_matrices(cfg: ClipConfig, clips: Any, cache_dir: str | None):
    """Feature matrices of the features that learn nothing (computed once for all folds), and per-feature info."""

    matrices: dict[str, np.ndarray] = {}
    feature_info: dict[str, dict[str, Any]] = {}
    for feature in cfg.features:
        if sequence_feature_is_stateless(feature.name, feature.params):
            started = time.perf_counter()
            matrices[feature.label] = _matrix(clips, feature, None, cache_dir)
            feature_info[feature.label] = {"stateless": True, "dim": int(matrices[feature.label].shape[1]),
                                           "seconds": round(time.perf_counter() - started, 3)}
    for feature in cfg.features:
        feature_info.setdefault(feature.label, {"stateless": False})
    return matrices, feature_info


def _members(cfg, folds, matrices, feature_info, clips, y, groups, labels, cache_dir, jobs, progress, out):
    """Every feature x classifier fitted and tested per fold (no fusion): table rows, predictions, decisions."""


    tasks = [delayed(_fold_task)(k, fold, feat, matrices.get(feat.label), clips, y, groups, cfg.classifiers,
                                 labels, cache_dir)
             for feat in cfg.features for k, fold in enumerate(folds)]
    keys = [(feat.label, k) for feat in cfg.features for k in range(len(folds))]
    outcomes = dict(zip(keys, run_tasks(tasks, jobs, progress=progress)))
    rows, predictions, decisions = [], [], {}
    for feature in cfg.features:
        label = feature.label
        per_fold = [outcomes[label, k] for k in range(len(folds))]
        if not feature_info[label]["stateless"]:
            feature_info[label].update(dim=per_fold[0]["dim"],
                                       seconds=round(sum(o["feature_seconds"] for o in per_fold), 3))
        for j, clf in enumerate(cfg.classifiers):
            row, matrix, pair_predictions = pool_fold_results(
                [per_fold[k]["results"][j] for k in range(len(folds))], folds, y, ids=list(clips.ids),
                subjects=list(groups), feature=label, classifier=clf.label, labels=labels, out=out)
            predictions += pair_predictions
            decisions[label, clf.label] = matrix
            row["level"] = "clip"
            row["feature_dim"] = int(per_fold[0]["dim"])
            row["params"] = {"feature": {"name": feature.name, **feature.params},
                             "classifier": {"name": clf.name, **clf.params}}
            rows.append(row)
    return rows, predictions, decisions


def _report_sections(cfg: ClipConfig, clips: Any, folds: list, rows: list, metrics: dict[str, Any]) -> list:
    """The report's sections (and, with fusion, the best member into ``metrics``)."""
    summary, protocol, volume = clips.summary(), cfg.protocol, cfg.volume
    sections = [
        ("Data", (f"- clips: `{cfg.clips}`: {summary['clips']} listed, {summary['sequences']} used, "
                  f"{summary['subjects']} subjects\n- classes: "
                  + ", ".join(f"{c} {n}" for c, n in summary["classes"].items())
                  + f"\n- volumes: the main face tracked and aligned on fixed eye positions, "
                  f"{volume.frames} frames of {volume.size}x{volume.size} px "
                  f"(missing: {volume.missing}, short: {volume.short}); "
                  f"{summary['filled_frames']} volume frame(s) filled")),
        ("Refused clips", _refusal_lines(clips)),
        ("Protocol", (f"{protocol.describe()}; {len(folds)} fold(s). Every metric is per clip (one prediction per "
                      "used clip), pooled over the test folds.")),
        ("Normalisation", ("Each feature is standardised with statistics of the training part of each fold only "
                           "(part of every classifier); no per-subject normalisation.")),
        ("Hyper-parameters", ("Chosen on the training part of each fold only, by inner cross-validation split by "
                              "subject.")),
    ]
    if cfg.fusion is not None:
        members = [r for r in rows if r["method"] == "member"]
        best = max(members, key=lambda r: r["accuracy"])
        metrics["best_member"] = {"members": best["members"], "accuracy": best["accuracy"]}
        metrics["fusion"] = cfg.fusion.to_dict()
        sections.append(("Fusion", (
            f"Every feature x classifier is a member. The fusion methods are fitted on out-of-fold decision values "
            f"of each training part ({cfg.fusion.oof_splits} inner folds split by subject); test decision "
            f"values: `{cfg.fusion.test_decisions}`. Best single member: {best['members']} "
            f"({best['accuracy']:.3f}).")))
    return sections


def run_clips_experiment(
    config: Mapping[str, Any],
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: Any = None,
) -> ExperimentResult:
    """Run a ``kind: clips`` experiment (see the module docstring) and write its run folder.

    ``data`` replaces ``data.clips``; ``cache`` (a folder or a
    :class:`~affectlab.features.cache.FeatureCache`) keeps the volumes and clip features.

    Raises
    ------
    ConfigError, ProtocolError, DataError
        Bad config key, leaking split, no usable clip; the message names it.
    """


    run_started = time.perf_counter()
    cfg = load_clip_config(config, data)
    runs.prepare_run_dir(out_dir, overwrite=overwrite, create=False)
    feature_cache = open_feature_cache(cache)
    cache_dir = None if feature_cache is None else str(feature_cache.directory)
    jobs = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    clips, y, groups, folds = _read_clips(cfg, feature_cache, jobs, progress)
    out = runs.prepare_run_dir(out_dir, overwrite=overwrite)
    labels = [c for c in clips.classes if c in set(y.tolist())]
    resolved = _resolved_config(cfg, clips, folds, jobs)
    runs.write_config(out, resolved)

    matrices, feature_info = _stateless_matrices(cfg, clips, cache_dir)
    if cfg.fusion is None:
        rows, predictions, decisions = _members(cfg, folds, matrices, feature_info, clips, y, groups, labels,
                                                cache_dir, jobs, progress, out)
        fold_of = np.full(len(y), -1, dtype=np.int32)
        for k, fold in enumerate(folds):
            fold_of[fold.test] = k
        runs.write_decisions(out, ids=clips.ids, true=y, classes=labels, folds=[f.name for f in folds],
                             fold_of_sample=fold_of, decisions=decisions)
    else:
        tasks = [delayed(_fusion_task)(k, fold, cfg.features, matrices, clips, y, groups, cfg.classifiers,
                                       labels, cfg.fusion, cache_dir, cfg.seed)
                 for k, fold in enumerate(folds)]
        ordered = sorted(run_tasks(tasks, jobs, progress=progress), key=lambda o: o["k"])
        rows, predictions = _pool_fusion(ordered, folds, clips, y, labels, cfg.fusion, out)
    runs.write_predictions(out, predictions)
    elapsed = time.perf_counter() - run_started
    protocol = cfg.protocol
    metrics: dict[str, Any] = {
        "name": cfg.name, "kind": "clips", "level": "clip", "dataset": resolved["run"]["dataset"],
        "refused": resolved["run"]["refused"],
        "protocol": {**protocol.to_dict(), "description": protocol.describe(), "n_folds": len(folds)},
        "normalisation": "global", "labels": labels, "rows": rows, "features": feature_info, "n_jobs": jobs,
        "seconds": round(elapsed, 3),
    }
    sections = _report_sections(cfg, clips, folds, rows, metrics)
    runs.write_metrics(out, metrics)
    generated = f"affectlab {resolved['run']['affectlab']}, {resolved['run']['timestamp']}"
    runs.write_report(out, title=f"{cfg.name} ({generated})", sections=sections, rows=rows)
    return ExperimentResult(rows=rows, out_dir=out, config=resolved, n_folds=len(folds), seconds=elapsed)
