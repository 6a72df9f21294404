"""Closed-set identity classification on ORL: the networks and splits of ``kind: identity`` (``vgg_face128`` at
128 x 128) and the small ``vgg_identity`` row of ``kind: siamese`` files.

The split is by *image*, as every subject must be in training; the runner, its config and its run folder are
described in :mod:`affectlab.experiments.identity`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from affectlab.data.sample import Dataset
from affectlab.errors import ConfigError
from affectlab.evaluate.metrics import classification_metrics

__all__ = ["build_identity_model", "image_split", "read_identity_images", "train_identity_classifier"]


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


def build_identity_model(name: str, classes: Sequence[str], size: tuple[int, int], dropout: float | None = None):
    """A registered network with one output per subject; ``size`` must be its input size (networks whose builder
    takes ``input_size``, such as ``vgg_identity``, are built at ``size``)."""
    import inspect

    from affectlab.errors import ModelError
    from affectlab.models import create_model
    from affectlab.models.registry import _REGISTRY

    if name not in _REGISTRY:
        from affectlab.models import list_models

        raise ConfigError(f"model.name: unknown model {name!r}; known: {', '.join(list_models())}")
    accepted = inspect.signature(_REGISTRY[name]).parameters
    kwargs: dict[str, Any] = {}
    if "input_size" in accepted:
        kwargs["input_size"] = tuple(size)
    if dropout is not None and "dropout" in accepted:
        kwargs["dropout"] = float(dropout)
    try:
        model = create_model(name, class_names=tuple(classes), **kwargs)
    except ModelError as exc:
        raise ConfigError(f"model: {exc}") from None
    if tuple(model.config.input_size) != tuple(size) or model.config.channels != 1:
        raise ConfigError(f"model.name {name}: takes {model.config.channels}-channel {list(model.config.input_size)}"
                          f" images; set images.size to {list(model.config.input_size)} (gray)")
    return model


def read_identity_images(dataset: Dataset, size: tuple[int, int], square: str, *, progress: bool = False
                         ) -> np.ndarray:
    """Every sample of ``dataset`` as gray uint8, padded to a square (``square="edge"``) and resized to ``size``."""
    from tqdm.auto import tqdm

    from affectlab.data.media import read_image, to_gray
    from affectlab.identity.images import prepare_faces

    raw = []
    for sample in tqdm(dataset.samples, desc="images", unit="img", disable=not progress, leave=False):
        if sample.pixels is not None:
            raw.append(to_gray(np.asarray(sample.pixels, dtype=np.uint8)))
        else:
            raw.append(read_image(sample.path, mode="gray"))
    return prepare_faces(raw, size, square)
