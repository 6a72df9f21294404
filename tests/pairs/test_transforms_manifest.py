"""Pair transforms (identical for onset and apex) and CSV pair manifests."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import torch

from affectlab.errors import ConfigError, DataError, MediaReadError
from affectlab.experiments.pairs import run_pairs_experiment
from affectlab.models.augment import AugmentConfig
from affectlab.pairs import (
    PairRecord,
    augment_pairs,
    build_pair_network,
    center_crop,
    load_pair_images,
    read_pair_manifest,
    stack_pairs,
    write_pair_manifest,
)
from tests.pairs.fakes import pair_manifest, tiny_pairs_config


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




def test_onset_and_apex_of_different_sizes_are_refused(tmp_path):
    path = pair_manifest(tmp_path, apex_size=(30, 20))
    # before: both were resized to size x size apart, a distorted apex - onset difference, without a word
    with pytest.raises(DataError, match=r"row 3: onset .*s0_1_on.png is 24x24 but apex .*s0_1_ap.png is 20x30"):
        load_pair_images(read_pair_manifest(path), root=tmp_path, size=24)
    out = tmp_path / "run"
    with pytest.raises(DataError, match="row 3"):
        run_pairs_experiment(tiny_pairs_config(path), out, progress=False)
    assert not out.exists()


def test_same_size_pairs_other_than_size_are_still_resized(tmp_path):
    path = pair_manifest(tmp_path)
    onset, apex = load_pair_images(read_pair_manifest(path), root=tmp_path, size=16)
    assert onset.shape == apex.shape == (24, 16, 16)


def test_missing_onset_and_missing_subject_name_the_row(tmp_path):
    path = pair_manifest(tmp_path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[2][0] = "nope.png"
    rows[4][3] = ""
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(DataError, match="row 5: empty subject"):
        read_pair_manifest(bad)
    rows[4][3] = "S001"
    with open(bad, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(MediaReadError, match=r"row 3 \(onset\).*nope.png"):
        load_pair_images(read_pair_manifest(bad), root=tmp_path)


def test_center_crop_and_network_arguments():
    x = np.zeros((2, 2, 48, 48))
    for size in (0, -3, 2.5):
        with pytest.raises(DataError, match="crop size"):     # before: an empty or odd crop without a word
            center_crop(x, size)
    assert center_crop(x, np.int64(44)).shape == (2, 2, 44, 44)
    with pytest.raises(ConfigError, match="comb_init"):       # before: ignored for DiffCNN and Sub nets
        build_pair_network("CompCNN-Sub@2", comb_init="zeros")
    assert build_pair_network("DiffCNN", channels=[np.int64(2)] * 3, fc=(4, 4)).channels == (2, 2, 2)
