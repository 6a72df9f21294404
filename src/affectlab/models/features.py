"""Deep features: activations of named layers of any registered network, as numpy arrays.

Forward hooks are registered on the named modules for the duration of one extraction (a context
manager owns them), so the model is never left modified. Layer names are those of
``model.named_modules()``; every :class:`~affectlab.models.AffectNet` lists sensible ones in
``model.config.feature_layers`` (the last feature map and the pooled/FC vector).

Examples
--------
>>> import numpy as np
>>> from affectlab.models import create_model
>>> from affectlab.models.features import extract_features
>>> net = create_model("mini_xception")
>>> feats = extract_features(net, np.zeros((3, 48, 48), np.uint8), layers=["blocks"], spatial="avg")
>>> feats["blocks"].shape
(3, 128)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Literal, Self

import numpy as np
import torch
import torch.nn.functional as F

from affectlab.errors import ModelError
from affectlab.models.device import resolve_device
from affectlab.models.registry import AffectNet
from affectlab.models.train import check_batch_size

__all__ = ["LayerRecorder", "extract_features", "layer_names", "prepare_images"]

Spatial = Literal["flatten", "avg", "max"]


def layer_names(model: torch.nn.Module) -> list[str]:
    """Names of every sub-module (what ``layers=`` accepts)."""
    return [name for name, _ in model.named_modules() if name]


class LayerRecorder(contextlib.AbstractContextManager):
    """Record the outputs of named modules while active; hooks are removed on exit.

    >>> import torch
    >>> from affectlab.models import create_model
    >>> net = create_model("mini_xception").eval()
    >>> with LayerRecorder(net, ["blocks"]) as rec, torch.no_grad():
    ...     _ = net(torch.rand(1, 1, 48, 48))
    >>> tuple(rec.outputs["blocks"].shape)
    (1, 128, 3, 3)
    """

    def __init__(self, model: torch.nn.Module, layers: Sequence[str]) -> None:
        modules = dict(model.named_modules())
        missing = [name for name in layers if name not in modules or not name]
        if missing:
            known = ", ".join(layer_names(model)[:30])
            raise ModelError(f"layer {missing[0]!r} is not a module of {type(model).__name__} (known: {known}, ...)")
        self.model = model
        self.layers = list(layers)
        self._modules = [modules[name] for name in self.layers]
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self.outputs: dict[str, torch.Tensor] = {}

    def __enter__(self) -> Self:
        for name, module in zip(self.layers, self._modules):
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def _hook(self, name: str):
        def record(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor):
                raise ModelError(f"layer {name!r} does not output a tensor")
            self.outputs[name] = output.detach()

        return record

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def prepare_images(images: np.ndarray | torch.Tensor, model: AffectNet) -> torch.Tensor:
    """uint8 / uint16 / [0, 1] float images ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` -> model input.

    Gray images are repeated for 3-channel models and colour ones averaged for gray models; an alpha
    channel (4 channels) is dropped; 16-bit images are scaled by 65535; float images outside
    ``[0, 1]`` are refused. Images of another size are resized (bilinear, antialiased) to
    ``model.config.input_size``.
    """
    if not isinstance(images, torch.Tensor):
        array = np.asarray(images)
        images = torch.from_numpy(np.ascontiguousarray(array.astype(np.int32) if array.dtype == np.uint16 else array))
        scale = 65535.0 if array.dtype == np.uint16 else 255.0
    else:
        scale = 255.0
    x = images
    is_int = not torch.is_floating_point(x)
    x = x.float()
    if is_int:
        x = x / scale
    elif x.numel() and (float(x.amin()) < -1e-3 or float(x.amax()) > 1.0 + 1e-3):
        raise ModelError(f"images: float values must lie in [0, 1], got {float(x.amin()):g} to {float(x.amax()):g} "
                         "(pass uint8 images or divide by 255)")
    channels = model.config.channels
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4 and x.shape[1] not in (1, 3, 4) and x.shape[-1] in (1, 3, 4):
        x = x.permute(0, 3, 1, 2)
    if x.ndim != 4:
        raise ModelError(f"images: expected (N, H, W) or (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] == 4:
        x = x[:, :3]  # RGBA: the alpha channel is not part of the face
    if x.shape[1] != channels:
        if channels == 1:
            x = x.mean(dim=1, keepdim=True)
        elif x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise ModelError(f"images have {x.shape[1]} channels; {model.config.name} takes {channels}")
    size = tuple(model.config.input_size)
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)
    return x.contiguous()


def _reduce(t: torch.Tensor, spatial: Spatial) -> torch.Tensor:
    if t.ndim == 4 and spatial == "avg":
        return t.mean(dim=(2, 3))
    if t.ndim == 4 and spatial == "max":
        return t.amax(dim=(2, 3))
    return t.flatten(1)


@torch.no_grad()
def extract_features(
    model: AffectNet,
    images: np.ndarray | torch.Tensor,
    layers: Sequence[str] | str | None = None,
    *,
    spatial: Spatial = "flatten",
    batch_size: int = 256,
    device: str | torch.device = "auto",
) -> dict[str, np.ndarray]:
    """Activations of ``layers`` for ``images``, one float32 ``(N, D)`` array per layer.

    Parameters
    ----------
    model
        Any registered network (put in eval mode for the extraction, restored afterwards).
    images
        uint8 or [0, 1] float images, see :func:`prepare_images`.
    layers
        Module names (``model.named_modules()``); default ``model.config.feature_layers``.
    spatial
        How a 4-D map becomes a vector: ``"flatten"`` (C*h*w), ``"avg"`` or ``"max"`` pooling (C).
    batch_size, device
        Batching and where to run (``"auto"``: GPU when present).
    """
    names = [layers] if isinstance(layers, str) else list(layers or model.config.feature_layers)
    if not names:
        raise ModelError(f"{model.config.name}: no layers named and no default feature_layers")
    if spatial not in ("flatten", "avg", "max"):
        raise ModelError(f"spatial must be flatten, avg or max, got {spatial!r}")
    batch_size = check_batch_size(batch_size)
    dev = resolve_device(device) if isinstance(device, str) else device
    x = prepare_images(images, model)
    n = len(x)
    if n == 0:  # one blank image tells each layer's width; its rows are dropped below
        x = torch.zeros((1, model.config.channels, *model.config.input_size))
    was_training = model.training
    model.eval().to(dev)
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in names}
    try:
        with LayerRecorder(model, names) as recorder:
            for start in range(0, len(x), batch_size):
                recorder.outputs.clear()
                model(x[start : start + batch_size].to(dev))
                for name in names:
                    if name not in recorder.outputs:
                        raise ModelError(f"layer {name!r} of {model.config.name} is not used by its forward pass")
                    chunks[name].append(_reduce(recorder.outputs[name], spatial).float().cpu().numpy())
    finally:
        model.train(was_training)
    return {name: np.concatenate(parts)[:n] for name, parts in chunks.items()}
