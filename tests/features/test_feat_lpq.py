"""LPQ: a pixel's code from the STFT definition, the decorrelation, blur insensitivity, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import color, data

from affectlab.features import LPQFeatures, create_feature, lbp_histograms, list_features, lpq_codes, lpq_histograms
from affectlab.features.lpq import lpq_whitening_matrix

# frequencies (row, column) of F1..F4 in lpq.m: [a, 0] along columns, [0, a] along rows, [a, a], [a, -a]
FREQUENCIES = [(0, 1), (1, 0), (1, 1), (1, -1)]


def _direct_stft(patch: np.ndarray) -> np.ndarray:
    """[Re F1, Im F1, ..., Re F4, Im F4] at the centre of an MxM patch: sum_y f(x - y) exp(-2 pi i u.y / M)."""
    M = patch.shape[0]
    r = M // 2
    out = []
    for u_row, u_col in FREQUENCIES:
        total = 0j
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                total += float(patch[r - dy, r - dx]) * np.exp(-2j * np.pi * (u_row * dy + u_col * dx) / M)
        out += [total.real, total.imag]
    return np.array(out)


def _bits(values: np.ndarray) -> int:
    return int(sum(1 << k for k in range(8) if values[k] > 0))


def _model_covariance(M: int, rho: float) -> np.ndarray:
    """Covariance of the 8 STFT values when pixels at distance d correlate as rho**d."""
    r = M // 2
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    rows = []
    for u_row, u_col in FREQUENCIES:
        q = np.array([np.exp(-2j * np.pi * (u_row * dy + u_col * dx) / M) for dy, dx in offsets])
        rows += [q.real, q.imag]
    operator = np.array(rows)
    pos = np.array(offsets, dtype=float)
    corr = rho ** np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    return operator @ corr @ operator.T


@pytest.mark.parametrize("M", [3, 7])
def test_code_of_one_pixel_from_the_definition(M):
    rng = np.random.default_rng(M)
    image = rng.integers(0, 256, size=(1, M + 4, M + 5), dtype=np.uint8)
    codes_raw = lpq_codes(image, win_size=M, decorrelate=False)
    codes = lpq_codes(image, win_size=M)
    assert codes.shape == (1, 5, 6) and codes.dtype == np.uint8
    V = lpq_whitening_matrix(M)
    for i, j in [(0, 0), (2, 3), (4, 5)]:
        f = _direct_stft(image[0, i : i + M, j : j + M])
        assert codes_raw[0, i, j] == _bits(f)
        assert codes[0, i, j] == _bits(V.T @ f)


def test_hand_computed_3x3_code():
    # M = 3, a = 1/3: w1 = exp(-2 pi i x / 3) for x = -1, 0, 1. A single bright pixel to the right of the
    # centre (offset y = (0, -1) in f(x - y)) gives F_u = 9 exp(-2 pi i u.(0, -1) / 3) = 9 exp(2 pi i u_col / 3):
    # F1 = F3 = 9 e^{2 pi i/3} (Re < 0, Im > 0), F2 = 9 (Re > 0, Im 0), F4 = 9 e^{-2 pi i/3} (Re < 0, Im < 0).
    patch = np.zeros((1, 3, 3), np.uint8)
    patch[0, 1, 2] = 9
    # bits: Re F1 0, Im F1 1, Re F2 1, Im F2 0 (exactly 0 is not > 0), Re F3 0, Im F3 1, Re F4 0, Im F4 0
    assert lpq_codes(patch, win_size=3, decorrelate=False)[0, 0, 0] == 0b00100110


@pytest.mark.parametrize("M", [3, 7, 9])
def test_whitening_decorrelates_the_model_covariance(M):
    V = lpq_whitening_matrix(M, 0.9)
    np.testing.assert_allclose(V.T @ V, np.eye(8), atol=1e-12)
    D = V.T @ _model_covariance(M, 0.9) @ V
    off_diagonal = D - np.diag(np.diag(D))
    assert np.abs(off_diagonal).max() < 1e-4 * np.abs(np.diag(D)).max()


def _face_and_other(size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    astronaut = (color.rgb2gray(data.astronaut()) * 255).astype(np.uint8)
    face = cv2.resize(astronaut[20:220, 140:320], (size, size), interpolation=cv2.INTER_AREA)
    other = cv2.resize(data.camera(), (size, size), interpolation=cv2.INTER_AREA)
    return face, other


def test_insensitive_to_centrally_symmetric_blur():
    face, other = _face_and_other()
    blurred = cv2.GaussianBlur(face, (0, 0), 1.0)
    images = np.stack([face, blurred, other])
    lpq = lpq_histograms(images, levels=1)
    lbp = lbp_histograms(images, levels=1)
    lpq_blur, lpq_other = np.abs(lpq[0] - lpq[1]).sum(), np.abs(lpq[0] - lpq[2]).sum()
    lbp_blur = np.abs(lbp[0] - lbp[1]).sum()
    # measured: LPQ blur 0.21, LPQ other image 0.41, LBP blur 0.50 (L1 distances of normalised histograms)
    assert lpq_blur < 0.65 * lpq_other
    assert lpq_blur < 0.6 * lbp_blur


def test_histograms_and_registered_feature():
    images = np.random.default_rng(3).integers(0, 256, size=(2, 48, 48), dtype=np.uint8)
    hist = lpq_histograms(images)
    assert hist.shape == (2, 256 * 85)
    np.testing.assert_allclose(hist.reshape(2, 85, 256).sum(axis=-1), 1.0)
    counts = lpq_histograms(images, levels=1, normalize=None)
    np.testing.assert_array_equal(counts[1], np.bincount(lpq_codes(images[1:]).ravel(), minlength=256))
    assert "lpq" in list_features()
    feature = create_feature("lpq", levels=2, win_size=5)
    assert isinstance(feature, LPQFeatures)
    out = feature.fit_transform(images)
    assert out.dtype == np.float32 and out.shape == (2, 256 * 5)


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        (np.zeros((20, 20), np.uint8), {}, r"\(N, H, W\)"),
        (np.zeros((1, 20, 20), complex), {}, "dtype complex128"),
        (np.zeros((1, 20, 20), np.uint8), {"win_size": 4}, "odd integer"),
        (np.zeros((1, 5, 20), np.uint8), {}, "too small"),
        (np.zeros((1, 13, 13), np.uint8), {}, "fewer codes than the 8x8 grid"),
        (np.zeros((1, 20, 20), np.uint8), {"rho": 1.5}, "rho"),
    ],
)
def test_bad_input(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        lpq_histograms(images, **kwargs)
