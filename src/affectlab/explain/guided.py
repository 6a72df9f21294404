"""Guided backpropagation (Springenberg et al. 2015) and guided Grad-CAM.

Guided backpropagation is taken from captum (:class:`captum.attr.GuidedBackprop`), which
temporarily hooks every ``nn.ReLU`` module so only positive gradients flow back through
positive activations (ReLUs applied as functions are not guided). Guided Grad-CAM is the
pointwise product of the guided gradients with the Grad-CAM map upsampled to the input.

Display maps of these signed gradients are centred: ``0.5`` means zero, ``0``/``1`` the
largest negative/positive value of that image (summed over channels).

Examples
--------
>>> from affectlab.models import create_model
>>> model = create_model("mini_xception")
>>> with GuidedBackprop(model) as guided:
...     out = guided(np.zeros((1, 48, 48), np.uint8))
>>> out.raw.shape, out.maps.shape
((1, 1, 48, 48), (1, 48, 48))
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from affectlab.explain.base import Explainer, Explanation, upsample
from affectlab.explain.gradcam import GradCAM
from affectlab.explain.targets import Target, resolve_targets

__all__ = ["GuidedBackprop", "GuidedGradCAM", "signed_display", "explain_all"]


def signed_display(values: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` signed values -> ``(N, H, W)`` in ``[0, 1]`` with 0.5 at zero.

    Examples
    --------
    >>> signed_display(torch.tensor([[[[-2.0, 0.0, 1.0]]]])).tolist()
    [[[0.0, 0.5, 0.75]]]
    """
    summed = values.sum(dim=1)
    scale = summed.abs().reshape(len(summed), -1).max(dim=1).values.clamp_min(1e-12).view(-1, 1, 1)
    return (0.5 + 0.5 * summed / scale).clamp(0.0, 1.0)


def _guided_gradients(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from captum.attr import GuidedBackprop as _CaptumGuidedBackprop

    with warnings.catch_warnings():  # captum announces its temporary ReLU hooks and input grads
        warnings.simplefilter("ignore", UserWarning)
        with torch.enable_grad():
            grads = _CaptumGuidedBackprop(model).attribute(x.detach().clone(), target=targets)
    return grads.detach()


class GuidedBackprop(Explainer):
    """Guided backpropagation to the input (batched; captum's hooks live for one call only).

    ``raw`` holds the input gradients ``(N, C, H, W)``; ``maps`` their centred display.
    """

    def _explain(self, x: torch.Tensor, target: Target) -> Explanation:
        with torch.no_grad():
            logits = self.model(x)
        targets = resolve_targets(target, logits)
        grads = _guided_gradients(self.model, x, targets)
        return Explanation(
            maps=signed_display(grads).cpu().numpy().astype(np.float32),
            raw=grads.cpu().numpy().astype(np.float32),
            targets=targets.cpu().numpy(),
            probabilities=torch.softmax(logits, dim=1).cpu().numpy(),
        )

    def __call__(self, images: Any, target: Target = None) -> Explanation:
        """Guided gradients of ``target`` (default: the predicted class) w.r.t. the input."""
        return super().__call__(images, target)


class GuidedGradCAM(Explainer):
    """Guided Grad-CAM: guided gradients times the upsampled Grad-CAM of ``layer``.

    ``raw`` holds the product ``(N, C, H, W)``; ``maps`` its centred display.
    """

    def __init__(self, model: nn.Module, layer: str | None = None) -> None:
        super().__init__(model)
        self.gradcam = GradCAM(model, layer)
        self.layer = self.gradcam.layer

    def __enter__(self) -> GuidedGradCAM:
        super().__enter__()
        try:
            self.gradcam.__enter__()
        except BaseException:
            super().__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.gradcam.__exit__(*exc)
        finally:
            super().__exit__(*exc)

    def _explain(self, x: torch.Tensor, target: Target) -> Explanation:
        cam = self.gradcam._explain(x, target)
        targets = torch.as_tensor(cam.targets, device=x.device)
        grads = _guided_gradients(self.model, x, targets)
        heat = upsample(torch.as_tensor(cam.raw, device=x.device), tuple(x.shape[-2:]))
        product = grads * heat[:, None]
        return Explanation(
            maps=signed_display(product).cpu().numpy().astype(np.float32),
            raw=product.cpu().numpy().astype(np.float32),
            targets=cam.targets,
            probabilities=cam.probabilities,
            layer=self.layer,
        )

    def __call__(self, images: Any, target: Target = None) -> Explanation:
        """Guided Grad-CAM of ``target`` (default: the predicted class)."""
        return super().__call__(images, target)


def explain_all(model: nn.Module, images: Any, target: Target = None, layer: str | None = None
                ) -> dict[str, Explanation]:
    """Grad-CAM, guided backpropagation and guided Grad-CAM of one batch, for the same targets.

    Returns ``{"gradcam": ..., "guided_backprop": ..., "guided_gradcam": ...}``.
    """
    with GradCAM(model, layer) as gradcam:
        cam = gradcam(images, target)
    with GuidedBackprop(model) as guided:
        gb = guided(images, cam.targets)
    heat = upsample(torch.from_numpy(cam.raw), gb.raw.shape[-2:])
    product = torch.from_numpy(gb.raw) * heat[:, None]
    ggc = Explanation(signed_display(product).numpy().astype(np.float32), product.numpy(), cam.targets,
                      cam.probabilities, cam.layer)
    return {"gradcam": cam, "guided_backprop": gb, "guided_gradcam": ggc}
