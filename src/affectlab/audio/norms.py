"""Category -> valence/arousal/dominance coordinates from a published affective norm.

EmoDB has categorical labels only. For a *dimensional proxy* task each category is replaced by
the mean valence, arousal and dominance ratings of the English word naming it in

    Warriner, A. B., Kuperman, V., & Brysbaert, M. (2013). Norms of valence, arousal, and
    dominance for 13,915 English lemmas. Behavior Research Methods, 45(4), 1191-1207.
    https://doi.org/10.3758/s13428-012-0314-x

(columns ``V.Mean.Sum``, ``A.Mean.Sum``, ``D.Mean.Sum`` of ``Ratings_Warriner_et_al.csv``; 1-9
scales: 1 = unhappy / calm / controlled, 9 = happy / excited / in control). The proxy targets
are therefore constant within a category: predicting them measures how well a model orders the
categories along each dimension, not real dimensional ratings of the utterances. Every result
computed with them is labelled a proxy.

Examples
--------
>>> category_to_vad(["anger", "happiness"], "warriner2013").tolist()
[[2.5, 5.93, 5.14], [8.48, 6.5, 7.05]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from affectlab.errors import ConfigError, DataError

__all__ = ["AFFECTIVE_NORMS", "DIMENSIONS", "AffectiveNorm", "category_to_vad", "get_norm"]

#: Dimension order of every V/A/D array.
DIMENSIONS: tuple[str, str, str] = ("valence", "arousal", "dominance")


@dataclass(frozen=True)
class AffectiveNorm:
    """Word -> (valence, arousal, dominance) means of a published norm."""

    name: str
    citation: str
    scale: tuple[float, float]
    values: dict[str, tuple[float, float, float]]
    words: dict[str, str]

    def to_dict(self) -> dict[str, object]:
        """The norm as plain data (for configs and reports)."""
        return {"name": self.name, "citation": self.citation, "scale": list(self.scale),
                "words": dict(self.words), "values": {k: list(v) for k, v in self.values.items()}}


WARRINER_2013 = AffectiveNorm(
    name="warriner2013",
    citation=("Warriner, A. B., Kuperman, V., & Brysbaert, M. (2013). Norms of valence, arousal, and dominance "
              "for 13,915 English lemmas. Behavior Research Methods, 45(4), 1191-1207. "
              "doi:10.3758/s13428-012-0314-x (V/A/D.Mean.Sum, 1-9 scales)"),
    scale=(1.0, 9.0),
    # EmoDB class -> (valence, arousal, dominance) of the lemma in ``words``.
    values={
        "anger": (2.50, 5.93, 5.14),
        "boredom": (2.77, 2.58, 5.04),
        "disgust": (3.32, 5.00, 4.84),
        "fear": (2.93, 6.14, 3.32),
        "happiness": (8.48, 6.50, 7.05),
        "sadness": (2.40, 2.81, 3.84),
        "neutral": (5.50, 3.45, 5.81),
    },
    words={"anger": "anger", "boredom": "boredom", "disgust": "disgust", "fear": "fear",
           "happiness": "happiness", "sadness": "sadness", "neutral": "neutral"},
)

#: Norms by name.
AFFECTIVE_NORMS: dict[str, AffectiveNorm] = {WARRINER_2013.name: WARRINER_2013}


def get_norm(name: str) -> AffectiveNorm:
    """A norm by name (``"warriner2013"``)."""
    if name not in AFFECTIVE_NORMS:
        raise ConfigError(f"unknown affective norm {name!r} (known: {', '.join(AFFECTIVE_NORMS)})")
    return AFFECTIVE_NORMS[name]


def category_to_vad(labels: Sequence[str] | np.ndarray, norm: str = "warriner2013") -> np.ndarray:
    """``(n, 3)`` valence, arousal, dominance of each category label.

    Raises
    ------
    DataError
        A label has no coordinates in the norm (the message names it).
    """
    table = get_norm(norm).values
    missing = sorted({str(v) for v in labels} - set(table))
    if missing:
        raise DataError(f"no {norm} valence/arousal/dominance for label(s) {', '.join(missing)} "
                        f"(known: {', '.join(table)})")
    return np.array([table[str(v)] for v in labels], dtype=np.float64)
