"""The repeatability tests' disturbance: a run must give the same results whatever global random state it meets."""

from __future__ import annotations

import random

import numpy as np
import torch


def disturb_global_random_state(seed: int) -> None:
    """Seed, then advance, every global generator a run could draw from (what other code may leave)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    random.random(), np.random.rand(7), torch.rand(7)
