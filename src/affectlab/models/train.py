"""A small, trustworthy trainer: selection on a validation split only, checkpoints and resume.

Typical use::

    result = fit_classifier(model, train=(X, y), val=(Xv, yv), config=TrainConfig(epochs=30),
                            out_dir="runs/mx")

``X`` is uint8 ``(N, H, W)`` or ``(N, C, H, W)``; the model sees float32 in ``[0, 1]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from affectlab.checks import is_integer
from affectlab.errors import ConfigError, ModelError
from affectlab.models.augment import AugmentConfig, random_affine, random_erase
from affectlab.models.checkpoint import save_weights
from affectlab.models.device import resolve_device
from affectlab.models.registry import AffectNet
from affectlab.models.tencrop_cnn import random_crop, ten_crop_predict

__all__ = [
    "PRECISIONS",
    "TrainConfig",
    "TrainResult",
    "cpu_supports_bf16",
    "fit_classifier",
    "predict_proba",
    "resolve_device",
    "resolve_precision",
    "seed_everything",
]

#: Values of ``TrainConfig.precision`` (``affectlab train --precision``).
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (recorded in the model card)."""

    epochs: int = 30
    batch_size: int = 64
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 3e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: Literal["cosine", "onecycle", "constant"] = "onecycle"
    label_smoothing: float = 0.0
    class_weighting: bool = False
    mixup_alpha: float = 0.0
    patience: int | None = None  # early stopping on validation accuracy
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    channels_last: bool = False  # NHWC memory layout: faster convolutions on CPU
    crop_size: int | None = None  # random square crops of this side after augmentation (10-crop CNN)
    #: Arithmetic of the training steps: ``fp32``, ``bf16`` (autocast: convolutions and matrix products in
    #: bfloat16, weights, optimiser and loss in float32) or ``auto`` (bf16 where the device runs it natively:
    #: a CPU with avx512_bf16 or AMX, a CUDA GPU with bf16; fp32 otherwise). Validation always runs in fp32.
    precision: Literal["auto", "fp32", "bf16"] = "fp32"


@dataclass
class TrainResult:
    """What a run produced: the best (validation-selected) epoch and the whole history."""

    best_epoch: int
    best_val_accuracy: float
    best_val_uar: float
    history: list[dict[str, float]]
    wall_time_s: float
    best_path: Path | None
    schedule: str = "onecycle"  # the learning-rate schedule used (a run too short for one-cycle is constant)
    precision: str = "fp32"  # the arithmetic used (``auto`` resolved)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and every GPU), and ask cuDNN for its deterministic kernels, so a run on
    a GPU repeats too (cuDNN's autotuner and some of its kernels would otherwise vary between runs)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # (seeds every CUDA device as well)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def cpu_supports_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bfloat16 natively (the ``avx512_bf16`` or ``amx_bf16`` flag of
    ``cpuinfo``); ``False`` where the flags cannot be read (not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def resolve_precision(precision: str, device: str | torch.device = "cpu") -> str:
    """``"fp32"`` or ``"bf16"``: ``precision`` itself, or for ``"auto"`` bf16 where ``device`` runs it natively
    (:func:`cpu_supports_bf16`; a CUDA GPU with bf16 support) and fp32 elsewhere.

    Raises
    ------
    ConfigError
        ``precision`` is not one of :data:`PRECISIONS`, or bf16 is asked for on a device without autocast.

    >>> resolve_precision("fp32")
    'fp32'
    >>> resolve_precision("auto") in ("fp32", "bf16")
    True
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    dev = torch.device(device) if isinstance(device, str) else device
    if precision == "auto":
        if dev.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if dev.type == "cpu" and cpu_supports_bf16() else "fp32"
    if precision == "bf16" and dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"precision bf16: not available on device {dev.type!r} (use fp32)")
    return precision


def _autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` when it is a positive integer, else a :class:`~affectlab.errors.ModelError`."""
    if not is_integer(batch_size) or batch_size < 1:
        raise ModelError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _as_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (or 16-bit) images ``(N, H, W)``, ``(N, C, H, W)`` or channel-last ``(N, H, W, C)`` -> float
    ``(N, C, H, W)`` in ``[0, 1]`` (floats are taken as they are)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
        images = images.transpose(0, 3, 1, 2)  # channel-last colour images (what dataset_images gives)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(images.dtype)
    x = torch.from_numpy(np.ascontiguousarray(images if images.dtype != np.uint16 else images.astype(np.int32)))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    return x.float().div_(scale) if scale else x.float()


def _proba(model: AffectNet, batch: torch.Tensor) -> torch.Tensor:
    """Softmax of one batch; images larger than the input use 10-crop averaging or are resized."""
    size = tuple(model.config.input_size)
    if tuple(batch.shape[-2:]) != size:
        if model.config.extras.get("ten_crop"):
            return ten_crop_predict(model, batch)
        if model.config.extras.get("crop") == "center":
            batch = center_crop(batch, model)
        else:
            batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
    return F.softmax(model(batch), dim=1)


def center_crop(batch: torch.Tensor, model: AffectNet) -> torch.Tensor:
    """The centre ``input_size`` crop of ``batch`` ``(N, C, H, W)`` after resizing it to the model's
    ``extras["eval_size"]`` (the face size it was cropped from in training) when it has another size."""
    eval_size = tuple(int(v) for v in model.config.extras.get("eval_size") or model.config.input_size)
    if tuple(batch.shape[-2:]) != eval_size:
        batch = F.interpolate(batch, size=eval_size, mode="bilinear", align_corners=False, antialias=True)
    (h, w), (ch, cw) = eval_size, tuple(model.config.input_size)
    top, left = (h - ch) // 2, (w - cw) // 2
    return batch[..., top : top + ch, left : left + cw]


@torch.no_grad()
def predict_proba(model: AffectNet, images: np.ndarray | torch.Tensor, *, batch_size: int = 256,
                  device: str | torch.device = "auto", tta_flip: bool = False) -> np.ndarray:
    """Class probabilities ``(N, num_classes)`` for uint8 or [0, 1] float images ``(N, [C,] H, W)``.

    Images of another size than the model's input are resized, except for models whose config
    says ``extras["ten_crop"]``: those average the softmax over the 10 crops (corners, centre,
    mirrored) of the larger image. ``tta_flip`` also averages with the mirrored image.
    """
    batch_size = check_batch_size(batch_size)
    dev = resolve_device(device) if isinstance(device, str) else device
    x = images if isinstance(images, torch.Tensor) else _as_tensor(images)
    was_training = model.training
    model.eval().to(dev)
    out = []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size].to(dev)
        p = _proba(model, batch)
        if tta_flip:
            p = 0.5 * (p + _proba(model, torch.flip(batch, dims=[3])))
        out.append(p.cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.num_classes), np.float32)


def _uar(y: np.ndarray, pred: np.ndarray) -> float:
    recalls = [np.mean(pred[y == c] == c) for c in np.unique(y)]
    return float(np.mean(recalls))


def _check_config(cfg: TrainConfig) -> None:
    """Refuse settings the trainer would otherwise replace silently (an unknown optimizer ran AdamW)."""
    choices = {"optimizer": ("adamw", "sgd"), "schedule": ("onecycle", "cosine", "constant"), "precision": PRECISIONS}
    for key, allowed in choices.items():
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"TrainConfig.{key} {getattr(cfg, key)!r}: expected one of {', '.join(allowed)}")
    for key in ("epochs", "batch_size"):
        value = getattr(cfg, key)
        if not is_integer(value) or value < 1:
            raise ConfigError(f"TrainConfig.{key} must be a positive integer, got {value!r}")


def _make_optimizer(model: AffectNet, cfg: TrainConfig, steps_per_epoch: int):
    """The optimiser, its learning-rate scheduler and the name of the schedule used."""
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay, nesterov=True)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle" and total >= _ONECYCLE_MIN_STEPS:  # (its warm-up needs a few steps to exist)
        return (opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.2),
                "onecycle")
    if cfg.schedule == "cosine":
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total), "cosine"
    if cfg.schedule == "onecycle":
        warnings.warn(f"{total} optimisation step(s) are too few for a one-cycle schedule (it needs "
                      f"{_ONECYCLE_MIN_STEPS}): the learning rate stays at {cfg.lr}", stacklevel=3)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0), "constant"


_ONECYCLE_MIN_STEPS = 10


def fit_classifier(
    model: AffectNet,
    *,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, float]], bool | None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``train`` and keep the epoch with the best accuracy on ``val``.

    ``val`` must be a validation split (never the test split you report); with ``val=None`` the
    run trains for exactly ``config.epochs`` epochs and the model ends with the last epoch's
    weights (``best_path`` is then ``None``; used where the epoch count is fixed in advance,
    e.g. cross-fitted fusion members). With ``out_dir`` the
    run writes ``last.pt`` (full state, for ``resume``), ``best.pt`` (weights of the best epoch)
    and ``history.json``; an interrupted run started again with the same ``out_dir`` and config
    resumes after its last finished epoch. ``on_epoch_end(row)`` sees each epoch's history row and
    may return ``True`` to stop training there.
    """
    cfg = config or TrainConfig()
    _check_config(cfg)
    device, precision, memory_format = _prepare(model, cfg)
    x_train, y_train = _as_tensor(train[0]), torch.as_tensor(train[1], dtype=torch.long)
    x_val, y_val = (None, None) if val is None else (_as_tensor(val[0]), np.asarray(val[1]))
    n_val = 0 if y_val is None else len(y_val)
    if len(x_train) == 0 or (x_val is not None and len(x_val) == 0):
        raise ValueError("fit_classifier needs a non-empty training set and, when given, a non-empty validation set")
    steps = max(1, len(x_train) // cfg.batch_size)
    opt, sched, schedule = _make_optimizer(model, cfg, steps)
    weights = _class_weights(y_train, model.config.num_classes, device) if cfg.class_weighting else None
    run = _run_signature(model, cfg, len(x_train), n_val)

    out = Path(out_dir) if out_dir is not None else None
    history: list[dict[str, float]] = []
    start_epoch, best, state = 0, {"epoch": -1, "acc": -1.0, "uar": 0.0}, None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if resume and (out / "last.pt").is_file():
            state = _resume(out / "last.pt", model, opt, sched, cfg, run, device)
            start_epoch, history, best = state["epoch"] + 1, state["history"], state["best"]
    generator = torch.Generator().manual_seed(cfg.seed + start_epoch)
    if start_epoch:
        _restore_rngs(state, generator)  # the resumed run repeats the uninterrupted one
    t0 = time.time() - sum(h.get("epoch_time_s", 0.0) for h in history)
    batches = _Batches(x_train, y_train, cfg, steps, generator, device, memory_format)

    for epoch in range(start_epoch, cfg.epochs):
        tick = time.time()
        running, seen, correct = _train_epoch(model, opt, sched, batches, weights, precision,
                                              desc=f"epoch {epoch + 1}/{cfg.epochs}", progress=progress)
        val_acc, val_uar = _validate(model, x_val, y_val, device)
        row = {
            "epoch": epoch + 1,
            "train_loss": running / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
            "val_accuracy": val_acc,
            "val_uar": val_uar,
            "lr": float(opt.param_groups[0]["lr"]),
            "epoch_time_s": time.time() - tick,
            "precision": precision,
        }
        history.append(row)
        improved = x_val is not None and val_acc > best["acc"]
        if improved:
            best = {"epoch": epoch + 1, "acc": val_acc, "uar": val_uar}
        if progress:
            _report_epoch(row, cfg.epochs, improved)
        if out is not None:
            if improved:
                save_weights(model, out / "best.pt", extra={"epoch": epoch + 1, "val_accuracy": val_acc})
            _save_state(out, model, opt, sched, generator, device, epoch=epoch, history=history, best=best,
                        epochs=cfg.epochs, run=run)
        if x_val is not None and cfg.patience is not None and epoch + 1 - best["epoch"] >= cfg.patience:
            break
        if on_epoch_end is not None and on_epoch_end(row):
            break
    return TrainResult(
        best_epoch=int(best["epoch"]) if x_val is not None else len(history),
        best_val_accuracy=float(best["acc"]),
        best_val_uar=float(best["uar"]),
        history=history,
        wall_time_s=time.time() - t0,
        best_path=(out / "best.pt") if out is not None and x_val is not None else None,
        schedule=schedule,
        precision=precision,
    )


def _prepare(model: AffectNet, cfg: TrainConfig) -> tuple[torch.device, str, torch.memory_format]:
    """Threads, seeds, the device and the arithmetic of a run; the model moved there."""
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    model.to(device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return device, precision, memory_format


def _class_weights(y: torch.Tensor, num_classes: int, device: torch.device) -> torch.Tensor:
    """Loss weights inversely proportional to the class counts (``class_weighting``)."""
    counts = torch.bincount(y, minlength=num_classes).float().clamp(min=1)
    return (counts.sum() / (len(counts) * counts)).to(device)


def _resume(last: Path, model: AffectNet, opt: torch.optim.Optimizer, sched: Any, cfg: TrainConfig,
            run: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Load ``last.pt`` into the model, optimiser and scheduler when it belongs to this run; its state."""
    state = _load_training_state(last, device)
    if state.get("epochs") not in (None, cfg.epochs):
        raise ValueError(f"{last} belongs to a {state['epochs']}-epoch run, not {cfg.epochs}: {_ELSEWHERE}")
    changed = _changes(state.get("run"), run)
    if changed:
        raise ValueError(f"{last} belongs to another run ({'; '.join(changed)}): {_ELSEWHERE}")
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{last} does not fit this model ({first}): {_ELSEWHERE}") from None
    torch.set_rng_state(state["rng"].cpu())
    return state


@dataclass
class _Batches:
    """The training set and how each epoch draws augmented mini-batches from it."""

    x: torch.Tensor
    y: torch.Tensor
    cfg: TrainConfig
    steps: int
    generator: torch.Generator
    device: torch.device
    memory_format: torch.memory_format

    def __iter__(self):
        """``(images, labels)`` per step in a fresh random order: affine jitter, crops, erasing."""
        cfg, generator = self.cfg, self.generator
        order = torch.randperm(len(self.x), generator=generator)
        for step in range(self.steps):
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            xb = random_affine(self.x[idx].to(self.device), cfg.augment, generator)
            if cfg.crop_size:
                xb = random_crop(xb, cfg.crop_size, generator)
            xb = random_erase(xb, cfg.augment.erase_prob, generator)
            yield xb.contiguous(memory_format=self.memory_format), self.y[idx].to(self.device)


def _train_epoch(model: AffectNet, opt: torch.optim.Optimizer, sched: Any, batches: _Batches,
                 weights: torch.Tensor | None, precision: str, *, desc: str,
                 progress: bool) -> tuple[float, int, int]:
    """One pass over the training set; ``(summed loss, samples seen, correct)``."""
    cfg, generator, device = batches.cfg, batches.generator, batches.device
    model.train()
    running, seen, correct = 0.0, 0, 0
    bar = tqdm(batches, total=batches.steps, desc=desc, disable=None if progress else True, leave=False)
    for xb, yb in bar:
        with _autocast(precision, device):
            if cfg.mixup_alpha > 0:
                lam = float(np.random.beta(cfg.mixup_alpha, cfg.mixup_alpha))
                perm = torch.randperm(len(xb), generator=generator).to(device)
                logits = model(lam * xb + (1 - lam) * xb[perm])
                loss = lam * F.cross_entropy(logits, yb, weight=weights, label_smoothing=cfg.label_smoothing) + (
                    1 - lam
                ) * F.cross_entropy(logits, yb[perm], weight=weights, label_smoothing=cfg.label_smoothing)
            else:
                logits = model(xb)
                loss = F.cross_entropy(logits, yb, weight=weights, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item() * len(yb)
        seen += len(yb)
        correct += int((logits.argmax(1) == yb).sum())
        bar.set_postfix(loss=f"{running / seen:.3f}", acc=f"{correct / seen:.3f}")
    return running, seen, correct


def _validate(model: AffectNet, x_val: torch.Tensor | None, y_val: np.ndarray | None,
              device: torch.device) -> tuple[float, float]:
    """Accuracy and UAR on the validation split (NaN without one)."""
    if x_val is None:
        return float("nan"), float("nan")
    pred = predict_proba(model, x_val, device=device).argmax(1)
    return float(np.mean(pred == y_val)), _uar(y_val, pred)


def _report_epoch(row: dict[str, Any], epochs: int, improved: bool) -> None:
    tqdm.write(
        f"epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.4f} train acc {row['train_accuracy']:.4f}"
        f" val acc {row['val_accuracy']:.4f} val UAR {row['val_uar']:.4f}{'  *best' if improved else ''}"
        f" ({row['epoch_time_s']:.0f}s)",
        file=sys.stderr,
    )


def _save_state(out: Path, model: AffectNet, opt: torch.optim.Optimizer, sched: Any, generator: torch.Generator,
                device: torch.device, *, epoch: int, history: list[dict[str, float]], best: dict[str, Any],
                epochs: int, run: dict[str, Any]) -> None:
    """``last.pt`` (everything a resumption needs) and ``history.json`` after an epoch."""
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": torch.get_rng_state(),
        "generator": generator.get_state(),
        "numpy_rng": _numpy_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
        "epoch": epoch,
        "history": history,
        "best": best,
        "epochs": epochs,
        "run": run,
    }
    partial = out / "last.pt.partial"  # an interruption while saving never leaves a broken last.pt
    torch.save(state, partial)
    os.replace(partial, out / "last.pt")
    (out / "history.json").write_text(json.dumps(history, indent=1))


_ELSEWHERE = "use another out folder (--out), delete its last.pt, or pass resume=False (Python)"
#: Settings that may change between an interrupted run and its resumption.
_FREE_ON_RESUME = ("epochs", "device", "num_threads", "channels_last", "patience", "precision")
_STATE_KEYS = {"model", "optimizer", "scheduler", "rng", "epoch", "history", "best"}


def _run_signature(model: AffectNet, cfg: TrainConfig, n_train: int, n_val: int) -> dict[str, Any]:
    """What must stay the same for ``last.pt`` to be resumed: network, classes, data sizes and settings."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in _FREE_ON_RESUME}
    return {"model": model.config.name, "class_names": list(model.config.class_names), "n_train": int(n_train),
            "n_val": int(n_val), **settings}


def _changes(saved: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """``"name saved -> now"`` for every signature entry that differs (none for files without one).

    A setting added to the code after the file was written (absent from ``saved``, also inside a nested
    setting such as ``augment``) counts as unchanged while it is off (0, False, None)."""
    if not isinstance(saved, dict):
        return []
    out = []
    for key, value in now.items():
        if key not in saved:
            continue
        old = saved[key]
        if isinstance(old, dict) and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in old or v}
        if old != value:
            out.append(f"{key} {old!r} -> {value!r}")
    return out


def _load_training_state(path: Path, device: torch.device) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises many types for truncated or foreign files)
        raise ValueError(f"{path}: not a readable training state ({type(exc).__name__}); {_ELSEWHERE}") from None
    if not isinstance(state, dict) or not _STATE_KEYS <= set(state):
        raise ValueError(f"{path}: not a training state written by fit_classifier; {_ELSEWHERE}")
    return state


def _numpy_rng_state() -> list[Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _restore_rngs(state: dict[str, Any], generator: torch.Generator) -> None:
    """Batch order, augmentation, mixup and (GPU) dropout streams as they were after the saved epoch."""
    if state.get("generator") is not None:
        generator.set_state(state["generator"].cpu())
    if state.get("numpy_rng") is not None:
        name, keys, pos, has_gauss, cached = state["numpy_rng"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    cuda_rng = state.get("cuda_rng")
    if cuda_rng is not None and torch.cuda.is_available() and len(cuda_rng) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_rng])


def machine_description() -> dict[str, Any]:
    """Where a run happened (for model cards)."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
    }


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return asdict(cfg)
