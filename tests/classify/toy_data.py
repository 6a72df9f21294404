"""The classify tests' toy data: 60 samples of 3 separable classes, 6 subjects, and two members' decisions."""

from __future__ import annotations

import numpy as np

from affectlab.classify.fusion import stack_decisions

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 6))
Y = np.repeat(["a", "b", "c"], 20)
X[Y == "b", 0] += 3
X[Y == "c", 1] += 3
SUBJECTS = np.tile([f"S{i}" for i in range(6)], 10)
D = stack_decisions([np.eye(3)[np.repeat([0, 1, 2], 20)] + RNG.normal(size=(60, 3)), RNG.normal(size=(60, 3))])
