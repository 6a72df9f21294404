"""Batched, torch-native image augmentation in pixel space: random affine + horizontal flip, and random erasing."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["AugmentConfig", "random_affine", "random_erase"]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random affine transform and the random-erasing probability; all zeros/False disables
    augmentation."""

    max_rotation_deg: float = 10.0
    max_scale: float = 0.1  # scale drawn from [1 - s, 1 + s]
    max_translate: float = 0.1  # fraction of the image side
    flip: bool = True
    erase_prob: float = 0.0  # random erasing (Zhong et al. 2020): chance per image of one noise-filled rectangle

    @property
    def affine(self) -> bool:
        """Whether the random affine transform (or the flip) changes anything."""
        return bool(self.max_rotation_deg or self.max_scale or self.max_translate or self.flip)

    @property
    def enabled(self) -> bool:
        return self.affine or self.erase_prob > 0


def random_affine(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply one random rotation/scale/translation/flip per image of ``x`` ``(N, C, H, W)``.

    Out-of-image pixels are filled by border replication, so no black corners appear.
    """
    if not config.affine:
        return x
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator, device="cpu").to(x.device) * (high - low) + low

    angle = uniform(-config.max_rotation_deg, config.max_rotation_deg) * (math.pi / 180.0)
    scale = uniform(1.0 - config.max_scale, 1.0 + config.max_scale)
    tx = uniform(-config.max_translate, config.max_translate) * 2.0
    ty = uniform(-config.max_translate, config.max_translate) * 2.0
    flip = torch.ones(n, device=x.device)
    if config.flip:
        flip = torch.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    ).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erase(x: torch.Tensor, prob: float, generator: torch.Generator | None = None, *,
                 scale: tuple[float, float] = (0.02, 0.25), ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """With probability ``prob`` per image of ``x`` ``(N, C, H, W)``, replace one random rectangle by uniform noise.

    The rectangle covers a fraction of the image drawn from ``scale`` with an aspect ratio (height / width) drawn
    log-uniformly from ``ratio``, clipped to the image. ``prob`` 0 returns ``x`` itself and draws nothing.

    >>> x = torch.zeros(4, 1, 8, 8)
    >>> bool((random_erase(x, 1.0, torch.Generator().manual_seed(0)) != 0).flatten(1).any(1).all())
    True
    >>> random_erase(x, 0.0) is x
    True
    """
    if prob <= 0:
        return x
    n, _, h, w = x.shape
    u = torch.rand(n, 5, generator=generator, device="cpu")
    area = h * w * (scale[0] + u[:, 1] * (scale[1] - scale[0]))
    aspect = torch.exp(math.log(ratio[0]) + u[:, 2] * (math.log(ratio[1]) - math.log(ratio[0])))
    eh = torch.sqrt(area * aspect).round().clamp(1, h)
    ew = torch.sqrt(area / aspect).round().clamp(1, w)
    top = torch.floor(u[:, 3] * (h - eh + 1))
    left = torch.floor(u[:, 4] * (w - ew + 1))
    rows = torch.arange(h, dtype=torch.float32)[None, :, None]
    cols = torch.arange(w, dtype=torch.float32)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + eh)[:, None, None])
              & (cols >= left[:, None, None]) & (cols < (left + ew)[:, None, None]))
    mask = (inside & (u[:, 0] < prob)[:, None, None])[:, None].to(x.device)
    noise = torch.rand(x.shape, generator=generator, device="cpu").to(device=x.device, dtype=x.dtype)
    return torch.where(mask, noise, x)
