"""Shared fixtures of the identity tests."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


@pytest.fixture
def tiny_orl(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "orl"
    for s in range(1, 9):
        proto = np.kron(rng.uniform(0, 255, (7, 6)), np.ones((4, 4)))[:28, :23]
        (root / f"s{s}").mkdir(parents=True)
        for k in range(1, 5):
            img = np.clip(proto + rng.normal(0, 15, proto.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / f"s{s}" / f"{k}.pgm"), img)
    (root / "README").write_text("synthetic")
    return root
