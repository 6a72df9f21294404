"""``kind: sequences`` repeats whatever global random state the process had, and with worker processes.

The sequence features that learn (the SIFT-TOP and SIFT-LBP codebooks, per-frame dense-SIFT LLC
pooled over the frames) are fitted on each fold's training sequences inside the fold tasks, which
run in worker processes with ``n_jobs=2``; predictions and decision values must not change with
the process's random state nor with the number of processes.
"""

from __future__ import annotations

import cv2
import numpy as np

from affectlab.experiments.kinds import experiment_runner
from tests.random_state import disturb_global_random_state


def _write_sequences(root, n_subjects=6, size=32):
    """Two classes whose 3-frame sequences differ in where a bright band is and how it moves."""
    rng = np.random.default_rng(0)
    for label, row in (("happy", 4), ("sad", 18)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for s in range(n_subjects):
            for t in range(3):
                image = rng.integers(0, 90, (size, size), dtype=np.uint8)
                image[row + 2 * t : row + 2 * t + 6, :] = 200
                cv2.imwrite(str(root / label / f"S{s + 10:03d}_00{1 if label == 'happy' else 2}_{t + 5:08d}.png"),
                            image)
    return root


def _config(root):
    small_sift = {"n_words": 6, "k": 2, "levels": [1], "sizes": [8], "max_descriptors": 400}
    return {
        "kind": "sequences", "name": "repeat", "data": {"source": str(root)}, "images": {"size": 32},
        "sequences": {"frames": 3}, "protocol": {"kind": "group_kfold", "n_splits": 3},
        "features": [
            {"name": "sift_top", "t_length": 8, "slice_step": 8, **small_sift},
            {"name": "sift_lbp", "lbp_levels": 1, **small_sift},
            {"name": "pooled", "feature": "dsift_llc", "pooling": "max",
             "params": {"n_words": 6, "k": 2, "levels": 1, "step": 8, "sizes": [8], "max_descriptors": 300}},
        ],
        "classifiers": [{"name": "linear_svm", "C_grid": [0.01, 1.0], "inner_splits": 2}],
    }


def _run(root, out, *, n_jobs=None):
    experiment_runner("sequences")(_config(root), out, progress=False, n_jobs=n_jobs)
    decisions = np.load(out / "decisions.npz", allow_pickle=False)
    return (out / "predictions.csv").read_bytes(), {k: decisions[k] for k in decisions.files}


def test_a_sequences_run_repeats_whatever_random_state_the_process_had_and_with_two_jobs(tmp_path):
    root = _write_sequences(tmp_path / "data")
    disturb_global_random_state(7)
    predictions, decisions = _run(root, tmp_path / "a")
    disturb_global_random_state(123)
    assert _same(_run(root, tmp_path / "b"), (predictions, decisions))
    disturb_global_random_state(99)
    assert _same(_run(root, tmp_path / "c", n_jobs=2), (predictions, decisions), rounding=True)  # folds in 2 processes


def _same(a, b, *, rounding: bool = False) -> bool:
    """The same predictions.csv bytes and decision values (up to float rounding with ``rounding``: other processes
    may sum in another order)."""
    (pred_a, dec_a), (pred_b, dec_b) = a, b

    def equal(x: np.ndarray, y: np.ndarray) -> bool:
        if rounding and x.dtype.kind == "f":
            return x.shape == y.shape and np.allclose(x, y, rtol=1e-5, atol=1e-6)
        return np.array_equal(x, y)

    return pred_a == pred_b and dec_a.keys() == dec_b.keys() and all(equal(dec_a[k], dec_b[k]) for k in dec_a)
