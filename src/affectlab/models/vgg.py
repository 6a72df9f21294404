"""A VGG-style network for 128x128 faces: 3x3 convolutions, batch norm on the dense layers, dropout 0.3.

21 layers in the VGG-16 layout: five blocks of 3x3 convolutions (2, 2, 3, 3 and 3 of them; 32, 64,
128, 256, 256 channels; 13 in all) with 2x2 max-pooling between them take a 128x128 face to an 8x8
map (``blocks``, the CAM layer); a last max-pool (``pool``, 4x4; 5 poolings in all) feeds two dense
layers of 512 and 256 units, each with batch norm, ReLU and dropout 0.3 (``fc1``, ``fc2``), then the
class layer (3 dense layers). Convolutions start from He-normal weights (fan-out, as VGG), so the
13 plain convolutions train without batch norm of their own.

>>> import torch
>>> from affectlab.models import create_model
>>> net = create_model("vgg_face128").eval()
>>> net(torch.rand(1, 1, 128, 128)).shape
torch.Size([1, 7])
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from affectlab.models.registry import (
    AffectNet,
    ModelConfig,
    register_model,
    with_classes,
)

__all__ = ["VGGFace128", "vgg_face128"]


def _conv_block(in_ch: int, out_ch: int, n_convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(n_convs):
        conv = nn.Conv2d(in_ch if k == 0 else out_ch, out_ch, 3, padding=1)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _dense(in_features: int, out_features: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, out_features, bias=False), nn.BatchNorm1d(out_features),
                         nn.ReLU(inplace=True), nn.Dropout(dropout))


class VGGFace128(AffectNet):
    """VGG-style net (see the module docstring); ``widths`` are the channels of the five blocks and ``depths``
    their numbers of convolutions."""

    def __init__(self, config: ModelConfig, widths: tuple[int, ...] = (32, 64, 128, 256, 256),
                 dense: tuple[int, int] = (512, 256), dropout: float = 0.3,
                 depths: tuple[int, ...] = (2, 2, 3, 3, 3)) -> None:
        super().__init__(config)
        if len(depths) != len(widths):
            raise ValueError(f"depths {depths} and widths {widths} must have one entry per block")
        layers: list[tuple[str, nn.Module]] = []
        in_ch = config.channels
        for i, (width, depth) in enumerate(zip(widths, depths), start=1):
            if i > 1:
                layers.append((f"pool{i - 1}", nn.MaxPool2d(2)))
            layers.append((f"block{i}", _conv_block(in_ch, width, depth)))
            in_ch = width
        self.blocks = nn.Sequential(OrderedDict(layers))
        side = config.input_size[0] // 2 ** len(widths)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = _dense(in_ch * side * side, dense[0], dropout)
        self.fc2 = _dense(dense[0], dense[1], dropout)
        self.classifier = nn.Linear(dense[1], config.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fc2(self.fc1(self.pool(features).flatten(1))))


@register_model
def vgg_face128(class_names: tuple[str, ...] | None = None, channels: int = 1, dropout: float = 0.3) -> VGGFace128:
    """VGG-style net for 128x128 faces, 21 layers (13 conv, 5 pool, 3 dense; about 5.9 M parameters)."""
    config = ModelConfig(
        name="vgg_face128",
        input_size=(128, 128),
        channels=channels,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
        cam_layer="blocks",
        feature_layers=("blocks", "pool", "fc2"),
        classifier="classifier",
    )
    return VGGFace128(with_classes(config, class_names), dropout=dropout)
