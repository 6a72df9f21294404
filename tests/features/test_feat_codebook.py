"""Codebook (mini-batch k-means of dense SIFT) and the nearest-codeword search."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.base import clone

from affectlab.features.codebook import Codebook, nearest_codewords


def _faces(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32), dtype=np.uint8)


@pytest.mark.parametrize("k", [1, 3, 5, 12, 20])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nearest_codewords_matches_brute_force(k, dtype):
    rng = np.random.default_rng(k)
    X = rng.normal(size=(300, 7)).astype(dtype)
    B = rng.normal(size=(20, 7)).astype(dtype)
    expected = np.argsort(cdist(X, B, "sqeuclidean"), axis=1, kind="stable")[:, :k]
    got = nearest_codewords(X, B, k, chunk_size=64)
    assert got.shape == (300, k)
    np.testing.assert_array_equal(got, expected)


def test_nearest_codewords_checks_k_and_shapes():
    with pytest.raises(ValueError, match="k must be"):
        nearest_codewords(np.zeros((2, 3)), np.zeros((4, 3)), 5)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        nearest_codewords(np.zeros((2, 3)), np.zeros((4, 2)), 1)


def test_fit_on_images():
    cb = Codebook(n_words=10, max_descriptors=None, step=8, sizes=(8, 16))
    assert cb.fit(_faces()) is cb
    per_image = 4 * 4 + 3 * 3  # 32x32 images, step 8: a 4x4 grid of 8-px patches, 3x3 of 16-px ones
    assert cb.codebook_.shape == (10, 128) and cb.codebook_.dtype == np.float32
    assert cb.n_features_in_ == 128 and cb.n_descriptors_ == 6 * per_image
    assert cb.inertia_ > 0


def test_sampling_limits():
    cb = Codebook(n_words=4, max_images=2, max_descriptors=None, step=8, sizes=(16,)).fit(_faces())
    assert cb.n_descriptors_ == 2 * 9
    cb = Codebook(n_words=4, max_descriptors=30, step=8, sizes=(16,)).fit(_faces())
    assert cb.n_descriptors_ == 30


def test_fit_is_deterministic_with_random_state():
    faces = _faces()
    a = Codebook(n_words=8, max_descriptors=100, step=8, sizes=(16,), random_state=3).fit(faces).codebook_
    b = Codebook(n_words=8, max_descriptors=100, step=8, sizes=(16,), random_state=3).fit(faces).codebook_
    c = Codebook(n_words=8, max_descriptors=100, step=8, sizes=(16,), random_state=4).fit(faces).codebook_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_on_descriptors_and_predict_nearest_word():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.concatenate([c + rng.normal(scale=0.1, size=(50, 2)) for c in centres])
    cb = Codebook(n_words=3, random_state=0).fit(X)
    assert cb.codebook_.shape == (3, 2) and cb.n_features_in_ == 2
    # each true centre is recovered
    assert cdist(centres, cb.codebook_).min(axis=1).max() < 0.1
    labels = cb.predict(X)
    assert len(set(labels[:50])) == len(set(labels[50:100])) == len(set(labels[100:])) == 1
    np.testing.assert_array_equal(labels, nearest_codewords(X, cb.codebook_, 1)[:, 0])


def test_too_few_descriptors_is_an_error():
    with pytest.raises(ValueError, match="fewer than n_words"):
        Codebook(n_words=50).fit(np.zeros((10, 4)))


def test_sklearn_conventions():
    cb = Codebook(n_words=5, max_images=3, random_state=7)
    assert cb.get_params()["n_words"] == 5 and cb.get_params()["max_images"] == 3
    assert not [k for k in vars(cb) if k.endswith("_")]  # __init__ only stores the parameters
    assert clone(cb).get_params() == cb.get_params()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_sklearn_estimator_checks():
    # With 2-D input the codebook is a plain estimator on descriptors, so the generic checks apply.
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(Codebook(n_words=2, random_state=0))


def test_descriptor_sampling_does_not_depend_on_the_extraction_batches(monkeypatch):
    import affectlab.features.codebook as codebook_module

    faces = _faces(5)
    params = {"n_words": 4, "max_descriptors": 40, "step": 8, "sizes": (8, 16), "random_state": 2}
    whole = Codebook(**params).fit(faces)
    monkeypatch.setattr(codebook_module, "_BATCH", 2)
    batched = Codebook(**params).fit(faces)
    assert batched.n_descriptors_ == whole.n_descriptors_ == 40
    np.testing.assert_array_equal(batched.codebook_, whole.codebook_)
