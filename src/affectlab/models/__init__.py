"""Torch networks behind a registry, checkpoints and the bundled expression model."""

from affectlab.models import mini_xception as _mini_xception  # noqa: F401  (registers models)
from affectlab.models.checkpoint import load_weights, save_weights
from affectlab.models.registry import AffectNet, ModelConfig, create_model, list_models, model_config, register_model

__all__ = [
    "AffectNet",
    "ModelConfig",
    "create_model",
    "list_models",
    "model_config",
    "register_model",
    "load_weights",
    "save_weights",
]
