"""Feature normalisation schemes for speech experiments: global or per speaker.

- ``global``: nothing is done before the classifier; every classifier scales the features with
  statistics of its training part only (z-scores for SVMs, min-max for the SVR).
- ``per_speaker``: every speaker's features are first z-scored with that speaker's own mean and
  standard deviation (no labels are used, so the test speaker's own statistics may be used; this
  is the usual "speaker normalisation" and moves EmoDB UAR by about 0.05-0.1), then the
  classifier's own scaling follows.

Every report states the scheme with :func:`describe_normalisation`.

Examples
--------
>>> import numpy as np
>>> X = np.array([[1.0], [3.0], [10.0], [30.0]]); speakers = np.array(["a", "a", "b", "b"])
>>> normalise(X, speakers, "per_speaker").ravel().tolist()
[-1.0, 1.0, -1.0, 1.0]
>>> normalise(X, speakers, "global").ravel().tolist()
[1.0, 3.0, 10.0, 30.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from affectlab.errors import ConfigError, ProtocolError

__all__ = ["NORMALISATIONS", "check_normalisation", "describe_normalisation", "normalise", "normalise_per_speaker"]

#: Known schemes.
NORMALISATIONS = ("global", "per_speaker")
_ALIASES = {"global": "global", "none": "global", "per_speaker": "per_speaker", "per_subject": "per_speaker",
            "speaker": "per_speaker"}


def check_normalisation(name: Any) -> str:
    """The canonical scheme name (``per_subject`` and ``speaker`` mean ``per_speaker``)."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in _ALIASES:
        raise ConfigError(f"normalisation {name!r} is unknown (known: {', '.join(NORMALISATIONS)})")
    return _ALIASES[key]


def normalise_per_speaker(X: np.ndarray, speakers: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Z-score every feature within every speaker (constant features within a speaker become 0)."""
    from affectlab.features.normalise import standardise_per_group

    g = np.asarray(speakers, dtype=object)
    if g.shape[0] != np.asarray(X).shape[0]:
        raise ValueError(f"{g.shape[0]} speaker ids for {np.asarray(X).shape[0]} samples")
    if any(v is None or v == "" for v in g):
        raise ProtocolError("per-speaker normalisation needs a speaker id for every sample")
    return standardise_per_group(np.asarray(X, dtype=np.float64), g.astype(str))


def normalise(X: np.ndarray, speakers: Sequence[Any] | np.ndarray | None, scheme: str) -> np.ndarray:
    """Apply ``scheme`` (``"global"``: unchanged float copy; ``"per_speaker"``: per-speaker z-scores)."""
    scheme = check_normalisation(scheme)
    if scheme == "global":
        return np.array(X, dtype=np.float32)
    if speakers is None:
        raise ProtocolError("per-speaker normalisation needs a speaker id for every sample")
    return normalise_per_speaker(X, speakers).astype(np.float32)


def describe_normalisation(scheme: str) -> str:
    """One sentence for reports."""
    if check_normalisation(scheme) == "per_speaker":
        return ("per speaker: each speaker's features are z-scored with that speaker's own mean and standard"
                " deviation (no labels used), then scaled by each model with training-part statistics")
    return ("global: no speaker normalisation; each model scales the features with statistics of its"
            " training part only")
