"""Train a registered network on any labelled image dataset and write weights, report and model card.

This is the library behind ``affectlab train`` and ``benchmarks/train_fer2013.py``:

- the training and validation parts come from named splits (FER2013: ``Training`` /
  ``PublicTest``) or, when the source has none, from holding out a fraction of the *subjects*
  (CK+), so no face of a validation subject is trained on;
- the epoch is selected on the validation part only;
- ``init`` starts from other weights (fine-tuning): every tensor whose name and shape match is
  copied, except the class layer when the class names differ (:func:`transfer_weights`).

>>> from affectlab.models.training import transfer_weights                # doctest: +SKIP
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from affectlab.errors import ConfigError, ModelError
from affectlab.evaluate.metrics import classification_metrics
from affectlab.models.card import write_model_card
from affectlab.models.checkpoint import load_model, load_weights
from affectlab.models.evaluation import dataset_images, match_labels, select_split
from affectlab.models.registry import AffectNet, create_model
from affectlab.models.train import (
    TrainConfig,
    fit_classifier,
    machine_description,
    predict_proba,
    seed_everything,
)

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset

__all__ = ["artefact_stem", "install_run", "subject_holdout", "train_on_dataset", "transfer_weights"]


def transfer_weights(target: AffectNet, source: AffectNet | dict[str, torch.Tensor]) -> list[str]:
    """Copy every tensor of ``source`` whose name and shape match ``target``; returns the copied names.

    Both must be the same registered network (:class:`ModelError` otherwise). The class layer
    (``config.classifier``) is skipped when the two models' class names differ,
    so a FER2013 head is never reused for CK+ classes that merely have the same count.
    """
    if isinstance(source, AffectNet) and source.config.name != target.config.name:
        raise ModelError(f"init weights are for {source.config.name}, not {target.config.name}")
    state = source.state_dict() if isinstance(source, torch.nn.Module) else source
    skip_prefix = None
    if isinstance(source, AffectNet) and tuple(source.config.class_names) != tuple(target.config.class_names):
        skip_prefix = target.config.classifier or None
    own = target.state_dict()
    copied = []
    for name, tensor in state.items():
        if skip_prefix and (name == skip_prefix or name.startswith(skip_prefix + ".")):
            continue
        if name in own and own[name].shape == tensor.shape:
            own[name] = tensor.detach().clone()
            copied.append(name)
    target.load_state_dict(own)
    return copied


def has_subjects(groups: np.ndarray) -> bool:
    """Whether every sample names its subject and there are at least two subjects."""
    return all(g is not None for g in groups) and len(set(groups.tolist())) >= 2


def subject_holdout(groups: np.ndarray, y: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` with about ``fraction`` of the subjects held out (stratified by label
    when there are no subjects)."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation fraction must be between 0 and 1, got {fraction}")
    index = np.arange(len(y))
    by_subject = has_subjects(groups)
    try:
        if by_subject:
            split = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
            train, val = next(split.split(index, y, groups=groups.astype(str)))
        else:
            split = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
            train, val = next(split.split(index, y))
    except ValueError as exc:  # too few samples, subjects or members of a class for this fraction
        what = (f"{len(set(groups.astype(str).tolist()))} subjects" if by_subject
                else f"{len(y)} samples, stratified by class (no subjects named)")
        raise ConfigError(f"validation fraction {fraction} (--val-fraction): cannot hold out a validation part of "
                          f"{what}: {str(exc).rstrip('.')}. Name a validation split (--val-split)"
                          " or use more data") from None
    return np.sort(train), np.sort(val)


def _targets(labels: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    index = {c: i for i, c in enumerate(names)}
    matched = match_labels(labels, names)
    unknown = sorted({str(m) for m in matched if m not in index})
    if unknown:
        raise ConfigError(f"labels {', '.join(unknown)} are not classes of the model ({', '.join(names)})")
    return np.array([index[m] for m in matched], dtype=np.int64)


def train_on_dataset(
    model_name: str,
    dataset: Dataset,
    *,
    out_dir: str | Path,
    config: TrainConfig | None = None,
    train_split: str | None = None,
    val_split: str | None = None,
    val_fraction: float = 0.1,
    init: str | Path | None = None,
    command: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit ``model_name`` on ``dataset`` and write ``best.pt``, ``results.json`` and ``<model>_<dataset>.md``.

    Parameters
    ----------
    model_name
        A registered model; its head is sized to the dataset's classes (FER2013's 7 expressions
        keep the model's own names).
    dataset
        Labelled images (unlabelled samples are ignored).
    out_dir
        Run folder (``last.pt`` there lets an interrupted run resume).
    train_split, val_split
        Named splits (``val_split`` needs ``train_split``, and they must differ); when ``val_split`` is
        ``None`` the validation part holds out ``val_fraction`` of the subjects of the training part
        (of its samples, stratified, when the data names no subjects).
    init
        Weights to start from: a registered name (its bundled weights), ``"default"`` (the bundled
        weights of ``model_name`` itself) or a checkpoint.
    command
        The command line recorded in the card.

    Returns
    -------
    dict
        The report written to ``results.json`` (validation accuracy, UAR, confusion matrix, ...).
    """
    cfg = config or TrainConfig()
    labelled = dataset.subset([i for i, s in enumerate(dataset.samples) if s.label is not None])
    if len(labelled) == 0:
        raise ConfigError(f"{dataset.name}: no labelled samples to train on")
    train_part, val_part, selection = _training_parts(labelled, dataset.name, train_split, val_split, val_fraction,
                                                      cfg.seed)
    class_names = _class_names(model_name, dataset, labelled)
    seed_everything(cfg.seed)  # the new class layer's initial weights too
    model = create_model(model_name, class_names=class_names)
    copied: list[str] = []
    if init is not None:
        copied = transfer_weights(model, load_model(init, default=model_name, option="--init"))
    x_train = dataset_images(train_part, model, progress=progress)
    x_val = dataset_images(val_part, model, progress=progress)
    y_train, y_val = _targets(train_part.labels, class_names), _targets(val_part.labels, class_names)
    out = Path(out_dir)
    result = fit_classifier(model, train=(x_train, y_train), val=(x_val, y_val), config=cfg, out_dir=out,
                            progress=progress)
    load_weights(model, result.best_path)
    pred = predict_proba(model, x_val, device=cfg.device).argmax(1)
    names = list(class_names)
    metrics = classification_metrics(np.array(names)[y_val], np.array(names)[pred], names)
    report = {
        "model": model_name,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "dataset": dataset.name,
        "train_split": train_split or f"all labelled samples minus the {selection}",
        "n_train": len(y_train),
        "selection_split": selection,
        "n_val": len(y_val),
        "init": None if init is None else str(init),
        "init_tensors_copied": len(copied),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "accuracy": metrics["accuracy"],
        "uar": metrics["uar"],
        "macro_f1": metrics["macro_f1"],
        "last_epoch_accuracy": result.history[-1]["val_accuracy"],
        "confusion_matrix": metrics["confusion"],
        "class_names": names,
        "wall_time_s": round(result.wall_time_s, 1),
        # as run (too few steps: constant schedule; precision auto resolved)
        "train_config": {**asdict(cfg), "schedule": result.schedule, "precision": result.precision},
        "machine": {**machine_description(), "python": platform.python_version()},
        "command": command,
    }
    (out / "results.json").write_text(json.dumps(report, indent=2, default=str))
    write_model_card(report, out / f"{artefact_stem(model_name, dataset.name)}.md")
    return report


def _training_parts(labelled: Dataset, name: str, train_split: str | None, val_split: str | None,
                    val_fraction: float, seed: int) -> tuple[Dataset, Dataset, str]:
    """``(training part, validation part, how the validation part was chosen)``; never an evaluation split
    trained on, never the epoch selected on training data."""
    present = sorted({s.split for s in labelled.samples if s.split is not None})
    if train_split is None and present:
        raise ConfigError(f"{name} names splits ({', '.join(present)}): say which one to train on "
                          "(--train-split), so no evaluation split is trained on")
    if val_split is not None and val_split == train_split:
        raise ConfigError(f"--train-split and --val-split are both {val_split!r}: the epoch would be selected "
                          "on training data; give two different splits")
    train_part = select_split(labelled, train_split, option="--train-split")
    if val_split is not None:
        return train_part, select_split(labelled, val_split, option="--val-split"), val_split
    tr, va = subject_holdout(train_part.groups, train_part.labels.astype(str), val_fraction, seed)
    by_subject = has_subjects(train_part.groups)
    selection = (f"held-out subjects ({val_fraction:.0%})" if by_subject
                 else f"held-out samples ({val_fraction:.0%}, stratified: the data names no subjects)")
    return train_part.subset(tr), train_part.subset(va), selection


def _class_names(model_name: str, dataset: Dataset, labelled: Dataset) -> tuple[str, ...]:
    """The model's own class names when the data's labels are exactly them (FER2013 on a 7-expression
    model keeps its head), else the dataset's classes that occur, then other labels found."""
    present = {str(x) for x in labelled.labels}
    own_names = tuple(create_model(model_name).config.class_names)
    matched = match_labels(np.array(sorted(set(dataset.classes) | present), dtype=object), own_names)
    if set(matched.tolist()) == set(own_names):  # e.g. FER2013 on a 7-expression model: keep its head
        return own_names
    return tuple(c for c in dataset.classes if c in present) + tuple(sorted(present - set(dataset.classes)))


def artefact_stem(model_name: str, dataset_name: str) -> str:
    """``<model>_<dataset>`` with the dataset's name as a lower-case slug: the card's (and installed weights') name.

    >>> artefact_stem("mini_xception", "CK+48 [fold 1]")
    'mini_xception_ck_48_fold_1'
    """
    import re

    return f"{model_name}_{re.sub(r'[^A-Za-z0-9]+', '_', dataset_name).strip('_').lower() or 'data'}"


def install_run(out_dir: str | Path, model_name: str, dataset_name: str,
                weights_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Copy a training run's ``best.pt`` and model card into ``weights_dir`` (default: the package's bundled
    weights folder) under one name, ``artefact_stem(model_name, dataset_name)`` + ``.pt`` / ``.md``."""
    import shutil

    out = Path(out_dir)
    target = Path(weights_dir) if weights_dir is not None else Path(__file__).resolve().parents[1] / "weights"
    stem = artefact_stem(model_name, dataset_name)
    card = out / f"{stem}.md"
    for source in (out / "best.pt", card):
        if not source.is_file():
            raise ModelError(f"{source}: missing; nothing was installed")
    return Path(shutil.copy(out / "best.pt", target / f"{stem}.pt")), Path(shutil.copy(card, target / card.name))
