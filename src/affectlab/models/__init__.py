"""Torch networks behind a registry, checkpoints and the bundled expression model."""

from affectlab.models import mini_xception as _mini_xception  # noqa: F401  (registers models)
from affectlab.models import resnet as _resnet  # noqa: F401
from affectlab.models import tencrop_cnn as _tencrop_cnn  # noqa: F401
from affectlab.models import vgg as _vgg  # noqa: F401

# the other networks, then the public names (this order no longer keys any cache: versions do)
# isort: split
from affectlab.models import identity as _identity  # noqa: F401  (vgg_identity)
from affectlab.models import siamese as _siamese  # noqa: F401  (pair net: siamese_vgg(), not in create_model)
from affectlab.models.checkpoint import check_weights_network, load_model, load_weights, save_weights
from affectlab.models.device import resolve_device
from affectlab.models.inference import face_size, predict_probabilities
from affectlab.models.registry import (
    DEFAULT_MODEL,
    AffectNet,
    ModelConfig,
    create_model,
    list_models,
    model_config,
    register_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "AffectNet",
    "ModelConfig",
    "create_model",
    "list_models",
    "model_config",
    "register_model",
    "check_weights_network",
    "load_weights",
    "load_model",
    "save_weights",
    "face_size",
    "predict_probabilities",
    "resolve_device",
]
