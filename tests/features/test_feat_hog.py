"""HOG against scikit-image, hand-made gradients, PHOG layout and edges, errors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import hog

from affectlab.features import (
    HOGFeatures,
    PHOGFeatures,
    create_feature,
    hog_descriptors,
    list_features,
    phog_descriptors,
)
from affectlab.features.hog import hog_cell_histograms


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def _skimage(images, orientations=9, pixels_per_cell=8, cells_per_block=2, block_norm="L2-Hys", transform_sqrt=False):
    return np.stack([
        hog(x, orientations=orientations, pixels_per_cell=_pair(pixels_per_cell),
            cells_per_block=_pair(cells_per_block), block_norm=block_norm, transform_sqrt=transform_sqrt)
        for x in images
    ])


@pytest.mark.parametrize(
    ("shape", "params"),
    [
        ((3, 48, 48), {}),
        ((2, 32, 32), {"orientations": 8}),  # edges at 45 and 90 degrees: exact ties on integer gradients
        ((2, 50, 37), {"pixels_per_cell": (6, 5), "cells_per_block": (3, 2)}),
        ((2, 40, 40), {"orientations": 4, "pixels_per_cell": 4, "cells_per_block": 3, "block_norm": "L1"}),
        ((2, 36, 36), {"orientations": 12, "pixels_per_cell": 6, "block_norm": "L1-sqrt"}),
        ((2, 33, 41), {"orientations": 6, "cells_per_block": 1, "block_norm": "L2", "transform_sqrt": True}),
        ((1, 128, 128), {}),
    ],
)
def test_close_to_skimage(shape, params):
    images = np.random.default_rng(sum(shape)).integers(0, 256, size=shape, dtype=np.uint8)
    ours = hog_descriptors(images, **params)
    expected = _skimage(images, **params)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_close_to_skimage_on_flat_and_tied_images():
    rng = np.random.default_rng(9)
    images = rng.integers(0, 3, size=(3, 40, 40), dtype=np.uint8)  # many |g_row| == |g_col| and zero gradients
    images[0] = 0
    images[1, 8:24, 8:24] = 200
    for orientations in (8, 9):
        np.testing.assert_allclose(hog_descriptors(images, orientations=orientations),
                                   _skimage(images, orientations=orientations), rtol=1e-5, atol=1e-6)
    floats = rng.random((2, 24, 24))
    np.testing.assert_allclose(hog_descriptors(floats), _skimage(floats), rtol=1e-5, atol=1e-6)


def test_cell_histograms_by_hand():
    # a horizontal ramp of slope 10: g_col = 20 inside, 0 on the first/last column, g_row = 0 -> bin 0 only
    ramp = np.tile(np.arange(16, dtype=np.uint8) * 10, (1, 16, 1))
    cells = hog_cell_histograms(ramp, orientations=9, pixels_per_cell=8)
    np.testing.assert_allclose(cells[0, :, :, 1:], 0)
    np.testing.assert_allclose(cells[0, :, 0, 0], 20 * 7 * 8 / 64)  # column 0 has no gradient
    np.testing.assert_allclose(cells[0, :, 1, 0], 20 * 7 * 8 / 64)  # nor column 15
    # its transpose has vertical gradients: 90 degrees -> bin 4 of 9 ([80, 100))
    cells_t = hog_cell_histograms(ramp.transpose(0, 2, 1), orientations=9, pixels_per_cell=8)
    np.testing.assert_allclose(cells_t[..., 4], cells[..., 0])


def test_hog_feature_registered_with_its_parameters():
    assert {"hog", "phog"} <= set(list_features())
    feature = create_feature("hog", orientations=9, pixels_per_cell=8, cells_per_block=2)
    assert isinstance(feature, HOGFeatures)
    images = np.random.default_rng(1).integers(0, 256, size=(2, 48, 48), dtype=np.uint8)
    out = feature.fit_transform(images)
    assert out.dtype == np.float32 and out.shape == (2, 900)


def test_phog_layout_and_normalisation():
    images = np.random.default_rng(2).integers(0, 256, size=(3, 48, 48), dtype=np.uint8)
    out = phog_descriptors(images)
    assert out.shape == (3, 8 * 85)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    raw = phog_descriptors(images, normalize=None, levels=3)
    level0, level1, level2 = raw[:, :8], raw[:, 8:40].reshape(3, 4, 8), raw[:, 40:].reshape(3, 16, 8)
    np.testing.assert_allclose(level0, level1.sum(axis=1))
    np.testing.assert_allclose(level0, level2.sum(axis=1))
    feature = create_feature("phog", bins=12, angle=180, levels=2)
    assert isinstance(feature, PHOGFeatures) and feature.fit_transform(images).shape == (3, 12 * 5)


def test_phog_directions_and_edges():
    step_right = np.zeros((1, 32, 32), np.uint8)
    step_right[:, :, 16:] = 200  # gradient along +columns: 0 rad -> (0 + 180 degrees) / 45 -> bin 4
    step_down = step_right.transpose(0, 2, 1).copy()  # gradient along +rows: 90 degrees -> 270 / 45 -> bin 6
    for image, expected_bin in [(step_right, 4), (step_down, 6)]:
        for edges in (True, False):
            level0 = phog_descriptors(image, levels=1, edges=edges)[0]
            assert level0.argmax() == expected_bin and level0[expected_bin] > 0.99
    unsigned = phog_descriptors(255 - step_right, levels=1, angle=180, bins=4)[0]
    assert unsigned.argmax() == 0  # the opposite edge has the same unsigned orientation
    # smoothed, the step has gradient in columns ~13..18 (8x8 grid cell columns 3 and 4); with edges=True
    # only the one-pixel Canny line votes, so a single cell column gets everything
    finest = {e: phog_descriptors(step_right, levels=4, edges=e, normalize=None)[0, -64 * 8 :].reshape(8, 8, 8)
              for e in (True, False)}
    assert np.count_nonzero(finest[False].sum(axis=(0, 2))) >= 2
    assert np.count_nonzero(finest[True].sum(axis=(0, 2))) == 1
    assert finest[True].sum() < 0.5 * finest[False].sum()
    assert phog_descriptors(np.zeros((1, 16, 16), np.uint8), levels=2).sum() == 0  # flat: no votes, no NaN


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hog_descriptors(np.zeros((1, 8, 8), np.uint8)), "smaller than one block"),
        (lambda: hog_descriptors(np.zeros((8, 8), np.uint8)), r"\(N, H, W\)"),
        (lambda: hog_descriptors(np.zeros((1, 16, 16), complex)), "dtype complex128"),
        (lambda: hog_descriptors(np.zeros((1, 16, 16)), block_norm="L3"), "block_norm must be one of"),
        (lambda: hog_descriptors(np.zeros((1, 16, 16)), pixels_per_cell=(4, 4, 4)), "pixels_per_cell"),
        (lambda: hog_descriptors(np.zeros((1, 16, 16)), orientations=0), "orientations"),
        (lambda: phog_descriptors(np.zeros((1, 4, 4), np.uint8)), "smaller than the 8x8 grid"),
        (lambda: phog_descriptors(np.zeros((1, 16, 16), np.uint8), angle=90), "angle must be 180 or 360"),
        (lambda: phog_descriptors(np.zeros((1, 16, 16), np.uint8), normalize="l2"), "normalize must be"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.shared_data
def test_close_to_skimage_on_real_faces(dataset_path):
    import cv2

    files = sorted(dataset_path("ckplus48").glob("*/*.png"))[::20]
    faces = np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files])
    for orientations in (8, 9):
        np.testing.assert_allclose(hog_descriptors(faces, orientations=orientations),
                                   _skimage(faces, orientations=orientations), rtol=1e-5, atol=1e-6)
