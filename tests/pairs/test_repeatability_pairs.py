"""``kind: pairs`` repeats whatever global random state the process had.

Each net's initial weights (the ``comb`` comparison layer's too, ``comb_init: random``), its dropout
masks (shared by the two paths of a CompCNN), the batch order and the pair augmentation must come
from ``train.seed``; the proxy pairs, the validation subjects and the SVMs from their own seeds.
The runner trains in this process (no ``n_jobs``), so there is no worker count to compare.
"""

from __future__ import annotations

import json

from affectlab.experiments.kinds import experiment_runner
from tests.pairs.fakes import fake_ckplus
from tests.random_state import disturb_global_random_state


def _config(source, seed=0):
    return {
        "kind": "pairs", "name": "repeat", "data": {"proxy": {"source": str(source), "pairs_per_face": 4}},
        "images": {"size": 24, "crop": 16},
        "protocol": {"n_folds": 4, "val_subjects": 2, "seed": 0, "run_folds": 2},
        "model": {"channels": [2, 3, 3], "fc": [6, 4], "comb_init": "random"},
        "models": ["DiffCNN", "CompCNN-Comb@1", "CompCNN-Comb@2", "CompCNN-Comb@3"],  # + CompCNN-Comb-SVM
        "train": {"epochs": 2, "batch_size": 16, "num_threads": 1, "device": "cpu", "seed": seed,
                  "schedule": "constant"},
        "svm": {"C": [0.1, 1.0]},
    }


def _run(source, out, seed=0):
    experiment_runner("pairs")(_config(source, seed), out, progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    return (out / "predictions.csv").read_bytes(), metrics


def _losses(metrics):
    return {name: [row["train_loss"] for row in history] for name, history in metrics["histories"].items()}


def _folds(metrics):
    return [[{k: v for k, v in fold.items() if k != "train_seconds"} for fold in row["folds"]]
            for row in metrics["rows"]]


def test_a_pairs_run_repeats_whatever_random_state_the_process_had(tmp_path):
    source = fake_ckplus(tmp_path / "ck")
    disturb_global_random_state(7)
    predictions, metrics = _run(source, tmp_path / "a")
    disturb_global_random_state(123)
    again, again_metrics = _run(source, tmp_path / "b")
    assert again == predictions
    assert _losses(again_metrics) == _losses(metrics)  # every epoch of every net, exactly
    assert [r["model"] for r in metrics["rows"]][-2:] == ["CompCNN-Comb-SVM", "pixel difference + linear SVM"]
    assert _folds(again_metrics) == _folds(metrics)  # best epochs, validation accuracies, chosen C
    # another train.seed starts every net elsewhere, so its training losses cannot all be the same
    other = _losses(_run(source, tmp_path / "seed1", seed=1)[1])
    assert other.keys() == _losses(metrics).keys() and other != _losses(metrics)
