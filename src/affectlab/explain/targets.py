"""Targets and success criteria: small callables shared by explainers and attacks.

A *target* says which class to explain (or to attack towards) for every image of a batch:

- ``None`` -> the predicted class (:func:`predicted`);
- an ``int`` -> that class for every image;
- a sequence / array / tensor of ``N`` ints -> one class per image;
- a callable ``(logits) -> (N,) long tensor``, e.g. :func:`most_likely_wrong`.

A *success criterion* is a callable ``(probabilities, targets) -> (N,) bool tensor``, e.g.
:func:`reaches_probability`.

Examples
--------
>>> import torch
>>> logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
>>> resolve_targets(None, logits).tolist()
[0, 1]
>>> resolve_targets(most_likely_wrong(), logits).tolist()
[1, 2]
>>> resolve_targets(most_likely_wrong(exclude=[2, 1]), logits).tolist()
[0, 2]
>>> reaches_probability(0.9)(torch.tensor([[0.95, 0.05], [0.5, 0.5]]), torch.tensor([0, 1])).tolist()
[True, False]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from affectlab.checks import is_number
from affectlab.errors import ConfigError

__all__ = [
    "Target",
    "SuccessCriterion",
    "predicted",
    "most_likely_wrong",
    "reaches_probability",
    "resolve_targets",
]

TargetFn = Callable[[torch.Tensor], torch.Tensor]
Target = None | int | Sequence[int] | np.ndarray | torch.Tensor | TargetFn
SuccessCriterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def predicted() -> TargetFn:
    """Target the class with the highest logit."""

    def target(logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=1)

    return target


def most_likely_wrong(exclude: Sequence[int] | np.ndarray | torch.Tensor | None = None) -> TargetFn:
    """Target the most likely class other than ``exclude`` (one class per image).

    ``exclude`` defaults to the predicted class, so the target is the runner-up.
    """

    def target(logits: torch.Tensor) -> torch.Tensor:
        masked = logits.detach().clone()
        if exclude is None:
            drop = masked.argmax(dim=1)
        else:
            drop = torch.as_tensor(np.asarray(exclude), dtype=torch.long, device=logits.device).reshape(-1)
            if drop.numel() != len(masked):
                raise ConfigError(f"most_likely_wrong: {drop.numel()} excluded classes for {len(masked)} images")
        masked[torch.arange(len(masked), device=masked.device), drop] = float("-inf")
        return masked.argmax(dim=1)

    return target


def reaches_probability(threshold: float = 0.9) -> SuccessCriterion:
    """Success when the target class has probability ``>= threshold``."""
    if not is_number(threshold) or not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must lie in (0, 1], got {threshold!r}")

    def success(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return probabilities.gather(1, targets.view(-1, 1)).squeeze(1) >= threshold

    return success


def _class_indices(values: np.ndarray, n: int) -> np.ndarray:
    """Whole-number class indices as int64 ``(-1,)`` (a single one repeated ``n`` times); others refused."""
    numeric = np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)
    if values.dtype == bool or not numeric:
        shown = repr(values.tolist())
        raise ConfigError(f"target: class indices must be integers (one, or one per image) or a callable, got "
                          f"{shown[:80]}{'...' if len(shown) > 80 else ''}")
    if np.issubdtype(values.dtype, np.floating) and not np.all(np.isfinite(values) & (values == np.round(values))):
        raise ConfigError(f"target: class indices must be whole numbers, got {values.reshape(-1)[:8].tolist()}")
    values = values.astype(np.int64)
    return np.full(n, int(values)) if values.ndim == 0 else values.reshape(-1)


def resolve_targets(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """The class index per image, ``(N,)`` long, for ``target`` given the batch's ``logits``.

    Raises
    ------
    ConfigError
        Wrong count, a class outside ``0..n_classes-1``, or a value that is not a whole number
        (a class name, a bool, 2.7).
    """
    n, n_classes = logits.shape
    if target is None:
        out = logits.argmax(dim=1)
    else:
        values = target(logits) if callable(target) else target
        values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        out = torch.as_tensor(_class_indices(values, n), dtype=torch.long, device=logits.device)
    if out.numel() != n:
        raise ConfigError(f"target: {out.numel()} classes given for {n} images")
    if n and (int(out.min()) < 0 or int(out.max()) >= n_classes):
        raise ConfigError(f"target: class index out of range 0..{n_classes - 1}: {out.tolist()}")
    return out.detach()
