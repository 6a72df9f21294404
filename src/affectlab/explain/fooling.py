"""The bounded "fooling" attack and its difference map.

:func:`fool` pushes each image towards a wrong class with iterative signed-gradient steps on the
target class's log-probability, projecting after every step so each pixel stays within
``bound * (value range)`` of its original value and inside the value range. An image stops as
soon as its target class reaches the success threshold (default probability >= 0.90) or after
``max_steps``.

:func:`difference_map` colours ``|adversarial - original|`` in fixed bands (see
:data:`DIFFERENCE_BANDS`). By default (``method="scaled"``) each step follows the gradient's strength, and
the difference is ranked before it is banded (``scale="rank"``), so the bands always separate: the black
band holds the 59 % smallest changes of the image, then gray 12 %, yellow 8 %, orange 10 % and red the 12 %
largest (before the neighbours are coloured). ``method="sign"`` (every pixel moves a full step: iterative
FGSM, fewer steps) and ``scale="max"`` (the largest change is 255) are the other options; with both, almost
every pixel changes by the bound and the map is nearly all red.

Examples
--------
>>> from affectlab.models import create_model
>>> torch.manual_seed(0) and None
>>> model = create_model("mini_xception")
>>> result = fool(model, np.full((2, 48, 48), 128, np.uint8), max_steps=3)
>>> result.adversarial.shape, result.history.shape
((2, 1, 48, 48), (2, 4))
>>> bool(np.abs(result.delta).max() <= 0.15 + 1e-6)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from affectlab.checks import is_integer, is_number
from affectlab.errors import ConfigError
from affectlab.explain.base import as_batch
from affectlab.explain.targets import (
    Target,
    most_likely_wrong,
    reaches_probability,
    resolve_targets,
)

__all__ = ["FoolingResult", "fool", "difference_bands", "difference_map", "difference_gray", "band_shares",
           "DIFFERENCE_BANDS", "DIFFERENCE_SCALES"]

#: ``scale`` names of :func:`difference_gray`: ``rank`` (the default) and ``max``; a number is a fixed scale.
DIFFERENCE_SCALES = ("rank", "max")
#: A pixel whose change is at most this (pixel units, [0, 1] range) counts as unchanged.
_UNCHANGED = 1e-6

#: ``(lowest gray value, highest gray value, RGB colour, name)`` of each band of the difference map.
DIFFERENCE_BANDS: tuple[tuple[int, int, tuple[int, int, int], str], ...] = (
    (0, 150, (0, 0, 0), "black"),
    (151, 180, (128, 128, 128), "gray"),
    (181, 200, (255, 255, 0), "yellow"),
    (201, 225, (255, 165, 0), "orange"),
    (226, 255, (255, 0, 0), "red"),
)


@dataclass
class FoolingResult:
    """The outcome of :func:`fool` on a batch of ``N`` images (pixel space, ``[0, 1]``).

    Attributes
    ----------
    original, adversarial
        ``(N, C, H, W)`` float32 images.
    success
        ``(N,)`` bool: the target class differs from the original's predicted class and its
        probability on ``adversarial`` is ``>= threshold``.
    steps
        ``(N,)`` gradient steps taken (0 when the image already met the threshold, or when its
        target is the class already predicted on it: such an image is left unchanged and is no
        success).
    targets, original_classes
        ``(N,)`` the class attacked towards and the class predicted on the original.
    probabilities
        ``(N, n_classes)`` softmax on ``adversarial``.
    history
        ``(N, max_steps + 1)`` target probability before each step (column 0: the original),
        ending with the final value; NaN after an image stopped.
    bound
        The largest allowed change per pixel, in pixel units (``bound * value range``).
    threshold
        The success probability.
    """

    original: np.ndarray
    adversarial: np.ndarray
    success: np.ndarray
    steps: np.ndarray
    targets: np.ndarray
    original_classes: np.ndarray
    probabilities: np.ndarray
    history: np.ndarray
    bound: float
    threshold: float

    @property
    def delta(self) -> np.ndarray:
        """``adversarial - original``, ``(N, C, H, W)``."""
        return self.adversarial - self.original

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.success)) if len(self.success) else float("nan")

    def __len__(self) -> int:
        return len(self.success)

    def target_probability(self) -> np.ndarray:
        """``(N,)`` final probability of each image's target class."""
        return self.probabilities[np.arange(len(self)), self.targets]

    def probability_history(self, index: int) -> np.ndarray:
        """The target probabilities of image ``index`` from the original to the last step."""
        row = self.history[index]
        return row[~np.isnan(row)]

    def to_records(self, class_names: tuple[str, ...] | list[str] | None = None) -> list[dict[str, Any]]:
        """One JSON-ready mapping per image (classes by name when ``class_names`` is given)."""
        def name(i: int) -> Any:
            return class_names[i] if class_names is not None else int(i)

        out = []
        for i in range(len(self)):
            out.append({
                "original_class": name(int(self.original_classes[i])),
                "target": name(int(self.targets[i])),
                "success": bool(self.success[i]),
                "steps": int(self.steps[i]),
                "target_probability": round(float(self.target_probability()[i]), 4),
                "max_abs_delta": round(float(np.abs(self.delta[i]).max()), 5),
                "bound": self.bound,
                "probability_history": [round(float(p), 4) for p in self.probability_history(i)],
            })
        return out


def fool(
    model: nn.Module,
    images: Any,
    target: Target = None,
    *,
    bound: float = 0.15,
    threshold: float = 0.90,
    max_steps: int = 100,
    step_size: float | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    method: Literal["sign", "scaled"] = "scaled",
) -> FoolingResult:
    """Attack a batch towards wrong classes within a per-pixel bound.

    Parameters
    ----------
    model
        A classifier taking ``(N, C, H, W)`` pixels in ``value_range`` and returning logits.
    images
        A batch (see :func:`affectlab.explain.base.as_batch`); uint8 is divided by 255.
    target
        The class to reach (see :mod:`affectlab.explain.targets`); default: the most likely
        class other than the one predicted on the original. An image whose target is the class
        already predicted on it is not attacked (0 steps) and counts as no success.
    bound
        Each pixel stays within ``bound * (value_range[1] - value_range[0])`` of its original.
    threshold
        Stop an image once its target class has probability ``>= threshold``.
    max_steps
        Gradient steps at most per image.
    step_size
        Change per step in pixel units; default one gray level, ``range / 255``.
    value_range
        The valid pixel range; adversarial pixels are clipped to it.
    method
        ``"scaled"`` (default): pixels move by ``step_size * g / max|g|`` (the largest gradient of
        the image moves a full step), so the change follows the gradient's strength and the
        difference map shows where the model is most sensitive. ``"sign"``: every pixel moves by
        ``step_size`` along the sign of its gradient (iterative FGSM; fewer steps, but nearly every
        pixel ends at the bound, so its difference map says little).

    The model's mode is restored afterwards and its parameters' gradients are not touched.
    """
    lo_v, hi_v, eps, alpha = _attack_settings(value_range, bound, max_steps, step_size, method)
    succeeded = reaches_probability(threshold)
    x0 = _attack_batch(model, images, value_range)
    lower = (x0 - eps).clamp(lo_v, hi_v)
    upper = (x0 + eps).clamp(lo_v, hi_v)

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits0 = model(x0)
        original_classes = logits0.argmax(dim=1)
        targets = resolve_targets(most_likely_wrong() if target is None else target, logits0)
        x, steps, history = _ascend(model, x0, targets, original_classes, succeeded, lower, upper,
                                    max_steps=max_steps, alpha=alpha, method=method)
        with torch.no_grad():
            probabilities = torch.softmax(model(x), dim=1)
    finally:
        model.train(was_training)
    success = succeeded(probabilities, targets) & (targets != original_classes)
    return FoolingResult(
        original=x0.cpu().numpy().astype(np.float32),
        adversarial=x.detach().cpu().numpy().astype(np.float32),
        success=success.cpu().numpy(),
        steps=steps.numpy(),
        targets=targets.cpu().numpy(),
        original_classes=original_classes.cpu().numpy(),
        probabilities=probabilities.cpu().numpy(),
        history=history.numpy(),
        bound=float(eps),
        threshold=float(threshold),
    )


def _attack_settings(value_range: tuple[float, float], bound: float, max_steps: int, step_size: float | None,
                     method: str) -> tuple[float, float, float, float]:
    """``(low, high, eps, alpha)``: the pixel range, the bound and the step in pixel units, all checked."""
    try:
        lo_v, hi_v = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ConfigError(f"value_range must be two numbers (low, high), got {value_range!r}") from None
    if not hi_v > lo_v:
        raise ConfigError(f"value_range must be (low, high) with high > low, got {value_range!r}")
    if not is_number(bound) or not 0.0 < bound <= 1.0:
        raise ConfigError(f"bound must lie in (0, 1] (a fraction of the value range), got {bound!r}")
    if not is_integer(max_steps) or max_steps < 0:
        raise ConfigError(f"max_steps must be a non-negative int, got {max_steps!r}")
    eps = bound * (hi_v - lo_v)
    if step_size is not None and not is_number(step_size):
        raise ConfigError(f"step_size must be a positive number, got {step_size!r}")
    alpha = (hi_v - lo_v) / 255.0 if step_size is None else float(step_size)
    if not alpha > 0:
        raise ConfigError(f"step_size must be positive, got {step_size!r}")
    if method not in ("sign", "scaled"):
        raise ConfigError(f"method must be 'sign' or 'scaled', got {method!r}")
    return lo_v, hi_v, eps, alpha


def _attack_batch(model: nn.Module, images: Any, value_range: tuple[float, float]) -> torch.Tensor:
    """The images as a float batch on the model's device, refused when outside ``value_range``."""
    lo_v, hi_v = (float(v) for v in value_range)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    channels = getattr(getattr(model, "config", None), "channels", None)
    x0 = as_batch(images, channels, check_range=False).to(device)  # checked against value_range below
    if x0.numel() and (not bool(torch.isfinite(x0).all()) or float(x0.min()) < lo_v - 1e-6
                       or float(x0.max()) > hi_v + 1e-6):
        raise ConfigError(f"images: values outside the value range {value_range} (or not finite)")
    return x0


def _ascend(model: nn.Module, x0: torch.Tensor, targets: torch.Tensor, original_classes: torch.Tensor,
            succeeded: Any, lower: torch.Tensor, upper: torch.Tensor, *, max_steps: int, alpha: float,
            method: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient ascent on each image's target log-probability inside ``[lower, upper]``; an image leaves
    the batch once it reaches its target (or its target is its own class). ``(x, steps, history)``:
    the adversarial batch, the steps per image and the target probability before every step."""
    n = len(x0)
    history = torch.full((n, max_steps + 1), float("nan"))
    steps = torch.zeros(n, dtype=torch.long)
    x = x0.clone()
    active = torch.arange(n, device=x0.device)
    for step in range(max_steps + 1):
        if len(active) == 0:
            break
        xa = x[active].detach().requires_grad_(True)
        with torch.enable_grad():
            log_probs = F.log_softmax(model(xa), dim=1)
            chosen = log_probs.gather(1, targets[active].view(-1, 1)).squeeze(1)
            probs = log_probs.detach().exp()
            history[active.cpu(), step] = chosen.detach().exp().cpu()
            # an image whose target is its own predicted class has nothing to be fooled into: left alone
            done = succeeded(probs, targets[active]) | (targets[active] == original_classes[active])
            if step == max_steps:
                break
            keep = ~done
            if not bool(keep.any()):
                break
            (grad,) = torch.autograd.grad(chosen[keep].sum(), xa)
        g = grad[keep]
        if method == "sign":
            direction = g.sign()
        else:
            direction = g / g.abs().flatten(1).max(dim=1).values.clamp_min(1e-20).view(-1, 1, 1, 1)
        moved = xa.detach()[keep] + alpha * direction
        index = active[keep]
        x[index] = torch.minimum(torch.maximum(moved, lower[index]), upper[index])
        steps[index.cpu()] += 1
        active = index
    return x, steps, history


def difference_gray(original: np.ndarray, adversarial: np.ndarray, *,
                    scale: str | float | None = "rank") -> np.ndarray:
    """``|adversarial - original|`` as uint8 ``(H, W)`` scaled to 0..255.

    ``scale="rank"`` (default) gives each changed pixel 255 x the fraction of the changed pixels whose change
    is at most its own (equal changes share a value; unchanged pixels are 0), so a band between two gray
    levels holds a fixed share of the changed pixels whatever the attack's step rule. ``"max"`` (or ``None``)
    divides by the largest difference (so it becomes 255); a number divides by that value (e.g. the attack's
    bound, for a scale fixed across images). Colour images use the largest difference over their channels,
    channels last ``(H, W, C)`` or first ``(C, H, W)``.

    Examples
    --------
    >>> difference_gray(np.zeros((1, 4)), np.array([[0.0, 0.01, 0.02, 0.1]])).tolist()
    [[0, 85, 170, 255]]
    >>> difference_gray(np.zeros((1, 4)), np.array([[0.0, 0.01, 0.02, 0.1]]), scale="max").tolist()
    [[0, 25, 51, 255]]
    """
    a = np.asarray(original, dtype=np.float64)
    b = np.asarray(adversarial, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3):
        raise ConfigError(f"difference map: expected two (H, W), (H, W, C) or (C, H, W) images of one shape, "
                          f"got {a.shape} and {b.shape}")
    diff = np.abs(b - a)
    if diff.ndim == 3:
        if diff.shape[2] in (1, 3, 4):
            channel_axis = 2
        elif diff.shape[0] in (1, 3):  # channels first, as in FoolingResult.original[i]
            channel_axis = 0
        else:
            raise ConfigError(f"difference map: cannot tell the channel axis of shape {a.shape}; "
                              "give (H, W), (H, W, C) or (C, H, W) with C in 1, 3")
        diff = diff.max(axis=channel_axis)
    if isinstance(scale, str) and scale not in DIFFERENCE_SCALES:
        raise ConfigError(f"difference map: scale must be one of {', '.join(DIFFERENCE_SCALES)} or a number > 0, "
                          f"got {scale!r}")
    if scale == "rank":
        changed = diff > _UNCHANGED
        out = np.zeros(diff.shape, np.uint8)
        if changed.any():
            values = np.sort(diff[changed])
            at_most = np.searchsorted(values, diff[changed], side="right")  # equal changes share the higher rank
            out[changed] = np.clip(np.rint(255.0 * at_most / len(values)), 0, 255).astype(np.uint8)
        return out
    if scale is not None and scale != "max" and (not is_number(scale) or not float(scale) > 0):
        raise ConfigError(f"difference map: scale must be one of {', '.join(DIFFERENCE_SCALES)} or a number > 0, "
                          f"got {scale!r}")
    top = float(diff.max()) if scale in (None, "max") else float(scale)
    if top <= 0:
        return np.zeros(diff.shape, np.uint8)
    return np.clip(np.rint(diff / top * 255.0), 0, 255).astype(np.uint8)


def difference_bands(original: np.ndarray, adversarial: np.ndarray, *, scale: str | float | None = "rank",
                     neighbours: bool = True) -> np.ndarray:
    """Band index ``(H, W)`` uint8 of every pixel (0 black ... 4 red, :data:`DIFFERENCE_BANDS`) of the difference
    map; with ``neighbours`` each pixel above 150 also gives its band to its 8 neighbours (the higher band wins),
    as drawn.

    Examples
    --------
    >>> difference_bands(np.zeros((1, 4)), np.array([[0.0, 0.01, 0.02, 0.1]]), neighbours=False).tolist()
    [[0, 0, 1, 4]]
    """
    gray = difference_gray(original, adversarial, scale=scale)
    edges = [low for low, _, _, _ in DIFFERENCE_BANDS[1:]]
    band = np.digitize(gray, edges).astype(np.uint8)  # 0 = black ... 4 = red
    if neighbours:
        band = cv2.dilate(band, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return band


def band_shares(original: np.ndarray, adversarial: np.ndarray, *, scale: str | float | None = "rank",
                neighbours: bool = True) -> dict[str, float]:
    """Share of the changed pixels in each band of the (drawn) difference map, by band name; all 0 when nothing
    changed.

    Examples
    --------
    >>> shares = band_shares(np.zeros((1, 4)), np.array([[0.0, 0.01, 0.02, 0.1]]), neighbours=False)
    >>> {k: round(v, 3) for k, v in shares.items()}
    {'black': 0.333, 'gray': 0.333, 'yellow': 0.0, 'orange': 0.0, 'red': 0.333}
    """
    bands = difference_bands(original, adversarial, scale=scale, neighbours=neighbours)
    diff = np.abs(np.asarray(adversarial, np.float64) - np.asarray(original, np.float64))
    if diff.ndim == 3:
        diff = diff.max(axis=2 if diff.shape[2] in (1, 3, 4) else 0)
    changed = diff > _UNCHANGED
    n = int(changed.sum())
    return {name: (float(np.sum(bands[changed] == k)) / n if n else 0.0)
            for k, (_, _, _, name) in enumerate(DIFFERENCE_BANDS)}


def difference_map(original: np.ndarray, adversarial: np.ndarray, *,
                   scale: str | float | None = "rank") -> np.ndarray:
    """Colour the difference of two images in the bands of :data:`DIFFERENCE_BANDS`.

    The gray difference (:func:`difference_gray`, ``scale`` as there: by default the changes' ranks) is
    cut into bands: ``<= 150`` black, ``151-180`` gray, ``181-200`` yellow, ``201-225`` orange, ``226-255``
    red. Every pixel above 150 also gives its colour to its 8 neighbours; where colours meet, the higher
    band wins.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8 RGB.

    Examples
    --------
    >>> gray = np.zeros((3, 4)); gray[1, 1] = 1.0; gray[0, 3] = 0.65   # 255 (red), 166 (gray)
    >>> rgb = difference_map(np.zeros((3, 4)), gray, scale="max")
    >>> [tuple(int(v) for v in rgb[r, c]) for r, c in [(0, 0), (2, 2), (1, 3), (2, 3)]]
    [(255, 0, 0), (255, 0, 0), (128, 128, 128), (0, 0, 0)]
    """
    band = difference_bands(original, adversarial, scale=scale)
    palette = np.array([colour for _, _, colour, _ in DIFFERENCE_BANDS], dtype=np.uint8)
    return palette[band]
