""""Same" and "different" heatmaps of a Siamese pair: Grad-CAM on both branches.

For a pair ``(a, b)`` the "same" score is the net's logit ``s``; the "different" score is
``-s``. Each face's heatmap is Grad-CAM of that score with respect to its own branch's last
map, so it shows which regions of each face pushed the decision towards "same person" or
towards "different people".

Examples
--------
>>> import torch
>>> from affectlab.models.siamese import siamese_vgg
>>> net = siamese_vgg()
>>> heat = pair_heatmaps(net, torch.rand(2, 1, 28, 24), torch.rand(2, 1, 28, 24))
>>> heat.same_a.shape, heat.different_b.shape, heat.probability.shape
((2, 28, 24), (2, 28, 24), (2,))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from affectlab.errors import ConfigError
from affectlab.explain.base import as_batch, normalise_maps, upsample
from affectlab.explain.gradcam import gradcam_maps
from affectlab.models.siamese import SiameseNet

__all__ = ["PairHeatmaps", "pair_heatmaps"]


@dataclass
class PairHeatmaps:
    """``(N, H, W)`` maps in ``[0, 1]`` for both faces and both decisions, and ``P(same)`` ``(N,)``."""

    same_a: np.ndarray
    same_b: np.ndarray
    different_a: np.ndarray
    different_b: np.ndarray
    probability: np.ndarray


def pair_heatmaps(net: SiameseNet, a: Any, b: Any) -> PairHeatmaps:
    """Grad-CAM heatmaps of the "same" and "different" decisions for pairs of faces.

    The net's mode is restored afterwards; no hooks are used (the branch maps come from
    ``net.forward_features``) and parameter gradients are not touched.
    """
    xa = as_batch(a, net.config.channels)
    xb = as_batch(b, net.config.channels)
    if xa.shape != xb.shape:
        raise ConfigError(f"pair heatmaps: the first faces {tuple(xa.shape)} and the second faces {tuple(xb.shape)} "
                          "must have one shape (N, C, H, W)")
    device = next(net.parameters()).device
    xa, xb = xa.to(device), xb.to(device)
    was_training = net.training
    net.eval()
    try:
        with torch.enable_grad():
            fa = net.forward_features(net.normalize(xa.requires_grad_(True)))
            fb = net.forward_features(net.normalize(xb.requires_grad_(True)))
            logit = net.join(net.embed_features(fa), net.embed_features(fb))
            ga, gb = torch.autograd.grad(logit.sum(), [fa, fb])
    finally:
        net.train(was_training)
    size = tuple(xa.shape[-2:])
    fa, fb, ga, gb = fa.detach(), fb.detach(), ga.detach(), gb.detach()

    def shown(features: torch.Tensor, grads: torch.Tensor) -> np.ndarray:
        return normalise_maps(upsample(gradcam_maps(features, grads), size)).cpu().numpy().astype(np.float32)

    return PairHeatmaps(
        same_a=shown(fa, ga), same_b=shown(fb, gb),
        different_a=shown(fa, -ga), different_b=shown(fb, -gb),
        probability=torch.sigmoid(logit.detach()).cpu().numpy(),
    )
