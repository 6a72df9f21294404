"""Per-group (subject or speaker) standardisation of feature matrices, done before any classifier.

>>> import numpy as np
>>> standardise_per_group(np.array([[1.0], [3.0], [10.0], [30.0]]), np.array(["a", "a", "b", "b"])).ravel().tolist()
[-1.0, 1.0, -1.0, 1.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["standardise_per_group"]


def standardise_per_group(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Z-score each feature within each group (subject/speaker) with that group's own statistics.

    Uses no labels, so it may see test subjects; constant features within a group become 0.
    """
    X = np.asarray(X, dtype=np.float64)
    out = np.empty_like(X)
    groups = np.asarray(groups, dtype=object)
    for g in dict.fromkeys(groups.tolist()):
        rows = groups == g
        mean = X[rows].mean(axis=0)
        std = X[rows].std(axis=0)
        out[rows] = (X[rows] - mean) / np.where(std > 0, std, 1.0)
    return out.astype(np.float32)
