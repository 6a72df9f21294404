"""A CK+-like folder of extra identities for the identity tests."""

from __future__ import annotations

import cv2
import numpy as np


def write_tiny_ck(root):
    """<emotion>/S<subj>_<seq>_<frame>.png, 48x48: 4 subjects x 3 images (a blocky face per subject, noise)."""
    rng = np.random.default_rng(1)
    for s in range(1, 5):
        proto = np.kron(rng.uniform(0, 255, (6, 6)), np.ones((8, 8)))
        for f, emotion in enumerate(["happy", "happy", "anger"]):
            (root / emotion).mkdir(parents=True, exist_ok=True)
            img = np.clip(proto + rng.normal(0, 10, proto.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / emotion / f"S{s:03d}_00{f}_0000001{f}.png"), img)
    return root
