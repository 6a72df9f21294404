"""Video clips -> aligned face volumes -> clip features and clip classifiers.

- :mod:`affectlab.clips.volume`: a clip -> the main face's aligned volume ``(T, size, size)``
  (:class:`VolumeSettings`, :class:`VolumeBuilder`, :func:`clip_volume`).
- :mod:`affectlab.clips.dataset`: a manifest CSV, a folder of clips or a clip -> a
  :class:`ClipSet` of volumes with labels and subjects (:func:`load_clips`); refused clips listed.
- :mod:`affectlab.clips.features`: every sequence feature of the clips, cached (:func:`clip_features`).
- :mod:`affectlab.clips.model`: a saved, named clip classifier (:func:`fit_clip_model`,
  :func:`save_clip_model`, :func:`load_clip_model`, :func:`predict_clip`).
- :mod:`affectlab.clips.errors`: why a clip is refused (one exception per reason).
"""

from __future__ import annotations

from affectlab.clips.dataset import ClipItem, ClipSet, Refusal, list_clips, load_clips
from affectlab.clips.errors import (
    REASONS,
    ClipMissingFrames,
    ClipNoFace,
    ClipRefused,
    ClipTooShort,
    ClipUnreadable,
)
from affectlab.clips.features import clip_features
from affectlab.clips.model import (
    ClipModel,
    ClipPrediction,
    fit_clip_model,
    load_clip_model,
    predict_clip,
    save_clip_model,
)
from affectlab.clips.volume import VOLUME_VERSION, FaceVolume, VolumeBuilder, VolumeSettings, clip_volume

__all__ = [
    "REASONS",
    "VOLUME_VERSION",
    "ClipItem",
    "ClipMissingFrames",
    "ClipModel",
    "ClipNoFace",
    "ClipPrediction",
    "ClipRefused",
    "ClipSet",
    "ClipTooShort",
    "ClipUnreadable",
    "FaceVolume",
    "Refusal",
    "VolumeBuilder",
    "VolumeSettings",
    "clip_features",
    "clip_volume",
    "fit_clip_model",
    "list_clips",
    "load_clip_model",
    "load_clips",
    "predict_clip",
    "save_clip_model",
]
