"""Class activation mapping (CAM, Zhou et al. 2016) for global-average-pooling heads.

For a head ``logits = W . mean_{x,y} F(x, y) + b`` (a linear layer after global average
pooling, or a convolution whose output is averaged, as in mini-Xception), the map of class
``c`` is the head applied at every position without the pooling: ``CAM_c(x, y) = sum_k
w_ck F_k(x, y)``. Its spatial mean plus ``b_c`` is the logit, which :class:`CAM` checks, so a
model whose head is not of this form is refused with a clear error rather than explained wrongly.

Examples
--------
>>> from affectlab.models import create_model
>>> model = create_model("mini_xception")
>>> with CAM(model) as cam:
...     out = cam(np.zeros((2, 48, 48), np.uint8))
>>> out.maps.shape, out.raw.shape
((2, 48, 48), (2, 3, 3))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from affectlab.errors import ModelError
from affectlab.explain.base import Explainer, Explanation, normalise_maps, upsample
from affectlab.explain.targets import Target, resolve_targets

__all__ = ["CAM", "class_score_maps", "HEAD_ATTRIBUTES"]

#: Attribute names searched (in order) for the head's linear layer or class convolution.
HEAD_ATTRIBUTES = ("classifier", "fc", "head")


def _head_layer(model: nn.Module) -> nn.Module:
    for name in HEAD_ATTRIBUTES:
        layer = getattr(model, name, None)
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            return layer
    raise ModelError(
        f"CAM needs a global-average-pooling head with a linear layer or class convolution named one of "
        f"{', '.join(HEAD_ATTRIBUTES)}; {type(model).__name__} has none (use GradCAM instead)"
    )


def class_score_maps(model: nn.Module, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position class scores ``(N, n_classes, h, w)`` (bias left out) and the bias ``(n_classes,)``.

    Raises
    ------
    ModelError
        The model's head is not "global average pooling + linear/convolution": the maps' means
        plus the bias do not reproduce ``model.forward_head(features)``.
    """
    layer = _head_layer(model)
    if isinstance(layer, nn.Linear):
        if layer.in_features != features.shape[1]:
            raise ModelError(f"CAM: head expects {layer.in_features} channels, the features have {features.shape[1]}")
        maps = torch.einsum("kc,nchw->nkhw", layer.weight, features)
        bias = layer.bias if layer.bias is not None else features.new_zeros(layer.out_features)
    else:
        bias = layer.bias if layer.bias is not None else features.new_zeros(layer.out_channels)
        maps = F.conv2d(features, layer.weight, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    logits = model.forward_head(features)
    rebuilt = maps.mean(dim=(2, 3)) + bias
    if rebuilt.shape != logits.shape or not torch.allclose(rebuilt, logits, rtol=1e-3, atol=1e-4):
        raise ModelError(
            f"CAM: the head of {type(model).__name__} is not global average pooling followed by a linear map "
            "(the class maps do not average to the logits); use GradCAM instead"
        )
    return maps, bias


class CAM(Explainer):
    """Class activation maps of a model with a global-average-pooling head.

    The maps come from ``model.forward_features`` (the last spatial feature map). No hooks are
    needed; the model's mode is restored on exit.

    Parameters
    ----------
    model
        An :class:`~affectlab.models.AffectNet` (or any module with ``normalize``,
        ``forward_features``, ``forward_head`` and a GAP head, see :func:`class_score_maps`).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        for attr in ("forward_features", "forward_head"):
            if not callable(getattr(model, attr, None)):
                raise ModelError(f"CAM needs model.{attr}(); {type(model).__name__} has none")
        _head_layer(model)

    @torch.no_grad()
    def _explain(self, x: torch.Tensor, target: Target) -> Explanation:
        normalise = getattr(self.model, "normalize", None)
        features = self.model.forward_features(normalise(x) if callable(normalise) else x)
        maps, bias = class_score_maps(self.model, features)
        logits = maps.mean(dim=(2, 3)) + bias
        targets = resolve_targets(target, logits)
        raw = maps[torch.arange(len(x)), targets]
        shown = normalise_maps(upsample(raw, tuple(x.shape[-2:])))
        layer = getattr(getattr(self.model, "config", None), "cam_layer", "") or "forward_features"
        return Explanation(
            maps=shown.cpu().numpy().astype(np.float32),
            raw=raw.cpu().numpy().astype(np.float32),
            targets=targets.cpu().numpy(),
            probabilities=torch.softmax(logits, dim=1).cpu().numpy(),
            layer=layer,
        )

    def __call__(self, images: Any, target: Target = None) -> Explanation:
        """CAM of ``target`` (default: the predicted class) for a batch of images."""
        return super().__call__(images, target)
