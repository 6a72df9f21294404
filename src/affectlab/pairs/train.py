"""Training and inference for the pair networks, on top of :func:`affectlab.models.train.fit_classifier`.

The trainer is the project's (AdamW, one-cycle schedule, seeded); pairs are stacked ``(N, 2, H, W)``
uint8, so its per-sample augmentation and random crop are identical for onset and apex
(:mod:`affectlab.pairs.transforms`). Training pairs larger than the net's input are randomly
cropped to it; validation and test pairs are centre-cropped. The epoch is chosen on the
validation pairs (subjects held out of the training part) and the weights of that epoch are kept.

Examples
--------
>>> import numpy as np
>>> from affectlab.models.train import TrainConfig
>>> from affectlab.pairs.networks import build_pair_network
>>> rng = np.random.default_rng(0)
>>> X, y = rng.integers(0, 255, (16, 2, 24, 24), dtype=np.uint8), np.arange(16) % 2
>>> net = build_pair_network("CompCNN-Sub@1", channels=(2, 2, 2), fc=(4, 4), input_size=(20, 20))
>>> fit = fit_pair_network(net, train=(X, y), val=(X, y), config=TrainConfig(epochs=2, batch_size=8), progress=False)
>>> predict_pairs(net, X).shape, second_fc_features(net, X).shape
((16, 2), (16, 4))
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from affectlab.checks import is_integer
from affectlab.errors import ConfigError, DataError
from affectlab.models.device import resolve_device
from affectlab.models.train import (
    TrainConfig,
    TrainResult,
    fit_classifier,
    predict_proba,
)
from affectlab.pairs.networks import PairNet
from affectlab.pairs.transforms import center_crop

__all__ = ["fit_pair_network", "predict_pairs", "second_fc_features"]


def _fit_size(net: PairNet, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1] != 2:
        raise DataError(f"pairs must be (N, 2, H, W), got {x.shape}")
    size = net.config.input_size
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if size[0] != size[1]:
        raise DataError(f"pairs of {x.shape[-2]}x{x.shape[-1]} for a non-square input {size}")
    return np.ascontiguousarray(center_crop(x, size[0]))


def _pair_labels(labels: np.ndarray, n: int, part: str) -> np.ndarray:
    """``labels`` as int64 class indices 0 (posed) / 1 (spontaneous), one per pair; anything else is refused."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{part}: {n} pairs but labels of shape {y.shape} (need one label per pair)")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number) or not np.isin(y, (0, 1)).all():
        found = np.unique(y).tolist() if y.dtype != object else sorted(set(y.tolist()), key=str)
        raise DataError(f"{part}: labels must be the class indices 0 and 1 (posed, spontaneous), got {found[:6]}")
    return y.astype(np.int64)


def fit_pair_network(
    net: PairNet,
    *,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    config: TrainConfig | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``net`` on uint8 pairs ``(N, 2, H, W)`` and keep the epoch best on ``val`` (accuracy).

    Labels are class indices, 0 (posed) and 1 (spontaneous); training pairs must be at least the
    net's input size (larger ones are randomly cropped to it).
    """
    from dataclasses import replace

    cfg = config or TrainConfig()
    if not is_integer(cfg.epochs) or cfg.epochs < 1:
        raise ConfigError(f"train: epochs must be an int >= 1, got {cfg.epochs!r}")
    x_train = np.asarray(train[0])
    if x_train.ndim != 4 or x_train.shape[1] != 2:
        raise DataError(f"training pairs must be (N, 2, H, W), got {x_train.shape}")
    height, width = net.config.input_size
    if x_train.shape[2] < height or x_train.shape[3] < width:
        raise DataError(f"training pairs of {x_train.shape[2]}x{x_train.shape[3]} are smaller than the net's "
                        f"{height}x{width} input")
    y_train, y_val = _pair_labels(train[1], len(x_train), "train"), _pair_labels(val[1], len(val[0]), "val")
    side = net.config.input_size[0]
    crop = side if x_train.shape[-1] > side else None
    cfg = replace(cfg, crop_size=crop)
    best: dict[str, object] = {"acc": -1.0, "state": None}

    def keep_best(row: dict[str, float]) -> None:
        if row["val_accuracy"] > best["acc"]:  # the trainer's own rule (first best epoch wins)
            best["acc"] = row["val_accuracy"]
            best["state"] = copy.deepcopy(net.state_dict())

    result = fit_classifier(net, train=(x_train, y_train), val=(_fit_size(net, val[0]), y_val),
                            config=cfg, progress=progress, on_epoch_end=keep_best)
    if best["state"] is not None:
        net.load_state_dict(best["state"])  # type: ignore[arg-type]
    net.eval()
    return result


def predict_pairs(net: PairNet, pairs: np.ndarray, *, batch_size: int = 256, device: str = "auto") -> np.ndarray:
    """Class probabilities ``(N, 2)`` (posed, spontaneous) of uint8 pairs, centre-cropped to the input."""
    return predict_proba(net, _fit_size(net, pairs), batch_size=batch_size, device=device)


@torch.no_grad()
def second_fc_features(net: PairNet, pairs: np.ndarray, *, batch_size: int = 256, device: str = "auto") -> np.ndarray:
    """The second FC layer's outputs ``(N, fc[1])`` float32 (eval mode) of uint8 pairs."""
    dev = resolve_device(device)
    x = torch.from_numpy(_fit_size(net, pairs).astype(np.float32) / 255.0)
    was_training = net.training
    net.eval().to(dev)
    out = [net.second_fc(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    net.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, net.head[4].out_features), np.float32)
