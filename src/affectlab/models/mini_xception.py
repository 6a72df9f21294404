"""Residual separable-convolution mini-Xception (Arriaga et al., 2017), about 57k parameters."""

from __future__ import annotations

import torch
from torch import nn

from affectlab.models.registry import AffectNet, ModelConfig, register_model, with_classes

__all__ = ["MiniXception", "mini_xception"]


class SeparableConv2d(nn.Sequential):
    """Depthwise 3x3 then pointwise 1x1 convolution, no bias (followed by batch norm)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            nn.Conv2d(in_ch, in_ch, 3, padding=1, groups=in_ch, bias=False),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
        )


class ResidualSeparableBlock(nn.Module):
    """Two separable convs + max-pool, plus a strided 1x1 conv shortcut; output halves H and W."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=2, bias=False), nn.BatchNorm2d(out_ch))
        self.body = nn.Sequential(
            SeparableConv2d(in_ch, out_ch),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            SeparableConv2d(out_ch, out_ch),
            nn.BatchNorm2d(out_ch),
            nn.MaxPool2d(3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class MiniXception(AffectNet):
    """Mini-Xception: 2 plain convs (8 ch), 4 residual separable blocks, conv to classes, GAP.

    ``forward_features`` returns the last block's map (128 x 3 x 3 for 48x48 input); the head is
    the class convolution followed by global average pooling, so CAM applies directly. Feature
    layers: ``blocks`` (that map) and ``pool`` (the pooled class maps, i.e. the logits).
    """

    def __init__(self, config: ModelConfig, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__(config)
        c = config.channels
        self.stem = nn.Sequential(
            nn.Conv2d(c, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        )
        blocks, in_ch = [], 8
        for width in widths:
            blocks.append(ResidualSeparableBlock(in_ch, width))
            in_ch = width
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Conv2d(in_ch, config.num_classes, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.pool(self.classifier(features)).flatten(1)


@register_model(pretrained="mini_xception_fer2013.pt")
def mini_xception(class_names: tuple[str, ...] | None = None, channels: int = 1) -> MiniXception:
    """Mini-Xception for 48x48 gray faces (7 FER2013 expressions by default)."""
    config = ModelConfig(
        name="mini_xception",
        input_size=(48, 48),
        channels=channels,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
        cam_layer="blocks",
        feature_layers=("blocks", "pool"),
        classifier="classifier",
    )
    return MiniXception(with_classes(config, class_names))
