"""Pair transforms (identical for onset and apex) and CSV pair manifests."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from affectlab.errors import DataError, MediaReadError
from affectlab.models.augment import AugmentConfig
from affectlab.pairs import (
    PairRecord,
    augment_pairs,
    center_crop,
    load_pair_images,
    read_pair_manifest,
    stack_pairs,
    write_pair_manifest,
)


def test_center_crop_hand_computed():
    x = np.arange(36).reshape(1, 1, 6, 6)
    np.testing.assert_array_equal(center_crop(x, 2)[0, 0], [[14, 15], [20, 21]])
    np.testing.assert_array_equal(center_crop(x, 5)[0, 0, 0], [0, 1, 2, 3, 4])
    with pytest.raises(DataError):
        center_crop(x, 7)


def test_augment_pairs_moves_onset_and_apex_identically():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(6, 1, 20, 20, generator=gen)
    x = torch.cat([images, images], 1)
    out = augment_pairs(x, augment=AugmentConfig(15.0, 0.1, 0.1, True), crop=16, generator=gen)
    assert out.shape == (6, 2, 16, 16)
    torch.testing.assert_close(out[:, 0], out[:, 1])
    # and the transform really differs between pairs (not the identity, not one shared draw)
    same_again = augment_pairs(torch.cat([images[:1]] * 2, 0).repeat(1, 2, 1, 1),
                               augment=AugmentConfig(15.0, 0.1, 0.1, True), crop=16, generator=gen)
    assert not torch.allclose(same_again[0], same_again[1])
    with pytest.raises(DataError):
        augment_pairs(torch.rand(2, 3, 8, 8), augment=AugmentConfig())


def test_stack_pairs_checks_shapes():
    x = stack_pairs(np.zeros((2, 4, 4), np.uint8), np.ones((2, 4, 4), np.uint8))
    assert x.shape == (2, 2, 4, 4) and x[:, 1].min() == 1 and x[:, 0].max() == 0
    with pytest.raises(DataError, match="onset"):
        stack_pairs(np.zeros((2, 4, 4)), np.zeros((3, 4, 4)))


def _write_images(folder, n=3):
    records = []
    for i in range(n):
        for which, value in (("on", 10 * i), ("ap", 10 * i + 5)):
            cv2.imwrite(str(folder / f"{which}{i}.png"), np.full((30, 30), value, np.uint8))
        records.append(PairRecord(f"on{i}.png", f"ap{i}.png", "posed" if i % 2 else "spontaneous", f"S{i}"))
    return records


def test_manifest_roundtrip_and_loading(tmp_path):
    records = _write_images(tmp_path)
    path = write_pair_manifest(tmp_path / "pairs.csv", records)
    back = read_pair_manifest(path)
    assert ([(r.onset, r.apex, r.label, r.subject) for r in back]
            == [(r.onset, r.apex, r.label, r.subject) for r in records])
    assert [r.row for r in back] == [2, 3, 4]
    onset, apex = load_pair_images(back, root=tmp_path, size=12)
    assert onset.shape == apex.shape == (3, 12, 12)
    assert onset[1].mean() == 10 and apex[2].mean() == 25


def test_manifest_errors_name_file_and_row(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("onset,apex,label\na.png,b.png,posed\n")
    with pytest.raises(DataError, match="missing column.*subject"):
        read_pair_manifest(bad)
    bad.write_text("onset,apex,label,subject\na.png,b.png,posed,S1\na.png,,posed,S1\n")
    with pytest.raises(DataError, match=r"bad.csv: row 3: empty apex"):
        read_pair_manifest(bad)
    with pytest.raises(DataError, match="not found"):
        read_pair_manifest(tmp_path / "nope.csv")
    bad.write_text("onset,apex,label,subject\nmissing.png,b.png,posed,S1\n")
    with pytest.raises(MediaReadError, match=r"row 2 \(onset\).*missing.png"):
        load_pair_images(read_pair_manifest(bad), root=tmp_path)
