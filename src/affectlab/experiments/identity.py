"""``kind: identity``: closed-set identity classification on ORL (the networks: :mod:`affectlab.identity.classify`).

Identity classification needs every subject in training, so the split is by *image*: for each
subject, images ``train_images`` (default 1-6) train, ``val_images`` (7) choose the epoch, and
the rest (8-10) test. (Verification of unseen subjects is the Siamese experiment's job.)

Example config (``configs/orl-identity.yaml``)::

    kind: identity
    data: {source: ../../shared/datasets/orl_faces}
    images: {size: [128, 128], square: edge}       # 92 x 112 padded to 112 x 112 with edge values, resized
    split: {train_images: [1, 2, 3, 4, 5, 6], val_images: [7]}   # the rest (8-10) test
    model: {name: vgg_face128, dropout: 0.3}
    train: {epochs: 30, batch_size: 32, lr: 0.001, precision: auto}
    explain: {n_faces: 8}                          # Grad-CAM / guided backpropagation panel of test faces

The run folder holds ``model.pt`` (the chosen epoch's weights, with the subject names), which
``affectlab fool --weights`` and ``kind: fooling`` files load.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.data.orl import load_orl
from affectlab.data.sample import Dataset
from affectlab.errors import ConfigError
from affectlab.evaluate.metrics import classification_metrics
from affectlab.experiments import runs, schema
from affectlab.experiments.config import names_the_file, read_raw_config, resolve_source
from affectlab.experiments.schema import Rule, flag, integer, number, one_of, read_section, section_dict, setting
from affectlab.explain import explain_all
from affectlab.identity.classify import build_identity_model, image_split, read_identity_images
from affectlab.identity.images import parse_images
from affectlab.models.augment import AugmentConfig
from affectlab.models.checkpoint import save_weights
from affectlab.models.train import PRECISIONS, TrainConfig, _check_config, fit_classifier, predict_proba
from affectlab.viz.overlay import save_rgb
from affectlab.viz.panel import PanelRow, explanation_panel

__all__ = ["IDENTITY_KEYS", "IdentityAugment", "IdentityConfig", "IdentityData", "IdentityExplain", "IdentityModel",
           "IdentitySplit", "IdentityTrain", "load_identity_config", "run_identity_experiment"]

#: Top-level keys of a ``kind: identity`` file (``run`` is provenance written by a run; ignored).
IDENTITY_KEYS = ("kind", "name", "description", "data", "images", "split", "model", "train", "explain", "run")
_IMAGE_NUMBERS = Rule("a non-empty list of image numbers", lambda v: isinstance(v, list) and bool(v))


@dataclass(frozen=True)
class IdentityData:
    """``data``: the ORL-style folder (``s<N>/<k>.pgm``); ``--data`` replaces it."""

    source: Any = None


@dataclass(frozen=True)
class IdentitySplit:
    """``split``: per subject, these image numbers train and these choose the epoch; the rest test."""

    train_images: list[Any] = setting([1, 2, 3, 4, 5, 6], _IMAGE_NUMBERS)
    val_images: list[Any] = setting([7], _IMAGE_NUMBERS)


@dataclass(frozen=True)
class IdentityModel:
    """``model``: a registered network (one output per subject) and its dropout (null: the network's own)."""

    name: str = setting("vgg_face128", schema.text("a registered model name"))
    dropout: float | None = setting(0.3, number(0, 1, high_open=True).or_null())


@dataclass(frozen=True)
class IdentityAugment:
    """``train.augment``: the random affine transform (degrees, scale and shift fractions, mirror) and random
    erasing of every training image."""

    rotation: float = setting(8.0, number(0))
    scale: float = setting(0.08, number(0, 1, high_open=True))
    translate: float = setting(0.08, number(0, 1))
    flip: bool = setting(True, flag())
    erase_prob: float = setting(0.0, number(0, 1))


@dataclass(frozen=True)
class IdentityTrain:
    """``train``: the training settings (:class:`~affectlab.models.train.TrainConfig` fields) with this kind's
    defaults."""

    epochs: int = setting(40, integer(1))
    batch_size: int = setting(32, integer(1))
    optimizer: str = setting("adamw", one_of("adamw", "sgd"))
    lr: float = setting(0.001, number(0, low_open=True))
    weight_decay: float = setting(0.0001, number(0))
    schedule: str = setting("onecycle", one_of("onecycle", "cosine", "constant"))
    label_smoothing: float = setting(0.0, number(0, 1, high_open=True))
    precision: str = setting("auto", one_of(*PRECISIONS))
    device: str = setting("cpu", schema.text("a device name (cpu, cuda, auto)"))
    num_threads: int | None = setting(2, integer(1).or_null())
    seed: int = setting(0, integer(0))
    augment: IdentityAugment = setting(None, IdentityAugment)

    def train_config(self) -> TrainConfig:
        """The trainer's :class:`~affectlab.models.train.TrainConfig` of these settings."""
        aug = self.augment
        settings = {k: v for k, v in section_dict(self).items() if k != "augment"}
        cfg = TrainConfig(**settings, augment=AugmentConfig(float(aug.rotation), float(aug.scale),
                                                            float(aug.translate), bool(aug.flip),
                                                            erase_prob=float(aug.erase_prob)))
        _check_config(cfg)
        return cfg


@dataclass(frozen=True)
class IdentityExplain:
    """``explain``: how many test faces (one per subject) get Grad-CAM / guided backpropagation maps, on which
    layer (null: the model's CAM layer)."""

    n_faces: int = setting(8, integer(0))
    layer: str | None = setting(None, schema.text("a layer name").or_null())


@dataclass(frozen=True)
class IdentityConfig:
    """A validated ``kind: identity`` file: the ORL-style folder (absolute), the image size and framing, every
    section typed, and the trainer's settings built from ``train``."""

    name: Any
    source: Path
    size: tuple[int, int]
    square: str
    split: IdentitySplit
    model: IdentityModel
    train: IdentityTrain
    explain: IdentityExplain
    training: TrainConfig
    description: Any = None
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (``config.yaml`` without its ``run`` provenance)."""
        return {"kind": "identity", "name": self.name,
                **({"description": self.description} if self.description else {}),
                "data": {"source": str(self.source)}, "images": {"size": list(self.size), "square": self.square},
                "split": section_dict(self.split), "model": section_dict(self.model),
                "train": section_dict(self.train), "explain": section_dict(self.explain)}


@names_the_file
def load_identity_config(config: Mapping[str, Any] | str | Path, data: str | Path | None = None) -> IdentityConfig:
    """Read config stage: the file (or the mapping read from it) checked as a whole; ``data`` replaces
    ``data.source``."""
    raw, path = read_raw_config(config)
    schema.refuse_unknown_keys(raw, IDENTITY_KEYS, IDENTITY_KEYS[:-1])
    base = Path(path).resolve().parent if path else None
    source = data if data is not None else read_section(raw, "data", IdentityData).source
    source_path = resolve_source(str(source) if source is not None else source, base if data is None else None,
                                 "--data" if data is not None else "data.source")
    size, square = parse_images(raw.get("images"))
    split = read_section(raw, "split", IdentitySplit)
    model = read_section(raw, "model", IdentityModel)
    train = read_section(raw, "train", IdentityTrain)
    explain = read_section(raw, "explain", IdentityExplain)
    try:
        training = train.train_config()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train: {exc}") from None
    return IdentityConfig(name=raw.get("name", "identity"), source=source_path, size=size, square=square,
                          split=split, model=model, train=train, explain=explain, training=training,
                          description=raw.get("description"), path=path)


def run_identity_experiment(
    config: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    data: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    n_jobs: int | None = None,
    cache: str | Path | None = None,
):
    """``kind: identity``: train a registered network to name the subjects of an ORL-style dataset (split by image
    number), choose the epoch on the validation images, test the rest, and write a run folder with the weights
    (``model.pt``, loadable by ``affectlab fool --weights``) and Grad-CAM / guided backpropagation maps of test faces.

    ``n_jobs`` and ``cache`` are accepted for the common runner signature and not used.
    """
    from dataclasses import asdict

    import torch


    cfg = load_identity_config(config, data)
    run = runs.RunFolder(out_dir, overwrite=overwrite)
    dataset = load_orl(cfg.source)
    split = image_split(dataset, [str(v) for v in cfg.split.train_images], [str(v) for v in cfg.split.val_images])
    classes = list(dataset.classes)
    size, square = cfg.size, cfg.square
    with torch.random.fork_rng(devices=[]):  # the network's settings checked before the images are read
        build_identity_model(cfg.model.name, classes, size, cfg.model.dropout)
    images = read_identity_images(dataset, size, square, progress=progress)
    y = dataset.targets
    out = run.create()
    model, fit, best = _train(cfg, classes, images, y, split, progress=progress)
    test = split["test"]
    proba = predict_proba(model, images[test], device=cfg.training.device)
    pred = proba.argmax(1)
    names = np.array(classes, dtype=object)
    metrics = classification_metrics(names[y[test]], names[pred], classes)
    save_weights(model, out / "model.pt", extra={"kind": "identity", "best_epoch": best["epoch"],
                                                 "val_accuracy": best["acc"], "images": {"size": list(size),
                                                                                         "square": square}})
    predictions = [{"id": dataset.samples[i].id, "subject": dataset.samples[i].subject, "true": names[y[i]],
                    "pred": names[p], "probability": round(float(proba[k, p]), 4)}
                   for k, (i, p) in enumerate(zip(test, pred))]
    files = ["model.pt"]
    if cfg.explain.n_faces:
        files.append(_write_explanations(out, model, images, test, pred, proba, names, dataset,
                                         cfg.explain.n_faces, cfg.explain.layer))
    row = {"feature": cfg.model.name, "classifier": f"softmax_{len(classes)}_subjects",
           "accuracy": metrics["accuracy"], "uar": metrics["uar"], "macro_f1": metrics["macro_f1"],
           "n_test": metrics["n"], "n_errors": int(np.sum(pred != y[test])), "best_epoch": best["epoch"],
           "val_accuracy": best["acc"], "n_train": len(split["train"]), "n_val": len(split["val"])}
    resolved = cfg.to_dict()
    resolved["run"] = run.provenance(config_path=cfg.path, packages=("torch",), threads=torch.get_num_threads(),
                                     precision=fit.precision, n_images=len(dataset), n_subjects=len(classes),
                                     data_sha256=dataset.fingerprint(), seconds=round(run.elapsed, 1))
    run.write_config(resolved)
    run.write_metrics({"rows": [row], "history": fit.history, "confusion": metrics["confusion"],
                       "labels": classes, "augment": asdict(cfg.training.augment)})
    run.write_predictions(predictions)
    _write_identity_report(out, cfg, resolved["run"], row, fit.history, files)
    return run.result([row], resolved, n_folds=1)


def _train(cfg: IdentityConfig, classes: list[str], images: np.ndarray, y: np.ndarray,
           split: Mapping[str, np.ndarray], *, progress: bool) -> tuple[Any, Any, dict[str, Any]]:
    """Members stage: the network trained on the training images, the validation-best epoch's weights kept."""
    import torch


    tcfg = cfg.training
    torch.manual_seed(tcfg.seed)
    model = build_identity_model(cfg.model.name, classes, cfg.size, cfg.model.dropout)
    best: dict[str, Any] = {"acc": -1.0, "state": None, "epoch": 0}

    def keep_best(row: dict[str, float]) -> None:  # ties go to the later epoch (lower learning rate, more fitted)
        if row["val_accuracy"] >= best["acc"]:
            best.update(acc=row["val_accuracy"], epoch=int(row["epoch"]), state=copy.deepcopy(model.state_dict()))

    fit = fit_classifier(model, train=(images[split["train"]], y[split["train"]]),
                         val=(images[split["val"]], y[split["val"]]), config=tcfg, progress=progress,
                         on_epoch_end=keep_best)
    model.load_state_dict(best["state"])
    model.eval()
    return model, fit, best


def _write_explanations(out: Path, model, images: np.ndarray, test: np.ndarray, pred: np.ndarray,
                        proba: np.ndarray, names: np.ndarray, dataset: Dataset, n_faces: int,
                        layer: str | None) -> str:
    """``explanations.png``: guided backpropagation, Grad-CAM and guided Grad-CAM of ``n_faces`` test faces of
    different subjects (of the predicted class)."""

    seen: set[str] = set()
    chosen = []
    for k, i in enumerate(test):  # one face per subject, in dataset order, until n_faces
        subject = dataset.samples[i].subject
        if subject not in seen:
            seen.add(subject)
            chosen.append(k)
        if len(chosen) == n_faces:
            break
    faces = images[test[chosen]]
    maps = explain_all(model, faces, layer=layer)
    cam, gb, ggc = maps["gradcam"], maps["guided_backprop"], maps["guided_gradcam"]
    rows = [PanelRow(faces[j], str(names[pred[k]]), float(proba[k, pred[k]]), gb.maps[j], cam.maps[j],
                     ggc.maps[j]) for j, k in enumerate(chosen)]
    captions = [f"{dataset.samples[test[k]].id}" for k in chosen]
    save_rgb(explanation_panel(rows, cell=160, captions=captions), out / "explanations.png")
    return "explanations.png"


def _write_identity_report(out: Path, cfg: IdentityConfig, run: Mapping[str, Any], row: Mapping[str, Any],
                           history: list[dict[str, float]], files: list[str]) -> None:
    """``report.md``; ``run`` is the run's provenance (image and subject counts, the arithmetic used)."""
    split, train = cfg.split, cfg.train
    size, square = cfg.size, cfg.square
    lines = [
        f"- source: `{cfg.source}` ({run['n_images']} images, {run['n_subjects']} subjects),"
        " gray, " + ("padded to a square with their own edge values, then " if square == "edge" else "")
        + f"resized to {size[0]}x{size[1]}; pixels in [0, 1], normalised inside the net.",
        f"- protocol: closed set (every subject in training), split by image number per subject: images"
        f" {split.train_images} train ({row['n_train']}), {split.val_images} validate ({row['n_val']}: the"
        " epoch with the best validation accuracy is kept, ties to the later epoch), the rest test"
        f" ({row['n_test']}). No test image is used for any choice.",
        f"- model: {cfg.model.name} (dropout {cfg.model.dropout}); training: {train.epochs} epochs,"
        f" batch {train.batch_size}, {train.optimizer} lr {train.lr} ({train.schedule}), weight decay"
        f" {train.weight_decay}, {run['precision']} arithmetic, augmentation {section_dict(train.augment)}.",
    ]
    curve = ", ".join(f"{h['epoch']}: {h['val_accuracy']:.3f}" for h in history)
    sections = [("Data and protocol", "\n".join(lines)),
                ("Test images", f"accuracy {row['accuracy']:.4f} ({row['n_errors']} of {row['n_test']} wrong), UAR"
                                f" {row['uar']:.4f}, macro-F1 {row['macro_f1']:.4f}; chosen epoch {row['best_epoch']}"
                                f" (validation accuracy {row['val_accuracy']:.4f})."),
                ("Validation accuracy by epoch", curve),
                ("Files", "\n".join(f"- [{f}]({f})" for f in files)
                 + ("\n\n`explanations.png`: one test face per subject (face | predicted subject | probability |"
                    " guided backpropagation | Grad-CAM of the predicted subject on the CAM layer | guided Grad-CAM)."
                    if "explanations.png" in files else ""))]
    runs.write_report(out, title=f"Identity classification: {cfg.name}", sections=sections, rows=[row])
