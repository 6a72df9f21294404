"""Uniform LBP: identical codes to scikit-image, hand-computed patterns, pyramid feature, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skimage.feature import local_binary_pattern

from affectlab.features import LBPFeatures, create_feature, lbp_codes, lbp_histograms, list_features
from affectlab.features.lbp import lbp_n_bins


def _skimage_codes(images, P=8, R=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about float images
        return np.stack([local_binary_pattern(x, P, R, method="nri_uniform") for x in images])


@pytest.mark.parametrize("shape", [(4, 48, 48), (3, 5, 7), (2, 31, 17), (1, 1, 1), (2, 2, 64), (1, 128, 96)])
def test_codes_equal_skimage_on_random_images(shape):
    images = np.random.default_rng(sum(shape)).integers(0, 256, size=shape, dtype=np.uint8)
    ours = lbp_codes(images)
    assert ours.shape == shape and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, _skimage_codes(images))


def test_codes_equal_skimage_with_many_ties_and_flat_areas():
    rng = np.random.default_rng(5)
    images = rng.integers(0, 3, size=(4, 40, 40), dtype=np.uint8)
    images[:, 10:30, 10:30] = 77  # flat area: diagonal interpolation rounds around the centre value
    np.testing.assert_array_equal(lbp_codes(images), _skimage_codes(images))


def test_codes_equal_skimage_for_float_images():
    images = np.random.default_rng(6).random((2, 20, 24)).astype(np.float32)
    images[:, 5:15, 5:15] = 0.3
    np.testing.assert_array_equal(lbp_codes(images), _skimage_codes(images))


@pytest.mark.parametrize(("P", "R"), [(8, 2), (8, 1.5), (4, 1), (12, 2.5), (16, 2), (24, 3)])
def test_codes_equal_skimage_for_other_circles(P, R):
    images = np.random.default_rng(P).integers(0, 256, size=(2, 23, 29), dtype=np.uint8)
    np.testing.assert_array_equal(lbp_codes(images, P=P, R=R), _skimage_codes(images, P, R))


def test_hand_computed_patterns():
    # Only the right neighbour (bit 0) >= centre: the diagonal above-right interpolates
    # 0.29289 * (0.29289 * 5 + 0.70711 * 9) = 2.29 < 5.  Uniform, one 1 at position 0 -> code 1.
    one_right = np.array([[[0, 0, 0], [0, 5, 9], [0, 0, 0]]], np.uint8)
    assert lbp_codes(one_right)[0, 1, 1] == 1
    # A pit: every neighbour >= centre -> P * (P - 1) + 1 = 57; a lone peak: no neighbour -> 0.
    assert lbp_codes(np.array([[[9, 9, 9], [9, 1, 9], [9, 9, 9]]], np.uint8))[0, 1, 1] == 57
    assert lbp_codes(np.array([[[1, 1, 1], [1, 9, 1], [1, 1, 1]]], np.uint8))[0, 1, 1] == 0
    # P=4, R=1 (no interpolation): right, up, left, down = 1, 0, 1, 0 -> non-uniform -> 4 * 3 + 2
    cross = np.array([[[0, 0, 0], [9, 5, 9], [0, 0, 0]]], np.uint8)
    assert lbp_codes(cross, P=4, R=1)[0, 1, 1] == 14
    # right and up (bits 0, 1): n_ones = 2, rotation 0 -> 1 + (2 - 1) * 4 + 0 = 5; up and left -> rotation 3 -> 8
    assert lbp_codes(np.array([[[0, 9, 0], [0, 5, 9], [0, 0, 0]]], np.uint8), P=4, R=1)[0, 1, 1] == 5
    assert lbp_codes(np.array([[[0, 9, 0], [9, 5, 0], [0, 0, 0]]], np.uint8), P=4, R=1)[0, 1, 1] == 8


def test_histograms_pyramid_and_feature():
    images = np.random.default_rng(7).integers(0, 256, size=(3, 48, 48), dtype=np.uint8)
    hist = lbp_histograms(images)
    assert lbp_n_bins(8) == 59 and hist.shape == (3, 5015)
    np.testing.assert_allclose(hist.reshape(3, 85, 59).sum(axis=-1), 1.0)
    counts = lbp_histograms(images, levels=1, normalize="none")
    np.testing.assert_array_equal(counts[0], np.bincount(_skimage_codes(images[:1]).astype(int).ravel(), minlength=59))
    assert "lbp" in list_features()
    feature = create_feature("lbp", levels=3, normalize="none")
    assert isinstance(feature, LBPFeatures)
    out = feature.fit_transform(images)
    assert out.dtype == np.float32 and out.shape == (3, 59 * 21)
    np.testing.assert_array_equal(out[:, :59].sum(axis=1), 48 * 48)


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        (np.zeros((48, 48), np.uint8), {}, r"\(N, H, W\)"),
        (np.zeros((1, 1, 48, 48), np.uint8), {}, r"\(N, H, W\)"),
        (np.zeros((1, 8, 8), complex), {}, "dtype complex128"),
        (np.zeros((1, 8, 8), bool), {}, "dtype bool"),
        (np.zeros((1, 8, 8), object), {}, "dtype object"),
        (np.zeros((0, 8, 8), np.uint8), {}, "empty"),
        (np.zeros((1, 6, 6), np.uint8), {}, "smaller than the 8x8 grid"),
        (np.zeros((1, 8, 8), np.uint8), {"P": 0}, "P .* positive integer"),
        (np.zeros((1, 8, 8), np.uint8), {"R": -1}, "R .* positive"),
        (np.zeros((1, 8, 8), np.uint8), {"normalize": "max"}, "normalize must be one of"),
    ],
)
def test_bad_input(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        lbp_histograms(images, **kwargs)


@pytest.mark.shared_data
def test_codes_equal_skimage_on_real_faces(dataset_path):
    import cv2

    files = sorted(dataset_path("ckplus48").glob("*/*.png"))[::20]
    faces = np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files])
    np.testing.assert_array_equal(lbp_codes(faces), _skimage_codes(faces))
