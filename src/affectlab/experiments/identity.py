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
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.data.orl import load_orl
from affectlab.data.sample import Dataset
from affectlab.errors import ConfigError
from affectlab.evaluate.metrics import classification_metrics
from affectlab.experiments import runs
from affectlab.experiments.config import names_the_file, read_raw_config, resolve_source, section
from affectlab.explain import explain_all
from affectlab.identity.classify import build_identity_model, image_split, read_identity_images
from affectlab.identity.images import parse_images
from affectlab.models.augment import AugmentConfig
from affectlab.models.checkpoint import save_weights
from affectlab.models.train import TrainConfig, _check_config, fit_classifier, predict_proba
from affectlab.viz.overlay import save_rgb
from affectlab.viz.panel import PanelRow, explanation_panel

__all__ = ["IDENTITY_KEYS", "run_identity_experiment"]

#: Top-level keys of a ``kind: identity`` file (``run`` is provenance written by a run; ignored).
IDENTITY_KEYS = ("kind", "name", "description", "data", "images", "split", "model", "train", "explain", "run")
_SPLIT_KEYS = {"train_images": [1, 2, 3, 4, 5, 6], "val_images": [7]}
_MODEL_KEYS = {"name": "vgg_face128", "dropout": 0.3}
_TRAIN_KEYS = {"epochs": 40, "batch_size": 32, "optimizer": "adamw", "lr": 0.001, "weight_decay": 0.0001,
               "schedule": "onecycle", "label_smoothing": 0.0, "precision": "auto", "device": "cpu",
               "num_threads": 2, "seed": 0,
               "augment": {"rotation": 8.0, "scale": 0.08, "translate": 0.08, "flip": True, "erase_prob": 0.0}}
_EXPLAIN_KEYS = {"n_faces": 8, "layer": None}


def _train_config(train: Mapping[str, Any]):

    aug = section(train, "augment", _TRAIN_KEYS["augment"])
    try:
        cfg = TrainConfig(**{k: v for k, v in train.items() if k != "augment"},
                          augment=AugmentConfig(float(aug["rotation"]), float(aug["scale"]),
                                                float(aug["translate"]), bool(aug["flip"]),
                                                erase_prob=float(aug["erase_prob"])))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train: {exc}") from None
    _check_config(cfg)
    return cfg, aug


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


    st = _read_identity(config, data)
    run = runs.RunFolder(out_dir, overwrite=overwrite)
    dataset = load_orl(st["source"])
    split = image_split(dataset, [str(v) for v in st["split"]["train_images"]],
                        [str(v) for v in st["split"]["val_images"]])
    classes = list(dataset.classes)
    size, square, model_cfg = st["size"], st["square"], st["model"]
    with torch.random.fork_rng(devices=[]):  # the network's settings checked before the images are read
        build_identity_model(str(model_cfg["name"]), classes, size, model_cfg["dropout"])
    images = read_identity_images(dataset, size, square, progress=progress)
    y = dataset.targets
    out = run.create()
    model, fit, best = _train(st, classes, images, y, split, progress=progress)
    test = split["test"]
    proba = predict_proba(model, images[test], device=st["tcfg"].device)
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
    if st["explain"]["n_faces"]:
        files.append(_write_explanations(out, model, images, test, pred, proba, names, dataset,
                                         st["explain"]["n_faces"], st["explain"]["layer"]))
    row = {"feature": str(model_cfg["name"]), "classifier": f"softmax_{len(classes)}_subjects",
           "accuracy": metrics["accuracy"], "uar": metrics["uar"], "macro_f1": metrics["macro_f1"],
           "n_test": metrics["n"], "n_errors": int(np.sum(pred != y[test])), "best_epoch": best["epoch"],
           "val_accuracy": best["acc"], "n_train": len(split["train"]), "n_val": len(split["val"])}
    raw = st["raw"]
    resolved = {
        "kind": "identity", "name": raw.get("name", "identity"),
        **({"description": raw["description"]} if raw.get("description") else {}),
        "data": {"source": str(st["source"])}, "images": {"size": list(size), "square": square},
        "split": st["split"], "model": model_cfg, "train": st["train"], "explain": st["explain"],
        "run": run.provenance(config_path=st["path"], packages=("torch",), threads=torch.get_num_threads(),
                              precision=fit.precision, n_images=len(dataset), n_subjects=len(classes),
                              data_sha256=dataset.fingerprint(), seconds=round(run.elapsed, 1)),
    }
    run.write_config(resolved)
    run.write_metrics({"rows": [row], "history": fit.history, "confusion": metrics["confusion"],
                       "labels": classes, "augment": asdict(st["tcfg"].augment)})
    run.write_predictions(predictions)
    _write_identity_report(out, resolved, row, fit.history, files)
    return run.result([row], resolved, n_folds=1)


@names_the_file
def _read_identity(config: Mapping[str, Any] | str | Path, data: str | Path | None) -> dict[str, Any]:
    """Read config stage: the file read once, every section checked before any work."""

    raw, path = read_raw_config(config)
    unknown = sorted(set(raw) - set(IDENTITY_KEYS))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(IDENTITY_KEYS[:-1])})")
    base = Path(path).resolve().parent if path else None
    source = data if data is not None else (raw.get("data") or {}).get("source")
    source_path = resolve_source(str(source) if source is not None else source, base if data is None else None,
                                 "--data" if data is not None else "data.source")
    size, square = parse_images(raw.get("images"))
    split_cfg = section(raw, "split", _SPLIT_KEYS)
    model_cfg = section(raw, "model", _MODEL_KEYS)
    train_cfg = section(raw, "train", _TRAIN_KEYS)
    explain_cfg = section(raw, "explain", _EXPLAIN_KEYS)
    tcfg, aug = _train_config(train_cfg)
    train_cfg["augment"] = aug
    n_explain = explain_cfg["n_faces"]
    if not isinstance(n_explain, int) or isinstance(n_explain, bool) or n_explain < 0:
        raise ConfigError(f"explain.n_faces must be an int >= 0, got {n_explain!r}")
    for key in ("train_images", "val_images"):
        if not isinstance(split_cfg[key], list) or not split_cfg[key]:
            raise ConfigError(f"split.{key} must be a non-empty list of image numbers, got {split_cfg[key]!r}")
    return {"raw": raw, "path": path, "source": source_path, "size": size, "square": square, "split": split_cfg,
            "model": model_cfg, "train": train_cfg, "explain": explain_cfg, "tcfg": tcfg}


def _train(st: Mapping[str, Any], classes: list[str], images: np.ndarray, y: np.ndarray,
           split: Mapping[str, np.ndarray], *, progress: bool) -> tuple[Any, Any, dict[str, Any]]:
    """Members stage: the network trained on the training images, the validation-best epoch's weights kept."""
    import torch


    tcfg, model_cfg = st["tcfg"], st["model"]
    torch.manual_seed(tcfg.seed)
    model = build_identity_model(str(model_cfg["name"]), classes, st["size"], model_cfg["dropout"])
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


def _write_identity_report(out: Path, cfg: Mapping[str, Any], row: Mapping[str, Any],
                           history: list[dict[str, float]], files: list[str]) -> None:

    split, train = cfg["split"], cfg["train"]
    size, square = cfg["images"]["size"], cfg["images"]["square"]
    lines = [
        f"- source: `{cfg['data']['source']}` ({cfg['run']['n_images']} images, {cfg['run']['n_subjects']} subjects),"
        " gray, " + ("padded to a square with their own edge values, then " if square == "edge" else "")
        + f"resized to {size[0]}x{size[1]}; pixels in [0, 1], normalised inside the net.",
        f"- protocol: closed set (every subject in training), split by image number per subject: images"
        f" {split['train_images']} train ({row['n_train']}), {split['val_images']} validate ({row['n_val']}: the"
        " epoch with the best validation accuracy is kept, ties to the later epoch), the rest test"
        f" ({row['n_test']}). No test image is used for any choice.",
        f"- model: {cfg['model']['name']} (dropout {cfg['model']['dropout']}); training: {train['epochs']} epochs,"
        f" batch {train['batch_size']}, {train['optimizer']} lr {train['lr']} ({train['schedule']}), weight decay"
        f" {train['weight_decay']}, {cfg['run']['precision']} arithmetic, augmentation {train['augment']}.",
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
    runs.write_report(out, title=f"Identity classification: {cfg['name']}", sections=sections, rows=[row])
