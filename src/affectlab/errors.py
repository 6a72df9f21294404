"""Exception types for AffectLab.

Every error a user can cause (a bad file, a wrong column, a missing face) raises a subclass of
:class:`AffectLabError` whose message names the file, row or argument. The CLI prints that message
on one line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations

__all__ = [
    "AffectLabError",
    "DataError",
    "MediaReadError",
    "ConfigError",
    "NoFaceError",
    "ProtocolError",
    "ModelError",
]


class AffectLabError(Exception):
    """Base class of all user-facing AffectLab errors."""


class DataError(AffectLabError):
    """A dataset, CSV or manifest is malformed (wrong columns, bad row, unknown label...)."""


class MediaReadError(AffectLabError):
    """An image, audio or video file is missing, unreadable or corrupt."""


class ConfigError(AffectLabError):
    """An experiment configuration or argument is invalid."""


class NoFaceError(AffectLabError):
    """No face was found where one was required."""


class ProtocolError(AffectLabError):
    """An evaluation split is invalid, e.g. one subject appears in both train and test."""


class ModelError(AffectLabError):
    """A model name, checkpoint or weights file is unknown or unusable."""
