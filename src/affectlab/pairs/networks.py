"""Pair networks for posed vs spontaneous recognition: DiffCNN and CompCNN (Sub / Comb at depth 1, 2, 3).

Input is a stacked pair ``(N, 2, H, W)`` float in ``[0, 1]``: channel 0 the onset, channel 1 the
apex (44x44 gray by default); normalisation (mean 0.5, sd 0.25) is inside the net.

- :class:`DiffCNN`: three conv(3x3)+ReLU+max-pool blocks and two FC layers on the difference
  image ``apex - onset``.
- :class:`CompCNN`: two weight-sharing convolutional paths (one module applied to both images)
  up to block ``i``; a :class:`ComparisonLayer` joins them,

  * ``sub``: ``Z = ReLU(X - Y)``;
  * ``comb``: ``Z = ReLU(A X + B Y)`` with learned ``C x C`` channel-mixing matrices ``A``, ``B``
    (1x1 convolutions without bias; ``A = I, B = -I`` is exactly ``sub``),

  where ``X`` is the apex path and ``Y`` the onset path; then the remaining blocks and the FC
  layers run on ``Z``. The two paths share weights and, in training, their dropout masks.

Dropout 0.05 / 0.15 / 0.25 follows the three pools and 0.5 / 0.25 the first two FC layers.
Every net is an :class:`~affectlab.models.registry.AffectNet` (``forward_features`` -> last
spatial map, ``forward_head`` -> logits) and has :meth:`PairNet.second_fc` for the second-FC
output used by the CompCNN-SVM.

Examples
--------
>>> import torch
>>> net = build_pair_network("CompCNN-Comb@2", channels=(4, 8, 8), fc=(16, 8))
>>> net(torch.rand(3, 2, 44, 44)).shape, net.second_fc(torch.rand(3, 2, 44, 44)).shape
(torch.Size([3, 2]), torch.Size([3, 8]))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from affectlab.checks import is_integer
from affectlab.errors import ConfigError
from affectlab.models.registry import AffectNet, ModelConfig
from affectlab.pairs.proxy import PAIR_CLASSES

__all__ = [
    "FC_DROPOUT",
    "PAIR_MODELS",
    "POOL_DROPOUT",
    "CompCNN",
    "ComparisonLayer",
    "DiffCNN",
    "PairNet",
    "build_pair_network",
]

#: Names accepted by :func:`build_pair_network`, in the order of the method's table.
PAIR_MODELS: tuple[str, ...] = (
    "DiffCNN",
    "CompCNN-Sub@1", "CompCNN-Sub@2", "CompCNN-Sub@3",
    "CompCNN-Comb@1", "CompCNN-Comb@2", "CompCNN-Comb@3",
)
POOL_DROPOUT: tuple[float, float, float] = (0.05, 0.15, 0.25)
FC_DROPOUT: tuple[float, float] = (0.5, 0.25)


def _block(cin: int, cout: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Dropout(dropout))


def _config(name: str, input_size: tuple[int, int], cam_layer: str) -> ModelConfig:
    return ModelConfig(name=name, input_size=input_size, channels=2, cam_layer=cam_layer, mean=(0.5, 0.5),
                       std=(0.25, 0.25), class_names=PAIR_CLASSES, classifier="head.7", extras={"pair": True})


class ComparisonLayer(nn.Module):
    """``Z = ReLU(X - Y)`` (``sub``) or ``Z = ReLU(A X + B Y)`` over channels (``comb``).

    >>> import torch
    >>> layer = ComparisonLayer("comb", 3); layer.init_as_subtraction()
    >>> x, y = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    >>> bool(torch.allclose(layer(x, y), ComparisonLayer("sub", 3)(x, y)))
    True
    """

    def __init__(self, mode: Literal["sub", "comb"], channels: int) -> None:
        super().__init__()
        if mode not in ("sub", "comb"):
            raise ValueError(f"comparison mode must be 'sub' or 'comb', got {mode!r}")
        self.mode = mode
        self.channels = channels
        if mode == "comb":
            self.weight_x = nn.Conv2d(channels, channels, 1, bias=False)
            self.weight_y = nn.Conv2d(channels, channels, 1, bias=False)

    @torch.no_grad()
    def init_as_subtraction(self) -> None:
        """Set ``A = I`` and ``B = -I`` (``comb`` only), which makes the layer compute ``sub``."""
        if self.mode != "comb":
            raise ValueError("init_as_subtraction applies to the 'comb' comparison only")
        eye = torch.eye(self.channels).view(self.channels, self.channels, 1, 1)
        self.weight_x.weight.copy_(eye)
        self.weight_y.weight.copy_(-eye)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = x - y if self.mode == "sub" else self.weight_x(x) + self.weight_y(y)
        return torch.relu(z)


class PairNet(AffectNet):
    """Shared parts: the FC head (FC1 -> ReLU -> dropout 0.5 -> FC2 -> ReLU -> dropout 0.25 -> logits)."""

    def __init__(self, name: str, *, channels: Sequence[int], fc: Sequence[int],
                 input_size: tuple[int, int], cam_layer: str) -> None:
        super().__init__(_config(name, input_size, cam_layer))
        sizes = (channels, fc)
        if not all(isinstance(v, list | tuple) and all(is_integer(c) for c in v)
                   for v in sizes) or len(channels) != 3 or len(fc) != 2 or min(*channels, *fc) < 1:
            raise ValueError(f"channels must be 3 and fc 2 positive integer sizes, got {channels!r} and {fc!r}")
        h, w = input_size
        if min(h, w) < 8:
            raise ValueError(f"input_size {input_size} is too small (three 2x2 pools need >= 8 pixels)")
        self.channels = tuple(int(c) for c in channels)
        flat = self.channels[2] * (h // 8) * (w // 8)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, fc[0]), nn.ReLU(inplace=True), nn.Dropout(FC_DROPOUT[0]),
            nn.Linear(fc[0], fc[1]), nn.ReLU(inplace=True), nn.Dropout(FC_DROPOUT[1]), nn.Linear(fc[1], 2),
        )

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def second_fc(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel-space pairs ``(N, 2, H, W)`` -> the second FC layer's output after ReLU ``(N, fc[1])``."""
        return self.head[:6](self.forward_features(self.normalize(x)))


class DiffCNN(PairNet):
    """Three conv blocks and two FC layers on the difference image ``apex - onset``."""

    def __init__(self, *, channels: Sequence[int] = (32, 64, 64), fc: Sequence[int] = (256, 128),
                 input_size: tuple[int, int] = (44, 44)) -> None:
        super().__init__("DiffCNN", channels=channels, fc=fc, input_size=input_size, cam_layer="blocks.2.0")
        c = (1, *self.channels)
        self.blocks = nn.Sequential(*[_block(c[k], c[k + 1], POOL_DROPOUT[k]) for k in range(3)])

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x[:, 1:2] - x[:, 0:1])


class CompCNN(PairNet):
    """Weight-sharing paths up to block ``position``, a comparison layer, then the remaining blocks.

    ``comb_init="subtraction"`` starts the ``comb`` layer at ``(I, -I)``; ``"random"`` keeps
    PyTorch's default initialisation.
    """

    def __init__(self, mode: Literal["sub", "comb"], position: int, *, channels: Sequence[int] = (32, 64, 64),
                 fc: Sequence[int] = (256, 128), input_size: tuple[int, int] = (44, 44),
                 comb_init: Literal["random", "subtraction"] = "random") -> None:
        if position not in (1, 2, 3):
            raise ValueError(f"comparison position must be 1, 2 or 3, got {position!r}")
        super().__init__(f"CompCNN-{mode.capitalize()}@{position}", channels=channels, fc=fc, input_size=input_size,
                         cam_layer=f"rest.{2 - position}.0" if position < 3 else "shared.2.0")
        self.mode, self.position = mode, position
        c = (1, *self.channels)
        self.shared = nn.Sequential(*[_block(c[k], c[k + 1], POOL_DROPOUT[k]) for k in range(position)])
        self.compare = ComparisonLayer(mode, c[position])
        self.rest = nn.Sequential(*[_block(c[k], c[k + 1], POOL_DROPOUT[k]) for k in range(position, 3)])
        if mode == "comb":
            if comb_init == "subtraction":
                self.compare.init_as_subtraction()
            elif comb_init != "random":
                raise ValueError(f"comb_init must be 'random' or 'subtraction', got {comb_init!r}")

    def paths(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised pairs -> ``(X, Y)``: the shared path's maps of the apex and of the onset.

        In training, each dropout layer of the shared path draws one mask per pair and applies it
        to both paths, so identical images give identical maps (and ``Z = 0`` for ``sub``) in
        training too; independent masks would bury the small onset/apex change in dropout noise.
        """
        apex, onset = x[:, 1:2], x[:, 0:1]
        for conv, act, pool, drop in self.shared:
            apex, onset = pool(act(conv(apex))), pool(act(conv(onset)))
            if self.training and drop.p > 0:
                keep = torch.empty_like(apex).bernoulli_(1.0 - drop.p).div_(1.0 - drop.p)
                apex, onset = apex * keep, onset * keep
        return apex, onset

    def comparison_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel-space pairs -> the comparison layer's output ``Z``."""
        return self.compare(*self.paths(self.normalize(x)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(self.compare(*self.paths(x)))


_NAME = re.compile(r"^CompCNN-(Sub|Comb)@([123])$", re.IGNORECASE)


def build_pair_network(name: str, *, channels: Sequence[int] = (32, 64, 64), fc: Sequence[int] = (256, 128),
                       input_size: tuple[int, int] = (44, 44),
                       comb_init: Literal["random", "subtraction"] = "random") -> PairNet:
    """A network of :data:`PAIR_MODELS` by name (``"DiffCNN"``, ``"CompCNN-Sub@2"``, ...)."""
    if comb_init not in ("random", "subtraction"):  # checked for every net, so a config's typo never passes unseen
        raise ConfigError(f"pair model {name!r}: comb_init must be 'random' or 'subtraction', got {comb_init!r}")
    try:
        if not isinstance(name, str):
            raise ConfigError(f"pair model {name!r} is unknown (known: {', '.join(PAIR_MODELS)})")
        if name.lower() == "diffcnn":
            return DiffCNN(channels=channels, fc=fc, input_size=input_size)
        match = _NAME.match(name)
        if match is None:
            raise ConfigError(f"pair model {name!r} is unknown (known: {', '.join(PAIR_MODELS)})")
        return CompCNN(match.group(1).lower(), int(match.group(2)), channels=channels, fc=fc,  # type: ignore[arg-type]
                       input_size=input_size, comb_init=comb_init)
    except ValueError as exc:
        raise ConfigError(f"pair model {name!r}: {exc}") from None
