"""Tiny hand-checkable networks for the explainer tests (a uniquely named helper module: a second
``conftest.py`` would clash with the others under ``--doctest-modules``)."""

from __future__ import annotations

import torch
from torch import nn

from affectlab.models import AffectNet, ModelConfig


class TinyGAPNet(AffectNet):
    """conv(1->3, 1x1) -> ReLU -> GAP -> fc(3->2): CAM is sum_k w_ck F_k by construction."""

    def __init__(self) -> None:
        super().__init__(ModelConfig(name="tiny", input_size=(4, 4), mean=(0.0,), std=(1.0,),
                                     class_names=("a", "b"), cam_layer="conv"))
        self.conv = nn.Conv2d(1, 3, 1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, 2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(features).flatten(1))


class LeftHalfNet(AffectNet):
    """Logit 0 depends only on the left half of the image (logit 1 is a constant).

    The right half is masked out before the convolution; the head sums the features (a linear
    map named ``out``, which CAM does not look for).
    """

    def __init__(self) -> None:
        super().__init__(ModelConfig(name="left", input_size=(8, 8), mean=(0.0,), std=(1.0,),
                                     class_names=("left", "other"), cam_layer="conv"))
        self.conv = nn.Conv2d(1, 2, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, 0.5]).view(2, 1, 1, 1))
            self.conv.bias.zero_()
        self.relu = nn.ReLU()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.ones_like(x)
        mask[..., x.shape[-1] // 2:] = 0
        return self.relu(self.conv(x * mask))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        total = features.sum(dim=(1, 2, 3))
        return torch.stack([total, torch.zeros_like(total)], dim=1)


def hook_count(model: nn.Module) -> int:
    """Number of hooks registered on a model's modules."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules())
