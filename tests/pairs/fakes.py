"""Fakes for the pairs tests: a CK+ folder (one blurred-noise face per subject, two frames each), a synthetic
onset/apex manifest and a tiny pairs config."""

from __future__ import annotations

import csv
from pathlib import Path

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


def pair_manifest(root: Path, n_subjects: int = 6, per_subject: int = 4, *, apex_size=(24, 24)) -> Path:
    """Synthetic pairs: 'spontaneous' apexes get a bright band, 'posed' ones a dark band."""
    rng = np.random.default_rng(0)
    rows = []
    for s in range(n_subjects):
        for k in range(per_subject):
            label = ("posed", "spontaneous")[k % 2]
            onset = rng.integers(60, 200, (24, 24), dtype=np.uint8)
            apex = onset.copy()
            apex[4:8] = 255 if label == "spontaneous" else 0
            if (s, k) == (0, 1):
                apex = cv2.resize(apex, apex_size[::-1])
            cv2.imwrite(str(root / f"s{s}_{k}_on.png"), onset)
            cv2.imwrite(str(root / f"s{s}_{k}_ap.png"), apex)
            rows.append([f"s{s}_{k}_on.png", f"s{s}_{k}_ap.png", label, f"S{s:03d}"])
    path = root / "pairs.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["onset", "apex", "label", "subject"], *rows])
    return path


def tiny_pairs_config(manifest: Path, **over) -> dict:
    cfg = {"kind": "pairs", "data": {"manifest": str(manifest)}, "images": {"size": 24, "crop": 20},
           "protocol": {"n_folds": 2, "val_subjects": 1, "seed": 0, "run_folds": 1},
           "model": {"channels": [2, 2, 2], "fc": [4, 4]}, "models": ["DiffCNN"],
           "train": {"epochs": 1, "batch_size": 8, "num_threads": 1, "device": "cpu"},
           "baselines": {"pixel_svm": False}}
    cfg.update(over)
    return cfg
