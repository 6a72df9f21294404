"""Fixtures for the batch tests (imported by them): small image collections made from the sample photograph."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlab.data import sample_photo


def _write(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _face_variants(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` different crops of the astronaut photograph, each still showing her face (160 px)."""
    rng = np.random.default_rng(seed)
    photo = sample_photo()
    out = []
    for _ in range(n):
        x0, y0 = rng.integers(60, 140), rng.integers(0, 40)
        side = int(rng.integers(240, 300))
        crop = photo[y0 : y0 + side, x0 : x0 + side]
        out.append(cv2.resize(crop, (160, 160), interpolation=cv2.INTER_AREA))
    return out


@pytest.fixture(scope="session")
def face_variants():
    return _face_variants


@pytest.fixture()
def mixed_folder(tmp_path) -> Path:
    """``happy/`` with 3 face images, ``other/`` with a blank image and a corrupt PNG."""
    root = tmp_path / "collection"
    for i, image in enumerate(_face_variants(3)):
        _write(root / "happy" / f"face{i}.png", image)
    _write(root / "other" / "blank.png", np.full((120, 120, 3), 127, np.uint8))
    (root / "other" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


@pytest.fixture(scope="session")
def face_folder(tmp_path_factory) -> Path:
    """A flat folder of 24 face images (session-wide, read-only for the tests)."""
    root = tmp_path_factory.mktemp("faces")
    for i, image in enumerate(_face_variants(24, seed=1)):
        _write(root / f"img{i:03d}.png", image)
    return root
