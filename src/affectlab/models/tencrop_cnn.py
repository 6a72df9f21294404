"""The 10-crop expression CNN for 40x40 crops of 48x48 faces, and ten-crop evaluation.

Architecture (input 40x40 gray)::

    conv 64@5x5 -> ReLU -> local response norm -> max-pool 3/2        (20x20)
    conv 64@3x3 -> ReLU -> max-pool 3/2                                (10x10)
    conv 128@3x3 -> conv 128@3x3 -> conv 128@3x3 (ReLU, no pooling)   (10x10)   <- ``conv`` (CAM)
    max-pool 3/2 -> FC 1024 -> FC 1024 -> class logits (softmax)       (5x5)     <- ``pool``, ``fc2``

It is trained on random 40x40 crops with horizontal flips (``TrainConfig(crop_size=40)``) and
evaluated by averaging the softmax over the 10 crops of a 48x48 face: the 4 corners and the
centre, each also mirrored (:func:`ten_crop_predict`; :func:`affectlab.models.train.predict_proba`
does this automatically for models whose config has ``extras["ten_crop"]``).

>>> import torch
>>> from affectlab.models import create_model
>>> net = create_model("tencrop_cnn").eval()
>>> net(torch.rand(2, 1, 40, 40)).shape
torch.Size([2, 7])
>>> ten_crops(torch.rand(2, 1, 48, 48), 40).shape
torch.Size([2, 10, 1, 40, 40])
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from affectlab.models.registry import (
    AffectNet,
    ModelConfig,
    register_model,
    with_classes,
)

__all__ = ["TenCropCNN", "random_crop", "ten_crop_predict", "ten_crops", "tencrop_cnn"]


def ten_crops(x: torch.Tensor, size: int) -> torch.Tensor:
    """The 10 crops of side ``size`` of each image of ``x`` ``(N, C, H, W)``: ``(N, 10, C, size, size)``.

    Order: top-left, top-right, bottom-left, bottom-right, centre, then the same five mirrored
    left-right.
    """
    if x.ndim != 4:
        raise ValueError(f"ten_crops: expected (N, C, H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if size > h or size > w:
        raise ValueError(f"ten_crops: crop {size} is larger than the {h}x{w} images")
    top, left = (h - size) // 2, (w - size) // 2
    origins = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), (top, left)]
    crops = [x[:, :, r : r + size, c : c + size] for r, c in origins]
    crops += [torch.flip(c, dims=[3]) for c in crops]
    return torch.stack(crops, dim=1)


@torch.no_grad()
def ten_crop_predict(model: AffectNet, x: torch.Tensor, *, batch_size: int = 128) -> torch.Tensor:
    """Softmax averaged over the 10 crops: ``x`` ``(N, C, H, W)`` in [0, 1] -> ``(N, n_classes)``.

    The crop side is the model's input size; ``x`` must be at least that large.
    """
    size = model.config.input_size[0]
    out = []
    for start in range(0, len(x), batch_size):
        crops = ten_crops(x[start : start + batch_size], size)
        n = crops.shape[0]
        p = F.softmax(model(crops.flatten(0, 1)), dim=1).view(n, 10, -1).mean(dim=1)
        out.append(p)
    return torch.cat(out) if out else torch.zeros(0, model.config.num_classes)


def random_crop(x: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random ``size`` x ``size`` crop per image of ``x`` ``(N, C, H, W)``."""
    n, _, h, w = x.shape
    if size > h or size > w:
        raise ValueError(f"random_crop: crop {size} is larger than the {h}x{w} images")
    rows = torch.randint(0, h - size + 1, (n,), generator=generator)
    cols = torch.randint(0, w - size + 1, (n,), generator=generator)
    ar = torch.arange(size)
    r_idx = (rows[:, None] + ar[None, :]).to(x.device)  # (n, size)
    c_idx = (cols[:, None] + ar[None, :]).to(x.device)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # gather (n, size, size) positions from every channel
    out = x.permute(0, 2, 3, 1)[batch, r_idx[:, :, None], c_idx[:, None, :]]  # (n, size, size, C)
    return out.permute(0, 3, 1, 2).contiguous()


class TenCropCNN(AffectNet):
    """The 10-crop CNN (see the module docstring)."""

    def __init__(self, config: ModelConfig, dropout: float = 0.5) -> None:
        super().__init__(config)
        c = config.channels
        self.conv = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(c, 64, 5, padding=2)),
            ("relu1", nn.ReLU(inplace=True)),
            ("norm1", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)),
            ("pool1", nn.MaxPool2d(3, stride=2, padding=1)),
            ("conv2", nn.Conv2d(64, 64, 3, padding=1)),
            ("relu2", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(3, stride=2, padding=1)),
            ("conv3", nn.Conv2d(64, 128, 3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(128, 128, 3, padding=1)),
            ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(128, 128, 3, padding=1)),
            ("relu5", nn.ReLU(inplace=True)),
        ]))
        side = config.input_size[0] // 8
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.fc1 = nn.Sequential(nn.Linear(128 * side * side, 1024), nn.ReLU(inplace=True))
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(inplace=True))
        self.drop2 = nn.Dropout(dropout)
        self.classifier = nn.Linear(1024, config.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        x = self.pool(features).flatten(1)
        return self.classifier(self.drop2(self.fc2(self.drop1(self.fc1(x)))))


@register_model
def tencrop_cnn(class_names: tuple[str, ...] | None = None, channels: int = 1, dropout: float = 0.5) -> TenCropCNN:
    """10-crop CNN: 40x40 crops, evaluated by averaging the 10 crops of a 48x48 face (about 4.7 M parameters)."""
    config = ModelConfig(
        name="tencrop_cnn",
        input_size=(40, 40),
        channels=channels,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
        cam_layer="conv",
        feature_layers=("conv", "pool", "fc2"),
        classifier="classifier",
        extras={"ten_crop": True, "eval_size": (48, 48)},
    )
    return TenCropCNN(with_classes(config, class_names), dropout=dropout)
