"""Evaluate a classifier network on a labelled image dataset: accuracy, UAR, per-class recall, confusion.

Faces are used as the dataset gives them (FER2013 and CK+48 are already cropped): each image is
read in the model's colour mode, resized to the model's evaluation size when it differs, and
classified (10-crop averaging for the 10-crop CNN). Dataset labels are matched to the model's class
names directly or through :func:`affectlab.labels.canonical_expression` (``"sadness"`` ->
``"sad"``); samples whose class the model does not know count as errors and are reported.

>>> from affectlab.data import load_dataset                          # doctest: +SKIP
>>> from affectlab.models import load_model                          # doctest: +SKIP
>>> ds = load_dataset("../shared/datasets/fer2013/fer2013.csv.gz")    # doctest: +SKIP
>>> evaluate_model(load_model("default"), ds, split="PublicTest")["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from affectlab.errors import ConfigError, DataError
from affectlab.labels import canonical_expression
from affectlab.models.inference import predict_probabilities, resolve_tta
from affectlab.models.registry import AffectNet

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset

__all__ = ["dataset_images", "evaluate_model", "match_labels", "select_split", "write_predictions"]


def select_split(dataset: Dataset, split: str | None, *, option: str = "--split") -> Dataset:
    """The samples whose split is ``split`` (all when ``None``); the error names ``option`` and lists the
    splits present."""
    if split is None:
        return dataset
    present = sorted({s.split for s in dataset.samples if s.split is not None})
    if split not in present:
        listed = ", ".join(present) if present else "none (the source has no named splits)"
        raise ConfigError(f"{option} {split!r} is not in {dataset.name} (splits present: {listed})")
    return dataset.filter(split=split)


def _evaluation_size(model: AffectNet) -> tuple[int, int]:
    size = model.config.extras.get("eval_size") or model.config.input_size
    return int(size[0]), int(size[1])


def dataset_images(dataset: Dataset, model: AffectNet, *, progress: bool = False) -> np.ndarray:
    """uint8 images ``(N, H, W)`` (gray models) or ``(N, H, W, 3)`` in the model's evaluation size."""
    import cv2

    from affectlab.data.media import read_image, to_gray, to_rgb

    gray = model.config.channels == 1
    height, width = _evaluation_size(model)
    images = []
    for sample in tqdm(dataset.samples, desc="images", unit="img", disable=not progress, leave=False):
        if sample.pixels is not None:
            image = np.asarray(sample.pixels, dtype=np.uint8)
            image = to_gray(image) if gray else to_rgb(image)
        elif sample.path is not None:
            path = Path(sample.path)
            if not path.is_absolute() and dataset.root is not None and (dataset.root / path).exists():
                path = dataset.root / path
            image = read_image(path, mode="gray" if gray else "rgb")
        else:
            raise DataError(f"sample {sample.id!r} has neither a file nor inline pixels")
        if image.shape[:2] != (height, width):
            shrink = image.shape[0] > height or image.shape[1] > width
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        images.append(image)
    if not images:
        raise DataError(f"{dataset.name}: no images to evaluate")
    return np.stack(images)


def match_labels(labels: np.ndarray, class_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Dataset label strings -> the model's class names: the same name, else the class with the same
    canonical spelling (``"angry"`` -> a CK+-trained model's ``"anger"`` and ``"anger"`` -> ``"angry"``).

    >>> match_labels(["angry", "sadness", "contempt"], ("anger", "sad")).tolist()
    ['anger', 'sad', 'contempt']
    """
    known = set(class_names)
    by_canonical: dict[str, str] = {}
    for name in class_names:
        by_canonical.setdefault(canonical_expression(str(name)), name)
    out = []
    for label in labels:
        text = str(label)
        out.append(text if text in known else by_canonical.get(canonical_expression(text), text))
    return np.array(out, dtype=object)


def evaluate_model(
    model: AffectNet,
    dataset: Dataset,
    *,
    split: str | None = None,
    batch_size: int = 256,
    device: str = "auto",
    progress: bool = False,
    tta: str | None = None,
    keep_predictions: bool = False,
) -> dict[str, Any]:
    """Classify every labelled sample of ``dataset`` (or of one ``split``) and score the predictions.

    ``tta`` is the test-time augmentation (:func:`affectlab.models.predict_probabilities`; ``None``: the
    model's own). With ``keep_predictions`` the result also holds ``predictions``: per face (in dataset
    order) its ``index``, ``id``, ``true`` and ``predicted`` class and ``probabilities`` ``(N, classes)``,
    for :func:`write_predictions`.

    Returns
    -------
    dict
        ``model``, ``dataset``, ``split``, ``tta`` (as used), ``n``, ``accuracy``, ``uar``, ``macro_f1``,
        ``per_class_recall`` (class -> recall), ``labels`` (the confusion matrix order),
        ``confusion`` (rows: true class), ``unknown_labels`` (dataset classes the model lacks,
        with counts) and ``seconds``.
    """
    from affectlab.evaluate.metrics import classification_metrics

    mode = resolve_tta(model, tta)

    started = time.perf_counter()
    data = select_split(dataset, split)
    labelled = [i for i, s in enumerate(data.samples) if s.label is not None]
    if not labelled:
        raise DataError(f"{data.name}: no labelled samples" + (f" in split {split!r}" if split else ""))
    data = data.subset(labelled)
    names = tuple(model.config.class_names)
    truth = match_labels(data.labels, names)
    images = dataset_images(data, model, progress=progress)
    proba = predict_probabilities(model, images, tta=mode, batch_size=batch_size, device=device)
    pred = np.array([names[i] for i in proba.argmax(1)], dtype=object)
    unknown = sorted(set(truth.tolist()) - set(names))
    labels = list(names) + unknown
    metrics = classification_metrics(truth.astype(str), pred.astype(str), labels)
    result = {
        "model": model.config.name,
        "dataset": data.name,
        "split": split,
        "tta": mode,
        "n": metrics["n"],
        "accuracy": metrics["accuracy"],
        "uar": metrics["uar"],
        "macro_f1": metrics["macro_f1"],
        "per_class_recall": metrics["per_class_recall"],
        "labels": labels,
        "confusion": metrics["confusion"],
        "unknown_labels": {u: int(np.sum(truth == u)) for u in unknown},
        "seconds": round(time.perf_counter() - started, 3),
    }
    if keep_predictions:
        result["predictions"] = {"index": np.arange(len(pred)), "id": [s.id for s in data.samples],
                                 "true": truth.astype(str), "predicted": pred.astype(str), "probabilities": proba,
                                 "class_names": list(names)}
    return result


def write_predictions(result: dict[str, Any], path: str | Path) -> Path:
    """Write the per-face predictions of :func:`evaluate_model` (``keep_predictions=True``) to a CSV file.

    One row per face, in dataset order: ``index`` (0-based, among the evaluated faces), ``id`` (the sample's
    id, e.g. ``fer2013.csv.gz:28711``, its CSV row), ``true``, ``predicted``, then one probability column per
    class, named ``p_<class>``. Rows whose true class the model lacks keep that label in ``true``.
    """
    import csv

    rows = result.get("predictions")
    if rows is None:
        raise ValueError("evaluate_model(..., keep_predictions=True) keeps the predictions to write")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index", "id", "true", "predicted", *(f"p_{c}" for c in rows["class_names"])])
            for i, ident, true, predicted, p in zip(rows["index"], rows["id"], rows["true"], rows["predicted"],
                                                    rows["probabilities"]):
                writer.writerow([int(i), ident, true, predicted, *(f"{float(v):.6f}" for v in p)])
    except OSError as exc:
        raise DataError(f"{path}: cannot write the predictions ({exc.strerror or type(exc).__name__})") from None
    return path
