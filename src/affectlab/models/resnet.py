"""A compact ResNet for 48x48 gray faces, sized for training on a few CPU cores.

Pre-activation is not used: each :class:`BasicBlock` is conv-BN-ReLU-conv-BN plus an identity (or
strided 1x1) shortcut, as in He et al. (2016). The stem keeps full resolution for one cheap 3x3
convolution, then every stage halves the map (48 -> 24 -> 12 -> 6 -> 3 for the default four
stages), so most computation runs on small maps. The head is global average pooling, dropout and a
linear layer, so CAM applies to ``stages``.

>>> import torch
>>> from affectlab.models import create_model
>>> net = create_model("resnet_fer").eval()
>>> net(torch.rand(2, 1, 48, 48)).shape
torch.Size([2, 7])
"""

from __future__ import annotations

import torch
from torch import nn

from affectlab.models.registry import (
    AffectNet,
    ModelConfig,
    register_model,
    with_classes,
)

__all__ = ["BasicBlock", "ResNetFER", "resnet18_fer", "resnet_fer", "resnet_fer_wide"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual shortcut (strided 1x1 when shapes differ)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetFER(AffectNet):
    """Stem conv (full resolution) + stages of :class:`BasicBlock`, each stage stride 2; GAP head.

    Parameters
    ----------
    config
        The model's :class:`ModelConfig`.
    widths, depths
        Channels and number of blocks per stage.
    stem_width
        Channels of the stem convolution.
    dropout
        Dropout before the final linear layer.
    """

    def __init__(
        self,
        config: ModelConfig,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        depths: tuple[int, ...] = (1, 1, 1, 1),
        stem_width: int = 32,
        dropout: float = 0.3,
    ) -> None:
        super().__init__(config)
        if len(widths) != len(depths) or not widths:
            raise ValueError("widths and depths must be non-empty and of equal length")
        self.stem = nn.Sequential(
            nn.Conv2d(config.channels, stem_width, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
        )
        stages, in_ch = [], stem_width
        for width, depth in zip(widths, depths):
            blocks = [BasicBlock(in_ch, width, stride=2)] + [BasicBlock(width, width) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            in_ch = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # zero-init the last BN of each block: blocks start as identities
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(features).flatten(1)))


def _config(name: str, channels: int, class_names: tuple[str, ...] | None, input_size: tuple[int, int] = (48, 48),
            extras: dict | None = None) -> ModelConfig:
    config = ModelConfig(
        name=name,
        input_size=input_size,
        channels=channels,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
        cam_layer="stages",
        feature_layers=("stages", "pool"),
        classifier="fc",
        extras=dict(extras or {}),
    )
    return with_classes(config, class_names)


@register_model(pretrained="resnet_fer_fer2013.pt")
def resnet_fer(class_names: tuple[str, ...] | None = None, channels: int = 1, dropout: float = 0.2) -> ResNetFER:
    """ResNet for 48x48 faces: stem 16, stages 32-64-128-256 of one block each (about 1.2 M parameters).

    Sized so one FER2013 epoch takes about 1.5 minutes on one CPU core (channels-last). Classified with mirror
    test-time augmentation by default (``extras["tta"]``): PublicTest 0.646 accuracy / 0.586 UAR instead of
    0.641 / 0.583, about 2.7 ms per face at batch size 1 on one thread.
    """
    return ResNetFER(_config("resnet_fer", channels, class_names, extras={"tta": "mirror"}),
                     widths=(32, 64, 128, 256), depths=(1, 1, 1, 1), stem_width=16, dropout=dropout)


@register_model
def resnet_fer_wide(class_names: tuple[str, ...] | None = None, channels: int = 1, dropout: float = 0.3) -> ResNetFER:
    """Twice as wide (stem 32, stages 64-128-256-512, about 4.9 M parameters), for a GPU."""
    return ResNetFER(_config("resnet_fer_wide", channels, class_names), widths=(64, 128, 256, 512),
                     depths=(1, 1, 1, 1), stem_width=32, dropout=dropout)


@register_model(pretrained="resnet18_fer_fer2013.pt")
def resnet18_fer(class_names: tuple[str, ...] | None = None, channels: int = 1, dropout: float = 0.2) -> ResNetFER:
    """ResNet-18 layout at half width for 40x40 crops of 48x48 faces: stem 16, stages 32-64-128-256 of two
    blocks each (about 2.8 M parameters, 53 M multiply-adds per 40x40 crop).

    Trained on random 40x40 crops (``TrainConfig(crop_size=40)``); a 48x48 face (``extras["eval_size"]``) is
    classified from its centre crop (``extras["crop"] = "center"``, :func:`affectlab.models.predict_probabilities`),
    which takes about 2.5-3 ms at batch size 1 on one CPU thread.
    """
    extras = {"eval_size": (48, 48), "crop": "center"}
    return ResNetFER(_config("resnet18_fer", channels, class_names, input_size=(40, 40), extras=extras),
                     widths=(32, 64, 128, 256), depths=(2, 2, 2, 2), stem_width=16, dropout=dropout)
