"""Small synthetic datasets for the model tests (no shared data needed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from affectlab.cli import cli


def stripes(label: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """Class 0: horizontal stripes, 1: vertical, 2: flat bright; plus noise."""
    image = rng.integers(0, 60, (size, size)).astype(np.uint8)
    phase = int(rng.integers(0, 4))
    if label == 0:
        image[phase::4] += 150
    elif label == 1:
        image[:, phase::4] += 150
    else:
        image += 120
    return image


@pytest.fixture
def fer_csv(tmp_path: Path) -> Path:
    """A FER2013-format CSV (gzip) with Training / PublicTest / PrivateTest rows of 3 toy classes."""
    rng = np.random.default_rng(0)
    lines = ["emotion,pixels,Usage"]
    for usage, n in (("Training", 30), ("PublicTest", 12), ("PrivateTest", 9)):
        for i in range(n):
            label = i % 3
            pixels = " ".join(str(v) for v in stripes(label, rng).ravel())
            lines.append(f"{label},{pixels},{usage}")
    path = tmp_path / "toy_fer.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


@pytest.fixture
def ck_folders(tmp_path: Path) -> Path:
    """A CK+48-style tree ``<class>/S<subj>_<seq>_<frame>.png``: 3 classes x 8 subjects x 2 frames."""
    rng = np.random.default_rng(1)
    root = tmp_path / "ck"
    for label, name in enumerate(("anger", "happy", "surprise")):
        (root / name).mkdir(parents=True)
        for subject in range(8):
            for frame in range(2):
                image = stripes(label, rng)
                cv2.imwrite(str(root / name / f"S{subject:03d}_{label + 1:03d}_{frame:08d}.png"), image)
    return root


FAST = ["--batch-size", "16", "--rotation", "0", "--scale", "0", "--translate", "0", "--no-progress"]


def _train(data, out, *options):
    return CliRunner().invoke(cli, ["train", "--model", "mini_xception", "--data", str(data), "--out", str(out),
                                    "--epochs", "1", *FAST, *options])


def _one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    line = result.stderr.strip()
    assert line.startswith("affectlab: error:") and "\n" not in line, line
    for fragment in fragments:
        assert fragment in line, line
