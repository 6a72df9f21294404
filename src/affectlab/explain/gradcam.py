"""Grad-CAM (Selvaraju et al. 2017): layer activations weighted by their pooled gradients; and LayerCAM.

``Grad-CAM_c = ReLU(sum_k a_k^c A_k)`` with ``a_k^c`` the spatial mean of ``d y_c / d A_k`` and
``A`` the target layer's output (default: the model's ``config.cam_layer``). Behind a max-pooling and
dense head (``vgg_face128``) the pooled weights can make that sum negative everywhere, and the map is
empty; LayerCAM (Jiang et al. 2021), ``ReLU(sum_k ReLU(d y_c / d A_k) * A_k)`` position by position,
keeps every place whose activations raise the class score.

Examples
--------
>>> from affectlab.models import create_model
>>> model = create_model("mini_xception")
>>> with GradCAM(model) as gradcam:
...     out = gradcam(np.zeros((2, 48, 48), np.uint8), target=3)
>>> out.maps.shape, out.targets.tolist(), out.layer
((2, 48, 48), [3, 3], 'blocks')
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from affectlab.errors import ModelError
from affectlab.explain.base import (
    Explainer,
    Explanation,
    find_layer,
    normalise_maps,
    upsample,
)
from affectlab.explain.targets import Target, resolve_targets

__all__ = ["GradCAM", "LayerCAM", "gradcam_maps", "layercam_maps"]


def gradcam_maps(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM from a layer's activations and gradients, both ``(N, K, h, w)`` -> ``(N, h, w)``.

    Examples
    --------
    >>> A = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])      # K=2 channels of 1x2
    >>> G = torch.tensor([[[[1.0, 1.0]], [[-1.0, -3.0]]]])    # channel weights 1 and -2
    >>> gradcam_maps(A, G).tolist()                           # ReLU(1*A_0 - 2*A_1)
    [[[1.0, 0.0]]]
    """
    if activations.ndim != 4 or activations.shape != gradients.shape:
        raise ValueError(f"expected two (N, K, h, w) tensors of one shape, got {tuple(activations.shape)} "
                         f"and {tuple(gradients.shape)}")
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activations).sum(dim=1))


def layercam_maps(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """LayerCAM from a layer's activations and gradients, both ``(N, K, h, w)`` -> ``(N, h, w)``.

    Examples
    --------
    >>> A = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])
    >>> G = torch.tensor([[[[1.0, 1.0]], [[-1.0, 3.0]]]])     # negative gradients count as 0
    >>> layercam_maps(A, G).tolist()                          # ReLU(1*1 + 0, 0 + 3*2)
    [[[1.0, 6.0]]]
    """
    if activations.ndim != 4 or activations.shape != gradients.shape:
        raise ValueError(f"expected two (N, K, h, w) tensors of one shape, got {tuple(activations.shape)} "
                         f"and {tuple(gradients.shape)}")
    return torch.relu((torch.relu(gradients) * activations).sum(dim=1))


class GradCAM(Explainer):
    """Grad-CAM of any layer with a spatial output.

    Entering registers one forward hook on ``layer``; leaving removes it. Gradients are taken
    with :func:`torch.autograd.grad`, so the parameters' ``.grad`` are never touched.

    Parameters
    ----------
    model
        A classifier returning logits ``(N, n_classes)`` for ``(N, C, H, W)`` input in ``[0, 1]``.
    layer
        Name of the module to explain (``model.named_modules()``); default ``model.config.cam_layer``.
    """

    #: ``(activations, gradients) -> (N, h, w)`` maps
    combine = staticmethod(gradcam_maps)
    name = "Grad-CAM"

    def __init__(self, model: nn.Module, layer: str | None = None) -> None:
        super().__init__(model)
        self.layer, self._module = find_layer(model, layer)
        self._activation: torch.Tensor | None = None

    def _hooks(self) -> list[RemovableHandle]:
        def keep(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor) or output.ndim != 4:
                raise ModelError(f"{self.name}: layer {self.layer!r} must output an (N, K, h, w) tensor")
            self._activation = output

        return [self._module.register_forward_hook(keep)]

    def _explain(self, x: torch.Tensor, target: Target) -> Explanation:
        self._activation = None
        with torch.enable_grad():
            x = x.detach().clone().requires_grad_(True)
            logits = self.model(x)
            activation = self._activation
            self._activation = None
            if activation is None:
                raise ModelError(f"{self.name}: layer {self.layer!r} was not used by the model's forward pass")
            targets = resolve_targets(target, logits.detach())
            score = logits.gather(1, targets.view(-1, 1)).sum()
            (gradients,) = torch.autograd.grad(score, activation)
        raw = self.combine(activation.detach(), gradients.detach())
        shown = normalise_maps(upsample(raw, tuple(x.shape[-2:])))
        return Explanation(
            maps=shown.cpu().numpy().astype(np.float32),
            raw=raw.cpu().numpy().astype(np.float32),
            targets=targets.cpu().numpy(),
            probabilities=torch.softmax(logits.detach(), dim=1).cpu().numpy(),
            layer=self.layer,
        )

    def __call__(self, images: Any, target: Target = None) -> Explanation:
        """Grad-CAM of ``target`` (default: the predicted class) for a batch of images."""
        return super().__call__(images, target)


class LayerCAM(GradCAM):
    """LayerCAM of any layer with a spatial output: like :class:`GradCAM`, but each position's activations are
    weighted by their own positive gradients (:func:`layercam_maps`), so a head that pools by maximum and then
    mixes channels in dense layers still gets a map.

    Examples
    --------
    >>> from affectlab.models import create_model
    >>> with LayerCAM(create_model("mini_xception")) as layercam:
    ...     out = layercam(np.zeros((1, 48, 48), np.uint8), target=3)
    >>> out.maps.shape, out.layer
    ((1, 48, 48), 'blocks')
    """

    combine = staticmethod(layercam_maps)
    name = "LayerCAM"
