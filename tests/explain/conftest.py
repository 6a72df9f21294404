"""Shared fixtures of the explain tests: a tiny ORL-style folder and an identity model trained on it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


def write_tiny_orl(root, *, subjects: int = 8, images: int = 4):
    """``s<N>/<k>.pgm``, 28 x 23 like the old ORL copy: a blocky face per subject plus noise."""
    rng = np.random.default_rng(0)
    for s in range(1, subjects + 1):
        proto = np.kron(rng.uniform(0, 255, (7, 6)), np.ones((4, 4)))[:28, :23]
        (root / f"s{s}").mkdir(parents=True)
        for k in range(1, images + 1):
            img = np.clip(proto + rng.normal(0, 15, proto.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / f"s{s}" / f"{k}.pgm"), img)
    return root


@pytest.fixture(scope="session")
def tiny_identity_run(tmp_path_factory):
    """``(orl folder, identity run folder)``: vgg_identity at 28 x 28 (padded with edge values) trained on images
    1-2 of 8 synthetic subjects, validated on 3, tested on 4."""
    from affectlab.experiments.identity import run_identity_experiment

    base = tmp_path_factory.mktemp("tiny_identity")
    orl = write_tiny_orl(base / "orl")
    cfg = {"kind": "identity", "name": "tiny", "data": {"source": str(orl)},
           "images": {"size": [28, 28], "square": "edge"}, "split": {"train_images": [1, 2], "val_images": [3]},
           "model": {"name": "vgg_identity"},
           "train": {"epochs": 6, "batch_size": 8, "lr": 0.01, "precision": "fp32", "num_threads": 1,
                     "schedule": "constant",
                     "augment": {"rotation": 0, "scale": 0, "translate": 0, "flip": False}},
           "explain": {"n_faces": 2}}
    run_identity_experiment(cfg, base / "run", progress=False)
    return orl, base / "run"
