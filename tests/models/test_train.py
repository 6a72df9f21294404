"""The trainer learns a separable toy problem, selects on validation, and resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from affectlab.errors import ConfigError
from affectlab.models import create_model
from affectlab.models.augment import AugmentConfig, random_affine
from affectlab.models.train import TrainConfig, fit_classifier, predict_proba

NO_AUG = AugmentConfig(max_rotation_deg=0, max_scale=0, max_translate=0, flip=False)


def toy_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: horizontal stripes; class 1: vertical stripes (random phase, plus noise)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 60, (n, 48, 48)).astype(np.uint8)
    for i, label in enumerate(y):
        phase = rng.integers(0, 4)
        if label == 0:
            x[i, phase::4] += 150
        else:
            x[i, :, phase::4] += 150
    return x, y


def test_identity_augmentation_is_identity():
    x = torch.rand(4, 1, 48, 48)
    assert torch.allclose(random_affine(x, NO_AUG), x)
    flip_only = AugmentConfig(max_rotation_deg=0, max_scale=0, max_translate=0, flip=True)
    out = random_affine(x, flip_only, torch.Generator().manual_seed(0))
    for a, b in zip(out, x):
        assert torch.allclose(a, b, atol=1e-5) or torch.allclose(a, torch.flip(b, dims=[2]), atol=1e-5)


@pytest.mark.slow
def test_fit_learns_selects_and_resumes(tmp_path):
    torch.manual_seed(0)
    train, val = toy_faces(256, 0), toy_faces(64, 1)
    model = create_model("mini_xception", num_classes=2)
    cfg = TrainConfig(epochs=4, batch_size=16, lr=3e-3, augment=NO_AUG, num_threads=1)
    # Simulate an interruption after epoch 2.
    result = fit_classifier(model, train=train, val=val, config=cfg, out_dir=tmp_path, progress=False,
                            on_epoch_end=lambda row: row["epoch"] >= 2)
    assert len(result.history) == 2
    assert {"best.pt", "last.pt", "history.json"} <= {p.name for p in tmp_path.iterdir()}
    best_acc = max(h["val_accuracy"] for h in result.history)
    assert result.best_val_accuracy == best_acc
    assert result.best_epoch == 1 + int(np.argmax([h["val_accuracy"] for h in result.history]))
    # Resume: the same out_dir and config continue rather than restart.
    model2 = create_model("mini_xception", num_classes=2)
    resumed = fit_classifier(model2, train=train, val=val, config=cfg, out_dir=tmp_path, progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert len(json.loads((tmp_path / "history.json").read_text())) == 4
    assert resumed.best_val_accuracy >= 0.9
    with pytest.raises(ValueError, match="4-epoch run, not 6"):
        fit_classifier(model2, train=train, val=val, config=TrainConfig(epochs=6), out_dir=tmp_path, progress=False)
    proba = predict_proba(model2, val[0])
    assert proba.shape == (64, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)


def test_fit_refuses_empty_validation():
    x, y = toy_faces(8, 0)
    with pytest.raises(ValueError, match="non-empty"):
        fit_classifier(create_model("mini_xception", num_classes=2), train=(x, y), val=(x[:0], y[:0]),
                       config=TrainConfig(epochs=1), progress=False)


def test_fit_without_validation_runs_every_epoch_and_keeps_the_last(tmp_path):
    torch.manual_seed(0)
    x, y = toy_faces(64, 0)
    model = create_model("mini_xception", num_classes=2)
    cfg = TrainConfig(epochs=2, batch_size=16, augment=NO_AUG, num_threads=1, patience=1)
    result = fit_classifier(model, train=(x, y), val=None, config=cfg, out_dir=tmp_path, progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2]  # patience needs a validation set: ignored
    assert result.best_path is None and result.best_epoch == 2
    assert not (tmp_path / "best.pt").exists() and (tmp_path / "last.pt").exists()
    last = torch.load(tmp_path / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(last[k], v) for k, v in model.state_dict().items())


def test_training_is_repeatable_with_the_same_seed():
    """Two fits from the same weights and seed (with augmentation and shuffling) give identical weights."""
    train, val = toy_faces(48, 0), toy_faces(16, 1)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=3e-3, augment=AugmentConfig(), num_threads=1, seed=3,
                      channels_last=True)
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = create_model("mini_xception", num_classes=2)
        result = fit_classifier(model, train=train, val=val, config=cfg, progress=False)
        states.append((model.state_dict(), [h["train_loss"] for h in result.history]))
    (first, loss_a), (second, loss_b) = states
    assert loss_a == loss_b
    assert all(torch.equal(first[k], second[k]) for k in first)


def _toy(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, 48, 48)).astype(np.uint8), rng.integers(0, 2, n)


def test_a_resumed_run_repeats_the_uninterrupted_run(tmp_path):
    x, y = _toy()
    cfg = TrainConfig(epochs=3, batch_size=8, mixup_alpha=0.2, augment=AugmentConfig(max_rotation_deg=5))

    def run(out, stop_after=None):
        torch.manual_seed(0)
        net = create_model("mini_xception", num_classes=2)
        stop = (lambda row: row["epoch"] >= stop_after) if stop_after else None
        return fit_classifier(net, train=(x, y), val=(x[:10], y[:10]), config=cfg, out_dir=out, progress=False,
                              on_epoch_end=stop), net

    whole, whole_net = run(tmp_path / "whole")
    run(tmp_path / "cut", stop_after=1)  # "interrupted" after epoch 1
    resumed, resumed_net = run(tmp_path / "cut")
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert [h["train_loss"] for h in resumed.history] == pytest.approx([h["train_loss"] for h in whole.history],
                                                                        rel=1e-6)
    for a, b in zip(whole_net.state_dict().values(), resumed_net.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)


@pytest.mark.parametrize(("change", "message"), [
    ({"optimizer": "adam"}, "optimizer 'adam'"), ({"schedule": "linear"}, "schedule 'linear'"),
    ({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size"),
])
def test_fit_classifier_refuses_settings_it_would_replace(change, message):
    x, y = _toy(8)
    with pytest.raises(ConfigError, match=message):  # optimizer "adam" silently trained AdamW
        fit_classifier(create_model("mini_xception", num_classes=2), train=(x, y), val=(x, y),
                       config=TrainConfig(**change), progress=False)
