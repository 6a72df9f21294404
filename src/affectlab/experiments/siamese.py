"""``kind: siamese``: face verification on ORL with subject-disjoint folds.

Example config (``configs/orl-siamese.yaml``)::

    kind: siamese
    name: orl-siamese
    data: {source: ../../shared/datasets/orl_faces}
    images: {size: [28, 24]}                        # height, width
    protocol: {n_folds: 4, val_subjects: 5, seed: 0}
    model: {hidden: 128, pool_after: [1, 2, 4]}    # pooling after these of the 10 convolutions
    train: {epochs: 20, subjects_per_batch: 10, images_per_subject: 4, lr: 0.001,
            pretrain_epochs: 30,                    # branch first trained as a subject classifier
            ensemble: 5,                            # nets per fold, pair scores averaged
            augment: {rotation: 8, scale: 0.08, translate: 0.08, flip: true}}
    heatmaps: {n_pairs: 6}
    identity: {epochs: 30}                          # optional: also the vgg_identity classifier
    extra_identities:                               # optional: other people's faces (here CK+48)
      source: ../../shared/datasets/ckplus48        # any dataset with a subject per sample
      layout: {height: 21, top: 4, left: 1}         # placed into the 28 x 24 frame like an ORL face
      epochs: 15                                    # branch classification pretraining, once per net seed
    handcrafted: {method: fisherfaces}              # optional: a Fisherface verifier and its sum with the net

Protocol: the subjects are cut into ``n_folds`` disjoint test groups. For each fold, the net
is trained on the remaining subjects minus ``val_subjects`` of them; those validation subjects
choose the epoch and the decision threshold on their own balanced pairs. The test subjects
(never seen in training or selection) give balanced pairs: every same-subject pair and as many
random different-subject pairs. Accuracy, UAR (mean of the true-accept and true-reject rates)
and ROC AUC are computed on the pooled test pairs, and per fold (mean +- sd). The optional
``identity`` section also trains the ``vgg_identity``
classifier on all 40 subjects split by image (:mod:`affectlab.identity.classify`) and adds its
row. The optional ``extra_identities`` section first trains each net's branch as a classifier of
the subjects of another dataset (:mod:`affectlab.identity.extra`; people who are not in the
verification set), once per ensemble seed, and every fold starts from those weights. With
``protocol.val_rotation`` each ensemble net validates on its own group of the fold's non-test
subjects (so the ensemble trains on all of them) and the nets' scores are averaged in logit space,
each shifted by its own threshold; ``train.threshold_rule: fixed`` keeps the threshold at 0.5.
With ``protocol.val_subjects: 0`` (and ``train.select_on: none``, ``threshold_rule: fixed``) no subject
validates: every non-test subject trains and each net keeps its last epoch. Besides predictions.csv
the run folder holds ``pair_scores.csv`` (every verifier's score per test pair) and ``roc.png``.
The optional ``handcrafted`` section fits a :class:`~affectlab.identity.fisherfaces.FisherfaceVerifier`
on each fold's non-test subjects and adds two rows: the verifier alone and the sum of its calibrated
logit with the Siamese ensemble's (0 at each one's threshold; "same" above 0).

Examples
--------
>>> result = run_siamese_experiment("configs/orl-siamese.yaml", "runs/orl")  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from affectlab.checks import is_integer, is_number
from affectlab.data.orl import load_orl
from affectlab.errors import ConfigError
from affectlab.evaluate.metrics import macro_f1
from affectlab.experiments import runs, schema
from affectlab.experiments.config import integer_setting, names_the_file, read_raw_config, resolve_source, section
from affectlab.experiments.runs import ExperimentResult
from affectlab.experiments.siamese_distill import (
    adapt_branch,
    distill_section,
    distilled_state,
    load_branch,
    load_distill_faces,
    photo_targets,
)
from affectlab.experiments.siamese_report import write_siamese_report
from affectlab.experiments.stages import open_feature_cache
from affectlab.identity.classify import read_identity_images, train_identity_classifier
from affectlab.identity.extra import (
    EXTRA_KEYS,
    load_extra_identities,
    parse_face_layout,
)
from affectlab.identity.fisherfaces import FisherfaceVerifier, fuse_logits
from affectlab.identity.heatmaps import pair_heatmaps
from affectlab.identity.images import parse_images
from affectlab.identity.pairs import SubjectFold, balanced_pairs, subject_folds
from affectlab.identity.train import (
    THRESHOLD_RULES,
    SiameseTrainConfig,
    calibrated_average,
    check_train_config,
    fit_siamese,
    pair_scores,
    pretrain_branch,
    probability_logit,
    verification_metrics,
)
from affectlab.models.augment import AugmentConfig
from affectlab.models.siamese import siamese_vgg
from affectlab.viz.heatmap import pair_heatmap_figure
from affectlab.viz.overlay import save_rgb
from affectlab.viz.roc import save_roc

__all__ = ["run_siamese_experiment", "SIAMESE_KEYS"]

#: Top-level keys of a ``kind: siamese`` file (``run`` is provenance written by a run; ignored).
SIAMESE_KEYS = ("kind", "name", "description", "data", "images", "protocol", "model", "train", "heatmaps", "identity",
                "extra_identities", "handcrafted", "distill", "run", "_path")
# handcrafted: a Fisherface verifier fitted on each fold's non-test subjects; its calibrated logit is
# reported alone and summed with the Siamese ensemble's (affectlab.identity.fisherfaces)
_HANDCRAFTED_KEYS = {"method": "fisherfaces", "n_components": 60, "calibration_folds": 5, "seed": 0}
_IDENTITY_KEYS = {"epochs": 30, "lr": 0.002, "batch_size": 32, "train_images": [1, 2, 3, 4, 5, 6], "val_images": [7],
                  "seed": 0}
# val_rotation: ensemble member m validates on the m-th group of val_subjects non-test subjects
# folds: run only these fold indices (null: all); train_subjects: each net trains on only the first n of its
# training subjects (in the fold's seeded order; null: all) -- for learning curves against the number of identities
_PROTOCOL_KEYS = {"n_folds": 4, "val_subjects": 5, "seed": 0, "val_rotation": False, "folds": None,
                  "train_subjects": None}
_MODEL_KEYS = {"hidden": 128, "embedding": "flatten", "dropout": 0.0, "l2_normalize": False, "pool_after": [1, 2, 4],
               "input_norm": "fixed", "join": "fc"}
_TRAIN_KEYS = {**{f: getattr(SiameseTrainConfig(), f) for f in
                  ("epochs", "subjects_per_batch", "images_per_subject", "batches_per_epoch", "lr", "weight_decay",
                   "seed", "device", "num_threads", "tta_flip", "identity_weight", "threshold_rule", "select_on",
                   "pretrain_epochs", "pretrain_lr", "pretrain_batch_size", "brightness", "hard_negatives",
                   "extra_subjects_per_batch", "precision")},
               # nets per fold (seeds seed, seed + 1, ...) whose pair scores are averaged
               "ensemble": 1,
               # random affine of each training image: degrees, scale and shift fractions, mirror
               "augment": {"rotation": 8.0, "scale": 0.08, "translate": 0.08, "flip": True}}


def _image_size(raw: Mapping[str, Any]) -> tuple[tuple[int, int], str]:
    """``images.size`` (default 28 x 24) and ``images.square`` (default ``none``: resized as they are; ``edge``:
    padded to a square with their edge values first, :mod:`affectlab.identity.images`); at least 16 pixels a side
    for the branch's pooling."""
    size, square = parse_images(raw.get("images"), (28, 24), "none")
    if min(size) < 16:
        raise ConfigError(f"images.size must be at least 16 pixels a side for the Siamese branch, got {list(size)}")
    return size, square


@dataclass
class _Settings:
    """A validated ``kind: siamese`` file."""

    raw: dict[str, Any]
    path: Path | None
    base: Path | None
    source: Path
    size: tuple[int, int]
    square: str
    protocol: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any]
    heat: dict[str, Any]
    identity: dict[str, Any] | None
    extra: dict[str, Any] | None
    hand: dict[str, Any] | None
    tcfg: SiameseTrainConfig
    n_nets: int
    distill: dict[str, Any] | None = None

    @property
    def rotate(self) -> bool:
        return bool(self.protocol["val_rotation"])

    @property
    def no_validation(self) -> bool:
        return int(self.protocol["val_subjects"]) == 0

    @property
    def seed(self) -> int:
        return int(self.protocol["seed"])


def run_siamese_experiment(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: str | Path | None = None,
) -> ExperimentResult:
    """Train and test the Siamese verifier on subject-disjoint folds and write a run folder.

    Training runs in this process (``train.num_threads`` sets torch's threads); ``n_jobs`` processes compute the
    ``distill`` section's teacher descriptors, which ``cache`` keeps with the distilled weights.
    """
    st = _read_settings(config, data)
    run = runs.RunFolder(out_dir, overwrite=overwrite)
    dataset, images, subjects, extra = _load_faces(st, progress=progress)
    fold_ids, folds = _folds(st, subjects)
    state = _RunState()
    state.cache = open_feature_cache(cache)
    if st.distill is not None:
        state.distill = load_distill_faces(st.distill, st.size, state.cache, n_jobs=n_jobs, progress=progress)
        st.distill["n_faces"] = state.distill.n_faces
        if st.distill["adapt_epochs"] > 0:  # every photograph described once; each net adapts on its training ones
            state.photo_targets = photo_targets(_gray_photos(dataset), state.cache, progress=progress)
    out = run.create()
    if st.tcfg.num_threads:
        torch.set_num_threads(int(st.tcfg.num_threads))
    for k, fold in tqdm(list(zip(fold_ids, folds)), desc="folds", unit="fold", disable=not progress):
        _siamese_fold(st, k, fold, dataset, images, subjects, extra, state, out, first=k == fold_ids[0],
                      progress=progress)
    curve_files = _write_pair_scores(out, state.pooled, state.predictions)
    rows = []
    for (feature, classifier), entry in state.pooled.items():
        row = _pooled_row(feature, classifier, entry)
        if feature == "siamese_vgg":
            row["folds"] = state.fold_rows
        rows.append(row)
    if st.identity is not None:
        rows.append(_identity_row(st, dataset, images, progress=progress))
    raw, extra_cfg = st.raw, st.extra
    resolved = {
        "kind": "siamese",
        "name": raw.get("name", "siamese"),
        **({"description": raw["description"]} if raw.get("description") else {}),
        "data": {"source": str(st.source)},
        "images": {"size": list(st.size), "square": st.square},
        "protocol": st.protocol,
        "model": st.model,
        "train": st.train,
        "heatmaps": st.heat,
        **({"identity": st.identity} if st.identity is not None else {}),
        **({"extra_identities": {**extra_cfg, "source": str(extra_cfg["source"])}} if extra_cfg is not None else {}),
        **({"handcrafted": st.hand} if st.hand is not None else {}),
        **({"distill": {**st.distill, "source": str(st.distill["source"])}} if st.distill is not None else {}),
        "run": run.provenance(config_path=st.path, packages=("torch",), threads=torch.get_num_threads(),
                              n_images=len(dataset), n_subjects=len(set(subjects)),
                              data_sha256=dataset.fingerprint()),
    }
    run.write_config(resolved)
    run.write_metrics({"rows": rows, "histories": state.histories, "augment": asdict(st.tcfg.augment),
                       **({"distill_histories": state.distill_histories} if st.distill is not None else {}),
                       **({"adapt_histories": state.adapt_histories} if state.adapt_histories else {})})
    run.write_predictions(state.predictions)
    if state.validation:
        (out / "validation_scores.json").write_text(json.dumps(state.validation), encoding="utf-8")
    write_siamese_report(out, resolved, rows, state.fold_rows, state.heat_files, curve_files)
    return run.result(rows, resolved, n_folds=len(folds))


@names_the_file
def _read_settings(config: Mapping[str, Any] | str | Path, data: str | Path | None) -> _Settings:
    """Read config stage: the file read once, every section checked (the network built once) before any work."""

    raw, path = read_raw_config(config)
    schema.refuse_unknown_keys(raw, SIAMESE_KEYS, SIAMESE_KEYS[:-1])
    base = Path(path).resolve().parent if path else None
    source = data if data is not None else (raw.get("data") or {}).get("source")
    source_path = resolve_source(str(source) if source is not None else source, base if data is None else None,
                                 "--data" if data is not None else "data.source")
    size, square = _image_size(raw)
    protocol = section(raw, "protocol", _PROTOCOL_KEYS)
    model_cfg = section(raw, "model", _MODEL_KEYS)
    train_cfg = section(raw, "train", _TRAIN_KEYS)
    heat_cfg = section(raw, "heatmaps", {"n_pairs": 6})
    identity_cfg = section(raw, "identity", _IDENTITY_KEYS) if raw.get("identity") else None
    extra_cfg = _extra_section(raw, base)
    hand_cfg = _handcrafted_section(raw)
    _check_protocol(protocol)
    integer_setting(heat_cfg["n_pairs"], "heatmaps.n_pairs", 0)
    if identity_cfg is not None:
        _check_identity(identity_cfg)
    no_validation = int(protocol["val_subjects"]) == 0
    if no_validation and (protocol["val_rotation"] or train_cfg["select_on"] != "none"
                          or train_cfg["threshold_rule"] != "fixed"):
        raise ConfigError("protocol.val_subjects: 0 (every non-test subject trains) needs train.select_on: none, "
                          "train.threshold_rule: fixed and no protocol.val_rotation")
    if train_cfg["extra_subjects_per_batch"] and extra_cfg is None:
        raise ConfigError("train.extra_subjects_per_batch needs an extra_identities section")
    aug_cfg = section(train_cfg, "augment", _TRAIN_KEYS["augment"])
    train_cfg["augment"] = aug_cfg
    n_nets = train_cfg["ensemble"]
    if not is_integer(n_nets) or n_nets < 1:
        raise ConfigError(f"train.ensemble must be an int >= 1, got {n_nets!r}")
    try:
        tcfg = SiameseTrainConfig(**{k: v for k, v in train_cfg.items() if k not in ("ensemble", "augment")},
                                  augment=AugmentConfig(float(aug_cfg["rotation"]), float(aug_cfg["scale"]),
                                                        float(aug_cfg["translate"]), bool(aug_cfg["flip"])))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train: {exc}") from None
    check_train_config(tcfg)
    with torch.random.fork_rng(devices=[]):  # model settings checked now, without touching the seeded stream
        _build_net(siamese_vgg, size, model_cfg)
    return _Settings(raw, path, base, source_path, size, square, protocol, model_cfg, train_cfg, heat_cfg,
                     identity_cfg, extra_cfg, hand_cfg, tcfg, n_nets, distill_section(raw, base))


def _check_protocol(protocol: Mapping[str, Any]) -> None:
    rotate = protocol["val_rotation"]
    if not isinstance(rotate, bool):
        raise ConfigError(f"protocol.val_rotation must be true or false, got {rotate!r}")
    for key, low in (("n_folds", 2), ("val_subjects", 0), ("seed", 0)):
        integer_setting(protocol[key], f"protocol.{key}", low)
    if protocol["train_subjects"] is not None:
        integer_setting(protocol["train_subjects"], "protocol.train_subjects", 2)
    chosen_folds = protocol["folds"]
    if chosen_folds is not None and (not isinstance(chosen_folds, list) or not chosen_folds or not all(
            is_integer(v) and 0 <= v < protocol["n_folds"] for v in chosen_folds) or len(set(chosen_folds)) !=
            len(chosen_folds)):
        raise ConfigError(f"protocol.folds must be null or a list of distinct fold indices in 0.."
                          f"{protocol['n_folds'] - 1}, got {chosen_folds!r}")


def _check_identity(identity_cfg: Mapping[str, Any]) -> None:
    for key, low in (("epochs", 1), ("batch_size", 1), ("seed", 0)):
        integer_setting(identity_cfg[key], f"identity.{key}", low)
    if not is_number(identity_cfg["lr"]) or not identity_cfg["lr"] > 0:
        raise ConfigError(f"identity.lr must be a number > 0, got {identity_cfg['lr']!r}")
    for key in ("train_images", "val_images"):
        if not isinstance(identity_cfg[key], list) or not identity_cfg[key]:
            raise ConfigError(f"identity.{key} must be a non-empty list of image numbers, got "
                              f"{identity_cfg[key]!r}")


def _load_faces(st: _Settings, *, progress: bool) -> tuple[Any, np.ndarray, np.ndarray, Any]:
    """Dataset stage: the ORL images (sized and framed as configured), their subjects and the extra identities."""

    dataset = load_orl(st.source)
    images = read_identity_images(dataset, st.size, st.square, progress=progress)
    subjects = dataset.groups
    extra = None
    if st.extra is not None:
        extra_cfg = st.extra
        extra = load_extra_identities(extra_cfg["source"], st.size, layout=extra_cfg["layout"],
                                      prefix=extra_cfg["prefix"], progress=progress)
        clash = set(extra.subjects.tolist()) & set(subjects.tolist())
        if clash:
            raise ConfigError(f"extra_identities: subject id(s) {', '.join(sorted(clash))} also in data.source; "
                              "change extra_identities.prefix")
        extra_cfg["n_images"], extra_cfg["n_subjects"] = len(extra.subjects), extra.n_subjects
    return dataset, images, subjects, extra


def _folds(st: _Settings, subjects: np.ndarray) -> tuple[list[int], list[SubjectFold]]:
    """Protocol stage: subject-disjoint folds (rotated validation groups, fewer training subjects, chosen folds)."""
    protocol, n_nets = st.protocol, st.n_nets
    folds = subject_folds(subjects, n_folds=int(protocol["n_folds"]), n_val=int(protocol["val_subjects"]),
                          seed=st.seed)
    if st.rotate:
        for fold in folds:
            _rotated_folds(fold, n_nets)
    if protocol["train_subjects"] is not None:
        folds = [_fewer_training_subjects(fold, int(protocol["train_subjects"]), n_nets if st.rotate else 0)
                 for fold in folds]
    chosen_folds = protocol["folds"]
    fold_ids = list(range(len(folds))) if chosen_folds is None else sorted(chosen_folds)
    folds = [folds[i] for i in fold_ids]
    hand_cfg = st.hand
    if hand_cfg is not None:  # the Fisherface verifier is fitted after each fold's nets: check its subjects now
        fewest = min(len(f.train_subjects) + len(f.val_subjects) for f in folds)
        if fewest < 2 * hand_cfg["calibration_folds"]:
            raise ConfigError(f"handcrafted.calibration_folds {hand_cfg['calibration_folds']} needs at least "
                              f"{2 * hand_cfg['calibration_folds']} non-test subjects per fold, the smallest fold "
                              f"has {fewest}")
    return fold_ids, folds


class _RunState:
    """What the folds add up: per-fold rows, prediction records, histories, validation scores, pooled verifiers."""

    def __init__(self) -> None:
        self.fold_rows: list[dict[str, Any]] = []
        self.predictions: list[dict[str, Any]] = []
        self.histories: list[Any] = []
        # every net's scores on its own validation pairs (validation_scores.json: post-hoc studies such as
        # benchmarks/orl_validation.py need them, and they involve no test subject)
        self.validation: list[dict[str, Any]] = []
        # verifier -> per-fold test scores, truths, decisions and metrics (pooled into one row each at the end)
        self.pooled: dict[tuple[str, str], dict[str, list]] = {}
        self.heat_files: list[str] = []
        self.extra_states: dict[int, dict[str, torch.Tensor]] = {}  # extra-identity pretraining, per seed
        self.cache: Any = None  # the feature cache (teacher descriptors, distilled weights) or None
        self.distill: Any = None  # the distill section's faces and teacher descriptors
        self.distill_states: dict[int, dict[str, torch.Tensor]] = {}  # distilled weights, per seed
        self.distill_histories: dict[int, Any] = {}  # seed -> distillation history (None: read from the cache)
        self.distill_heads: dict[int, dict[str, torch.Tensor]] = {}  # the distilled linear maps, per seed
        self.photo_targets: np.ndarray | None = None  # the teacher's descriptors of every photograph (adapt)
        self.adapt_histories: list[dict[str, Any]] = []  # per fold and net: the adaptation's history


def _siamese_fold(st: _Settings, k: int, fold: SubjectFold, dataset: Any, images: np.ndarray, subjects: np.ndarray,
                  extra: Any, state: _RunState, out: Path, *, first: bool, progress: bool) -> None:
    """One fold: the ensemble's nets (members), their combined scores (fusion), the handcrafted verifiers, the
    pooled records and, for the first fold, the heat maps."""

    part = {name: np.flatnonzero(np.isin(subjects, getattr(fold, f"{name}_subjects")))
            for name in ("train", "val", "test")}
    test_pairs = balanced_pairs(subjects[part["test"]], seed=st.seed + k)
    members = _train_members(st, k, fold, part, images, subjects, extra, state, test_pairs, progress=progress)
    scores, fit = _combine_members(st, members)
    metrics = verification_metrics(scores, test_pairs.same, fit.threshold)
    fits, member_folds, val_scores, val_pairs = (members["fits"], members["member_folds"], members["val_scores"],
                                                 members["val_pairs"])
    best_epoch = fit.best_epoch if st.n_nets == 1 else [f.best_epoch for f in fits]
    state.fold_rows.append({
        "fold": k, "test_subjects": fold.test_subjects,
        "val_subjects": [f.val_subjects for f in member_folds] if st.rotate else fold.val_subjects,
        "best_epoch": best_epoch, "val_accuracy": fit.best_val_accuracy,
        "val_auc": None if st.no_validation else float(np.mean(members["val_aucs"])) if st.rotate else
        float(verification_metrics(np.mean(val_scores, axis=0), val_pairs.same)["auc"]),
        **({"member_thresholds": [f.threshold for f in fits]} if st.rotate else {}), **metrics})
    state.histories.extend([f.history for f in fits])
    # how same/different is decided, as the row's "classifier": P(same) >= 0.5, or a validation threshold
    rule = "threshold_0.5" if st.tcfg.threshold_rule == "fixed" else f"val_threshold_{st.tcfg.threshold_rule}"
    verifiers = {("siamese_vgg", rule): (scores, scores >= fit.threshold)}
    if st.hand is not None:  # fitted on every non-test subject of the fold; no validation choice involved
        verifiers.update(_handcrafted_verifiers(st.hand, images, subjects, fold, part["test"], test_pairs,
                                                probability_logit(scores, fit.threshold)))
    _record_verifiers(state, verifiers, k, test_pairs, dataset.samples, part["test"])
    if first and int(st.heat["n_pairs"]) > 0:
        state.heat_files = _write_heatmaps(out, members["nets"][0], images[part["test"]], test_pairs,
                                           int(st.heat["n_pairs"]), pair_heatmaps, pair_heatmap_figure, save_rgb,
                                           st.seed)
    if progress:
        tqdm.write(f"fold {k + 1}/{st.protocol['n_folds']}: test accuracy {metrics['accuracy']:.4f}"
                   f" AUC {metrics['auc']:.4f} (epoch {best_epoch}, threshold {fit.threshold:.3f})")
        for (feature, _), entry in state.pooled.items():
            if feature != "siamese_vgg":
                tqdm.write(f"    {feature}: test accuracy {entry['folds'][-1]['accuracy']:.4f}"
                           f" AUC {entry['folds'][-1]['auc']:.4f}")


def _train_members(st: _Settings, k: int, fold: SubjectFold, part: dict[str, np.ndarray], images: np.ndarray,
                   subjects: np.ndarray, extra: Any, state: _RunState, test_pairs: Any, *,
                   progress: bool) -> dict[str, Any]:
    """Members stage: each net of the fold's ensemble trained (its own seed; with val_rotation its own validation
    group), scored on the test pairs and on its validation pairs."""

    tcfg, n_nets = st.tcfg, st.n_nets
    val_pairs = None if st.no_validation else balanced_pairs(subjects[part["val"]], seed=st.seed + 1000 + k)
    nets, fits, val_scores, scores, val_aucs = [], [], [], [], []
    member_folds = _rotated_folds(fold, n_nets) if st.rotate else [fold] * n_nets
    for member in range(n_nets):
        if st.rotate:  # member m validates on its own group of the non-test subjects, trains on the others
            mine = member_folds[member]
            part["train"] = np.flatnonzero(np.isin(subjects, mine.train_subjects))
            part["val"] = np.flatnonzero(np.isin(subjects, mine.val_subjects))
            val_pairs = balanced_pairs(subjects[part["val"]], seed=st.seed + 1000 + k + 100 * member)
        seed = tcfg.seed + member
        torch.manual_seed(seed + k)
        net = _build_net(siamese_vgg, st.size, st.model)
        if extra is not None:  # the same extra-identity pretraining serves every fold
            if seed not in state.extra_states:
                state.extra_states[seed] = _pretrain_on_extra(siamese_vgg, st.size, st.model, extra, st.extra, tcfg,
                                                              seed, progress)
            net.load_state_dict(state.extra_states[seed])
        if state.distill is not None:  # the same distilled branch serves every fold
            if seed not in state.distill_states:
                state.distill_states[seed], state.distill_heads[seed], state.distill_histories[seed] = \
                    distilled_state(lambda cfg: _build_net(siamese_vgg, st.size, cfg), st.model, st.size,
                                    state.distill, st.distill, tcfg, seed, state.cache, progress=progress)
            load_branch(net, state.distill_states[seed])
            if state.photo_targets is not None:  # the training subjects' own photographs only
                history = adapt_branch(net, state.distill_heads[seed], images[part["train"]],
                                       state.photo_targets[part["train"]], st.distill, tcfg, seed + k,
                                       progress=progress)
                state.adapt_histories.append({"fold": k, "seed": seed, "history": history})
        fit = fit_siamese(net, train=(images[part["train"]], subjects[part["train"]]),
                          val=None if st.no_validation else (images[part["val"]], val_pairs),
                          config=replace(tcfg, seed=seed), progress=progress,
                          extra=(extra.images, extra.subjects) if extra is not None else None)
        nets.append(net)
        fits.append(fit)
        scores.append(pair_scores(net, images[part["test"]], test_pairs, device=tcfg.device, tta_flip=tcfg.tta_flip))
        if st.no_validation:
            continue
        val_scores.append(pair_scores(net, images[part["val"]], val_pairs, device=tcfg.device,
                                      tta_flip=tcfg.tta_flip))
        val_aucs.append(verification_metrics(val_scores[-1], val_pairs.same)["auc"])
        state.validation.append({"fold": k, "member": member, "seed": seed, "threshold": fit.threshold,
                                 "best_epoch": fit.best_epoch,
                                 "train_subjects": sorted(set(subjects[part["train"]].tolist()), key=str),
                                 "val_subjects": sorted(set(subjects[part["val"]].tolist()), key=str),
                                 "first": part["val"][val_pairs.first].tolist(),
                                 "second": part["val"][val_pairs.second].tolist(),
                                 "same": val_pairs.same.tolist(), "score": val_scores[-1].tolist()})
    return {"nets": nets, "fits": fits, "scores": scores, "val_scores": val_scores, "val_aucs": val_aucs,
            "val_pairs": val_pairs, "member_folds": member_folds}


def _combine_members(st: _Settings, members: Mapping[str, Any]) -> tuple[np.ndarray, Any]:
    """Fusion stage: the ensemble's test scores and its threshold (one net: its own; rotated or unvalidated
    members: each shifted by its threshold, averaged; else a threshold chosen on the averaged validation scores)."""
    fits, scores, val_scores = members["fits"], members["scores"], members["val_scores"]
    if st.n_nets == 1:
        threshold, val_acc, combined = fits[0].threshold, fits[0].best_val_accuracy, scores[0]
    elif st.rotate or st.no_validation:
        # each net's score shifted by its own threshold (0.5 without validation), averaged
        combined = calibrated_average(scores, [f.threshold for f in fits])
        threshold, val_acc = 0.5, float(np.mean([f.best_val_accuracy for f in fits]))
    else:  # the ensemble's threshold comes from its own (averaged) validation scores
        rule = THRESHOLD_RULES[st.tcfg.threshold_rule]
        threshold, val_acc = rule(np.mean(val_scores, axis=0), members["val_pairs"].same)
        combined = np.mean(scores, axis=0)
    return combined, replace(fits[0], threshold=threshold, best_val_accuracy=val_acc)


def _record_verifiers(state: _RunState, verifiers: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]], k: int,
                      test_pairs: Any, samples: list[Any], test_ids: np.ndarray) -> None:
    """Metrics stage of one fold: every verifier's scores, decisions and metrics pooled; its prediction records."""
    for (feature, classifier), (v_scores, v_pred) in verifiers.items():
        entry = state.pooled.setdefault((feature, classifier), {"scores": [], "same": [], "pred": [], "folds": []})
        entry["scores"].append(v_scores)
        entry["same"].append(test_pairs.same)
        entry["pred"].append(v_pred)
        entry["folds"].append(_decision_metrics(v_scores, test_pairs.same, v_pred))
        for a, b, same, decided in zip(test_pairs.first, test_pairs.second, test_pairs.same, v_pred):
            sa, sb = samples[test_ids[a]], samples[test_ids[b]]
            state.predictions.append({"id": f"{sa.id}|{sb.id}", "fold": k, "feature": feature,
                                      "classifier": classifier, "true": "same" if same else "different",
                                      "pred": "same" if decided else "different",
                                      "subject": f"{sa.subject}|{sb.subject}"})


def _identity_row(st: _Settings, dataset: Any, images: np.ndarray, *, progress: bool) -> dict[str, Any]:
    """The optional closed-set identity row (vgg_identity, split by image)."""

    identity_cfg = st.identity
    assert identity_cfg is not None
    ident = train_identity_classifier(
        dataset, images, train_images=[str(v) for v in identity_cfg["train_images"]],
        val_images=[str(v) for v in identity_cfg["val_images"]], epochs=int(identity_cfg["epochs"]),
        lr=float(identity_cfg["lr"]), batch_size=int(identity_cfg["batch_size"]), seed=int(identity_cfg["seed"]),
        num_threads=st.tcfg.num_threads, progress=progress)
    return {"feature": "vgg_identity", "classifier": "softmax_40_subjects", "accuracy": ident["accuracy"],
            "uar": ident["uar"], "macro_f1": ident["macro_f1"], "n_test": ident["n"], "n_folds": 1,
            "best_epoch": ident["best_epoch"], "val_accuracy": ident["val_accuracy"], "split": ident["split"]}


def _write_pair_scores(out: Path, pooled: Mapping[tuple[str, str], Mapping[str, list]],
                       predictions: list[dict[str, Any]]) -> list[str]:
    """``pair_scores.csv`` (every verifier's score of every test pair, in predictions.csv's order: higher = more
    alike) and ``roc.png`` (their ROC curves, each with its operating point); returns the file names."""

    # predictions.csv lists fold by fold, verifier by verifier, the pairs in the order their scores were pooled,
    # so each verifier's pooled scores are consumed in turn
    scores = {key: iter(np.concatenate(entry["scores"]).tolist()) for key, entry in pooled.items()}
    with open(out / "pair_scores.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "fold", "feature", "classifier", "true", "pred", "score"])
        for p in predictions:
            score = next(scores[(p["feature"], p["classifier"])])
            writer.writerow([p["id"], p["fold"], p["feature"], p["classifier"], p["true"], p["pred"], repr(score)])
    curves = {feature: tuple(np.concatenate(entry[k]) for k in ("scores", "same", "pred"))
              for (feature, _), entry in pooled.items()}
    save_roc(curves, out / "roc.png")
    return ["pair_scores.csv", "roc.png"]


def _decision_metrics(scores: np.ndarray, same: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """:func:`verification_metrics` with accuracy and rates taken from the decisions ``pred``."""
    metrics = verification_metrics(scores, same, 0.5)
    tar, trr = float(np.mean(pred[same])), float(np.mean(~pred[~same]))
    metrics.update(accuracy=float(np.mean(pred == same)), uar=(tar + trr) / 2, true_accept_rate=tar,
                   true_reject_rate=trr)
    metrics.pop("threshold", None)
    return metrics


def _pooled_row(feature: str, classifier: str, entry: Mapping[str, list]) -> dict[str, Any]:
    """One results row from a verifier's per-fold test scores and decisions (pairs pooled over folds)."""
    scores, same, pred = (np.concatenate(entry[key]) for key in ("scores", "same", "pred"))
    fold_acc = np.array([f["accuracy"] for f in entry["folds"]])
    return {
        "feature": feature,
        "classifier": classifier,
        **_decision_metrics(scores, same, pred),
        "macro_f1": macro_f1(np.where(same, "same", "different"), np.where(pred, "same", "different")),
        "n_test": len(same),
        "n_folds": len(fold_acc),
        "fold_accuracy_mean": float(fold_acc.mean()),
        "fold_accuracy_std": float(fold_acc.std(ddof=1)) if len(fold_acc) > 1 else 0.0,
        "fold_auc_mean": float(np.mean([f["auc"] for f in entry["folds"]])),
    }


def _handcrafted_section(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checked ``handcrafted`` section, or None."""
    if not raw.get("handcrafted"):
        return None
    cfg = section(raw, "handcrafted", _HANDCRAFTED_KEYS)
    if cfg["method"] != "fisherfaces":
        raise ConfigError(f"handcrafted.method: only 'fisherfaces' is available, got {cfg['method']!r}")
    for key, low in (("n_components", 1), ("calibration_folds", 2), ("seed", 0)):
        if not is_integer(cfg[key]) or cfg[key] < low:
            raise ConfigError(f"handcrafted.{key} must be an int >= {low}, got {cfg[key]!r}")
    return cfg


def _handcrafted_verifiers(cfg: Mapping[str, Any], images: np.ndarray, subjects: np.ndarray, fold: SubjectFold,
                           test: np.ndarray, pairs, siamese_logit: np.ndarray) -> dict[tuple[str, str], tuple]:
    """Test scores and decisions of the Fisherface verifier alone and summed with the Siamese logit."""
    rest = np.flatnonzero(np.isin(subjects, list(fold.train_subjects) + list(fold.val_subjects)))
    verifier = FisherfaceVerifier(n_components=int(cfg["n_components"]),
                                  calibration_folds=int(cfg["calibration_folds"]),
                                  seed=int(cfg["seed"])).fit(images[rest], subjects[rest])
    logit = verifier.decision_function(images[test], pairs)
    alone = fuse_logits(logit)
    fused = fuse_logits(siamese_logit, logit)
    return {("fisherfaces", "calibrated_logit_0"): (alone, alone >= 0.5),
            ("siamese_vgg+fisherfaces", "logit_sum_0"): (fused, fused >= 0.5)}


def _fewer_training_subjects(fold: SubjectFold, n: int, rotation: int) -> SubjectFold:
    """``fold`` with only its first ``n`` training subjects (validation and test subjects unchanged); with validation
    rotation over ``rotation`` nets, the first ``n`` of all non-test subjects beyond the validation groups."""
    if rotation:
        raise ConfigError("protocol.train_subjects cannot be combined with protocol.val_rotation")
    if n > len(fold.train_subjects):
        raise ConfigError(f"protocol.train_subjects {n}: a fold has only {len(fold.train_subjects)} training subjects")
    return SubjectFold(list(fold.train_subjects[:n]), list(fold.val_subjects), list(fold.test_subjects))


def _rotated_folds(fold: SubjectFold, n_members: int) -> list[SubjectFold]:
    """One fold per ensemble member: member m validates on the m-th group of ``len(fold.val_subjects)``
    of the fold's non-test subjects (group 0 = ``fold.val_subjects``) and trains on the rest."""
    rest, n_val = list(fold.val_subjects) + list(fold.train_subjects), len(fold.val_subjects)
    if n_members * n_val > len(rest) - 2:
        raise ConfigError(f"protocol.val_rotation: {n_members} nets x {n_val} validation subjects need more than the "
                          f"{len(rest)} non-test subjects (keep at least 2 for training)")
    out = []
    for m in range(n_members):
        group = rest[m * n_val: (m + 1) * n_val]
        member = SubjectFold([s for s in rest if s not in set(group)], group, list(fold.test_subjects))
        member.check()
        out.append(member)
    return out


def _extra_section(raw: Mapping[str, Any], base: Path | None) -> dict[str, Any] | None:
    """The checked ``extra_identities`` section (source resolved like ``data.source``), or None."""
    if not raw.get("extra_identities"):
        return None
    cfg = section(raw, "extra_identities", EXTRA_KEYS)
    cfg["source"] = resolve_source(cfg["source"], base, "extra_identities.source")
    for key, low in (("epochs", 1), ("batch_size", 2)):
        if not is_integer(cfg[key]) or cfg[key] < low:
            raise ConfigError(f"extra_identities.{key} must be an int >= {low}, got {cfg[key]!r}")
    if not is_number(cfg["lr"]) or not cfg["lr"] > 0:
        raise ConfigError(f"extra_identities.lr must be a number > 0, got {cfg['lr']!r}")
    if not isinstance(cfg["prefix"], str):
        raise ConfigError(f"extra_identities.prefix must be a string, got {cfg['prefix']!r}")
    cfg["layout"] = asdict(parse_face_layout(cfg["layout"] or {}))
    return cfg


def _pretrain_on_extra(siamese_vgg, size: tuple[int, int], model_cfg: Mapping[str, Any], extra, extra_cfg, tcfg,
                       seed: int, progress: bool) -> dict[str, torch.Tensor]:
    """Weights of a fresh net (seed ``seed``) whose branch was trained to classify the extra subjects."""
    torch.manual_seed(seed)
    net = _build_net(siamese_vgg, size, model_cfg)
    pretrain_branch(net, extra.images, extra.subjects, epochs=int(extra_cfg["epochs"]), lr=float(extra_cfg["lr"]),
                    batch_size=int(extra_cfg["batch_size"]), weight_decay=tcfg.weight_decay, augment=tcfg.augment,
                    brightness=tcfg.brightness, seed=seed, device=tcfg.device, progress=progress,
                    precision=tcfg.precision)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _gray_photos(dataset: Any) -> list[np.ndarray]:
    """Every sample of ``dataset`` as it is stored (no resizing), gray uint8: what the teacher describes."""
    from affectlab.data.media import read_image, to_gray

    return [to_gray(np.asarray(s.pixels, np.uint8)) if s.pixels is not None else read_image(s.path, mode="gray")
            for s in dataset.samples]


def _build_net(siamese_vgg, size: tuple[int, int], model_cfg: Mapping[str, Any]):
    pool_after = model_cfg["pool_after"]
    if not isinstance(pool_after, list | tuple) or not all(is_integer(v) and 1 <= v <= 10 for v in pool_after):
        raise ConfigError(f"model.pool_after must be a list of conv indices in 1..10, got {pool_after!r}")
    try:
        net = siamese_vgg(input_size=size, hidden=int(model_cfg["hidden"]), embedding=str(model_cfg["embedding"]),
                          dropout=float(model_cfg["dropout"]), l2_normalize=bool(model_cfg["l2_normalize"]),
                          pool_after=tuple(pool_after), input_norm=str(model_cfg["input_norm"]),
                          join=str(model_cfg["join"]))
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"model: {exc} (images.size {list(size)}, pool_after {list(pool_after)})") from None
    return net


def _write_heatmaps(out: Path, net, images: np.ndarray, pairs, n_pairs: int, pair_heatmaps, figure, save_rgb,
                    seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    same_idx, diff_idx = np.flatnonzero(pairs.same), np.flatnonzero(~pairs.same)
    chosen = np.concatenate([rng.choice(same_idx, size=min(len(same_idx), (n_pairs + 1) // 2), replace=False),
                             rng.choice(diff_idx, size=min(len(diff_idx), n_pairs // 2), replace=False)])
    a, b = images[pairs.first[chosen]], images[pairs.second[chosen]]
    heat = pair_heatmaps(net, a, b)
    files = []
    for i, p in enumerate(chosen):
        name = f"heatmap_pair{i}_{'same' if pairs.same[p] else 'different'}.png"
        save_rgb(figure(a[i], b[i], heat.same_a[i], heat.same_b[i], heat.different_a[i], heat.different_b[i],
                        probability=float(heat.probability[i]), truth="same" if pairs.same[p] else "different"),
                 out / name)
        files.append(name)
    return files
