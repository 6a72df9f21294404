"""Spatial pyramid histograms: sizes, nesting, hand-computed cells, weights, errors."""

from __future__ import annotations

import numpy as np
import pytest

from affectlab.features.pyramid import cell_histograms, pyramid_grids, pyramid_size, spatial_pyramid_histograms


def test_sizes_of_four_level_lbp_pyramid():
    codes = np.random.default_rng(0).integers(0, 59, size=(3, 48, 48))
    out = spatial_pyramid_histograms(codes, 59, levels=4)
    assert pyramid_grids(4) == (1, 2, 4, 8)
    assert out.shape == (3, 59 * 85) == (3, 5015) == (3, pyramid_size(59, 4))


@pytest.mark.parametrize("shape", [(2, 48, 48), (2, 42, 42), (1, 13, 9)])
def test_coarse_levels_are_sums_of_finer_ones(shape):
    codes = np.random.default_rng(1).integers(0, 7, size=shape)
    out = spatial_pyramid_histograms(codes, 7, levels=3, normalize=None)
    level0, level1, level2 = out[:, :7], out[:, 7 : 7 * 5].reshape(-1, 4, 7), out[:, 7 * 5 :].reshape(-1, 16, 7)
    np.testing.assert_array_equal(level0, level1.sum(axis=1))
    np.testing.assert_array_equal(level0, level2.sum(axis=1))
    np.testing.assert_array_equal(level0.sum(axis=1), shape[1] * shape[2])
    for i in range(shape[0]):  # level 0 is the plain histogram of the image
        np.testing.assert_array_equal(level0[i], np.bincount(codes[i].ravel(), minlength=7))


def test_cells_by_hand_with_uneven_split():
    # 5 rows x 3 cols, grid 2: rows {0,1,2} | {3,4}; cols {0,1} | {2}
    codes = np.array([[[0, 1, 2], [1, 1, 2], [0, 0, 0], [2, 2, 1], [2, 0, 1]]])
    hist = cell_histograms(codes, 3, 2)
    assert hist.shape == (1, 2, 2, 3)
    np.testing.assert_array_equal(hist[0, 0, 0], [3, 3, 0])  # 0 1 / 1 1 / 0 0
    np.testing.assert_array_equal(hist[0, 0, 1], [1, 0, 2])  # 2 / 2 / 0
    np.testing.assert_array_equal(hist[0, 1, 0], [1, 0, 3])  # 2 2 / 2 0
    np.testing.assert_array_equal(hist[0, 1, 1], [0, 2, 0])  # 1 / 1


def test_weights_and_l1_normalisation():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, size=(2, 8, 8))
    weights = rng.random((2, 8, 8))
    weights[1, :4, :4] = 0  # an empty (all-zero) cell stays zero after normalisation
    out = spatial_pyramid_histograms(codes, 4, levels=2, weights=weights, normalize=None)
    np.testing.assert_allclose(out[0, :4], np.bincount(codes[0].ravel(), weights=weights[0].ravel(), minlength=4))
    top_left = np.bincount(codes[0, :4, :4].ravel(), weights=weights[0, :4, :4].ravel(), minlength=4)
    np.testing.assert_allclose(out[0, 4:8], top_left)
    normed = spatial_pyramid_histograms(codes, 4, levels=2, weights=weights, normalize="l1")
    sums = normed.reshape(2, 5, 4).sum(axis=-1)
    np.testing.assert_allclose(sums[0], 1.0)
    np.testing.assert_allclose(sums[1], [1, 0, 1, 1, 1])


@pytest.mark.parametrize(
    ("codes", "kwargs", "message"),
    [
        (np.zeros((4, 4), int), {}, r"\(N, H, W\)"),
        (np.zeros((1, 4, 4)), {}, "integer codes"),
        (np.full((1, 4, 4), 5), {}, r"\[0, 4\]"),
        (np.full((1, 4, 4), -1), {}, r"\[0, 4\]"),
        (np.zeros((1, 4, 4), int), {"levels": 4}, "8x8 grid does not fit images of 4x4"),
        (np.zeros((1, 4, 4), int), {"levels": 0}, "levels must be a positive integer"),
        (np.zeros((1, 4, 4), int), {"normalize": "l2"}, "normalize must be one of"),
        (np.zeros((1, 4, 4), int), {"weights": np.ones((1, 4, 3))}, "weights: expected shape"),
    ],
)
def test_bad_input(codes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        spatial_pyramid_histograms(codes, 5, **kwargs)


def test_float32_output_matches_float64():
    codes = np.random.default_rng(3).integers(0, 59, size=(5, 48, 48))
    wide = spatial_pyramid_histograms(codes, 59, levels=4)
    narrow = spatial_pyramid_histograms(codes, 59, levels=4, dtype=np.float32)
    assert narrow.dtype == np.float32
    np.testing.assert_allclose(narrow, wide, rtol=1e-6)
    with pytest.raises(ValueError, match="floating type"):
        spatial_pyramid_histograms(codes, 59, levels=1, dtype=np.int32)
