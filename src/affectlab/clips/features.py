"""Clip features: temporal descriptors and pooled frame descriptors of clips' face volumes, cached.

Every sequence feature of :mod:`affectlab.features.temporal` works on clips: the temporal
descriptors (``lbp_top``, ``lpq_top``, ``sift_top``, ``sift_lbp``) on the aligned volume, and
``pooled``: any image feature of the registry (``hog``, ``lbp``, ``lpq``, ``dsift_llc``, and
``deep``: the activations of any registered network) computed per frame and mean- or max-pooled
over the volume.

:func:`clip_features` computes one feature for a :class:`~affectlab.clips.dataset.ClipSet` (or
any source :func:`~affectlab.clips.dataset.load_clips` reads). The result is cached like image
features: the key holds the clips' file hashes in order, the volume settings and
:data:`~affectlab.clips.volume.VOLUME_VERSION`, the feature's name, declared ``version`` and
parameters (for ``pooled``: the inner feature's registered version and, for a network, its
weights), the numeric libraries' versions, and for a feature that learns (codebooks) the clips
and labels it was fitted on.

Examples
--------
>>> X, clips = clip_features("clips/manifest.csv", "lbp_top", {"levels": 2},
...                          volume={"frames": 3, "size": 48})  # doctest: +SKIP
>>> X.shape  # doctest: +SKIP
(327, 885)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from affectlab.clips.dataset import ClipSet, load_clips
from affectlab.clips.volume import VOLUME_VERSION

__all__ = ["clip_feature_key", "clip_features", "sequence_feature_fingerprint"]


def sequence_feature_fingerprint(name: str, extractor: Any) -> dict[str, Any]:
    """What identifies a sequence feature's output: name, declared version, parameters, libraries.

    >>> from affectlab.features.temporal import create_sequence_feature
    >>> sorted(sequence_feature_fingerprint("lbp_top", create_sequence_feature("lbp_top")))
    ['libraries', 'name', 'params', 'version']
    """
    from affectlab.features.cache import _plain, library_versions

    fingerprint: dict[str, Any] = {"name": name, "version": getattr(type(extractor), "version", 1),
                                   "params": _plain(extractor.get_params(deep=False)),
                                   "libraries": library_versions()}
    if name == "pooled":
        from affectlab.features.registry import feature_info

        inner = extractor._extractor()
        fingerprint["inner_version"] = feature_info(extractor.feature).version
        if callable(getattr(inner, "cache_token", None)):  # a network: its weights and architecture version
            fingerprint["token"] = str(inner.cache_token())
    return fingerprint


def clip_feature_key(clips: ClipSet, name: str, extractor: Any, *,
                     fit_on: tuple[np.ndarray, Sequence[Any]] | None = None) -> str:
    """Cache key of ``extractor`` (sequence feature ``name``) over ``clips``' volumes."""
    from affectlab.features.cache import _sha

    spec = {"clips": _sha(*clips.digests), "volume": clips.settings.to_dict(), "volume_version": VOLUME_VERSION,
            "feature": sequence_feature_fingerprint(name, extractor)}
    if fit_on is not None:
        indices, labels = fit_on
        spec["fit"] = _sha(np.asarray(indices, dtype=np.int64).tobytes(), "\x1f".join(str(v) for v in labels))
    return _sha("clip-feature", json.dumps(spec, sort_keys=True))


def clip_features(
    source: Any,
    feature: str,
    params: Mapping[str, Any] | None = None,
    *,
    fit_on: Sequence[int] | np.ndarray | None = None,
    cache: Any = None,
    volume: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, ClipSet]:
    """One sequence feature of every clip of ``source``: ``(X (N, D) float32, clips)``.

    Parameters
    ----------
    source
        A :class:`~affectlab.clips.dataset.ClipSet`, or what :func:`~affectlab.clips.dataset.load_clips`
        reads (manifest CSV, folder, clip), read with the ``volume`` settings.
    feature, params
        A sequence feature (:func:`~affectlab.features.temporal.list_sequence_features`) and its
        parameters, e.g. ``"pooled", {"feature": "deep", "params": {"model": "mini_xception"}}``.
    fit_on
        Indices of the clips a feature that learns is fitted on (default: all); stateless
        features ignore it.
    cache
        A :class:`~affectlab.features.cache.FeatureCache`, a folder, ``True`` (the default
        folder) or ``None``; it caches the volumes too.

    Raises
    ------
    ConfigError
        Unknown feature or parameter.
    """
    from affectlab.features.cache import FeatureCache, default_cache_dir
    from affectlab.features.temporal import create_sequence_feature, sequence_feature_is_stateless

    params = dict(params or {})
    extractor = create_sequence_feature(feature, **params)
    if cache is True:
        cache = FeatureCache(default_cache_dir())
    elif cache is not None and not isinstance(cache, FeatureCache):
        cache = FeatureCache(cache)
    clips = source if isinstance(source, ClipSet) else load_clips(source, volume, cache=cache, n_jobs=n_jobs,
                                                                  progress=progress)
    volumes = clips.volumes
    assert volumes is not None
    stateless = sequence_feature_is_stateless(feature, params)
    train = np.arange(len(clips)) if fit_on is None or stateless else np.asarray(fit_on, dtype=np.int64)
    labels = clips.labels[train].astype(str)

    def compute() -> np.ndarray:
        fitted = extractor.fit(volumes[train], None if stateless else labels)
        return np.asarray(fitted.transform(volumes), dtype=np.float32)

    if cache is None:
        return compute(), clips
    key = clip_feature_key(clips, feature, extractor, fit_on=None if stateless else (train, labels.tolist()))
    X, _ = cache.get_or_compute(key, compute, {"feature": feature, "params": params, "clips": len(clips),
                                               "volume": clips.settings.to_dict()})
    return X, clips
