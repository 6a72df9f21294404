"""A registry of image feature extractors (scikit-learn transformers).

A feature takes a batch of gray images ``(N, H, W)`` uint8 and returns ``(N, D)`` float.

Examples
--------
>>> import numpy as np
>>> from affectlab.features import create_feature, list_features
>>> "hog" in list_features()
True
>>> create_feature("pixels").fit_transform(np.zeros((2, 4, 4), np.uint8)).shape
(2, 16)
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sklearn.base import TransformerMixin

from affectlab.errors import ConfigError

__all__ = ["register_feature", "create_feature", "list_features", "feature_info", "FeatureEntry", "check_params"]

T = TypeVar("T", bound=Callable[..., Any])


@dataclass(frozen=True)
class FeatureEntry:
    """A registered feature: its factory, whether it learns from data and its declared version.

    ``stateless`` features give the same output for a sample whatever they were fitted on, so an
    experiment computes them once for all images; the others are fitted on each training part.
    ``version`` names the feature's output in caches: bumped with every change of what it computes.
    """

    name: str
    factory: Callable[..., TransformerMixin]
    stateless: bool = True
    version: int | str = 1

    @property
    def params(self) -> dict[str, Any]:
        """Parameter names and defaults of the factory."""
        return _signature_defaults(self.factory)


_REGISTRY: dict[str, FeatureEntry] = {}


def _signature_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    out = {}
    for name, p in inspect.signature(factory).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[name] = None if p.default is p.empty else p.default
    return out


def check_params(kind: str, name: str, factory: Callable[..., Any], params: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming a parameter that ``factory`` does not take."""
    signature = inspect.signature(factory)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    known = _signature_defaults(factory)
    for key in params:
        if key not in known:
            listed = ", ".join(known) or "none"
            raise ConfigError(f"{kind} {name!r} has no parameter {key!r} (known: {listed})")


def register_feature(name: str, *, stateless: bool = True, version: int | str | None = None) -> Callable[[T], T]:
    """Class or factory decorator adding a feature under ``name``.

    The decorated object is called with the config's parameters and must return a transformer
    mapping ``(N, H, W)`` uint8 images to ``(N, D)`` floats. Set ``stateless=False`` for features
    that learn from data (codebooks): experiments then fit them on each training part only.
    ``version`` (default: the factory's ``version`` attribute, else 1) keys the feature's cached
    output together with its parameters: bump it when a change of code changes that output::

        @register_feature("mean_gray")
        class MeanGray(TransformerMixin, BaseEstimator):
            def fit(self, X, y=None):
                return self

            def transform(self, X):
                return X.reshape(len(X), -1).mean(axis=1, keepdims=True) / 255.0
    """

    def decorate(factory: T) -> T:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ValueError(f"feature {name!r} is already registered")
        declared = version if version is not None else getattr(factory, "version", 1)
        if not isinstance(declared, int | str) or isinstance(declared, bool):
            raise TypeError(f"feature {name!r}: version must be an int or a string, not {declared!r}")
        _REGISTRY[name] = FeatureEntry(name, factory, stateless, declared)
        return factory

    return decorate


#: Built-in features registered by modules above this package, imported when first asked for (so listing
#: the features does not load torch). The modules of this package register theirs when it is imported.
PROVIDED_ELSEWHERE: dict[str, str] = {"deep": "affectlab.models.deep_features"}


def list_features(pattern: str | None = None) -> list[str]:
    """Sorted names of the registered features, optionally filtered by a glob ``pattern``."""
    names = sorted(set(_REGISTRY) | set(PROVIDED_ELSEWHERE))
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def feature_info(name: str) -> FeatureEntry:
    """The registry entry of ``name``; :class:`ConfigError` listing the known names if unknown."""
    if name not in _REGISTRY and name in PROVIDED_ELSEWHERE:
        importlib.import_module(PROVIDED_ELSEWHERE[name])
    if name not in _REGISTRY:
        raise ConfigError(f"unknown feature {name!r} (known: {', '.join(list_features())})")
    return _REGISTRY[name]


def create_feature(name: str, **params: Any) -> TransformerMixin:
    """A new, unfitted feature transformer ``name`` with ``params``."""
    entry = feature_info(name)
    check_params("feature", name, entry.factory, params)
    try:
        return entry.factory(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"feature {name!r}: {exc}") from None
