"""Protocols: leakage detection, coverage of the folds, determinism, config errors."""

from __future__ import annotations

import numpy as np
import pytest

from affectlab.data import Dataset, Sample
from affectlab.errors import ConfigError, ProtocolError
from affectlab.evaluate.protocols import (
    FixedSplit,
    GroupKFoldProtocol,
    LeaveOneGroupOut,
    check_disjoint_groups,
    make_protocol,
)


def _data(n_subjects=12, per_subject=6, n_classes=3):
    groups = np.repeat([f"S{i:03d}" for i in range(n_subjects)], per_subject).astype(object)
    y = np.tile(np.arange(n_classes), n_subjects * per_subject // n_classes)
    return y, groups


def test_check_disjoint_groups_names_the_subjects():
    groups = ["S1", "S1", "S2", "S3", "S3", None, None]
    check_disjoint_groups(groups, [0, 1, 5], [2, 3, 4, 6])  # None is not a subject
    with pytest.raises(ProtocolError, match="S1") as info:
        check_disjoint_groups(groups, [0, 2, 3], [1, 4])
    assert "S3" in str(info.value) and "2 subject(s)" in str(info.value)
    check_disjoint_groups(None, [0], [0])


@pytest.mark.parametrize("spec", [{"kind": "group_kfold", "n_splits": 4},
                                  {"kind": "group_kfold", "n_splits": 3, "stratified": False},
                                  {"kind": "logo"}])
def test_group_folds_cover_each_sample_once_and_are_disjoint(spec):
    y, groups = _data()
    folds = list(make_protocol(spec).split(y, groups))
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(len(y)))
    for f in folds:
        assert not set(groups[f.train]) & set(groups[f.test])
        assert len(f.train) + len(f.test) == len(y)
    names = [f.name for f in folds]
    assert len(set(names)) == len(names)


def test_group_kfold_is_deterministic_and_seeded():
    y, groups = _data()
    a = [f.test.tolist() for f in GroupKFoldProtocol(4).split(y, groups)]
    b = [f.test.tolist() for f in GroupKFoldProtocol(4).split(y, groups)]
    c = [f.test.tolist() for f in GroupKFoldProtocol(4, random_state=1).split(y, groups)]
    assert a == b
    assert a != c


def test_logo_names_folds_after_subjects():
    y, groups = _data(n_subjects=3)
    assert [f.name for f in LeaveOneGroupOut().split(y, groups)] == ["S000", "S001", "S002"]


def test_group_protocols_refuse_missing_subjects():
    y, groups = _data()
    groups[[0, 5, 7]] = None
    for protocol in (GroupKFoldProtocol(3), LeaveOneGroupOut()):
        with pytest.raises(ProtocolError, match="3 of 72 samples have none"):
            list(protocol.split(y, groups))
    with pytest.raises(ProtocolError, match="needs a subject id"):
        list(GroupKFoldProtocol(3).split(y, None))


def test_group_kfold_more_folds_than_subjects():
    y, groups = _data(n_subjects=3)
    with pytest.raises(ProtocolError, match="only 3 subjects"):
        list(GroupKFoldProtocol(5).split(y, groups))


def test_fixed_split_uses_named_splits():
    splits = np.array(["Training"] * 5 + ["PublicTest"] * 3 + ["PrivateTest"] * 2, dtype=object)
    y = np.arange(10) % 2
    (fold,) = make_protocol({"kind": "fixed", "train": "Training", "test": "PublicTest"}).split(y, None, splits)
    assert fold.train.tolist() == [0, 1, 2, 3, 4] and fold.test.tolist() == [5, 6, 7]
    assert fold.validation.size == 0
    (fold,) = FixedSplit(["Training"], ["PrivateTest"], validation=["PublicTest"]).split(y, None, splits)
    assert fold.validation.tolist() == [5, 6, 7] and fold.test.tolist() == [8, 9]


def test_fixed_split_refuses_leakage():
    splits = np.array(["train"] * 3 + ["test"] * 3, dtype=object)
    groups = np.array(["a", "b", "c", "c", "d", "e"], dtype=object)
    with pytest.raises(ProtocolError, match="subject leakage.*: c"):
        list(FixedSplit("train", "test").split(np.zeros(6), groups, splits))


def test_fixed_split_unknown_split_name():
    splits = np.array(["Training", "PublicTest"], dtype=object)
    with pytest.raises(ProtocolError, match="PrivateTest.*splits in the data: PublicTest, Training"):
        list(FixedSplit("Training", "PrivateTest").split([0, 1], None, splits))
    with pytest.raises(ProtocolError, match="needs named splits"):
        list(FixedSplit("Training", "PublicTest").split([0, 1], None, None))


def test_folds_from_dataset():
    samples = [Sample(id=str(i), label="ab"[i % 2], subject=f"S{i // 2}") for i in range(8)]
    ds = Dataset("toy", samples, ["a", "b"])
    folds = make_protocol({"kind": "logo"}).folds(ds)
    assert len(folds) == 4 and folds[0].test.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "kfold"}, "protocol.kind 'kfold' is unknown"),
        ({"n_splits": 3}, "missing 'kind'"),
        ({"kind": "group_kfold", "n_split": 3}, "protocol.n_split is not a setting"),
        ({"kind": "group_kfold", "n_splits": 1}, "n_splits must be an integer >= 2"),
        ({"kind": "fixed", "train": "A"}, "needs 'train' and 'test'"),
        ({"kind": "fixed", "train": "A", "test": "A"}, "named in both"),
        ("logo", "must be a mapping"),
    ],
)
def test_make_protocol_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        make_protocol(spec)


def test_make_protocol_aliases_and_round_trip():
    assert isinstance(make_protocol({"kind": "loso"}), LeaveOneGroupOut)
    p = make_protocol({"kind": "group_kfold", "n_splits": 5, "random_state": 3})
    assert make_protocol(p.to_dict()) == p
