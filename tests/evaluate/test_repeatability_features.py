"""The plain ``features`` kind repeats whatever global random state the process had, and with worker processes.

Every run starts from a different, disturbed global state (Python's ``random``, NumPy's legacy
generator, torch's default generator: seeded and advanced); predictions and decision values must
not change. The features cover each source of randomness the kind has: a learned codebook
(``dsift_llc``), a fixed network with random weights (``deep`` with ``pretrained: false``, which
used to take its weights from whatever state the process had) and classifiers with an inner
search and solvers that take a ``random_state``.
"""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np

from affectlab.data import Dataset, Sample
from affectlab.experiments import run_experiment
from affectlab.features import create_feature
from tests.random_state import disturb_global_random_state

CLASSES = ["anger", "happy", "surprise"]


def _dataset() -> Dataset:
    rng = np.random.default_rng(0)
    samples = []
    for s in range(6):
        for k, label in enumerate(CLASSES):
            for j in range(2):
                image = rng.integers(0, 80, size=(24, 24)).astype(np.uint8)
                image[k * 8 : k * 8 + 8, :] += 120  # one bright band per class
                samples.append(Sample(id=f"S{s:03d}_{k}_{j}", label=label, subject=f"S{s:03d}", pixels=image))
    return Dataset("toy", samples, list(CLASSES), "image")


CONFIG = {
    "name": "repeat",
    "data": {"source": "unused"},
    "protocol": {"kind": "group_kfold", "n_splits": 3},
    "features": [
        {"name": "hog", "pixels_per_cell": 8},
        {"name": "dsift_llc", "n_words": 8, "k": 2, "levels": 1, "step": 4, "sizes": [8], "max_descriptors": 300},
        {"name": "deep", "model": "mini_xception", "pretrained": False},
    ],
    "classifiers": [
        {"name": "linear_svm", "C_grid": [0.01, 1.0], "inner_splits": 2},
        {"name": "logistic_regression", "C": 1.0},
    ],
}


def _run(out, *, n_jobs=None):
    result = run_experiment(CONFIG, out, dataset=_dataset(), progress=False, n_jobs=n_jobs)
    decisions = np.load(out / "decisions.npz", allow_pickle=False)
    return (out / "predictions.csv").read_bytes(), {k: decisions[k] for k in decisions.files}, result.rows


def test_a_features_run_repeats_whatever_random_state_the_process_had_and_with_two_jobs(tmp_path):
    disturb_global_random_state(7)
    predictions, decisions, rows = _run(tmp_path / "a")
    disturb_global_random_state(123)
    again_predictions, again_decisions, again_rows = _run(tmp_path / "b")
    assert again_predictions == predictions
    assert again_decisions.keys() == decisions.keys()
    assert all(np.array_equal(again_decisions[k], decisions[k]) for k in decisions)
    assert [r["accuracy"] for r in again_rows] == [r["accuracy"] for r in rows]
    disturb_global_random_state(99)
    in_workers, worker_decisions, _ = _run(tmp_path / "c", n_jobs=2)  # features and folds in 2 processes
    assert in_workers == predictions
    assert worker_decisions.keys() == decisions.keys()
    assert all(_close(worker_decisions[k], decisions[k]) for k in decisions)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal labels and ids; decision values equal up to float rounding (workers extract features in smaller
    batches, with one BLAS thread)."""
    if a.dtype.kind == "f":
        return a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=1e-6)
    return np.array_equal(a, b)


def test_a_random_init_deep_feature_is_the_same_network_in_every_process():
    """``deep`` with ``pretrained: false`` is one fixed network, not one drawn from the process's state."""
    faces = np.random.default_rng(3).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    disturb_global_random_state(5)
    here = create_feature("deep", model="resnet_fer", pretrained=False).fit_transform(faces)
    code = ("import sys, numpy as np, torch; torch.manual_seed(int(sys.argv[1])); torch.rand(3)\n"
            "from affectlab.features import create_feature\n"
            "faces = np.random.default_rng(3).integers(0, 256, (3, 48, 48), dtype=np.uint8)\n"
            "np.save(sys.stdout.buffer, create_feature('deep', model='resnet_fer', pretrained=False)"
            ".fit_transform(faces))\n")
    done = subprocess.run([sys.executable, "-c", code, "321"], capture_output=True, check=True, timeout=120)
    there = np.load(io.BytesIO(done.stdout))
    assert np.allclose(here, there, rtol=1e-5, atol=1e-6)
