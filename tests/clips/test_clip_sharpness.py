"""``benchmarks/clip_sharpness.py``: fine detail kept by the render-and-shrink chain, without a classifier."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def script():
    return load_benchmark("clip_sharpness")


def test_laplacian_energy_by_hand(script):
    face = np.zeros((48, 48), np.uint8)
    face[24, 24] = 10  # |Laplacian| 40 at the spike and 10 at each 4-neighbour (ksize 1), all inside the centre
    assert script.laplacian_energy(face) == pytest.approx((40 + 4 * 10) / 32 ** 2)


def test_chain_keeps_more_detail_with_lanczos_and_nothing_for_flat_faces(script):
    rng = np.random.default_rng(0)
    faces = [cv2.GaussianBlur(rng.integers(0, 256, (48, 48)).astype(np.uint8), (3, 3), 0.8) for _ in range(4)]
    out = script.chain(faces, 140, ["area", "lanczos"])
    assert 0 < out["area"]["laplacian_kept"]["median"] < out["lanczos"]["laplacian_kept"]["median"] < 1.2
    assert out["lanczos"]["mean_abs_error"] < out["area"]["mean_abs_error"]


def test_registration_finds_a_known_shift(script):
    rng = np.random.default_rng(1)
    face = cv2.GaussianBlur(rng.integers(0, 256, (48, 48)).astype(np.uint8), (7, 7), 2.0)
    moved = cv2.warpAffine(face, np.float32([[1, 0, 1.5], [0, 1, -1.0]]), (48, 48), borderMode=cv2.BORDER_REFLECT)
    scale, dx, dy = script.register(face, moved)
    assert scale == pytest.approx(1.0, abs=0.03)
    assert abs(dx) == pytest.approx(1.5, abs=0.3) and abs(dy) == pytest.approx(1.0, abs=0.3)
