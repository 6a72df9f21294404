"""A Siamese same/different network: two weight-sharing VGG branches joined by two linear layers.

Each branch is the 10-layer :class:`~affectlab.models.identity.VGGStack` (2 x 64 then 8 x 128
3x3 convolutions with pooling). Its last map is the face's embedding, flattened (``embedding=
"flatten"``, default: 128 x 3 x 3 = 1152 values for a 28 x 24 face, which keeps where things are
on the face) or globally averaged (``"gap"``, 128 values). The pair is joined symmetrically,
``[|e_a - e_b|, e_a * e_b]``, then ``fc1`` (ReLU) and ``fc2`` give one logit for "same person" (``join="fc"``, the
seed's); or ``join="cosine"``: the logit is ``scale * (cos(e_a, e_b) - offset)`` with two learnt numbers, which keeps
the geometry of a branch that already embeds faces (a distilled one) instead of learning a new head from few
subjects (:func:`affectlab.identity.train.calibrate_cosine_join` sets them from training pairs).
This is a pair model, not a classifier of single images, so it is built with :func:`siamese_vgg`
rather than ``create_model``; it still exposes ``normalize`` / ``forward_features`` (one image ->
the branch's last map) for heatmaps.

Examples
--------
>>> import torch
>>> net = siamese_vgg()
>>> a, b = torch.rand(3, 1, 28, 24), torch.rand(3, 1, 28, 24)
>>> net(a, b).shape, net.forward_features(net.normalize(a)).shape
(torch.Size([3]), torch.Size([3, 128, 3, 3]))
>>> torch.allclose(net(a, b), net(b, a), atol=1e-6)     # symmetric in its two inputs
True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from affectlab.models.identity import ORL_INPUT_SIZE, VGGStack
from affectlab.models.registry import ModelConfig

__all__ = ["JOINS", "SiameseNet", "siamese_vgg", "SIAMESE_CLASSES"]

#: How the two embeddings become one "same" logit (see the module docstring).
JOINS = ("fc", "cosine")

#: Output classes of a pair: index 1 ("same") is the logit's positive side.
SIAMESE_CLASSES: tuple[str, str] = ("different", "same")


class SiameseNet(nn.Module):
    """Shared-weight VGG branches + two fully connected layers -> logit of "same person".

    Input: two batches ``(N, C, H, W)`` float32 in ``[0, 1]``; normalisation is inside.

    Parameters
    ----------
    config
        Input size, channels and normalisation (``class_names`` are ``("different", "same")``).
    widths, pool_after
        The branch's convolutions (see :class:`~affectlab.models.identity.VGGStack`).
    hidden
        Units of ``fc1``.
    l2_normalize
        Scale embeddings to unit length before joining.
    embedding
        ``"flatten"`` (the whole last map) or ``"gap"`` (its global average).
    dropout
        Dropout on the joined pair features (training only).
    input_norm
        ``"fixed"`` (``(x - mean) / std`` with the config's constants) or ``"per_image"`` (each
        image to zero mean and unit sd over its pixels: removes lighting offset and gain).
    join
        ``"fc"`` (two fully connected layers) or ``"cosine"`` (``scale * (cos - offset)``; ``hidden`` and
        ``dropout`` unused).
    """

    def __init__(self, config: ModelConfig, widths: Sequence[int] = (64,) * 2 + (128,) * 8,
                 pool_after: Sequence[int] = (1, 2, 4), hidden: int = 128, l2_normalize: bool = False,
                 embedding: str = "flatten", dropout: float = 0.0, input_norm: str = "fixed",
                 join: str = "fc") -> None:
        super().__init__()
        if join not in JOINS:
            raise ValueError(f"join must be one of {', '.join(JOINS)}, got {join!r}")
        self.join_kind = join
        if embedding not in ("flatten", "gap"):
            raise ValueError(f"embedding must be 'flatten' or 'gap', got {embedding!r}")
        if input_norm not in ("fixed", "per_image"):
            raise ValueError(f"input_norm must be 'fixed' or 'per_image', got {input_norm!r}")
        self.input_norm = input_norm
        self.l2_normalize = bool(l2_normalize)
        self.embedding = embedding
        self.config = config
        self.register_buffer("_mean", torch.tensor(config.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("_std", torch.tensor(config.std, dtype=torch.float32).view(1, -1, 1, 1))
        self.branch = VGGStack(config.channels, widths, pool_after)
        self.pool = nn.AdaptiveAvgPool2d(1)
        if embedding == "gap":
            dim = self.branch.out_channels
        else:
            with torch.no_grad():
                dim = self.branch(torch.zeros(1, config.channels, *config.input_size)).numel()
        self.embedding_dim = dim
        if join == "cosine":
            self.cos_scale = nn.Parameter(torch.tensor(10.0))
            self.cos_offset = nn.Parameter(torch.tensor(0.5))
        else:
            self.dropout = nn.Dropout(dropout)
            self.fc1 = nn.Linear(2 * dim, hidden)
            self.relu = nn.ReLU()
            self.fc2 = nn.Linear(hidden, 1)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel space ``[0, 1]`` -> the network's input space."""
        if self.input_norm == "per_image":
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            return (x - mean) / (x.std(dim=(1, 2, 3), keepdim=True) + 1e-3)
        return (x - self._mean) / self._std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> the branch's last map ``(N, 128, h, w)``."""
        return self.branch(x)

    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """Branch maps -> embeddings: the flattened map (or its global average), unit length when
        ``l2_normalize``."""
        pooled = self.pool(features).flatten(1) if self.embedding == "gap" else features.flatten(1)
        return torch.nn.functional.normalize(pooled, dim=1) if self.l2_normalize else pooled

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Images in ``[0, 1]`` -> embeddings ``(N, embedding_dim)``."""
        return self.embed_features(self.forward_features(self.normalize(x)))

    def join(self, ea: torch.Tensor, eb: torch.Tensor) -> torch.Tensor:
        """Two embeddings -> the "same" logit ``(N,)`` (the two fully connected layers, or the scaled cosine)."""
        if self.join_kind == "cosine":
            return self.cos_scale * (nn.functional.cosine_similarity(ea.float(), eb.float(), dim=1) - self.cos_offset)
        joined = self.dropout(torch.cat([(ea - eb).abs(), ea * eb], dim=1))
        return self.fc2(self.relu(self.fc1(joined))).squeeze(1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.join(self.embed(a), self.embed(b))

    @torch.no_grad()
    def same_probability(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``P(same)`` for each pair (eval mode is the caller's choice)."""
        return torch.sigmoid(self(a, b))


def siamese_vgg(channels: int = 1, input_size: tuple[int, int] = ORL_INPUT_SIZE, hidden: int = 128,
                widths: Sequence[int] = (64,) * 2 + (128,) * 8, pool_after: Sequence[int] = (1, 2, 4),
                l2_normalize: bool = False, embedding: str = "flatten", dropout: float = 0.0,
                input_norm: str = "fixed", join: str = "fc") -> SiameseNet:
    """The Siamese VGG pair network for small gray faces (28 x 24 ORL faces by default)."""
    config = ModelConfig(
        name="siamese_vgg",
        input_size=tuple(input_size),
        channels=channels,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
        class_names=SIAMESE_CLASSES,
        cam_layer="branch",
        feature_layers=("branch", "pool"),
        extras={"hidden": hidden, "widths": list(widths), "pool_after": list(pool_after),
                "l2_normalize": bool(l2_normalize), "embedding": embedding, "dropout": dropout,
                "input_norm": input_norm, "join": join},
    )
    return SiameseNet(config, widths, pool_after, hidden, l2_normalize, embedding, dropout, input_norm, join)
