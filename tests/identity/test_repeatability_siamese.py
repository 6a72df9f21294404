"""``kind: siamese`` repeats whatever global random state the process had.

The runs exercise every seeded part of the kind: an ensemble of two nets (seeds ``seed`` and
``seed + 1``) with dropout, branch pretraining on extra identities and on the training subjects,
the auxiliary identity head, photometric jitter and hard negatives, the Fisherface verifier, the
ORL identity classifier, and the heat-map pairs. Pair scores (written with ``repr``), decisions and
the validation scores must be identical. The runner trains in this process (no ``n_jobs``).
"""

from __future__ import annotations

import json

from affectlab.experiments.kinds import experiment_runner
from tests.identity.fakes import write_tiny_ck
from tests.random_state import disturb_global_random_state


def _config(orl, seed=0):
    return {
        "kind": "siamese", "name": "repeat", "data": {"source": str(orl)},
        "protocol": {"n_folds": 2, "val_subjects": 2, "seed": 0},
        "model": {"hidden": 8, "dropout": 0.2},
        "train": {"epochs": 2, "batches_per_epoch": 2, "subjects_per_batch": 3, "images_per_subject": 2,
                  "num_threads": 1, "ensemble": 2, "seed": seed, "pretrain_epochs": 1, "pretrain_batch_size": 8,
                  "identity_weight": 0.5, "brightness": 0.1, "hard_negatives": 0.5},
        "heatmaps": {"n_pairs": 2},
        "handcrafted": {"n_components": 4, "calibration_folds": 2},
        "identity": {"epochs": 2, "train_images": [1, 2], "val_images": [3]},
    }


def _with_extra_identities(orl, extra):
    """A smaller run whose nets start from weights pretrained on extra identities (their own seeded path)."""
    config = {key: value for key, value in _config(orl).items() if key not in ("handcrafted", "identity")}
    config["train"] = {**config["train"], "epochs": 1, "ensemble": 1, "pretrain_epochs": 0,
                       "extra_subjects_per_batch": 2}
    config["heatmaps"] = {"n_pairs": 0}
    config["extra_identities"] = {"source": str(extra), "layout": {"height": 21, "top": 4, "left": 1}, "epochs": 1,
                                  "batch_size": 8}
    return config


def _run(config, out):
    result = experiment_runner("siamese")(config, out, progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    losses = [[row["train_loss"] for row in history] for history in metrics["histories"]]
    files = {name: (out / name).read_bytes() for name in ("predictions.csv", "pair_scores.csv",
                                                         "validation_scores.json")}
    return files, losses, result.rows


def test_a_siamese_run_repeats_whatever_random_state_the_process_had(tiny_orl, tmp_path):
    disturb_global_random_state(7)
    files, losses, rows = _run(_config(tiny_orl), tmp_path / "a")
    disturb_global_random_state(123)
    again_files, again_losses, again_rows = _run(_config(tiny_orl), tmp_path / "b")
    assert again_files == files  # every pair score of every verifier, every validation score
    assert again_losses == losses
    assert [r["feature"] for r in rows] == ["siamese_vgg", "fisherfaces", "siamese_vgg+fisherfaces", "vgg_identity"]
    assert again_rows == rows  # the identity classifier's row too
    # another train.seed starts both nets elsewhere, so their training losses cannot all be the same
    other = {key: value for key, value in _config(tiny_orl, seed=1).items() if key not in ("handcrafted", "identity")}
    other_losses = _run(other, tmp_path / "seed1")[1]
    assert len(other_losses) == len(losses) and other_losses != losses


def test_a_run_with_extra_identities_repeats_whatever_random_state_the_process_had(tiny_orl, tmp_path):
    extra = write_tiny_ck(tmp_path / "ck")
    disturb_global_random_state(7)
    files, losses, _ = _run(_with_extra_identities(tiny_orl, extra), tmp_path / "a")
    disturb_global_random_state(123)
    assert _run(_with_extra_identities(tiny_orl, extra), tmp_path / "b")[:2] == (files, losses)
