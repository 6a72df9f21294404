"""Deep features as a registered descriptor (``affectlab.features``' ``deep``): activations of a named layer
of a pretrained network. They live with the networks; the feature registry loads this module when ``deep``
is first asked for.

An experiment YAML names them like any descriptor::

    features:
      - name: deep
        model: mini_xception      # any registered model with weights
        layer: blocks             # a module name; default: the model's last feature map
        spatial: avg              # global average (default), max, or flatten the 4-D map

``weights`` points at a checkpoint; without it the model's bundled weights are used. The network is
fixed (not trained on the experiment's data), so the feature is stateless: it is computed once
for all images.

Examples
--------
>>> import numpy as np
>>> from affectlab.features import create_feature
>>> create_feature("deep", model="mini_xception").fit_transform(np.zeros((2, 48, 48), np.uint8)).shape
(2, 128)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from affectlab.checks import is_integer
from affectlab.errors import ConfigError, ModelError
from affectlab.features.basic import check_images
from affectlab.features.cache import file_digest
from affectlab.features.registry import register_feature
from affectlab.models.features import extract_features
from affectlab.models.registry import _PRETRAINED, create_model
from affectlab.models.versions import model_version

__all__ = ["RANDOM_INIT_SEED", "DeepFeatures"]


#: Seed of the initial weights of a ``pretrained=False`` network (one fixed network in every process).
RANDOM_INIT_SEED = 0


@lru_cache(maxsize=4)
def _load_model(name: str, weights: str | None, pretrained: bool):
    source: bool | str = weights if weights is not None else pretrained
    # Built from a fixed seed on a forked stream: a random-init network used to take its weights from whatever
    # state the process had, so runs and worker processes (each building its own copy) computed different features.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        return create_model(name, pretrained=source).eval()


def _check_range(X: np.ndarray) -> np.ndarray:
    """The networks read integers as 0..255 gray levels and floats as [0, 1]; refuse anything else.

    A float image of 0..255 (or a standardised one) would otherwise be fed to the network as is and
    give meaningless activations without a word.
    """
    lo, hi = float(X.min()), float(X.max())
    if X.dtype.kind == "f" and (lo < 0.0 or hi > 1.0):
        raise ValueError(f"deep: float images must hold gray levels in [0, 1], found values in [{lo:g}, {hi:g}]"
                         " (divide 0..255 images by 255, or pass them as uint8)")
    if X.dtype.kind in "ui" and (lo < 0 or hi > 255):
        raise ValueError(f"deep: integer images must hold gray levels in 0..255, found values in [{lo:g}, {hi:g}]"
                         " (convert 16-bit images to uint8 first)")
    return X


@register_feature("deep")
class DeepFeatures(TransformerMixin, BaseEstimator):
    """Activations of ``layer`` of a pretrained ``model``: ``(N, H, W)`` images -> ``(N, D)`` float32.

    Parameters
    ----------
    model
        A registered model name (``affectlab.models.list_models()``).
    layer
        Module name; ``None`` takes the first of the model's ``feature_layers`` (its last feature map,
        e.g. 128 x 3 x 3 for mini-Xception), reduced by ``spatial``.
    weights
        A checkpoint path; ``None`` loads the bundled weights (when ``pretrained``).
    pretrained
        Load the bundled weights when ``weights`` is ``None`` (``False``: a random initialisation,
        always the same one: seed :data:`RANDOM_INIT_SEED`, whatever the process's random state).
    spatial
        ``"avg"`` (global average pooling), ``"max"`` or ``"flatten"``: how a 4-D map becomes a vector.
    batch_size, device
        Batching and where to run.

    Images are uint8 (or other integers in 0..255) or floats in [0, 1]; other ranges raise
    :class:`ValueError`.
    """

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    def __init__(self, model: str = "mini_xception", layer: str | None = None, weights: str | None = None,
                 pretrained: bool = True, spatial: str = "avg", batch_size: int = 256,
                 device: str = "cpu") -> None:
        self.model = model
        self.layer = layer
        self.weights = weights
        self.pretrained = pretrained
        self.spatial = spatial
        self.batch_size = batch_size
        self.device = device

    def _network(self):
        weights = None if self.weights is None else str(Path(self.weights).expanduser())
        try:
            return _load_model(self.model, weights, bool(self.pretrained))
        except ModelError as exc:
            raise ConfigError(f"feature 'deep': {exc}") from None

    def cache_token(self) -> str:
        """Identity of the network in use, for feature caches: the weights (SHA-256 prefix of the file, or
        ``random-init``) and the architecture's declared version (:data:`affectlab.models.versions.MODEL_VERSIONS`)."""
        architecture = f"{self.model}@{model_version(self.model)}"
        path = Path(self.weights).expanduser() if self.weights is not None else _PRETRAINED.get(self.model)
        if path is None or not self.pretrained and self.weights is None:
            return f"random-init|{architecture}"
        return f"{Path(path).name}:{file_digest(path)}|{architecture}"

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> DeepFeatures:
        """Nothing to learn (the network is fixed); checks the input and the model."""
        check_images(X, name="deep")
        self._network()
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = _check_range(check_images(X, name="deep"))
        if not is_integer(self.batch_size) or self.batch_size < 1:
            raise ValueError(f"deep: batch_size must be a positive integer, got {self.batch_size!r}")
        net = self._network()
        layer = self.layer or net.config.feature_layers[0]
        try:
            out = extract_features(net, X, [layer], spatial=self.spatial, batch_size=self.batch_size,
                                   device=self.device)
        except Exception as exc:
            if isinstance(exc, ModelError):
                raise ConfigError(f"feature 'deep': {exc}") from None
            raise
        return out[layer].astype(np.float32)

    def __sklearn_is_fitted__(self) -> bool:
        return True
