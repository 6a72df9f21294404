"""``benchmarks/train_fer2013.py --crossfit-fold``: trains without one part of Training and says which."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from affectlab.data.fer2013 import fer2013_arrays, load_fer2013
from affectlab.evaluate.protocols import crossfit_fingerprint, crossfit_folds
from affectlab.labels import FER2013_CLASSES

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_fer2013.py"


@pytest.mark.slow  # two subprocesses that import torch
def test_crossfit_training_records_the_held_out_part(fer_csv, tmp_path):
    out = tmp_path / "fold1"
    args = [sys.executable, str(SCRIPT), "--model", "mini_xception", "--data", str(fer_csv), "--out", str(out),
            "--epochs", "1", "--batch-size", "8", "--threads", "1", "--crossfit-fold", "1", "--crossfit-splits", "3"]
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    _, y = fer2013_arrays(load_fer2013(fer_csv).filter(split="Training"))
    names = np.asarray(FER2013_CLASSES)[y]
    fit, held = crossfit_folds(names, 3, seed=0)[1]
    assert report["crossfit"]["n_fit"] == fit.size == 20 and report["crossfit"]["n_held_out"] == held.size == 10
    saved = torch.load(out / "final.pt", weights_only=True)["extra"]["crossfit"]
    assert saved["fingerprint"] == crossfit_fingerprint(names, held) == report["crossfit"]["fingerprint"]
    assert "publictest_accuracy" not in report  # PublicTest is never read in this mode
    bad = subprocess.run([*args[:-4], "--crossfit-fold", "3", "--crossfit-splits", "3"], check=False,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--crossfit-fold must be in 0..2" in bad.stderr
