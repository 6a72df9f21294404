"""Three random 32x32 faces, as floats in [0, 1], with one pixel set to a chosen (e.g. non-finite) value."""

from __future__ import annotations

import numpy as np

FACES = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)


def faces_with(value: float, index: int = 1) -> np.ndarray:
    """The faces as float64 in [0, 1] with pixel (3, 4) of face ``index`` set to ``value``."""
    X = FACES.astype(np.float64) / 255.0
    X[index, 3, 4] = value
    return X
