"""Video clips -> aligned face volumes -> clip features and clip classifiers.

- :mod:`affectlab.clips.volume`: a clip -> the main face's aligned volume ``(T, size, size)``
  (:class:`VolumeSettings`, :class:`VolumeBuilder`, :func:`clip_volume`).
- :mod:`affectlab.clips.errors`: why a clip is refused (one exception per reason).
"""

from __future__ import annotations

from affectlab.clips.errors import (
    REASONS,
    ClipMissingFrames,
    ClipNoFace,
    ClipRefused,
    ClipTooShort,
    ClipUnreadable,
)
from affectlab.clips.volume import VOLUME_VERSION, FaceVolume, VolumeBuilder, VolumeSettings, clip_volume

__all__ = [
    "REASONS",
    "VOLUME_VERSION",
    "ClipMissingFrames",
    "ClipNoFace",
    "ClipRefused",
    "ClipTooShort",
    "ClipUnreadable",
    "FaceVolume",
    "VolumeBuilder",
    "VolumeSettings",
    "clip_volume",
]
