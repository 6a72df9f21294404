"""Dense SIFT: grid, normalisation, flip and shift consistency, and a cross-check with OpenCV."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from affectlab.features.dsift import dense_sift, dense_sift_grid, flip_descriptors
from tests.features.faces_with import FACES, faces_with


def _smooth_random(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=shape)
    img = gaussian_filter(noise, sigma=(0,) * (len(shape) - 2) + (1.5, 1.5))
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).round().astype(np.uint8)


def test_default_grid_for_48x48_faces():
    pos = dense_sift_grid((48, 48))
    sizes, counts = np.unique(pos[:, 2], return_counts=True)
    assert sizes.tolist() == [8, 12, 16] and counts.tolist() == [121, 100, 81]
    # step 4 and centred grids: margins are equal on both sides
    for s in (8, 12, 16):
        xs = np.unique(pos[pos[:, 2] == s, 0])
        assert np.allclose(np.diff(xs), 4)
        assert np.isclose(xs[0] - s / 2 + 0.5, 48 - (xs[-1] + 0.5 + s / 2))  # left margin == right margin


def test_shapes_dtype_and_unit_norm():
    images = _smooth_random((3, 48, 48))
    d, pos = dense_sift(images)
    assert d.shape == (3, 302, 128) and d.dtype == np.float32 and pos.shape == (302, 3)
    assert np.allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-5)
    assert d.min() >= 0


def test_constant_image_gives_zero_descriptors():
    d, _ = dense_sift(np.full((2, 48, 48), 117, np.uint8))
    assert np.abs(d).max() == 0.0
    d, _ = dense_sift(np.full((1, 48, 48), 117, np.uint8), method="opencv")
    assert np.abs(d).max() == 0.0


def test_vertical_edge_votes_for_the_horizontal_gradient():
    image = np.zeros((1, 16, 16), np.uint8)
    image[:, :, 8:] = 255  # dark left, bright right: gradient along +x, orientation bin 0
    d, _pos = dense_sift(image, step=8, sizes=(16,), window=False)
    hist = d[0, 0].reshape(4, 4, 8).sum(axis=(0, 1))
    assert hist.argmax() == 0 and hist[1:].max() < 1e-6 * hist[0] + 1e-7


def test_horizontal_flip_mirrors_the_descriptors():
    image = _smooth_random((1, 48, 48), seed=1)
    d, pos = dense_sift(image)
    df, pos_f = dense_sift(image[:, :, ::-1])
    assert np.array_equal(pos, pos_f)
    where = {(x, y, s): i for i, (x, y, s) in enumerate(pos.tolist())}
    mirror = np.array([where[(47.0 - x, y, s)] for x, y, s in pos.tolist()])
    assert not np.allclose(df[0], d[0], atol=1e-3)  # different...
    np.testing.assert_allclose(df[0], flip_descriptors(d[0, mirror]), atol=1e-4)  # ...but consistent


def test_shift_by_one_step_moves_descriptors_one_grid_cell():
    big = _smooth_random((1, 48, 64), seed=2)
    step = 4
    a, _pos = dense_sift(big[:, :, :48], step=step, sizes=(12,))
    b, _ = dense_sift(big[:, :, step:48 + step], step=step, sizes=(12,))
    grid = a[0].reshape(10, 10, 128)
    shifted = b[0].reshape(10, 10, 128)
    # b(x) = a(x + step): column j of b is column j + 1 of a (away from the image borders)
    np.testing.assert_allclose(shifted[:, 1:-2], grid[:, 2:-1], atol=1e-5)


def test_batch_size_and_dtype_do_not_change_the_result():
    images = _smooth_random((5, 32, 32), seed=3)
    d1, _ = dense_sift(images, step=4, sizes=(8, 16))
    d2, _ = dense_sift(images, step=4, sizes=(8, 16), batch_size=2)
    d3, _ = dense_sift(images.astype(np.float64) / 255.0, step=4, sizes=(8, 16))
    np.testing.assert_allclose(d1, d2, atol=1e-6)
    np.testing.assert_allclose(d1, d3, atol=1e-5)


def test_rootsift_is_nonnegative_with_unit_l2_norm():
    d, _ = dense_sift(_smooth_random((2, 32, 32)), step=8, sizes=(16,), root=True)
    assert d.min() >= 0
    assert np.allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-5)


def test_numpy_backend_matches_opencv_sift():
    # 49x49: every grid centre falls on a whole pixel, which OpenCV rounds keypoints to
    images = _smooth_random((4, 49, 49), seed=4)
    a, pos = dense_sift(images)
    b, _ = dense_sift(images, method="opencv")
    assert np.allclose(pos[:, :2], np.round(pos[:, :2]))
    cos = (a * b).sum(axis=-1)
    assert cos.mean() > 0.99 and np.quantile(cos, 0.05) > 0.97


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sizes": (64,)}, "smaller than the patch size"),
        ({"step": 0}, "step"),
        ({"sizes": (8, 8)}, "distinct"),
        ({"sizes": (2,)}, "patch sizes"),
        ({"method": "vlfeat"}, "method"),
        ({"sigma": -1.0}, "sigma"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dense_sift(np.zeros((1, 48, 48), np.uint8), **kwargs)


def test_needs_a_batch_of_gray_images():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        dense_sift(np.zeros((48, 48), np.uint8))




def test_dense_sift_refuses_nan_images():
    from affectlab.features.dsift import dense_sift

    with pytest.raises(ValueError, match="dense_sift: image 1 contains NaN"):
        dense_sift(faces_with(np.nan))
    d, _ = dense_sift(FACES / 255.0)
    assert np.isfinite(d).all()
