"""Training and testing the VGG-style identity classifier (``vgg_identity``) on ORL.

Identity classification needs every subject in training, so this split is by *image*: for each
subject, images ``train_images`` (default 1-6) train, ``val_images`` (7) choose the epoch, and
the rest (8-10) test. (Verification of unseen subjects is the Siamese experiment's job.)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from affectlab.data.sample import Dataset
from affectlab.errors import ConfigError
from affectlab.evaluate.metrics import classification_metrics

__all__ = ["train_identity_classifier", "image_split"]


def image_split(dataset: Dataset, train_images: Sequence[str], val_images: Sequence[str]
                ) -> dict[str, np.ndarray]:
    """Indices of the train / val / test images by ORL image number (``extras["image"]``)."""
    numbers = np.array([str(s.extras.get("image", "")) for s in dataset.samples], dtype=object)
    train = np.isin(numbers, [str(v) for v in train_images])
    val = np.isin(numbers, [str(v) for v in val_images])
    if (train & val).any():
        raise ConfigError("identity: train_images and val_images overlap")
    test = ~(train | val)
    if not train.any() or not val.any() or not test.any():
        raise ConfigError("identity: train_images / val_images leave an empty train, validation or test part")
    return {"train": np.flatnonzero(train), "val": np.flatnonzero(val), "test": np.flatnonzero(test)}


def train_identity_classifier(dataset: Dataset, images: np.ndarray, *, train_images: Sequence[str] = "123456",
                              val_images: Sequence[str] = "7", epochs: int = 30, lr: float = 2e-3,
                              batch_size: int = 32, seed: int = 0, num_threads: int | None = 1,
                              progress: bool = False) -> dict[str, Any]:
    """Fit ``vgg_identity`` on ORL images, select the epoch on the validation images, test the rest.

    Returns the test metrics (``accuracy``, ``uar``, ``macro_f1``...) with ``best_epoch`` and
    ``val_accuracy``.
    """
    import torch

    from affectlab.models import create_model
    from affectlab.models.augment import AugmentConfig
    from affectlab.models.train import TrainConfig, fit_classifier, predict_proba

    split = image_split(dataset, list(train_images), list(val_images))
    classes = list(dataset.classes)
    y = dataset.targets
    torch.manual_seed(seed)
    model = create_model("vgg_identity", class_names=tuple(classes), input_size=images.shape[1:3])
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device="cpu", num_threads=num_threads,
                      augment=AugmentConfig(8.0, 0.08, 0.08, True))
    best: dict[str, Any] = {"acc": -1.0, "state": None}

    def keep_best(row: dict[str, float]) -> None:  # the weights of the validation-best epoch
        if row["val_accuracy"] > best["acc"]:
            best.update(acc=row["val_accuracy"], state=copy.deepcopy(model.state_dict()))

    fit = fit_classifier(model, train=(images[split["train"]], y[split["train"]]),
                         val=(images[split["val"]], y[split["val"]]), config=cfg, progress=progress,
                         on_epoch_end=keep_best)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    pred = predict_proba(model, images[split["test"]]).argmax(1)
    metrics = classification_metrics(np.array(classes, dtype=object)[y[split["test"]]],
                                     np.array(classes, dtype=object)[pred], classes)
    return {**{k: metrics[k] for k in ("accuracy", "uar", "macro_f1", "n")}, "best_epoch": fit.best_epoch,
            "val_accuracy": fit.best_val_accuracy, "epochs": epochs,
            "split": {"train_images": list(train_images), "val_images": list(val_images)}}
