"""Transforms applied identically to the onset and the apex of a pair.

Pairs are stacked as ``(N, 2, H, W)`` (channel 0 onset, channel 1 apex), so every per-sample
transform of :mod:`affectlab.models.augment` (one random affine per sample, shared by its
channels) and :func:`~affectlab.models.tencrop_cnn.random_crop` (one crop per sample) moves both
images of a pair the same way, while different pairs get different draws.

Examples
--------
>>> import numpy as np
>>> x = stack_pairs(np.zeros((3, 48, 48), np.uint8), np.ones((3, 48, 48), np.uint8))
>>> x.shape, center_crop(x, 44).shape
((3, 2, 48, 48), (3, 2, 44, 44))
"""

from __future__ import annotations

import numpy as np
import torch

from affectlab.checks import is_integer
from affectlab.errors import DataError
from affectlab.models.augment import AugmentConfig, random_affine
from affectlab.models.tencrop_cnn import random_crop

__all__ = ["augment_pairs", "center_crop", "stack_pairs"]


def stack_pairs(onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` onset and apex images -> ``(N, 2, H, W)`` (same dtype)."""
    onset, apex = np.asarray(onset), np.asarray(apex)
    if onset.shape != apex.shape or onset.ndim != 3:
        raise DataError(f"onset {onset.shape} and apex {apex.shape} must both be (N, H, W)")
    return np.stack([onset, apex], axis=1)


def center_crop(x: np.ndarray | torch.Tensor, size: int) -> np.ndarray | torch.Tensor:
    """The central ``size`` x ``size`` window of ``(..., H, W)`` images."""
    h, w = x.shape[-2:]
    if not is_integer(size) or size < 1:
        raise DataError(f"crop size must be a positive int, got {size!r}")
    if size > h or size > w:
        raise DataError(f"crop {size} is larger than the {h}x{w} images")
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size]


def augment_pairs(x: torch.Tensor, *, augment: AugmentConfig, crop: int | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One random affine (rotation, scale, shift, flip) and crop per pair of ``x`` ``(N, 2, H, W)``,
    the same for its onset and apex."""
    if x.ndim != 4 or x.shape[1] != 2:
        raise DataError(f"pairs must be (N, 2, H, W), got {tuple(x.shape)}")
    out = random_affine(x, augment, generator)
    return random_crop(out, crop, generator) if crop else out
