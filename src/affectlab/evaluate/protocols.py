"""Evaluation protocols: fixed named splits, subject-independent group k-fold, leave-one-group-out.

A protocol turns labels, subject ids and split names into folds ``(name, train, test)`` of
sample indices. Every protocol checks that no subject is in both the training and the test part
of a fold and raises :class:`~affectlab.errors.ProtocolError` naming the subjects when it is.

Examples
--------
>>> import numpy as np
>>> protocol = make_protocol({"kind": "logo"})
>>> y = np.array([0, 1, 0, 1]); groups = np.array(["S1", "S1", "S2", "S2"], dtype=object)
>>> [(f.name, f.test.tolist()) for f in protocol.split(y, groups=groups)]
[('S1', [0, 1]), ('S2', [2, 3])]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from affectlab.checks import is_integer
from affectlab.errors import ConfigError, ProtocolError

if TYPE_CHECKING:
    from affectlab.data.sample import Dataset

__all__ = [
    "PROTOCOL_KINDS",
    "FixedSplit",
    "Fold",
    "GroupKFoldProtocol",
    "LeaveOneGroupOut",
    "Protocol",
    "check_disjoint_groups",
    "crossfit_fingerprint",
    "crossfit_folds",
    "make_protocol",
]

_EMPTY = np.zeros(0, dtype=np.int64)


class Fold(NamedTuple):
    """One train/test partition. Indices are int64 arrays into the dataset's samples.

    ``validation`` holds samples reserved for choosing hyper-parameters (fixed splits with a
    ``validation`` split); it is empty otherwise.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    validation: np.ndarray = _EMPTY


def _names(values: Sequence[Any], limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def check_disjoint_groups(
    groups: Sequence[Any] | np.ndarray | None,
    train_idx: Sequence[int] | np.ndarray,
    test_idx: Sequence[int] | np.ndarray,
    *,
    what: str = "train and test",
) -> None:
    """Raise :class:`ProtocolError` if a subject has samples in both ``train_idx`` and ``test_idx``.

    Samples without a subject id (``None``) are ignored; ``groups=None`` checks nothing.

    Examples
    --------
    >>> check_disjoint_groups(["a", "a", "b"], [0], [2])
    >>> check_disjoint_groups(["a", "a", "b"], [0], [1])
    Traceback (most recent call last):
    ...
    affectlab.errors.ProtocolError: subject leakage: 1 subject(s) in both train and test: a
    """
    if groups is None:
        return
    g = np.asarray(groups, dtype=object)
    train = {x for x in g[np.asarray(train_idx, dtype=np.int64)] if x is not None}
    test = {x for x in g[np.asarray(test_idx, dtype=np.int64)] if x is not None}
    shared = sorted(train & test, key=str)
    if shared:
        raise ProtocolError(f"subject leakage: {len(shared)} subject(s) in both {what}: {_names(shared)}")


class _MissingSubjects(ProtocolError):
    """Some samples have no subject id (:meth:`Protocol.folds` names the first of them)."""


def _require_groups(groups: Sequence[Any] | np.ndarray | None, n: int, kind: str) -> np.ndarray:
    if groups is None:
        raise _MissingSubjects(f"protocol {kind!r} needs a subject id per sample, but the data have none")
    g = np.asarray(groups, dtype=object)
    if g.shape[0] != n:
        raise ProtocolError(f"{g.shape[0]} subject ids for {n} samples")
    missing = int(sum(x is None or x == "" for x in g))
    if missing:
        raise _MissingSubjects(
            f"protocol {kind!r} needs a subject id per sample: {missing} of {n} samples have none"
            " (use a fixed split, or give the subjects in a manifest)"
        )
    return g.astype(str)


@dataclass
class Protocol:
    """Base class: subclasses implement :meth:`_folds`; :meth:`split` adds the leakage check."""

    kind = "protocol"

    def _folds(self, y: np.ndarray, groups: np.ndarray | None, splits: np.ndarray | None) -> Iterator[Fold]:
        raise NotImplementedError

    def split(
        self,
        y: Sequence[Any] | np.ndarray,
        groups: Sequence[Any] | np.ndarray | None = None,
        splits: Sequence[Any] | np.ndarray | None = None,
    ) -> Iterator[Fold]:
        """Yield the folds for labels ``y``, subject ids ``groups`` and split names ``splits``."""
        y = np.asarray(y)
        g = None if groups is None else np.asarray(groups, dtype=object)
        s = None if splits is None else np.asarray(splits, dtype=object)
        for fold in self._folds(y, g, s):
            check_disjoint_groups(g, fold.train, fold.test, what=f"train and test of fold {fold.name!r}")
            if fold.validation.size:
                check_disjoint_groups(
                    g, fold.validation, fold.test, what=f"validation and test of fold {fold.name!r}"
                )
            yield fold

    def folds(self, dataset: Dataset) -> list[Fold]:
        """All folds for a :class:`~affectlab.data.Dataset` (labels, subjects and splits)."""
        try:
            return list(self.split(dataset.labels, dataset.groups, dataset.splits))
        except _MissingSubjects as exc:
            first = next((s for s in dataset.samples if s.subject is None or s.subject == ""), None)
            if first is None:
                raise
            row = f" (row {first.extras['row']})" if "row" in first.extras else ""
            raise ProtocolError(f"{exc}; the first: {first.source}{row}") from None

    def to_dict(self) -> dict[str, Any]:
        """The protocol as a config mapping (``make_protocol(p.to_dict())`` rebuilds it)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One sentence for reports."""
        raise NotImplementedError


def _as_names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


@dataclass
class FixedSplit(Protocol):
    """Train and test on named splits of the data (e.g. FER2013 ``Training`` / ``PublicTest``).

    Samples of other splits (e.g. ``PrivateTest``) are not used. ``validation`` names the splits
    reserved for hyper-parameter selection.
    """

    train: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    validation: tuple[str, ...] = ()
    kind = "fixed"

    def __post_init__(self) -> None:
        self.train, self.test = _as_names(self.train), _as_names(self.test)
        self.validation = _as_names(self.validation)
        if not self.train or not self.test:
            raise ConfigError("protocol: a fixed split needs 'train' and 'test' split names")
        parts = {"train": self.train, "test": self.test, "validation": self.validation}
        for a, b in (("train", "test"), ("train", "validation"), ("validation", "test")):
            both = set(parts[a]) & set(parts[b])
            if both:
                raise ConfigError(f"protocol: split {sorted(both)[0]!r} is named in both {a!r} and {b!r}")

    def _folds(self, y: np.ndarray, groups: np.ndarray | None, splits: np.ndarray | None) -> Iterator[Fold]:
        if splits is None or all(s is None for s in splits):
            raise ProtocolError("protocol 'fixed' needs named splits, but the data have none")
        present = sorted({str(s) for s in splits if s is not None})
        index = {}
        for part, names in (("train", self.train), ("test", self.test), ("validation", self.validation)):
            idx = np.flatnonzero(np.isin(splits.astype(str), names)) if names else _EMPTY
            if names and idx.size == 0:
                raise ProtocolError(
                    f"protocol 'fixed': no sample in {part} split(s) {', '.join(names)}"
                    f" (splits in the data: {', '.join(present)})"
                )
            index[part] = idx.astype(np.int64)
        name = f"{'+'.join(self.train)}->{'+'.join(self.test)}"
        yield Fold(name, index["train"], index["test"], index["validation"])

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": "fixed", "train": list(self.train), "test": list(self.test)}
        if self.validation:
            spec["validation"] = list(self.validation)
        return spec

    def describe(self) -> str:
        text = f"fixed split: train on {', '.join(self.train)}, test on {', '.join(self.test)}"
        if self.validation:
            text += f", hyper-parameters chosen on {', '.join(self.validation)}"
        return text


@dataclass
class GroupKFoldProtocol(Protocol):
    """Subject-independent k-fold: every subject's samples fall in exactly one test fold.

    ``stratified=True`` (default) uses :class:`~sklearn.model_selection.StratifiedGroupKFold`
    to balance classes across folds, else :class:`~sklearn.model_selection.GroupKFold`. Folds
    are deterministic for a given ``random_state``.
    """

    n_splits: int = 10
    stratified: bool = True
    shuffle: bool = True
    random_state: int = 0
    kind = "group_kfold"

    def __post_init__(self) -> None:
        if not is_integer(self.n_splits) or self.n_splits < 2:
            raise ConfigError(f"protocol.n_splits must be an integer >= 2, got {self.n_splits!r}")

    def _folds(self, y: np.ndarray, groups: np.ndarray | None, splits: np.ndarray | None) -> Iterator[Fold]:
        g = _require_groups(groups, y.shape[0], self.kind)
        n_groups = len(set(g.tolist()))
        if n_groups < self.n_splits:
            raise ProtocolError(f"protocol 'group_kfold': n_splits={self.n_splits} but only {n_groups} subjects")
        state = self.random_state if self.shuffle else None
        if self.stratified:
            splitter: Any = StratifiedGroupKFold(self.n_splits, shuffle=self.shuffle, random_state=state)
        else:
            extra = {"shuffle": True, "random_state": state} if self.shuffle else {}  # sklearn >= 1.6
            splitter = GroupKFold(self.n_splits, **extra)
        y_split = np.asarray([str(v) for v in y])  # mixed or None labels -> comparable strings
        width = len(str(self.n_splits))
        for k, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y_split, g), start=1):
            yield Fold(f"fold{k:0{width}d}", train.astype(np.int64), np.sort(test).astype(np.int64))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "group_kfold",
            "n_splits": self.n_splits,
            "stratified": self.stratified,
            "shuffle": self.shuffle,
            "random_state": self.random_state,
        }

    def describe(self) -> str:
        how = "stratified " if self.stratified else ""
        return f"subject-independent {how}{self.n_splits}-fold cross-validation (no subject in both train and test)"


@dataclass
class LeaveOneGroupOut(Protocol):
    """Leave-one-subject/speaker-out: one fold per subject, named after it."""

    kind = "logo"

    def _folds(self, y: np.ndarray, groups: np.ndarray | None, splits: np.ndarray | None) -> Iterator[Fold]:
        from sklearn.model_selection import LeaveOneGroupOut as _LOGO

        g = _require_groups(groups, y.shape[0], self.kind)
        if len(set(g.tolist())) < 2:
            raise ProtocolError("protocol 'logo' needs at least 2 subjects")
        for train, test in _LOGO().split(np.zeros(len(y)), y, g):
            yield Fold(str(g[test[0]]), train.astype(np.int64), test.astype(np.int64))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "logo"}

    def describe(self) -> str:
        return "leave-one-subject-out cross-validation (one fold per subject)"


PROTOCOL_KINDS: dict[str, type[Protocol]] = {
    "fixed": FixedSplit,
    "group_kfold": GroupKFoldProtocol,
    "logo": LeaveOneGroupOut,
}
_ALIASES = {
    "leave_one_group_out": "logo",
    "loso": "logo",
    "leave_one_subject_out": "logo",
    "leave_one_speaker_out": "logo",
    "group_k_fold": "group_kfold",
    "subject_kfold": "group_kfold",
}
_KEYS = {
    "fixed": {"train", "test", "validation"},
    "group_kfold": {"n_splits", "stratified", "shuffle", "random_state"},
    "logo": set(),
}


def make_protocol(spec: Mapping[str, Any] | Protocol) -> Protocol:
    """Build a protocol from a config mapping.

    Examples
    --------
    >>> make_protocol({"kind": "fixed", "train": "Training", "test": "PublicTest"}).describe()
    'fixed split: train on Training, test on PublicTest'
    >>> make_protocol({"kind": "group_kfold", "n_splits": 10}).n_splits
    10
    """
    if isinstance(spec, Protocol):
        return spec
    if not isinstance(spec, Mapping):
        raise ConfigError(f"protocol must be a mapping with a 'kind', got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind is None:
        raise ConfigError(f"protocol: missing 'kind' (one of {', '.join(PROTOCOL_KINDS)})")
    kind = _ALIASES.get(str(kind).lower(), str(kind).lower())
    if kind not in PROTOCOL_KINDS:
        raise ConfigError(f"protocol.kind {spec['kind']!r} is unknown (known: {', '.join(PROTOCOL_KINDS)})")
    params = {k: v for k, v in spec.items() if k != "kind"}
    unknown = sorted(set(params) - _KEYS[kind])
    if unknown:
        known = ", ".join(sorted(_KEYS[kind])) or "none"
        raise ConfigError(f"protocol.{unknown[0]} is not a setting of kind {kind!r} (known: {known})")
    for key in ("stratified", "shuffle"):
        if key in params and not isinstance(params[key], bool):
            raise ConfigError(f"protocol.{key} must be true or false, got {params[key]!r}")
    if "random_state" in params and not is_integer(params["random_state"]):
        raise ConfigError(f"protocol.random_state must be an integer, got {params['random_state']!r}")
    return PROTOCOL_KINDS[kind](**params)


def crossfit_folds(
    y: Sequence[Any] | np.ndarray,
    n_splits: int,
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Positions ``(fit, held_out)`` of ``n_splits`` stratified folds of one training part.

    Used for out-of-fold (cross-fitted) decision values: every position is held out exactly once.
    Folds are split by group when ``groups`` are given and there are at least ``n_splits`` of
    them (StratifiedGroupKFold), else by sample (StratifiedKFold); both shuffled with ``seed``.
    The same call always gives the same folds, so a model trained elsewhere (e.g. a CNN trained by
    ``benchmarks/train_fer2013.py --crossfit-fold``) can be matched to its held-out part with
    :func:`crossfit_fingerprint`.

    >>> [h.tolist() for _, h in crossfit_folds(["a", "a", "b", "b"], 2, seed=0)]
    [[1, 2], [0, 3]]
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    positions = np.arange(len(y))
    if groups is not None and len(np.unique(np.asarray(groups))) >= n_splits:
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        parts = splitter.split(positions, y, np.asarray(groups))
    else:
        parts = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(positions, y)
    return [(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)) for a, b in parts]


def crossfit_fingerprint(y: Sequence[Any] | np.ndarray, held_out: np.ndarray) -> str:
    """A short hash naming one held-out part of a training part (its labels and the positions held out)."""
    import hashlib

    digest = hashlib.sha1()
    digest.update(str(len(y)).encode())
    digest.update("\x1f".join(map(str, np.asarray(y).tolist())).encode())
    digest.update(np.sort(np.asarray(held_out, dtype=np.int64)).tobytes())
    return digest.hexdigest()[:16]
