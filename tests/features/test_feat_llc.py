"""LLC coding, spatial-pyramid max pooling and the ``dsift_llc`` feature."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from affectlab.features import create_feature
from affectlab.features.llc import (
    DenseSiftLLC,
    llc_codes,
    llc_encode,
    pyramid_grids,
    pyramid_max_pool,
)
from tests.features.faces_with import FACES, faces_with


def test_hand_computed_2d_case():
    # x = (0.5, 0.5); codewords b0 = (0, 0), b1 = (2, 0), b2 = (0, 3); k = 2.
    # Squared distances 0.5, 2.5, 6.5 -> neighbours b0, b1.
    # z0 = b0 - x = (-0.5, -0.5), z1 = b1 - x = (1.5, -0.5)
    # C = [[0.5, -0.5], [-0.5, 2.5]], trace 3, regulariser beta * 3.
    # C w = 1 for a 2x2 [[a, c], [c, d]]: w ∝ (d - c, a - c), then w /= sum(w).
    B = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    x = np.array([[0.5, 0.5]])
    idx, w = llc_codes(x, B, k=2, beta=0.0)
    assert idx.tolist() == [[0, 1]]
    np.testing.assert_allclose(w, [[0.75, 0.25]], rtol=1e-6)  # (2.5 + 0.5, 0.5 + 0.5) / 4
    # with beta = 1e-4: a = 0.5003, d = 2.5003 -> w ∝ (3.0003, 1.0003)
    codes = llc_encode(x, B, k=2, beta=1e-4)
    np.testing.assert_allclose(codes, [[3.0003 / 4.0006, 1.0003 / 4.0006, 0.0]], rtol=1e-6)
    # the code reconstructs the projection of x on the line through b0 and b1
    np.testing.assert_allclose(codes @ B, [[0.5, 0.0]], atol=1e-4)


@pytest.fixture
def random_data():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(40, 16)).astype(np.float32)
    X = rng.normal(size=(500, 16)).astype(np.float32)
    return X, B


def test_codes_sum_to_one_and_are_local(random_data):
    X, B = random_data
    codes = llc_encode(X, B, k=5)
    np.testing.assert_allclose(codes.sum(axis=1), 1.0, atol=1e-5)
    nearest = np.argsort(cdist(X, B), axis=1)[:, :5]
    support = codes != 0
    assert support.sum(axis=1).max() <= 5
    for row, neighbours in zip(support, nearest):
        assert set(np.flatnonzero(row)) <= set(neighbours.tolist())


def test_reconstruction_beats_vector_quantisation(random_data):
    X, B = random_data
    codes = llc_encode(X, B, k=5)
    err_llc = np.linalg.norm(X - codes @ B, axis=1)
    err_vq = cdist(X, B).min(axis=1)
    assert err_llc.mean() < 0.9 * err_vq.mean()
    assert np.mean(err_llc <= err_vq + 1e-4) > 0.99


def test_k1_is_vector_quantisation(random_data):
    X, B = random_data
    codes = llc_encode(X, B, k=1)
    np.testing.assert_array_equal(codes.argmax(axis=1), cdist(X, B).argmin(axis=1))
    np.testing.assert_allclose(codes.max(axis=1), 1.0)


def test_codeword_is_coded_as_itself(random_data):
    _, B = random_data
    codes = llc_encode(B[:10], B, k=5)
    # the regulariser (beta * trace) leaves a little weight on the other neighbours
    np.testing.assert_allclose(codes[:, :10], np.eye(10), atol=5e-3)
    np.testing.assert_array_equal(codes.argmax(axis=1), np.arange(10))


def test_degenerate_neighbourhood_gives_equal_weights():
    B = np.ones((4, 3))  # all codewords equal to x: trace(C) = 0
    _idx, w = llc_codes(np.ones((1, 3)), B, k=3)
    np.testing.assert_allclose(w, [[1 / 3] * 3], rtol=1e-6)


def test_pyramid_grids():
    assert pyramid_grids(1) == (1,) and pyramid_grids(3) == (1, 2, 4) and pyramid_grids([1, 3]) == (1, 3)
    with pytest.raises(ValueError):
        pyramid_grids(0)


def test_pyramid_max_pool_by_hand():
    # 2 descriptors in a 4x4 image: top-left (word 0 weight 0.7, word 2 weight 0.3) and
    # bottom-right (word 0 weight 0.4, word 1 weight 0.6); levels 1x1 and 2x2, 3 words.
    idx = np.array([[[0, 2], [0, 1]]])
    w = np.array([[[0.7, 0.3], [0.4, 0.6]]])
    pos = np.array([[0.0, 0.0, 8.0], [3.0, 3.0, 8.0]])
    out = pyramid_max_pool(idx, w, pos, (4, 4), 3, levels=2, normalise=False)
    expected = [0.7, 0.6, 0.3,  # whole image
                0.7, 0.0, 0.3,  # top-left
                0.0, 0.0, 0.0,  # top-right
                0.0, 0.0, 0.0,  # bottom-left
                0.4, 0.6, 0.0]  # bottom-right
    np.testing.assert_allclose(out, [expected], rtol=1e-6)
    normed = pyramid_max_pool(idx, w, pos, (4, 4), 3, levels=2)
    np.testing.assert_allclose(normed, out / np.linalg.norm(out), rtol=1e-6)


def test_pooling_of_negative_weights():
    idx = np.array([[[0, 1]]])
    w = np.array([[[1.2, -0.2]]])
    pos = np.array([[1.0, 1.0, 8.0]])
    assert pyramid_max_pool(idx, w, pos, (4, 4), 2, levels=1, normalise=False).tolist() == [[pytest.approx(1.2), 0.0]]
    out = pyramid_max_pool(idx, w, pos, (4, 4), 2, levels=1, pooling="abs_max", normalise=False)
    np.testing.assert_allclose(out, [[1.2, 0.2]], rtol=1e-6)


def _faces(n: int = 8, seed: int = 0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    noise = np.random.default_rng(seed).normal(size=(n, 48, 48))
    img = gaussian_filter(noise, sigma=(0, 2, 2))
    return ((img - img.min()) / (img.max() - img.min()) * 255).astype(np.uint8)


def test_feature_output_size_and_norm():
    faces = _faces()
    feat = DenseSiftLLC(n_words=16, levels=3, max_descriptors=2000)
    assert feat.fit(faces) is feat
    out = feat.transform(faces)
    assert out.shape == (8, 16 * (1 + 4 + 16)) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert feat.codebook_.shape == (16, 128)
    out2 = DenseSiftLLC(n_words=16, levels=[1, 3], max_descriptors=2000).fit(faces).transform(faces[:2])
    assert out2.shape == (2, 16 * 10)


def test_feature_is_deterministic_and_batch_invariant():
    faces = _faces()
    a = DenseSiftLLC(n_words=12, levels=2, max_descriptors=1500, random_state=1).fit(faces)
    b = DenseSiftLLC(n_words=12, levels=2, max_descriptors=1500, random_state=1, batch_size=3).fit(faces)
    np.testing.assert_array_equal(a.codebook_, b.codebook_)
    np.testing.assert_allclose(a.transform(faces), b.transform(faces), atol=1e-6)


def test_feature_is_registered_as_learning_from_data():
    from affectlab.features.registry import create_feature, feature_info

    assert feature_info("dsift_llc").stateless is False
    feat = create_feature("dsift_llc", n_words=32, k=3, levels=2, step=8, sizes=[8, 16], random_state=0, max_images=4)
    assert isinstance(feat, DenseSiftLLC) and feat.get_params()["k"] == 3


def test_feature_sklearn_conventions():
    # check_estimator does not apply: the input is a batch of images (N, H, W), not a 2-D X.
    from sklearn.utils.estimator_checks import (
        check_get_params_invariance,
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
    )

    feat = DenseSiftLLC(n_words=7, k=2)
    check_no_attributes_set_in_init("DenseSiftLLC", feat)
    check_parameters_default_constructible("DenseSiftLLC", DenseSiftLLC())
    check_get_params_invariance("DenseSiftLLC", feat)
    assert clone(feat).get_params() == feat.get_params()
    with pytest.raises(NotFittedError):
        feat.transform(_faces(1))


@pytest.mark.parametrize(
    "params, message",
    [({"n_words": 4, "k": 5}, "k must be"), ({"pooling": "sum"}, "pooling"), ({"levels": 0}, "levels")],
)
def test_feature_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        DenseSiftLLC(**params).fit(_faces(2))


def test_feature_bad_input():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        DenseSiftLLC(n_words=4).fit(np.zeros((48, 48), np.uint8))


@pytest.mark.slow
@pytest.mark.shared_data
def test_ckplus48_three_folds(dataset_path, tmp_path):
    from affectlab.experiments import run_experiment

    config = {
        "name": "ckplus48-dsift-llc-smoke",
        "data": {"source": str(dataset_path("ckplus48"))},
        "images": {"size": 48},
        "protocol": {"kind": "group_kfold", "n_splits": 3},
        "features": [{"name": "dsift_llc", "n_words": 200, "step": 4, "levels": [1, 2, 4], "max_descriptors": 30000}],
        "classifiers": [{"name": "linear_svm", "C": 0.01}],
    }
    (row,) = run_experiment(config, tmp_path / "run", progress=False).rows
    assert row["n_test"] == 981 and row["feature_dim"] == 200 * (1 + 4 + 16)
    assert row["accuracy"] > 0.75




def test_non_finite_images_are_refused_by_learning_features():
    llc = create_feature("dsift_llc", n_words=8, step=4)
    with pytest.raises(ValueError, match="dsift_llc: image 1 contains NaN"):
        llc.fit(faces_with(np.nan))
    llc.fit(FACES)
    with pytest.raises(ValueError, match="dsift_llc: image 1 contains NaN"):
        llc.transform(faces_with(np.nan))
