"""Training the Siamese verifier: all pairs inside subject-balanced batches, selection on validation pairs.

Each batch holds ``subjects_per_batch`` subjects x ``images_per_subject`` images (augmented);
every unordered pair inside it is scored once by the shared branches, and the loss is the mean
binary cross-entropy over the same-subject pairs plus the mean over the different-subject
pairs (so both kinds count equally however many there are); with ``identity_weight > 0`` a
softmax over the training subjects on the branch's pooled map is added (a training-only head, an
auxiliary signal that helps the branch generalise to unseen faces). After each epoch the net is
scored on balanced pairs of *validation* subjects; the epoch with the best validation
accuracy (at the threshold that is best on those pairs) is kept, with that threshold.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from affectlab.errors import ConfigError
from affectlab.identity.pairs import Pairs
from affectlab.models.augment import AugmentConfig, random_affine
from affectlab.models.siamese import SiameseNet
from affectlab.models.train import resolve_device, seed_everything

__all__ = ["SiameseTrainConfig", "SiameseTrainResult", "fit_siamese", "pair_scores", "best_threshold",
           "eer_threshold", "verification_metrics"]


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
    threshold_rule: str = "best"  # "best": highest validation accuracy; "eer": true-accept = true-reject rate
    select_on: str = "accuracy"  # epoch choice on validation "accuracy" (at the rule's threshold) or "auc"


@dataclass
class SiameseTrainResult:
    """The selected epoch, its validation accuracy (at ``threshold``), the threshold and the history."""

    best_epoch: int
    best_val_accuracy: float
    threshold: float
    history: list[dict[str, float]]
    wall_time_s: float


def _tensor(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.unsqueeze(1) if x.ndim == 3 else x
    return x.float().div_(255.0) if images.dtype == np.uint8 else x.float()


@torch.no_grad()
def pair_scores(net: SiameseNet, images: np.ndarray | torch.Tensor, pairs: Pairs, *, batch_size: int = 256,
                device: str | torch.device = "cpu", tta_flip: bool = False) -> np.ndarray:
    """``P(same)`` for every pair, embedding each image once (eval mode, restored afterwards).

    ``tta_flip`` averages with the score of the horizontally mirrored pair.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    x = images if isinstance(images, torch.Tensor) else _tensor(images)
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
    val: tuple[np.ndarray, Pairs],
    config: SiameseTrainConfig | None = None,
    progress: bool = True,
) -> SiameseTrainResult:
    """Train ``net`` on images ``train = (X, subjects)``; select the epoch on ``val = (X_val, pairs)``.

    ``val`` must come from subjects kept out of training and out of any test set. The net ends
    with the weights of the selected epoch.
    """
    cfg = config or SiameseTrainConfig()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    if cfg.threshold_rule not in ("best", "eer") or cfg.select_on not in ("accuracy", "auc"):
        raise ConfigError(f"train: threshold_rule must be best or eer and select_on accuracy or auc, got "
                          f"{cfg.threshold_rule!r} and {cfg.select_on!r}")
    if cfg.images_per_subject < 2 or cfg.subjects_per_batch < 2:
        raise ConfigError("train: images_per_subject and subjects_per_batch must both be >= 2")
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    net.to(device)
    x_train, subjects = _tensor(train[0]), np.asarray(train[1], dtype=object)
    names = sorted(set(subjects.tolist()), key=str)
    if len(names) < 2:
        raise ConfigError("train: need at least two training subjects")
    by_subject = [np.flatnonzero(subjects == s) for s in names]
    x_val, val_pairs = _tensor(val[0]), val[1]
    per_batch = min(cfg.subjects_per_batch, len(names)) * cfg.images_per_subject
    steps = cfg.batches_per_epoch or max(1, round(len(x_train) / per_batch))
    subject_index = torch.as_tensor([names.index(s) for s in subjects.tolist()], dtype=torch.long)
    aux = torch.nn.Linear(net.branch.out_channels, len(names)).to(device) if cfg.identity_weight > 0 else None
    params = list(net.parameters()) + (list(aux.parameters()) if aux is not None else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.2)
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"epoch": -1, "acc": -1.0, "threshold": 0.5, "score": -1.0, "state": None}
    tick = time.time()
    for epoch in range(cfg.epochs):
        net.train()
        started, running = time.time(), 0.0
        for _ in tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                      disable=None if progress else True):
            idx = _batch_indices(by_subject, cfg, rng)
            xb = random_affine(x_train[idx].to(device), cfg.augment, generator)
            features = net.forward_features(net.normalize(xb))
            emb = net.embed_features(features)
            i, j = torch.triu_indices(len(idx), len(idx), offset=1)
            same = torch.as_tensor(subjects[idx][i.numpy()] == subjects[idx][j.numpy()], device=device)
            logits = net.join(emb[i], emb[j])
            target = same.float()
            loss = (F.binary_cross_entropy_with_logits(logits[same], target[same])
                    + F.binary_cross_entropy_with_logits(logits[~same], target[~same]))
            if aux is not None:
                pooled = net.pool(features).flatten(1)
                loss = loss + cfg.identity_weight * F.cross_entropy(aux(pooled), subject_index[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach())
        scores = pair_scores(net, x_val, val_pairs, device=device, tta_flip=cfg.tta_flip)
        rule = eer_threshold if cfg.threshold_rule == "eer" else best_threshold
        threshold, val_acc = rule(scores, val_pairs.same)
        at_half = verification_metrics(scores, val_pairs.same, 0.5)
        row = {"epoch": epoch + 1, "train_loss": running / steps, "val_accuracy": val_acc,
               "val_threshold": threshold, "val_accuracy_at_0.5": at_half["uar"], "val_auc": at_half["auc"],
               "epoch_time_s": time.time() - started}
        history.append(row)
        score = at_half["auc"] if cfg.select_on == "auc" else val_acc
        improved = score > best["score"]
        if improved:
            best = {"epoch": epoch + 1, "acc": val_acc, "threshold": threshold, "score": score,
                    "state": copy.deepcopy(net.state_dict())}
        if progress:
            tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f} val acc {val_acc:.4f}"
                       f" (threshold {threshold:.3f}) val AUC {row['val_auc']:.4f}{'  *best' if improved else ''}")
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    return SiameseTrainResult(int(best["epoch"]), float(best["acc"]), float(best["threshold"]), history,
                              time.time() - tick)
