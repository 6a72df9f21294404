"""AffectLab: recognise human affect from faces and speech.

Quick start::

    >>> import affectlab
    >>> result = affectlab.analyze_image(affectlab.sample_photo())
    >>> result.status, result.faces[0].label in affectlab.EXPRESSIONS
    ('ok', True)

Public names are imported lazily so ``import affectlab`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "ExpressionAnalyzer": "affectlab.analysis",
    "AnalysisResult": "affectlab.analysis",
    "FaceResult": "affectlab.analysis",
    "analyze_image": "affectlab.analysis",
    "analyze": "affectlab.media",
    "MediaAnalyzer": "affectlab.media",
    "media_kind": "affectlab.media",
    "Dataset": "affectlab.data",
    "Sample": "affectlab.data",
    "load_dataset": "affectlab.data",
    "read_image": "affectlab.data",
    "sample_photo": "affectlab.data",
    "DEFAULT_MODEL": "affectlab.models",
    "create_model": "affectlab.models",
    "list_models": "affectlab.models",
    "EXPRESSIONS": "affectlab.labels",
    "AffectLabError": "affectlab.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'affectlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
