"""Batched, torch-native image augmentation (random affine + horizontal flip) in pixel space."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["AugmentConfig", "random_affine"]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random affine transform; all zeros/False disables augmentation."""

    max_rotation_deg: float = 10.0
    max_scale: float = 0.1  # scale drawn from [1 - s, 1 + s]
    max_translate: float = 0.1  # fraction of the image side
    flip: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.max_rotation_deg or self.max_scale or self.max_translate or self.flip)


def random_affine(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply one random rotation/scale/translation/flip per image of ``x`` ``(N, C, H, W)``.

    Out-of-image pixels are filled by border replication, so no black corners appear.
    """
    if not config.enabled:
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
