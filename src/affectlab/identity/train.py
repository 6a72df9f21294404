"""Training the Siamese verifier: all pairs inside subject-balanced batches, selection on validation pairs.

Each batch holds ``subjects_per_batch`` subjects x ``images_per_subject`` images (augmented);
every unordered pair inside it is scored once by the shared branches, and the loss is the mean
binary cross-entropy over the same-subject pairs plus the mean over the different-subject
pairs (so both kinds count equally however many there are); with ``identity_weight > 0`` a
softmax over the training subjects on the branch's pooled map is added (a training-only head, an
auxiliary signal that helps the branch generalise to unseen faces); with ``hard_negatives < 1``
only the hardest different pairs of each batch enter their mean (:func:`pair_loss`). With
``pretrain_epochs > 0`` the branch is first trained as a plain classifier of the training
subjects (:func:`pretrain_branch`), then the whole pair network with the pair loss. After each
epoch the net is scored on balanced pairs of *validation* subjects; the epoch with the best
validation accuracy or AUC (``select_on``) is kept, with the threshold of ``threshold_rule``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from affectlab.checks import is_integer, is_number
from affectlab.data.media import pixel_values_problem
from affectlab.errors import ConfigError
from affectlab.identity.pairs import Pairs, balanced_pairs
from affectlab.models.augment import AugmentConfig, random_affine
from affectlab.models.device import resolve_device
from affectlab.models.siamese import SiameseNet
from affectlab.models.train import _autocast, resolve_precision, seed_everything

__all__ = [
    "THRESHOLD_RULES",
    "SiameseTrainConfig",
    "SiameseTrainResult",
    "best_threshold",
    "calibrate_cosine_join",
    "calibrated_average",
    "check_train_config",
    "eer_threshold",
    "fit_siamese",
    "fixed_threshold",
    "pair_loss",
    "pair_scores",
    "pretrain_branch",
    "probability_logit",
    "verification_metrics",
]


@dataclass
class SiameseTrainConfig:
    """Hyper-parameters of one Siamese training run."""

    epochs: int = 20
    subjects_per_batch: int = 10
    images_per_subject: int = 4
    batches_per_epoch: int | None = None  # default: about one pass over the training images
    lr: float = 1e-3
    weight_decay: float = 1e-4
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(8.0, 0.08, 0.08, True))
    seed: int = 0
    device: str = "cpu"
    num_threads: int | None = None
    tta_flip: bool = False  # score pairs also mirrored (validation here, and test in the experiment)
    identity_weight: float = 0.0  # weight of an auxiliary softmax over the training subjects (0: off)
    threshold_rule: str = "best"  # "best": highest validation accuracy; "eer": true-accept = true-reject rate;
    #                               "fixed": 0.5, the balanced pair loss's own decision point
    #                               (validation only picks the epoch)
    select_on: str = "accuracy"  # epoch choice on validation "accuracy" (at the rule's threshold) or "auc";
    #                              "none": no choice, the last epoch's weights (needs threshold_rule "fixed")
    pretrain_epochs: int = 0  # first train the branch as a classifier of the training subjects (0: off)
    pretrain_lr: float = 2e-3
    pretrain_batch_size: int = 32
    brightness: float = 0.0  # photometric jitter: gain in [1 - b, 1 + b] and offset in [-b / 2, b / 2]
    hard_negatives: float = 1.0  # fraction of the hardest different pairs of a batch in the loss (1: all)
    extra_subjects_per_batch: int = 0  # subjects of fit_siamese's ``extra`` identities added to each pair batch
    #: arithmetic of the training steps (``affectlab.models.train.PRECISIONS``): ``fp32``, ``bf16`` (autocast) or
    #: ``auto`` (bf16 where the device runs it natively); pair scoring always runs in fp32
    precision: str = "fp32"


@dataclass
class SiameseTrainResult:
    """The selected epoch, its validation accuracy (at ``threshold``), the threshold and the history.

    With ``select_on="none"``: the last epoch, its accuracy at 0.5 on the validation pairs (NaN without them), 0.5.
    """

    best_epoch: int
    best_val_accuracy: float
    threshold: float
    history: list[dict[str, float]]
    wall_time_s: float
    pretrain_history: list[dict[str, float]] = field(default_factory=list)


def _tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (divided by 255) or ``[0, 1]`` float images ``(N, H, W)`` / ``(N, C, H, W)`` as a float tensor."""
    images = np.asarray(images)
    problem = pixel_values_problem(images)
    if problem:
        raise ConfigError(f"images: {problem}")
    if images.ndim not in (3, 4):
        raise ConfigError(f"images: expected (N, H, W) or (N, C, H, W), got shape {images.shape}")
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.unsqueeze(1) if x.ndim == 3 else x
    return x.float().div_(255.0) if images.dtype == np.uint8 else x.float()


def _check_images(net: SiameseNet, x: torch.Tensor, what: str) -> None:
    """Refuse images whose channels or size differ from the net's input (named by ``what``)."""
    want = (net.config.channels, *net.config.input_size)
    if tuple(x.shape[1:]) != tuple(want):
        raise ConfigError(f"{what}: images of {tuple(x.shape[1:])} (C, H, W), the net takes {want}")


def _check_pairs(pairs: Pairs, n_images: int, what: str) -> None:
    """Refuse pair indices outside ``0..n_images-1`` (named by ``what``)."""
    first, second = np.asarray(pairs.first), np.asarray(pairs.second)
    if len(first) != len(second) or len(first) != len(pairs.same):
        raise ConfigError(f"{what}: pairs.first, second and same differ in length")
    if len(first) and (min(first.min(), second.min()) < 0 or max(first.max(), second.max()) >= n_images):
        raise ConfigError(f"{what}: pair indices must lie in 0..{n_images - 1} (the images given), got "
                          f"{min(first.min(), second.min())}..{max(first.max(), second.max())}")


def check_train_config(cfg: SiameseTrainConfig) -> None:
    """Refuse settings :func:`fit_siamese` cannot train with (one :class:`ConfigError` naming the field)."""
    for key, low in (("epochs", 1), ("subjects_per_batch", 2), ("images_per_subject", 2), ("seed", 0),
                     ("pretrain_epochs", None), ("pretrain_batch_size", 1), ("extra_subjects_per_batch", 0)):
        if not is_integer(getattr(cfg, key)) or (low is not None and getattr(cfg, key) < low):
            raise ConfigError(f"train: {key} must be an int{f' >= {low}' if low is not None else ''}, got "
                              f"{getattr(cfg, key)!r}")
    for key in ("batches_per_epoch", "num_threads"):
        value = getattr(cfg, key)
        if value is not None and (not is_integer(value) or value < 1):
            raise ConfigError(f"train: {key} must be null or an int >= 1, got {value!r}")
    for key, positive in (("lr", True), ("pretrain_lr", True), ("weight_decay", False), ("identity_weight", False),
                          ("brightness", None), ("hard_negatives", None)):
        value = getattr(cfg, key)
        if not is_number(value) or (positive is not None and not (value > 0 if positive else value >= 0)):
            raise ConfigError(f"train: {key} must be a number"
                              f"{'' if positive is None else ' > 0' if positive else ' >= 0'}, got {value!r}")
    if not 0 < cfg.hard_negatives <= 1 or cfg.pretrain_epochs < 0 or cfg.brightness < 0:
        raise ConfigError(f"train: hard_negatives must be in (0, 1], pretrain_epochs and brightness >= 0, got "
                          f"{cfg.hard_negatives!r}, {cfg.pretrain_epochs!r} and {cfg.brightness!r}")
    if cfg.threshold_rule not in THRESHOLD_RULES or cfg.select_on not in ("accuracy", "auc", "none"):
        raise ConfigError(f"train: threshold_rule must be best, eer or fixed and select_on accuracy, auc or none, got "
                          f"{cfg.threshold_rule!r} and {cfg.select_on!r}")
    if cfg.select_on == "none" and cfg.threshold_rule != "fixed":
        raise ConfigError(f"train: select_on none (no validation choice) needs threshold_rule fixed, got "
                          f"{cfg.threshold_rule!r}")
    resolve_precision(cfg.precision, resolve_device(cfg.device))


@torch.no_grad()
def pair_scores(net: SiameseNet, images: np.ndarray | torch.Tensor, pairs: Pairs, *, batch_size: int = 256,
                device: str | torch.device = "cpu", tta_flip: bool = False) -> np.ndarray:
    """``P(same)`` for every pair, embedding each image once (eval mode, restored afterwards).

    ``tta_flip`` averages with the score of the horizontally mirrored pair.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    x = images if isinstance(images, torch.Tensor) else _tensor(images)
    _check_pairs(pairs, len(x), "pair_scores")
    was_training = net.training
    net.eval().to(dev)
    views = [x, torch.flip(x, dims=[3])] if tta_flip else [x]
    first, second = torch.as_tensor(pairs.first), torch.as_tensor(pairs.second)
    total = torch.zeros(len(first))
    try:
        for view in views:
            emb = torch.cat([net.embed(view[s: s + batch_size].to(dev)) for s in range(0, len(view), batch_size)])
            for s in range(0, len(first), 4096):
                total[s: s + 4096] += torch.sigmoid(net.join(emb[first[s: s + 4096]], emb[second[s: s + 4096]])).cpu()
    finally:
        net.train(was_training)
    return (total / len(views)).numpy()


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold on ``P(same)`` with the highest balanced accuracy, and that accuracy.

    Examples
    --------
    >>> best_threshold(np.array([0.1, 0.4, 0.6, 0.9]), np.array([False, False, True, True]))
    (0.5, 1.0)
    """
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    values = np.unique(scores)
    candidates = np.concatenate([[0.5], (values[:-1] + values[1:]) / 2]) if len(values) > 1 else np.array([0.5])
    best = (0.5, -1.0)
    for t in candidates:
        acc = verification_metrics(scores, same, float(t))["uar"]
        if acc > best[1] + 1e-12:
            best = (float(t), acc)
    return best


def eer_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold where the true-accept and true-reject rates are closest (equal error rate),
    and the balanced accuracy there; steadier than :func:`best_threshold` on few pairs.

    Examples
    --------
    >>> eer_threshold(np.array([0.1, 0.4, 0.35, 0.9]), np.array([False, True, False, True]))
    (0.375, 1.0)
    """
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    values = np.unique(scores)
    candidates = (values[:-1] + values[1:]) / 2 if len(values) > 1 else np.array([0.5])
    best: tuple[float, float, float] | None = None
    for t in candidates:
        m = verification_metrics(scores, same, float(t))
        key = (abs(m["true_accept_rate"] - m["true_reject_rate"]), -m["uar"])
        if best is None or key < best[:2]:
            best = (key[0], key[1], float(t))
    assert best is not None
    return best[2], -best[1]


@torch.no_grad()
def calibrate_cosine_join(net: SiameseNet, images: np.ndarray | torch.Tensor, subjects: np.ndarray, *,
                          seed: int = 0, device: str | torch.device = "cpu") -> tuple[float, float]:
    """Set a cosine join's scale and offset (``net.join == "cosine"``) from balanced pairs of the training images:
    a logistic regression of "same" on the cosine of the two embeddings (no augmentation), so that the pair stage
    starts at the branch's own decision point rather than at an arbitrary one. Returns ``(scale, offset)``.

    A branch whose cosine does not rise with "same" (a non-positive slope) keeps the defaults (10, 0.5). The two
    numbers then train with the branch at its learning rate: a small one (fine-tuning a distilled branch) keeps the
    decision point where the calibration put it; a branch that moves fast leaves it behind.
    """
    from sklearn.linear_model import LogisticRegression

    if getattr(net, "join_kind", "fc") != "cosine":
        raise ConfigError("calibrate_cosine_join: the net's join is not 'cosine'")
    pairs = balanced_pairs(np.asarray(subjects, dtype=object), seed=seed)
    dev = resolve_device(device) if isinstance(device, str) else device
    x = images if isinstance(images, torch.Tensor) else _tensor(images)
    was_training = net.training
    net.eval().to(dev)
    try:
        emb = torch.cat([net.embed(x[s: s + 256].to(dev)) for s in range(0, len(x), 256)]).float().cpu()
    finally:
        net.train(was_training)
    cosine = F.cosine_similarity(emb[torch.as_tensor(pairs.first)], emb[torch.as_tensor(pairs.second)], dim=1)
    fit = LogisticRegression(C=1e4).fit(cosine.numpy()[:, None], pairs.same)
    scale = float(fit.coef_[0, 0])
    if not scale > 0:
        scale, offset = 10.0, 0.5
    else:
        offset = float(-fit.intercept_[0] / scale)
    net.cos_scale.fill_(scale)
    net.cos_offset.fill_(offset)
    return scale, offset


def probability_logit(p: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """``logit(p) - logit(threshold)`` with ``p`` clipped to ``[1e-6, 1 - 1e-6]``: 0 at the decision threshold.

    >>> probability_logit(np.array([0.5, 0.8]), 0.5).round(4).tolist()
    [0.0, 1.3863]
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    t = float(np.clip(threshold, 1e-6, 1 - 1e-6))
    return np.log(p / (1 - p)) - np.log(t / (1 - t))


def calibrated_average(scores: list[np.ndarray] | np.ndarray, thresholds: list[float] | np.ndarray) -> np.ndarray:
    """Average ``P(same)`` scores of several nets, each first shifted by its own decision threshold.

    Net ``m``'s score becomes ``logit(p_m) - logit(t_m)`` (0 at its threshold); the mean over nets
    goes back through the sigmoid, so the ensemble's threshold is 0.5. Scores are clipped to
    ``[1e-6, 1 - 1e-6]`` first.

    Examples
    --------
    >>> calibrated_average([np.array([0.5, 0.8]), np.array([0.2, 0.2])], [0.5, 0.2]).round(4).tolist()
    [0.5, 0.6667]
    """
    shifted = [probability_logit(p, t) for p, t in zip(scores, thresholds, strict=True)]
    return 1.0 / (1.0 + np.exp(-np.mean(shifted, axis=0)))


def fixed_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold 0.5 (where the balanced pair loss puts the decision) and the balanced accuracy there.

    Examples
    --------
    >>> fixed_threshold(np.array([0.1, 0.6, 0.4, 0.9]), np.array([False, False, True, True]))
    (0.5, 0.5)
    """
    return 0.5, verification_metrics(scores, same, 0.5)["uar"]


#: ``threshold_rule`` names and the functions ``(scores, same) -> (threshold, balanced accuracy)``.
THRESHOLD_RULES = {"best": best_threshold, "eer": eer_threshold, "fixed": fixed_threshold}


def verification_metrics(scores: np.ndarray, same: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, balanced accuracy (UAR), true-accept / true-reject rates and ROC AUC of pair scores."""
    from sklearn.metrics import roc_auc_score

    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    pred = scores >= threshold
    tar = float(np.mean(pred[same])) if same.any() else float("nan")
    trr = float(np.mean(~pred[~same])) if (~same).any() else float("nan")
    both = same.any() and (~same).any()
    return {
        "accuracy": float(np.mean(pred == same)),
        "uar": (tar + trr) / 2,
        "true_accept_rate": tar,
        "true_reject_rate": trr,
        "auc": float(roc_auc_score(same, scores)) if both else float("nan"),
        "threshold": float(threshold),
        "n_pairs": len(same),
    }


def pair_loss(logits: torch.Tensor, same: torch.Tensor, *, hard_negatives: float = 1.0) -> torch.Tensor:
    """Mean BCE of the same-subject pairs plus mean BCE of the different-subject pairs.

    With ``hard_negatives < 1`` only that fraction of the different pairs, those with the highest
    loss (at least one), enter their mean.

    Examples
    --------
    >>> logits, same = torch.tensor([0.0, 0.0, 2.0, -2.0]), torch.tensor([True, False, False, False])
    >>> round(float(pair_loss(logits, same)), 4)      # log 2 + (log 2 + log(1 + e^2) + log(1 + e^-2)) / 3
    1.6755
    >>> round(float(pair_loss(logits, same, hard_negatives=1 / 3)), 4)   # log 2 + log(1 + e^2)
    2.8201
    """
    same = same.bool()
    if not same.any() or same.all():
        raise ValueError("pair_loss needs both same and different pairs")
    positive = F.binary_cross_entropy_with_logits(logits[same], torch.ones_like(logits[same]))
    negative = F.binary_cross_entropy_with_logits(logits[~same], torch.zeros_like(logits[~same]), reduction="none")
    if hard_negatives < 1:  # keep the hardest different pairs only
        negative = negative.topk(max(1, round(hard_negatives * len(negative)))).values
    return positive + negative.mean()


def _photometric(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Random gain and offset per image (pixels in ``[0, 1]``, clipped)."""
    if strength <= 0:
        return x
    n = x.shape[0]
    gain = 1.0 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * strength
    offset = (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * strength
    return (x * gain.to(x.device) + offset.to(x.device)).clamp_(0.0, 1.0)


def pretrain_branch(net: SiameseNet, images: np.ndarray | torch.Tensor, labels: np.ndarray, *, epochs: int,
                    lr: float = 2e-3, batch_size: int = 32, weight_decay: float = 1e-4,
                    augment: AugmentConfig | None = None, brightness: float = 0.0, seed: int = 0,
                    device: str | torch.device = "cpu", progress: bool = False,
                    precision: str = "fp32") -> list[dict[str, float]]:
    """Train ``net``'s branch as a classifier of ``labels`` (softmax on its embedding, cross-entropy).

    The linear head is thrown away afterwards; the branch keeps what it learnt, so that pair
    training starts from identity features. Returns one row per epoch (mean loss, accuracy on
    the augmented training batches). ``precision`` as in :class:`SiameseTrainConfig`.

    Examples
    --------
    >>> from affectlab.models.siamese import siamese_vgg
    >>> net = siamese_vgg(widths=(4, 4) + (8,) * 8, hidden=8)
    >>> rows = pretrain_branch(net, np.zeros((6, 28, 24), np.uint8), np.array(list("aabbcc")), epochs=2)
    >>> [sorted(r) for r in rows][0]
    ['accuracy', 'epoch', 'loss']
    """
    if not is_integer(epochs) or epochs < 1:
        raise ConfigError(f"pretrain: epochs must be an int >= 1, got {epochs!r}")
    dev = resolve_device(device) if isinstance(device, str) else device
    arithmetic = resolve_precision(precision, dev)
    x = images if isinstance(images, torch.Tensor) else _tensor(images)
    if len(np.asarray(labels)) != len(x):
        raise ConfigError(f"pretrain: {len(x)} images but {len(np.asarray(labels))} labels (need one per image)")
    _check_images(net, x, "pretrain")
    names = sorted(set(np.asarray(labels, dtype=object).tolist()), key=str)
    if len(names) < 2:
        raise ConfigError("pretrain: need at least two training subjects")
    y = torch.as_tensor([names.index(v) for v in np.asarray(labels, dtype=object).tolist()], dtype=torch.long)
    net.to(dev).train()
    head = torch.nn.Linear(net.embedding_dim, len(names)).to(dev)
    params = list(net.branch.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = max(1, int(np.ceil(len(x) / batch_size)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.2)
    generator = torch.Generator().manual_seed(seed)
    aug = augment if augment is not None else AugmentConfig(8.0, 0.08, 0.08, True)
    history = []
    for epoch in tqdm(range(epochs), desc="pretrain", leave=False, disable=None if progress else True):
        order = torch.randperm(len(x), generator=generator)
        total, correct = 0.0, 0
        for s in range(0, len(x), batch_size):
            idx = order[s: s + batch_size]
            xb = _photometric(random_affine(x[idx].to(dev), aug, generator), brightness, generator)
            with _autocast(arithmetic, dev):
                logits = head(net.embed(xb)).float()
                loss = F.cross_entropy(logits, y[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1).cpu() == y[idx]).sum())
        history.append({"epoch": epoch + 1, "loss": total / len(x), "accuracy": correct / len(x)})
    return history


def _batch_indices(by_subject: list[np.ndarray], cfg: SiameseTrainConfig, rng: np.random.Generator) -> np.ndarray:
    chosen = rng.choice(len(by_subject), size=min(cfg.subjects_per_batch, len(by_subject)), replace=False)
    picks = []
    for s in chosen:
        idx = by_subject[s]
        picks.append(rng.choice(idx, size=cfg.images_per_subject, replace=len(idx) < cfg.images_per_subject))
    return np.concatenate(picks)


def fit_siamese(
    net: SiameseNet,
    *,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, Pairs] | None,
    config: SiameseTrainConfig | None = None,
    progress: bool = True,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
) -> SiameseTrainResult:
    """Train ``net`` on images ``train = (X, subjects)``; select the epoch on ``val = (X_val, pairs)``.

    ``val`` must come from subjects kept out of training and out of any test set. The net ends
    with the weights of the selected epoch. With ``select_on="none"`` no epoch is chosen: the net
    keeps its last epoch's weights, the threshold is 0.5, and ``val`` (optional then) only fills
    the history. ``extra = (X, subjects)`` are identities of another
    dataset (people in neither validation nor test): with ``extra_subjects_per_batch > 0`` each
    pair batch also holds that many of them (pairs across the two sources count as different).
    """
    cfg = config or SiameseTrainConfig()
    check_train_config(cfg)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    fixed_epochs = cfg.select_on == "none"
    if val is None and not fixed_epochs:
        raise ConfigError(f"train: select_on {cfg.select_on} needs validation pairs (or use select_on none)")
    x_train, subjects = _tensor(train[0]), np.asarray(train[1], dtype=object)
    if subjects.ndim != 1 or len(subjects) != len(x_train):
        raise ConfigError(f"train: {len(x_train)} images but {subjects.shape} subject ids (need one per image)")
    _check_images(net, x_train, "train")
    x_val, val_pairs = (_tensor(val[0]), val[1]) if val is not None else (None, None)
    if x_val is not None:
        _check_images(net, x_val, "val")
        _check_pairs(val_pairs, len(x_val), "val")
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    net.to(device)
    batches = _PairBatches.of(net, cfg, x_train, subjects, extra, device)
    steps = cfg.batches_per_epoch or max(1, round(len(x_train) / batches.per_batch))
    pretrain_history: list[dict[str, float]] = []
    if cfg.pretrain_epochs > 0:
        pretrain_history = pretrain_branch(
            net, x_train, subjects, epochs=cfg.pretrain_epochs, lr=cfg.pretrain_lr,
            batch_size=cfg.pretrain_batch_size, weight_decay=cfg.weight_decay, augment=cfg.augment,
            brightness=cfg.brightness, seed=cfg.seed, device=device, progress=progress, precision=cfg.precision)
    if getattr(net, "join_kind", "fc") == "cosine":  # start the pair stage at the branch's own decision point
        calibrate_cosine_join(net, x_train, subjects, seed=cfg.seed, device=device)
    arithmetic = resolve_precision(cfg.precision, device)
    aux = torch.nn.Linear(net.branch.out_channels, len(batches.names)).to(device) if cfg.identity_weight > 0 else None
    params = list(net.parameters()) + (list(aux.parameters()) if aux is not None else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.2)
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"epoch": -1, "acc": -1.0, "threshold": 0.5, "score": -1.0, "state": None}
    tick = time.time()
    for epoch in range(cfg.epochs):
        net.train()
        started, running = time.time(), 0.0
        for _ in tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                      disable=None if progress else True):
            loss = _pair_batch_loss(net, aux, batches, arithmetic)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach())
        row = {"epoch": epoch + 1, "train_loss": running / steps, "epoch_time_s": time.time() - started}
        improved = False
        if val_pairs is not None:
            score = _validate_pairs(net, x_val, val_pairs, cfg, device, row)
            improved = not fixed_epochs and score > best["score"]
            if improved:
                best = {"epoch": epoch + 1, "acc": row["val_accuracy"], "threshold": row["val_threshold"],
                        "score": score, "state": copy.deepcopy(net.state_dict())}
        history.append(row)
        if progress:
            _report_epoch(row, cfg.epochs, improved)
    if fixed_epochs:  # the last epoch, at the pair loss's own decision point
        last_acc = history[-1].get("val_accuracy_at_0.5", float("nan")) if history else float("nan")
        best = {"epoch": cfg.epochs, "acc": last_acc, "threshold": 0.5, "score": float("nan"), "state": None}
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    return SiameseTrainResult(int(best["epoch"]), float(best["acc"]), float(best["threshold"]), history,
                              time.time() - tick, pretrain_history)


@dataclass
class _PairBatches:
    """Draws the training batches of :func:`fit_siamese`: ``subjects_per_batch`` training subjects with
    ``images_per_subject`` images each (plus ``extra_subjects_per_batch`` extra identities), augmented."""

    x: torch.Tensor
    subjects: np.ndarray
    names: list[Any]
    by_subject: list[np.ndarray]
    subject_index: torch.Tensor  # each training image's subject as an index into ``names`` (identity loss)
    cfg: SiameseTrainConfig
    device: torch.device
    extra: tuple[torch.Tensor, np.ndarray, list[np.ndarray], SiameseTrainConfig] | None
    rng: np.random.Generator
    generator: torch.Generator

    @classmethod
    def of(cls, net: SiameseNet, cfg: SiameseTrainConfig, x: torch.Tensor, subjects: np.ndarray,
           extra: tuple[np.ndarray, np.ndarray] | None, device: torch.device) -> _PairBatches:
        names = sorted(set(subjects.tolist()), key=str)
        if len(names) < 2:
            raise ConfigError("train: need at least two training subjects")
        mix = cfg.extra_subjects_per_batch
        if mix < 0 or (mix > 0 and extra is None):
            raise ConfigError(f"train: extra_subjects_per_batch must be >= 0 and needs extra identities, got {mix!r}")
        extras = None
        if mix > 0:
            x_extra, extra_subjects = _tensor(extra[0]), np.asarray(extra[1], dtype=object)
            _check_images(net, x_extra, "extra")
            if set(extra_subjects.tolist()) & set(names):
                raise ConfigError("train: extra identities share subject ids with the training subjects")
            extra_names = sorted(set(extra_subjects.tolist()), key=str)
            extras = (x_extra, extra_subjects, [np.flatnonzero(extra_subjects == s) for s in extra_names],
                      replace(cfg, subjects_per_batch=mix))
        return cls(x, subjects, names, [np.flatnonzero(subjects == s) for s in names],
                   torch.as_tensor([names.index(s) for s in subjects.tolist()], dtype=torch.long), cfg, device,
                   extras, np.random.default_rng(cfg.seed), torch.Generator().manual_seed(cfg.seed))

    @property
    def per_batch(self) -> int:
        return min(self.cfg.subjects_per_batch, len(self.names)) * self.cfg.images_per_subject

    def draw(self) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """``(augmented images, their subjects, the training images' indices)`` of one batch."""
        idx = _batch_indices(self.by_subject, self.cfg, self.rng)
        xb, who = self.x[idx], self.subjects[idx]
        if self.extra is not None:
            x_extra, extra_subjects, extra_by_subject, extra_cfg = self.extra
            extra_idx = _batch_indices(extra_by_subject, extra_cfg, self.rng)
            xb, who = torch.cat([xb, x_extra[extra_idx]]), np.concatenate([who, extra_subjects[extra_idx]])
        xb = _photometric(random_affine(xb.to(self.device), self.cfg.augment, self.generator), self.cfg.brightness,
                          self.generator)
        return xb, who, idx


def _pair_batch_loss(net: SiameseNet, aux: torch.nn.Module | None, batches: _PairBatches,
                     arithmetic: str) -> torch.Tensor:
    """The pair loss over every pair of one batch (plus the weighted identity loss with ``aux``)."""
    cfg, device = batches.cfg, batches.device
    xb, who, idx = batches.draw()
    i, j = torch.triu_indices(len(who), len(who), offset=1)
    same = torch.as_tensor(who[i.numpy()] == who[j.numpy()], device=device)
    with _autocast(arithmetic, device):
        features = net.forward_features(net.normalize(xb))
        emb = net.embed_features(features)
        logits = net.join(emb[i], emb[j]).float()
        loss = pair_loss(logits, same, hard_negatives=cfg.hard_negatives)
        if aux is not None:  # the training subjects only
            pooled = net.pool(features[: len(idx)]).flatten(1)
            loss = loss + cfg.identity_weight * F.cross_entropy(aux(pooled).float(),
                                                                batches.subject_index[idx].to(device))
    return loss


def _validate_pairs(net: SiameseNet, x_val: torch.Tensor, val_pairs: Pairs, cfg: SiameseTrainConfig,
                    device: torch.device, row: dict[str, Any]) -> float:
    """Verification on the validation pairs, written into the epoch's ``row``; the selection score."""
    scores = pair_scores(net, x_val, val_pairs, device=device, tta_flip=cfg.tta_flip)
    threshold, val_acc = THRESHOLD_RULES[cfg.threshold_rule](scores, val_pairs.same)
    at_half = verification_metrics(scores, val_pairs.same, 0.5)
    row.update({"val_accuracy": val_acc, "val_threshold": threshold, "val_accuracy_at_0.5": at_half["uar"],
                "val_auc": at_half["auc"]})
    return at_half["auc"] if cfg.select_on == "auc" else val_acc


def _report_epoch(row: dict[str, Any], epochs: int, improved: bool) -> None:
    shown = (f" val acc {row['val_accuracy']:.4f} (threshold {row['val_threshold']:.3f}) val AUC "
             f"{row['val_auc']:.4f}" if "val_auc" in row else "")
    tqdm.write(f"epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.4f}{shown}{'  *best' if improved else ''}")
