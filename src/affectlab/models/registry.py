"""A timm-style model registry: ``@register_model``, ``create_model``, ``list_models``.

Every registered network is an :class:`AffectNet`: it takes float32 input in ``[0, 1]`` of shape
``(N, C, H, W)``, normalises internally, and exposes ``forward_features`` / ``forward_head`` so
feature extraction, CAM and attacks work the same on all of them.

Each :class:`ModelConfig` names ``cam_layer`` (the last spatial map, for CAM / Grad-CAM),
``feature_layers`` (modules whose activations :func:`affectlab.models.features.extract_features`
returns; the first is the last feature map) and ``classifier`` (the class layer, replaced when
fine-tuning to other classes). ``extras`` may carry ``eval_size`` (the face size the model is
evaluated on, when it differs from ``input_size``) and ``ten_crop`` (10-crop averaging).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from affectlab.checks import is_integer
from affectlab.errors import ModelError
from affectlab.labels import EXPRESSIONS
from affectlab.models.saving import load_weights

__all__ = [
    "DEFAULT_MODEL",
    "ModelConfig",
    "AffectNet",
    "register_model",
    "create_model",
    "list_models",
    "model_config",
]


@dataclass(frozen=True)
class ModelConfig:
    """What a caller needs to feed a network and read its output."""

    name: str
    input_size: tuple[int, int] = (48, 48)
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    class_names: tuple[str, ...] = EXPRESSIONS
    cam_layer: str = ""
    feature_layers: tuple[str, ...] = ()
    #: The final class layer (replaced, not copied, when fine-tuning to other classes).
    classifier: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class AffectNet(nn.Module):
    """Base class: ``forward(x) = forward_head(forward_features(normalize(x)))``."""

    config: ModelConfig

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("_mean", torch.tensor(config.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("_std", torch.tensor(config.std, dtype=torch.float32).view(1, -1, 1, 1))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel space ``[0, 1]`` -> the network's input space."""
        return (x - self._mean) / self._std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Normalised input -> the last spatial feature map ``(N, C, h, w)``."""
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Feature map -> class logits ``(N, num_classes)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(self.normalize(x)))


ModelFactory = Callable[..., AffectNet]
_REGISTRY: dict[str, ModelFactory] = {}

#: The bundled expression model used when none is named (``affectlab analyze``, ``ExpressionAnalyzer()``).
DEFAULT_MODEL = "resnet_fer"
_PRETRAINED: dict[str, Path] = {}


def register_model(fn: ModelFactory | None = None, *, pretrained: str | None = None):
    """Register a model factory under its function name.

    ``pretrained`` names a weights file in ``affectlab/weights/`` that
    ``create_model(name, pretrained=True)`` loads.
    """

    def wrap(factory: ModelFactory) -> ModelFactory:
        name = factory.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = factory
        if pretrained is not None:
            _PRETRAINED[name] = Path(__file__).resolve().parent.parent / "weights" / pretrained
        return factory

    return wrap(fn) if fn is not None else wrap


def list_models(pattern: str = "*", *, pretrained: bool = False) -> list[str]:
    """Registered model names matching a shell-style ``pattern``."""
    names = sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))
    if pretrained:
        names = [n for n in names if n in _PRETRAINED and _PRETRAINED[n].is_file()]
    return names


def create_model(
    name: str,
    *,
    pretrained: bool | str | Path = False,
    num_classes: int | None = None,
    class_names: tuple[str, ...] | None = None,
    **kwargs: Any,
) -> AffectNet:
    """Build a registered network, optionally loading weights.

    Parameters
    ----------
    name
        A name from :func:`list_models`.
    pretrained
        ``True`` loads the bundled weights; a path loads that checkpoint.
    num_classes, class_names
        Override the head size (``class_names`` wins; names default to ``class_0..``).
    """
    if name not in _REGISTRY:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(list_models()) or 'none'}")
    if num_classes is not None and (not is_integer(num_classes) or num_classes < 1):
        raise ModelError(f"{name}: num_classes must be a positive integer, got {num_classes!r}")
    if class_names is not None:
        if isinstance(class_names, str):
            raise ModelError(f"{name}: class_names must be a sequence of names, not the string {class_names!r}")
        class_names = tuple(class_names)
        if not class_names or len(set(class_names)) != len(class_names):
            raise ModelError(f"{name}: class_names must be distinct and not empty, got {class_names!r}")
        if num_classes is not None and num_classes != len(class_names):
            raise ModelError(f"{name}: num_classes={num_classes} but {len(class_names)} class_names")
    if class_names is None and num_classes is not None and num_classes != len(EXPRESSIONS):
        class_names = tuple(f"class_{i}" for i in range(num_classes))
    if class_names is not None:
        kwargs["class_names"] = tuple(class_names)
    model = _REGISTRY[name](**kwargs)
    if pretrained:
        path = _PRETRAINED.get(name) if pretrained is True else Path(pretrained)
        if path is None or not path.is_file():
            raise ModelError(f"no pretrained weights for {name!r}" + (f" at {path}" if path else ""))
        load_weights(model, path)
    return model


def model_config(name: str, **kwargs: Any) -> ModelConfig:
    """The :class:`ModelConfig` of a registered model (builds it once)."""
    return create_model(name, **kwargs).config


def with_classes(config: ModelConfig, class_names: tuple[str, ...] | None) -> ModelConfig:
    """Copy of ``config`` with other class names (helper for factories)."""
    return config if class_names is None else replace(config, class_names=tuple(class_names))
