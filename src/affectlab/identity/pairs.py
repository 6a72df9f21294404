"""Same/different pairs and subject-disjoint splits for face verification.

Examples
--------
>>> subjects = np.repeat(["a", "b", "c"], 3)
>>> pairs = balanced_pairs(subjects, seed=0)
>>> int(pairs.same.sum()), int((~pairs.same).sum())          # 3 x C(3, 2) same, as many different
(9, 9)
>>> bool(np.all((subjects[pairs.first] == subjects[pairs.second]) == pairs.same))
True
>>> folds = subject_folds(np.repeat([f"s{i}" for i in range(8)], 2), n_folds=4, n_val=2, seed=0)
>>> [len(set(f.test_subjects)) for f in folds], [len(f.val_subjects) for f in folds]
([2, 2, 2, 2], [2, 2, 2, 2])
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from affectlab.checks import is_integer
from affectlab.errors import ConfigError, ProtocolError

__all__ = ["Pairs", "balanced_pairs", "SubjectFold", "subject_folds"]


@dataclass
class Pairs:
    """Index pairs into an image array and whether both show the same subject."""

    first: np.ndarray
    second: np.ndarray
    same: np.ndarray

    def __len__(self) -> int:
        return len(self.same)


def balanced_pairs(subjects: np.ndarray, *, seed: int = 0, max_same_per_subject: int | None = None) -> Pairs:
    """All same-subject pairs (or up to ``max_same_per_subject`` each) and as many random different ones.

    Different pairs are drawn without repetition (unordered), so the set is balanced exactly.

    Raises
    ------
    ConfigError
        Fewer than two subjects, or no subject with two images.
    """
    if max_same_per_subject is not None and (not is_integer(max_same_per_subject) or max_same_per_subject < 1):
        raise ConfigError(f"max_same_per_subject must be None or an int >= 1, got {max_same_per_subject!r}")
    subjects = np.asarray(subjects, dtype=object)
    rng = np.random.default_rng(seed)
    names = sorted(set(subjects.tolist()), key=str)
    if len(names) < 2:
        raise ConfigError(f"pairs need at least two subjects, got {len(names)}")
    same: list[tuple[int, int]] = []
    for name in names:
        idx = np.flatnonzero(subjects == name)
        combos = list(combinations(idx.tolist(), 2))
        if max_same_per_subject is not None and len(combos) > max_same_per_subject:
            pick = rng.choice(len(combos), size=max_same_per_subject, replace=False)
            combos = [combos[i] for i in sorted(pick)]
        same.extend(combos)
    if not same:
        raise ConfigError("pairs need a subject with at least two images")
    n = len(subjects)
    n_diff_possible = n * (n - 1) // 2 - sum(
        int(np.sum(subjects == s)) * (int(np.sum(subjects == s)) - 1) // 2 for s in names)
    if n_diff_possible < len(same):
        raise ConfigError(f"only {n_diff_possible} different-subject pairs for {len(same)} same-subject pairs")
    different: set[tuple[int, int]] = set()
    while len(different) < len(same):
        i, j = rng.integers(0, n, size=2)
        if subjects[i] != subjects[j]:
            different.add((int(min(i, j)), int(max(i, j))))
    diff = sorted(different)
    first = np.array([a for a, _ in same] + [a for a, _ in diff], dtype=np.int64)
    second = np.array([b for _, b in same] + [b for _, b in diff], dtype=np.int64)
    labels = np.array([True] * len(same) + [False] * len(diff))
    return Pairs(first, second, labels)


@dataclass
class SubjectFold:
    """Subjects for training, validation (epoch/threshold selection) and testing of one fold."""

    train_subjects: list[str]
    val_subjects: list[str]
    test_subjects: list[str]

    def check(self) -> None:
        """Raise :class:`ProtocolError` if any subject is in two parts."""
        parts = [set(self.train_subjects), set(self.val_subjects), set(self.test_subjects)]
        for a, b, what in [(0, 1, "train and validation"), (0, 2, "train and test"), (1, 2, "validation and test")]:
            both = parts[a] & parts[b]
            if both:
                raise ProtocolError(f"subject leakage: {len(both)} subject(s) in both {what}: "
                                    f"{', '.join(sorted(both, key=str))}")


def subject_folds(subjects: np.ndarray, *, n_folds: int = 4, n_val: int = 5, seed: int = 0) -> list[SubjectFold]:
    """Split subjects into ``n_folds`` disjoint test groups; ``n_val`` of the rest validate (0: none).

    Subjects are shuffled once with ``seed``; every subject is tested exactly once. Each test group
    needs at least two subjects (a different-subject pair), so ``n_folds`` is at most half the subjects.
    """
    names = sorted(set(np.asarray(subjects, dtype=object).tolist()), key=str)
    if not is_integer(n_folds) or not 2 <= n_folds <= len(names) // 2:
        raise ConfigError(f"n_folds must be an int in 2..{len(names) // 2} (each test group needs at least 2 of the "
                          f"{len(names)} subjects), got {n_folds!r}")
    if not is_integer(n_val):
        raise ConfigError(f"n_val must be an int, got {n_val!r}")
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    groups = np.array_split(np.arange(len(order)), n_folds)
    folds = []
    for k, group in enumerate(groups):
        test = [order[i] for i in group]
        rest = [s for s in order if s not in set(test)]
        if not (n_val == 0 or 2 <= n_val <= len(rest) - 2):
            raise ConfigError(f"n_val must be 0 (no validation subjects) or >= 2 and leave at least 2 training "
                              f"subjects, got {n_val}")
        # rotate which of the remaining subjects validate so folds differ
        start = (k * n_val) % len(rest)
        val = [rest[(start + i) % len(rest)] for i in range(n_val)]
        train = [s for s in rest if s not in set(val)]
        fold = SubjectFold(train, val, test)
        fold.check()
        folds.append(fold)
    return folds
