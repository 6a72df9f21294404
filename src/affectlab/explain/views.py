"""What a network sees: its first-layer filters and the activation maps of any layer.

Examples
--------
>>> from affectlab.models import create_model
>>> model = create_model("mini_xception")
>>> first_layer_filters(model).shape          # 8 filters of 3x3 on one gray channel
(8, 1, 3, 3)
>>> with ActivationMaps(model, ["stem", "blocks.0"]) as grab:
...     maps = grab(np.zeros((2, 48, 48), np.uint8))
>>> maps["stem"].shape, maps["blocks.0"].shape
((2, 8, 44, 44), (2, 16, 22, 22))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from affectlab.errors import ConfigError, ModelError
from affectlab.explain.base import Explainer, find_layer

__all__ = ["first_layer_filters", "ActivationMaps", "activation_maps"]


def first_layer_filters(model: nn.Module) -> np.ndarray:
    """The weights of the model's first ``Conv2d`` (in registration order), ``(K, C, kh, kw)``."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.weight.detach().cpu().numpy().astype(np.float32).copy()
    raise ModelError(f"{type(model).__name__} has no Conv2d layer")


class ActivationMaps(Explainer):
    """Record the outputs of named layers for a batch (forward hooks owned by the ``with`` block).

    Calling it returns ``{layer: (N, K, h, w) float32 array}`` for every layer that produced a
    spatial map; layers with other outputs (vectors, tuples) are refused.
    """

    def __init__(self, model: nn.Module, layers: str | Sequence[str] | None = None) -> None:
        super().__init__(model)
        names = [layers] if isinstance(layers, str) or layers is None else list(layers)
        if not names:
            raise ConfigError("layers: give at least one layer name")
        self.layers = [find_layer(model, name) for name in names]
        self._outputs: dict[str, torch.Tensor] = {}

    def _hooks(self) -> list[RemovableHandle]:
        handles = []
        for name, module in self.layers:
            def keep(_module: nn.Module, _inputs: Any, output: Any, name: str = name) -> None:
                if not isinstance(output, torch.Tensor) or output.ndim != 4:
                    raise ModelError(f"layer {name!r} does not output an (N, K, h, w) map")
                self._outputs[name] = output.detach().clone()

            handles.append(module.register_forward_hook(keep))
        return handles

    @torch.no_grad()
    def _explain(self, x: torch.Tensor, target: Any) -> dict[str, np.ndarray]:  # type: ignore[override]
        self._outputs = {}
        self.model(x)
        missing = [name for name, _ in self.layers if name not in self._outputs]
        if missing:
            raise ModelError(f"layer(s) {', '.join(missing)} not used by the model's forward pass")
        out = {name: self._outputs[name].cpu().numpy().astype(np.float32) for name, _ in self.layers}
        self._outputs = {}
        return out

    def __call__(self, images: Any, target: Any = None) -> dict[str, np.ndarray]:  # type: ignore[override]
        """The recorded maps of every layer for a batch of images."""
        x = self._batch(images)
        with self:
            return self._explain(x, None)


def activation_maps(model: nn.Module, images: Any, layer: str | None = None) -> np.ndarray:
    """The ``(N, K, h, w)`` output of one layer (default ``config.cam_layer``) for a batch."""
    with ActivationMaps(model, layer) as grab:
        return next(iter(grab(images).values()))
