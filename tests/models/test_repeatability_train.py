"""``affectlab train`` from scratch repeats whatever global random state the process had.

Every random part of a from-scratch run is on: the initial weights, batch order, augmentation
(rotation, scale, shift, flip), mixup (NumPy's Beta draws), dropout, and the 10-crop CNN's random
crops. The selected weights (``best.pt``) and the whole training history must be identical; the
fine-tuning case is tested in ``test_train_cli.py``.
"""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.models import load_model
from tests.random_state import disturb_global_random_state


def _train(data, out, model, seed=0):
    args = ["train", "--model", model, "--data", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "4",
            "--mixup", "0.4", "--label-smoothing", "0.1", "--seed", str(seed), "--threads", "1", "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    history = json.loads((out / "history.json").read_text())
    timeless = [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in history]
    return load_model(out / "best.pt").state_dict(), timeless


@pytest.mark.parametrize("model", ["mini_xception", "tencrop_cnn"])
def test_training_from_scratch_repeats_whatever_random_state_the_process_had(fer_csv, tmp_path, model):
    disturb_global_random_state(7)
    weights, history = _train(fer_csv, tmp_path / "a", model)
    disturb_global_random_state(123)
    again_weights, again_history = _train(fer_csv, tmp_path / "b", model)
    assert again_history == history
    assert again_weights.keys() == weights.keys()
    assert all(torch.equal(again_weights[name], weights[name]) for name in weights)
    # another --seed starts from other weights, so the selected weights cannot all be the same
    other, _ = _train(fer_csv, tmp_path / "seed1", model, seed=1)
    assert not all(torch.equal(other[name], weights[name]) for name in weights)
