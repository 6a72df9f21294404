"""A VGG-style identity classifier (ORL faces) and the convolution stack it shares with the Siamese net.

The stack has 10 convolutions of 3x3: 2 x 64 channels, then 8 x 128, each followed by batch
norm and ReLU, with 2x2 max pooling after the 1st, 2nd and 4th convolution (so a 28x24 ORL face
gives a 128 x 3 x 3 map). The classifier averages that map and applies one linear layer (``fc``),
so CAM and Grad-CAM both apply.

Examples
--------
>>> import torch
>>> from affectlab.models import create_model
>>> model = create_model("vgg_identity")
>>> model(torch.rand(2, 1, 28, 24)).shape
torch.Size([2, 40])
>>> model.forward_features(torch.rand(2, 1, 28, 24)).shape
torch.Size([2, 128, 3, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from affectlab.models.registry import (
    AffectNet,
    ModelConfig,
    register_model,
    with_classes,
)

__all__ = ["VGGStack", "VGGIdentity", "vgg_identity", "ORL_SUBJECTS", "ORL_INPUT_SIZE"]

#: ORL subject names ``s1`` ... ``s40`` (the default classes).
ORL_SUBJECTS: tuple[str, ...] = tuple(f"s{i}" for i in range(1, 41))
#: ORL faces here are 23 x 28 pixels (width x height); the nets take them as 28 x 24 (H x W).
ORL_INPUT_SIZE: tuple[int, int] = (28, 24)


class VGGStack(nn.Sequential):
    """``3x3 conv -> BN -> ReLU`` layers with 2x2 max pooling after the chosen layers.

    Parameters
    ----------
    in_channels
        Input channels.
    widths
        Output channels of each convolution (default: 2 x 64 then 8 x 128).
    pool_after
        1-based indices of the convolutions followed by max pooling.
    """

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (64,) * 2 + (128,) * 8,
                 pool_after: Sequence[int] = (1, 2, 4)) -> None:
        layers: list[nn.Module] = []
        previous = in_channels
        for index, width in enumerate(widths, start=1):
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if index in pool_after:
                layers.append(nn.MaxPool2d(2))
            previous = width
        super().__init__(*layers)
        self.out_channels = previous


class VGGIdentity(AffectNet):
    """VGG-style classifier: :class:`VGGStack` -> global average pooling -> dropout -> ``fc``."""

    def __init__(self, config: ModelConfig, widths: Sequence[int] = (64,) * 2 + (128,) * 8,
                 pool_after: Sequence[int] = (1, 2, 4), dropout: float = 0.3) -> None:
        super().__init__(config)
        self.features = VGGStack(config.channels, widths, pool_after)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.features.out_channels, config.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(features).flatten(1)))


@register_model
def vgg_identity(class_names: tuple[str, ...] | None = None, channels: int = 1,
                 input_size: tuple[int, int] = ORL_INPUT_SIZE, dropout: float = 0.3) -> VGGIdentity:
    """VGG-style identity classifier for small gray faces (40 ORL subjects by default)."""
    config = ModelConfig(
        name="vgg_identity",
        input_size=tuple(input_size),
        channels=channels,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
        class_names=ORL_SUBJECTS,
        cam_layer="features",
        feature_layers=("features", "pool"),
    )
    return VGGIdentity(with_classes(config, class_names), dropout=dropout)
