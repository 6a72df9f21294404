"""Label vocabularies shared across datasets and models."""

from __future__ import annotations

__all__ = ["EXPRESSIONS", "FER2013_CLASSES", "CANONICAL_ALIASES", "canonical_expression"]

#: The 7 basic expressions in FER2013's integer order (0 Angry ... 6 Neutral).
EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER2013_CLASSES: tuple[str, ...] = EXPRESSIONS

#: Other datasets' spellings of the same classes (CK+ folder names, EmoDB letters, ...).
CANONICAL_ALIASES: dict[str, str] = {
    "anger": "angry",
    "sadness": "sad",
    "happiness": "happy",
    "surprised": "surprise",
    "disgusted": "disgust",
    "fearful": "fear",
    "anxiety": "fear",
}


def canonical_expression(label: str) -> str:
    """Map a dataset's spelling (``"sadness"``) to the canonical name (``"sad"``)."""
    key = label.strip().lower()
    return CANONICAL_ALIASES.get(key, key)
