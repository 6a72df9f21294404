"""What every explainer shares: hook ownership, batches in, :class:`Explanation` out.

An explainer is a context manager. Entering it puts the model in eval mode and registers the
hooks it needs; leaving it removes every hook it registered and restores the model's mode, so
the model is exactly as before. Calling an explainer outside a ``with`` block enters and leaves
it around that one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from affectlab.errors import ConfigError, ModelError

__all__ = ["Explanation", "Explainer", "as_batch", "find_layer", "normalise_maps", "upsample"]


@dataclass
class Explanation:
    """The result of an explainer on a batch of ``N`` images.

    Attributes
    ----------
    maps
        ``(N, H, W)`` float32 in ``[0, 1]`` at the input's size (for display and overlays).
    raw
        The un-normalised values: ``(N, h, w)`` at the layer's resolution for class maps,
        ``(N, C, H, W)`` input gradients for guided backpropagation.
    targets
        ``(N,)`` class explained per image.
    probabilities
        ``(N, n_classes)`` softmax of the model's output on the input.
    layer
        The layer the maps come from (``""`` for input-space methods).
    """

    maps: np.ndarray
    raw: np.ndarray
    targets: np.ndarray
    probabilities: np.ndarray
    layer: str = ""

    def __len__(self) -> int:
        return len(self.maps)


def as_batch(images: Any, channels: int | None = None, *, check_range: bool = True) -> torch.Tensor:
    """Images as a float32 ``(N, C, H, W)`` tensor in ``[0, 1]``.

    Accepts a tensor (returned as float32, detached), uint8 arrays (divided by 255) or float
    arrays in ``[0, 1]``, shaped ``(N, C, H, W)``, ``(N, H, W)`` (gray) or ``(H, W)`` (one image).
    Other integer arrays (int64, uint16, ...) and, with ``check_range``, float arrays with values
    outside ``[0, 1]`` or not finite (e.g. 0-255 floats) are refused: they would be explained as
    nonsense without a word.

    Examples
    --------
    >>> as_batch(np.zeros((2, 48, 48), np.uint8)).shape
    torch.Size([2, 1, 48, 48])
    """
    if isinstance(images, torch.Tensor):
        x = images.detach().float()
    else:
        from affectlab.data.media import pixel_values_problem

        arr = np.asarray(images)
        floating = np.issubdtype(arr.dtype, np.floating)
        problem = pixel_values_problem(arr) if check_range or not floating else None  # without: floats as given
        if problem:
            raise ConfigError(f"images: {problem}")
        x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32) if floating
                             else arr.astype(np.float32) / 255.0)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ConfigError(f"images: expected (N, C, H, W), (N, H, W) or (H, W), got shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ConfigError(f"images: the model takes {channels} channel(s), got {x.shape[1]}")
    return x


def find_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """The module called ``name`` (default: ``model.config.cam_layer``) and its name."""
    if not name:
        name = getattr(getattr(model, "config", None), "cam_layer", "") or ""
        if not name:
            raise ConfigError("layer: the model names no default CAM layer (config.cam_layer); give one")
    modules = dict(model.named_modules())
    if name not in modules:
        known = ", ".join(n for n in modules if n)
        raise ConfigError(f"layer {name!r} is not a module of the model (known: {known})")
    return name, modules[name]


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(N, h, w)`` maps to ``size`` = (H, W)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """Per-image min-max scaling of ``(N, H, W)`` to ``[0, 1]`` (constant maps become 0).

    Examples
    --------
    >>> normalise_maps(torch.tensor([[[1.0, 3.0]], [[2.0, 2.0]]])).tolist()
    [[[0.0, 1.0]], [[0.0, 0.0]]]
    """
    flat = maps.reshape(len(maps), -1)
    lo = flat.min(dim=1).values.view(-1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1)
    span = hi - lo
    return torch.where(span > 0, (maps - lo) / torch.where(span > 0, span, torch.ones_like(span)),
                       torch.zeros_like(maps))


class Explainer:
    """Base class: a context manager that owns its hooks and leaves the model unchanged.

    Subclasses implement :meth:`_hooks` (register hooks, return their handles; default none)
    and :meth:`_explain` (the computation on a float batch).
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise ModelError(f"expected a torch model, got {type(model).__name__}")
        self.model = model
        self._handles: list[RemovableHandle] = []
        self._was_training: bool | None = None
        self._depth = 0

    @property
    def device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def _hooks(self) -> list[RemovableHandle]:
        return []

    def __enter__(self) -> Explainer:
        if self._depth == 0:
            self._was_training = self.model.training
            self.model.eval()
            try:
                self._handles = list(self._hooks())
            except BaseException:
                self.model.train(self._was_training)
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            for handle in self._handles:
                handle.remove()
            self._handles = []
            self.model.train(bool(self._was_training))

    def _batch(self, images: Any) -> torch.Tensor:
        """``images`` as the model's input batch on its device (:func:`as_batch`); an empty batch is refused."""
        channels = getattr(getattr(self.model, "config", None), "channels", None)
        x = as_batch(images, channels)
        if len(x) == 0:
            raise ConfigError("images: the batch is empty (0 images)")
        return x.to(self.device)

    def __call__(self, images: Any, target: Any = None) -> Explanation:
        """Explain a batch (see :func:`as_batch` for accepted inputs) for ``target``."""
        x = self._batch(images)
        with self:
            return self._explain(x, target)

    def _explain(self, x: torch.Tensor, target: Any) -> Explanation:  # pragma: no cover - abstract
        raise NotImplementedError
