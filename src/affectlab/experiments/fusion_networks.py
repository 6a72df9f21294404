"""Network members of a ``kind: fusion`` experiment: CNN decision values, out-of-fold like every member.

A fusion member must never score a sample it was trained on, and the fusion methods are fitted
on the members' out-of-fold decision values of each training part. Networks join in two ways
(config key ``networks``):

``finetune``
    Trained inside the run. For every outer fold a pretrained network (``init``) gets a new class
    layer and is fine-tuned for exactly ``train.epochs`` epochs (no epoch selection, so no
    validation data is needed) on the fold's training part to score its test part, and once more
    on each inner fold's training part to score the held-out inner part. ``seeds: N`` (default 1)
    makes each of those a seed ensemble: N fine-tunings from other random states (the new class
    layer, the batch order, the augmentation), probabilities averaged; seed 0 of the ensemble is
    the single net of ``seeds: 1`` (and is read from the cache when that was run). With
    ``fusion.test_decisions: inner_mean`` the inner-fold nets score the test part as well, and the
    fusion reads their mean there (the nets its out-of-fold values came from); the member's own row
    stays the net fine-tuned on the whole training part.
``crossfit``
    Trained beforehand, for a protocol with one fixed split (e.g. FER2013 Training -> PublicTest):
    ``test_model`` was trained on the whole training part (e.g. the bundled default, trained on
    FER2013 Training) and scores the test part; ``oof_models`` holds one file per inner fold,
    each trained *without* that fold (``benchmarks/train_fer2013.py --crossfit-fold I``). Every
    such file records the fingerprint of its held-out part
    (:func:`affectlab.evaluate.protocols.crossfit_fingerprint`); a file whose fingerprint differs
    from the runner's own inner fold stops the run. The test part is always scored by
    ``test_model``, whatever ``fusion.test_decisions`` says.

Decision values are log-probabilities (columns in the experiment's label order). Config::

    networks:
      - {label: cnn_mx, type: finetune, model: mini_xception, init: mini_xception, tta_flip: true,
         train: {epochs: 10, batch_size: 32, lr: 0.003}, augment: {max_rotation_deg: 10}}
      - {label: resnet_fer, type: crossfit, test_model: default,
         oof_models: "runs/fer-crossfit/resnet_fer-fold{fold}/final.pt"}
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from affectlab.checks import is_integer
from affectlab.errors import ConfigError, ModelError
from affectlab.evaluate.protocols import Fold, crossfit_fingerprint
from affectlab.experiments.config import resolve_source, typed_entry
from affectlab.experiments.schema import Rule, flag, internal, written_order

if TYPE_CHECKING:
    from affectlab.features.cache import FeatureCache
    from affectlab.models.train import TrainConfig

__all__ = ["FINETUNE_VERSION", "NETWORK_CLASSIFIER", "NETWORK_LIBRARIES", "NETWORK_TYPES", "NetworkSpec",
           "network_fingerprint", "network_member", "parse_networks"]

#: How a fine-tuned member is made and scored here (new class layer, weight transfer, crop size, seeding,
#: decision values), in its cache key: bump it when a change alters a member's decision values (with
#: :data:`affectlab.models.versions.TRAINING_VERSION` for the training procedure itself).
FINETUNE_VERSION = 1

#: Libraries whose versions join a fine-tuned network's cache key.
NETWORK_LIBRARIES = ("numpy", "torch")

#: Seed offset between the nets of a seed ensemble (above the fold offsets, ``1000 * fold + inner + 1``,
#: of any protocol).
ENSEMBLE_SEED_STEP = 10_000_000

NETWORK_TYPES = ("finetune", "crossfit")
NETWORK_CLASSIFIER = "cnn"  # the "classifier" column of a network member's rows
_KEYS = {
    "finetune": {"label", "type", "model", "init", "train", "augment", "tta_flip", "seeds"},
    "crossfit": {"label", "type", "test_model", "oof_models", "tta_flip"},
}


def _model_path(value: Any, base: Path | None, key: str) -> str:
    """A registered name / ``default`` as is; a file path resolved against the config's folder, then the CWD."""
    from affectlab.models import list_models

    text = str(value)
    if text == "default" or text in list_models():
        return text
    return str(resolve_source(text, base, key, what="registered model or weights"))


@dataclass(frozen=True)
class NetworkSpec:
    """One checked ``networks`` entry: a ``finetune`` network (``model`` fine-tuned from ``init`` with the ``train``
    and ``augment`` settings, a ``seeds``-net ensemble) or a ``crossfit`` one (``test_model`` and one of
    ``oof_models`` per inner fold); file paths resolved. ``key`` names the entry in messages (``networks[0]``)."""

    label: str
    type: str
    key: str = "network"
    tta_flip: bool = False
    model: str | None = None
    init: str | None = None
    train: Mapping[str, Any] | None = None
    augment: Mapping[str, Any] | None = None
    seeds: int = 1
    test_model: str | None = None
    oof_models: tuple[str, ...] = ()
    written: tuple[str, ...] = internal()  # the entry's keys as the file wrote them (config.yaml keeps the order)

    def train_config(self, seed: int, device: str) -> TrainConfig:
        """The fine-tuning's :class:`~affectlab.models.train.TrainConfig` (``seed`` and ``device`` unless
        ``train`` names them)."""
        from affectlab.experiments.deep import train_config_from_mapping

        return train_config_from_mapping({"train": self.train, "augment": self.augment}, seed, device, self.key)

    def to_dict(self) -> dict[str, Any]:
        """The entry as ``config.yaml`` records it: the keys written, in their order (paths resolved), then the
        defaults."""
        values: dict[str, Any] = {"label": self.label, "type": self.type}
        if self.type == "finetune":
            values.update({k: getattr(self, k) for k in ("model", "init", "train", "augment") if k in self.written})
            values.update(tta_flip=self.tta_flip, seeds=self.seeds)
        else:
            values.update(test_model=self.test_model, oof_models=list(self.oof_models), tta_flip=self.tta_flip)
        return written_order(values, self.written)


_SEEDS = Rule("an integer from 1 to 50 (nets per seed ensemble)", lambda v: is_integer(v) and 1 <= v <= 50,
              template="{key} must be {words}, not {value!r}")


def parse_networks(raw: Any, *, base: Path | None, oof_splits: int, feature_labels: list[str]) -> list[NetworkSpec]:
    """Validate the ``networks`` list; file paths come back resolved (``oof_models`` expanded per fold)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError("networks must be a list of {label, type: finetune|crossfit, ...} mappings")
    out, seen = [], set(feature_labels)
    for i, item in enumerate(raw):
        key = f"networks[{i}]"
        kind = typed_entry(item, key, _KEYS, "network")
        label = str(item.get("label") or "")
        if not label:
            raise ConfigError(f"{key}.label is required")
        if label in seen:
            raise ConfigError(f"{key}.label {label!r} is used twice (features and networks share labels)")
        seen.add(label)
        common = {"label": label, "type": kind, "key": key, "written": tuple(item),
                  "tta_flip": flag().check(item.get("tta_flip", False), f"{key}.tta_flip")}
        out.append(_finetune_spec(item, common, base) if kind == "finetune"
                   else _crossfit_spec(item, common, base, oof_splits))
    return out


def _finetune_spec(item: Mapping[str, Any], common: dict[str, Any], base: Path | None) -> NetworkSpec:
    from affectlab.models import list_models

    key = common["key"]
    if item.get("model") not in list_models():
        raise ConfigError(f"{key}.model {item.get('model')!r} is not a registered model "
                          f"(known: {', '.join(list_models())})")
    init = None if item.get("init") is None else _model_path(item["init"], base, f"{key}.init")
    seeds = _SEEDS.check(item.get("seeds", 1), f"{key}.seeds")
    for part in ("train", "augment"):
        if item.get(part) is not None and not isinstance(item[part], Mapping):
            raise ConfigError(f"{key}.{part} must be a mapping of settings, got {item[part]!r}")
    epochs = (item.get("train") or {}).get("epochs")
    if not is_integer(epochs) or epochs < 1:
        raise ConfigError(f"{key}.train.epochs (an integer >= 1) is required: a fusion member trains for a "
                          f"fixed number of epochs, chosen in advance (got {epochs!r})")
    spec = NetworkSpec(**common, model=item["model"], init=init, train=item.get("train"), augment=item.get("augment"),
                       seeds=int(seeds))
    spec.train_config(0, "cpu")  # unknown training / augmentation settings fail here, not mid-run
    return spec


def _crossfit_spec(item: Mapping[str, Any], common: dict[str, Any], base: Path | None, oof_splits: int) -> NetworkSpec:
    key = common["key"]
    if "test_model" not in item or "oof_models" not in item:
        raise ConfigError(f"{key}: a crossfit network needs test_model and oof_models")
    test_model = _model_path(item["test_model"], base, f"{key}.test_model")
    oof = item["oof_models"]
    paths = [oof.format(fold=j) for j in range(oof_splits)] if isinstance(oof, str) else oof
    if not isinstance(paths, list) or len(paths) != oof_splits:
        raise ConfigError(f"{key}.oof_models: one file per inner fold ({oof_splits}) is needed, "
                          "as a list or a pattern with {fold}")
    return NetworkSpec(**common, test_model=test_model,
                       oof_models=tuple(_model_path(p, base, f"{key}.oof_models[{j}]") for j, p in enumerate(paths)))


def _decisions(proba: np.ndarray, class_names: tuple[str, ...], labels: list[str], key: str) -> np.ndarray:
    missing = [c for c in labels if c not in class_names]
    if missing:
        raise ConfigError(f"{key}: the network has no class {missing[0]!r} (its classes: {', '.join(class_names)})")
    columns = [class_names.index(c) for c in labels]
    return np.log(np.clip(proba[:, columns], 1e-7, None)).astype(np.float64)


def _load(spec_path: str, key: str, default: str | None = None):
    """``load_model`` with errors naming the config key; ``default``: what ``"default"`` means here."""
    from affectlab.models import load_model

    try:
        return load_model(spec_path, default=default)
    except ModelError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _crossfit_scores(spec: NetworkSpec, fold: Fold, positions: list[tuple[np.ndarray, np.ndarray]],
                     images: np.ndarray, y: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from affectlab.models.train import predict_proba

    key, flip = spec.key, spec.tta_flip
    model = _load(spec.test_model, f"{key}.test_model")
    test = _decisions(predict_proba(model, images[fold.test], tta_flip=flip), model.config.class_names, labels, key)
    oof = np.full((fold.train.size, len(labels)), np.nan)
    y_train = y[fold.train]
    for j, ((_, held), path) in enumerate(zip(positions, spec.oof_models)):
        where = f"{key}.oof_models[{j}] ({path})"
        recorded = (torch.load(path, map_location="cpu", weights_only=True).get("extra") or {}).get("crossfit") or {}
        expected = crossfit_fingerprint(y_train, held)
        if recorded.get("fingerprint") != expected:
            raise ConfigError(f"{where}: trained without another part than inner fold {j} of this run "
                              f"(fingerprint {recorded.get('fingerprint')!r}, expected {expected!r}); train it with "
                              f"--crossfit-fold {j} --crossfit-splits {len(positions)} on the same training split")
        member = _load(path, where)
        oof[held] = _decisions(predict_proba(member, images[fold.train[held]], tta_flip=flip),
                               member.config.class_names, labels, key)
    return test, oof


def _network_cache(cache_dir: str | None, images_hash: str | None) -> FeatureCache | None:
    """The feature cache's ``networks`` part (fine-tuned nets' decision values), or None without a cache."""
    from affectlab.features.cache import FeatureCache

    return None if cache_dir is None or images_hash is None else FeatureCache(Path(cache_dir) / "networks")


def _init_token(spec: NetworkSpec) -> str | None:
    """The start weights of a fine-tuned net by content (a registered name's bundled file, or a weights file),
    so that retrained bundled weights retrain the members and a moved file does not."""
    from affectlab.features.cache import file_digest
    from affectlab.models import list_models
    from affectlab.models.registry import _PRETRAINED

    init = spec.init
    if init is None:
        return None
    name = spec.model if init == "default" else str(init)
    if name in list_models():
        path = _PRETRAINED.get(name)
        return f"{name}:{file_digest(path) if path is not None else 'no-weights'}"
    return f"file:{file_digest(name)}"


def network_fingerprint(spec: NetworkSpec, labels: list[str], seed: int) -> dict[str, Any]:
    """What decides a fine-tuned net's scores besides its data: the architecture and its declared version, the
    start weights (by content), every training setting (defaults included; not the device), test-time flipping,
    the labels, the seed, the declared versions of this fine-tuning (:data:`FINETUNE_VERSION`) and of the
    training procedure (:data:`affectlab.models.versions.TRAINING_VERSION`), and the versions of
    :data:`NETWORK_LIBRARIES`. Not the member's label, the ensemble size or any source code."""
    from affectlab.features.cache import library_versions
    from affectlab.models.versions import TRAINING_VERSION, model_version

    settings = asdict(spec.train_config(seed, "auto"))
    settings.pop("device")
    return {"model": spec.model, "model_version": model_version(spec.model), "init": _init_token(spec),
            "train": settings, "tta_flip": bool(spec.tta_flip), "labels": list(labels), "seed": seed,
            "finetune_version": FINETUNE_VERSION, "training_version": TRAINING_VERSION,
            "libraries": library_versions(NETWORK_LIBRARIES)}


def _cache_key(images_hash: str | None, spec: NetworkSpec, labels: list[str], fit_idx: np.ndarray,
               score_idx: np.ndarray, seed: int) -> str:
    """A fine-tuned net's cache key: :func:`network_fingerprint`, the images and both index sets (one net of a
    seed ensemble is the same net on its own)."""
    digest = hashlib.sha1(json.dumps([network_fingerprint(spec, labels, seed), images_hash], sort_keys=True,
                                     default=str).encode())
    digest.update(np.asarray(fit_idx, np.int64).tobytes())
    digest.update(b"|")
    digest.update(np.asarray(score_idx, np.int64).tobytes())
    return digest.hexdigest()[:24]


def _finetune_scores(spec: NetworkSpec, images: np.ndarray, y: np.ndarray, labels: list[str],
                     fit_idx: np.ndarray, score_idx: np.ndarray, seed: int, cache: FeatureCache | None,
                     images_hash: str | None) -> np.ndarray:
    """Fine-tune a fresh copy of ``init`` on ``fit_idx`` for the fixed epochs; log-probabilities of ``score_idx``
    (read from ``cache`` when an identical net was trained before)."""

    def train_and_score() -> np.ndarray:
        from affectlab.models import create_model
        from affectlab.models.train import fit_classifier, predict_proba, seed_everything
        from affectlab.models.training import transfer_weights

        class_names = tuple(labels)
        cfg = spec.train_config(seed, "auto")
        seed_everything(cfg.seed)  # the new class layer's initial weights too (not whatever state the worker has)
        model = create_model(spec.model, class_names=class_names)
        if cfg.crop_size is None and tuple(images.shape[1:3]) != tuple(model.config.input_size):
            cfg.crop_size = int(model.config.input_size[0])  # the 10-crop CNN: random crops of larger faces
        if spec.init is not None:
            transfer_weights(model, _load(spec.init, f"{spec.key}.init", default=spec.model))
        index = {c: i for i, c in enumerate(class_names)}
        targets = np.array([index[c] for c in y[fit_idx]], dtype=np.int64)
        fit_classifier(model, train=(images[fit_idx], targets), val=None, config=cfg, progress=False)
        proba = predict_proba(model, images[score_idx], device=cfg.device, tta_flip=spec.tta_flip)
        return _decisions(proba, class_names, labels, spec.key)

    if cache is None:
        return train_and_score()
    key = _cache_key(images_hash, spec, labels, fit_idx, score_idx, seed)
    return cache.get_or_compute(key, train_and_score)[0]


def _ensemble_scores(spec: NetworkSpec, images: np.ndarray, y: np.ndarray, labels: list[str],
                     fit_idx: np.ndarray, score_idx: np.ndarray, seed: int, cache: FeatureCache | None,
                     images_hash: str | None) -> np.ndarray:
    """Log of the mean probability of ``spec.seeds`` nets fine-tuned from seeds ``seed + r * ENSEMBLE_SEED_STEP``."""
    n = int(spec.seeds)
    runs = [_finetune_scores(spec, images, y, labels, fit_idx, score_idx, seed + r * ENSEMBLE_SEED_STEP, cache,
                             images_hash) for r in range(n)]
    if n == 1:
        return runs[0]
    return np.log(np.mean([np.exp(r) for r in runs], axis=0))


def network_member(spec: NetworkSpec, k: int, fold: Fold, positions: list[tuple[np.ndarray, np.ndarray]],
                   images: np.ndarray, y: np.ndarray, labels: list[str], *, seed: int = 0,
                   cache_dir: str | None = None, images_hash: str | None = None,
                   test_decisions: str = "refit") -> dict[str, Any]:
    """One network's member record for outer fold ``k``: test and out-of-fold decision values.

    ``positions`` are the inner folds as positions into ``fold.train`` (the same folds every
    other member of the fold uses). ``test_decisions="inner_mean"`` (fine-tuned nets only): the
    inner-fold nets, the ones behind the out-of-fold values, also score the test part, and the
    fusion reads the log of their mean probability there (``test``; ``pred_inner_mean`` is its
    prediction). The member's own prediction (``pred``) is always the net fine-tuned on the
    whole training part.
    """
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if spec.type == "crossfit":
        test, oof = _crossfit_scores(spec, fold, positions, images, y, labels)
        pred = np.asarray(labels)[test.argmax(1)]
    else:
        bag = test_decisions == "inner_mean"
        base_seed = seed + 1000 * k
        cache = _network_cache(cache_dir, images_hash)
        test = _ensemble_scores(spec, images, y, labels, fold.train, fold.test, base_seed, cache, images_hash)
        pred = np.asarray(labels)[test.argmax(1)]
        oof = np.full((fold.train.size, len(labels)), np.nan)
        inner_test = []
        for j, (fit, held) in enumerate(positions):
            s = base_seed + j + 1
            fit_idx, held_idx = fold.train[fit], fold.train[held]
            score_idx = np.concatenate([held_idx, fold.test]) if bag else held_idx
            scores = _ensemble_scores(spec, images, y, labels, fit_idx, score_idx, s, cache, images_hash)
            oof[held] = scores[:held_idx.size]
            if bag:
                inner_test.append(np.exp(scores[held_idx.size:]))
        if bag:
            test = np.log(np.mean(inner_test, axis=0))
            extra["pred_inner_mean"] = np.asarray(labels)[test.argmax(1)].astype(str)
    return {"feature": spec.label, "classifier": NETWORK_CLASSIFIER, "best_params": {}, "test": test,
            "oof": oof, "pred": pred.astype(str), **extra, "seconds": time.perf_counter() - started}
