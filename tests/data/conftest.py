"""Fixtures for the data-layer tests: tiny media files and CSVs written into tmp_path."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest


def write_png(path: Path, value: int = 128, size: int = 4) -> Path:
    """A tiny gray PNG (creates parent folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size, size), value, np.uint8))
    return path


def touch(path: Path, data: bytes = b"") -> Path:
    """A file with the given bytes (creates parent folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_csv(path: Path, lines: Iterable[str], *, gz: bool = False) -> Path:
    text = "".join(line + "\n" for line in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def fer_row(label: int = 3, usage: str = "Training", n: int = 2304, value: int = 7) -> str:
    return f"{label},{' '.join([str(value)] * n)},{usage}"


@pytest.fixture
def png() -> Callable[..., Path]:
    return write_png


@pytest.fixture
def ckplus_tree(tmp_path: Path) -> Path:
    """``ck/<emotion>/S<subj>_<seq>_<frame>.png``: 2 subjects, 3 classes (one empty), 5 images."""
    root = tmp_path / "ck"
    write_png(root / "anger" / "S010_004_00000017.png")
    write_png(root / "anger" / "S010_004_00000018.png")
    write_png(root / "happy" / "S011_006_00000002.png")
    write_png(root / "happy" / "S011_006_00000010.png")
    write_png(root / "happy" / "S010_001_00000009.png")
    (root / "contempt").mkdir()
    touch(root / "happy" / "notes.txt", b"not media")
    touch(root / ".DS_Store", b"x")
    return root


@pytest.fixture
def kaggle_tree(tmp_path: Path) -> Path:
    """``fer/<split>/<class>/<file>`` like the Kaggle FER2013 folder release."""
    root = tmp_path / "fer"
    write_png(root / "train" / "happy" / "Training_1.png")
    write_png(root / "train" / "happy" / "Training_2.png")
    write_png(root / "train" / "sad" / "Training_3.png")
    write_png(root / "test" / "happy" / "PublicTest_1.png")
    write_png(root / "test" / "angry" / "PublicTest_2.png")
    return root


@pytest.fixture
def fer_csv(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "fer2013.csv.gz",
        ["emotion,pixels,Usage", fer_row(0), fer_row(3), fer_row(6, "PublicTest")],
        gz=True,
    )


@pytest.fixture
def touch_file() -> Callable[..., Path]:
    return touch


@pytest.fixture
def csv_file() -> Callable[..., Path]:
    return write_csv


@pytest.fixture
def fer_line() -> Callable[..., str]:
    return fer_row
