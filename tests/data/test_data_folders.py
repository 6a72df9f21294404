"""Class-per-folder and filename-labelled readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.data import Dataset, load_class_folders, load_filename_labelled, media_kind, parse_subject, read_image
from affectlab.errors import ConfigError, DataError, MediaReadError


def test_ckplus_layout_labels_subjects_and_extras(ckplus_tree: Path) -> None:
    ds = load_class_folders(ckplus_tree)
    assert isinstance(ds, Dataset)
    assert ds.name == "ck" and ds.kind == "image" and ds.root == ckplus_tree
    assert ds.classes == ["anger", "contempt", "happy"]  # empty class folder kept in the vocabulary
    assert [s.id for s in ds] == [
        "anger/S010_004_00000017.png",
        "anger/S010_004_00000018.png",
        "happy/S010_001_00000009.png",
        "happy/S011_006_00000002.png",
        "happy/S011_006_00000010.png",
    ]
    first = ds[0]
    assert first.label == "anger" and first.subject == "S010" and first.split is None
    assert first.extras == {"sequence": "S010_004", "frame": 17}
    assert first.path == ckplus_tree / "anger" / "S010_004_00000017.png"
    summary = ds.summary()
    assert summary["total"] == 5 and summary["subjects"] == 2
    assert summary["classes"] == {"anger": 2, "happy": 3}
    assert list(ds.targets) == [0, 0, 2, 2, 2]
    assert ds.problems == []


def test_kaggle_split_layout(kaggle_tree: Path) -> None:
    ds = load_class_folders(kaggle_tree)
    assert ds.summary()["splits"] == {"test": 2, "train": 3}
    assert ds.classes == ["angry", "happy", "sad"]
    assert {(s.split, s.label) for s in ds} == {
        ("train", "happy"),
        ("train", "sad"),
        ("test", "happy"),
        ("test", "angry"),
    }
    assert all(s.subject is None for s in ds)
    assert len(ds.filter(split="train")) == 3


def test_splits_flag_can_be_forced(kaggle_tree: Path) -> None:
    with pytest.raises(DataError, match="unexpected folder inside class folder"):
        load_class_folders(kaggle_tree, splits=False)


def test_natural_order_and_case(tmp_path: Path, png) -> None:
    for name in ["x10.png", "x2.png", "x1.png"]:
        png(tmp_path / "d" / "Happy" / name)
    ds = load_class_folders(tmp_path / "d")
    assert [s.path.name for s in ds] == ["x1.png", "x2.png", "x10.png"]
    assert ds.classes == ["happy"]


def test_corrupt_image_still_listed_only_read_image_fails(tmp_path: Path, png, touch_file) -> None:
    png(tmp_path / "d" / "happy" / "good.png")
    bad = touch_file(tmp_path / "d" / "happy" / "bad.png", b"\x89PNG not really")
    ds = load_class_folders(tmp_path / "d")
    assert len(ds) == 2
    with pytest.raises(MediaReadError, match="bad.png"):
        read_image(bad)


def test_unknown_class_raises_or_skips(ckplus_tree: Path) -> None:
    with pytest.raises(DataError, match=r"happy.*unknown class 'happy'"):
        load_class_folders(ckplus_tree, classes=["anger", "contempt"])
    ds = load_class_folders(ckplus_tree, classes=["anger", "contempt"], errors="skip")
    assert len(ds) == 2 and ds.classes == ["anger", "contempt"]
    assert len(ds.problems) == 1 and "happy" in ds.problems[0]


def test_stray_media_file_at_root(ckplus_tree: Path, png) -> None:
    png(ckplus_tree / "loose.png")
    with pytest.raises(DataError, match="loose.png: media file outside a class folder"):
        load_class_folders(ckplus_tree)
    ds = load_class_folders(ckplus_tree, errors="skip")
    assert len(ds) == 5 and len(ds.problems) == 1


def test_empty_or_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no class folders"):
        load_class_folders(tmp_path)
    (tmp_path / "happy").mkdir()
    with pytest.raises(DataError, match="no media files"):
        load_class_folders(tmp_path)
    with pytest.raises(DataError, match="nowhere: folder not found"):
        load_class_folders(tmp_path / "nowhere")


def test_bad_errors_argument(ckplus_tree: Path) -> None:
    with pytest.raises(ConfigError, match="errors="):
        load_class_folders(ckplus_tree, errors="ignore")  # type: ignore[arg-type]


def test_audio_tree_kind(tmp_path: Path, touch_file) -> None:
    touch_file(tmp_path / "a" / "calm" / "c1.wav", b"RIFF")
    touch_file(tmp_path / "a" / "angry" / "c2.WAV", b"RIFF")
    ds = load_class_folders(tmp_path / "a")
    assert ds.kind == "audio" and len(ds) == 2


def test_filename_labelled(tmp_path: Path, png, touch_file) -> None:
    png(tmp_path / "flat" / "happy_001.png")
    png(tmp_path / "flat" / "Sad_S005_001_00000003.png")
    png(tmp_path / "flat" / "happy_002.png")
    touch_file(tmp_path / "flat" / "README_first.txt", b"x")
    ds = load_filename_labelled(tmp_path / "flat")
    assert ds.classes == ["happy", "sad"]
    assert [(s.id, s.label, s.subject) for s in ds] == [
        ("Sad_S005_001_00000003.png", "sad", "S005"),
        ("happy_001.png", "happy", None),
        ("happy_002.png", "happy", None),
    ]


def test_filename_labelled_bad_names(tmp_path: Path, png) -> None:
    png(tmp_path / "flat" / "happy_001.png")
    png(tmp_path / "flat" / "nolabel.png")
    png(tmp_path / "flat" / "_002.png")
    with pytest.raises(DataError, match="_002.png: no label in the file name"):
        load_filename_labelled(tmp_path / "flat")
    ds = load_filename_labelled(tmp_path / "flat", errors="skip")
    assert len(ds) == 1 and len(ds.problems) == 2
    assert any("nolabel.png" in p for p in ds.problems)
    (tmp_path / "flat" / "_002.png").unlink()
    (tmp_path / "flat" / "nolabel.png").unlink()
    with pytest.raises(DataError, match="unknown label 'happy'"):
        load_filename_labelled(tmp_path / "flat", classes=["sad"], errors="raise")


def test_media_kind_and_parse_subject() -> None:
    assert media_kind("x.JPG") == "image" and media_kind("x.flac") == "audio"
    assert media_kind("x.avi") == "video" and media_kind("x.csv") is None
    assert parse_subject("S005_001_00000003") == ("S005", {"sequence": "S005_001", "frame": 3})
    assert parse_subject("subj7-a", r"^subj(?P<subject>\d+)-(?P<take>\w)$") == ("7", {"take": "a"})
    assert parse_subject("S005_001_00000003", None) == (None, {})
