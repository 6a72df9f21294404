"""A fake CK+ folder for the pairs runner's tests: one blurred-noise face per subject, two frames each."""

from __future__ import annotations

import cv2
import numpy as np


def fake_ckplus(root, n_subjects=8):
    rng = np.random.default_rng(0)
    for s in range(n_subjects):
        folder = root / ("happy" if s % 2 else "anger")
        folder.mkdir(parents=True, exist_ok=True)
        face = cv2.GaussianBlur(rng.integers(0, 255, (48, 48)).astype(np.uint8), (7, 7), 2)
        for frame in (5, 6):
            cv2.imwrite(str(folder / f"S{s + 1:03d}_001_{frame:08d}.png"), face)
    return root
