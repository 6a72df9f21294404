"""Training keeps the validation-selected epoch; features and predictions have the right shapes."""

from __future__ import annotations

import numpy as np
import pytest

from affectlab.errors import ConfigError, DataError
from affectlab.models.augment import AugmentConfig
from affectlab.models.train import TrainConfig
from affectlab.pairs import (
    build_pair_network,
    fit_pair_network,
    predict_pairs,
    second_fc_features,
)


def _toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Label 1 = the apex is brighter than the onset in its upper half (a learnable pair relation)."""
    rng = np.random.default_rng(seed)
    onset = rng.integers(60, 190, (n, 20, 20)).astype(np.uint8)
    y = np.arange(n) % 2
    apex = onset.astype(int) + rng.integers(-10, 10, (n, 20, 20))
    apex[y == 1, :10] += 50
    return np.stack([onset, np.clip(apex, 0, 255).astype(np.uint8)], 1), y


@pytest.mark.parametrize("name", ["DiffCNN", "CompCNN-Sub@1"])
def test_fit_learns_and_keeps_the_best_epoch(name):
    import torch

    torch.manual_seed(0)
    train, val = _toy(128, 0), _toy(64, 1)
    net = build_pair_network(name, channels=(4, 8, 8), fc=(16, 8), input_size=(16, 16))
    cfg = TrainConfig(epochs=6, batch_size=32, lr=0.01, augment=AugmentConfig(0.0, 0.0, 0.0, True), num_threads=1)
    fit = fit_pair_network(net, train=train, val=val, config=cfg, progress=False)
    assert len(fit.history) == 6
    best = max(h["val_accuracy"] for h in fit.history)
    assert fit.best_val_accuracy == best
    pred = predict_pairs(net, val[0]).argmax(1)
    assert np.mean(pred == val[1]) == pytest.approx(best)  # the kept weights are the selected epoch's
    assert best > 0.8
    feats = second_fc_features(net, val[0])
    assert feats.shape == (64, 8) and feats.dtype == np.float32


def test_bad_pair_arrays():
    net = build_pair_network("DiffCNN", channels=(2, 2, 2), fc=(4, 4), input_size=(16, 16))
    with pytest.raises(DataError):
        predict_pairs(net, np.zeros((3, 16, 16), np.uint8))
    with pytest.raises(DataError):
        fit_pair_network(net, train=(np.zeros((4, 3, 16, 16), np.uint8), np.zeros(4)),
                         val=(np.zeros((4, 2, 16, 16), np.uint8), np.zeros(4)))


def test_fit_pair_network_refuses_bad_labels_sizes_and_epochs():
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 255, (8, 2, 24, 24), dtype=np.uint8), np.arange(8) % 2
    net = build_pair_network("CompCNN-Sub@1", channels=(2, 2, 2), fc=(4, 4), input_size=(20, 20))
    cfg = TrainConfig(epochs=1, batch_size=4, device="cpu")
    cases = [((X, y[:5]), (X, y), cfg, "one label per pair"),                      # before: IndexError
             ((X, np.where(y == 0, "posed", "spontaneous")), (X, y), cfg, "class indices 0 and 1"),  # TypeError
             ((X, np.arange(8) % 3), (X, y), cfg, r"got \[0, 1, 2\]"),            # IndexError "Target 2"
             ((X[:, :, :12, :12], y), (X, y), cfg, "smaller than the net's 20x20 input"),  # RuntimeError
             ((X, y), (X, y), TrainConfig(epochs=0), "epochs must be an int >= 1")]  # untrained, best_epoch -1
    for train, val, config, match in cases:
        with pytest.raises((DataError, ConfigError), match=match):
            fit_pair_network(net, train=train, val=val, config=config, progress=False)
