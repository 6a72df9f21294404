"""A visual-word codebook learned by approximate (mini-batch) k-means on dense SIFT descriptors.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> faces = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
>>> cb = Codebook(n_words=16, max_descriptors=1000, random_state=0).fit(faces)
>>> cb.codebook_.shape
(16, 128)
>>> nearest_codewords(cb.codebook_[:2], cb.codebook_, k=1).ravel().tolist()
[0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from affectlab.features.dsift import dense_sift, dense_sift_grid, limit_threads

__all__ = ["Codebook", "nearest_codewords"]

_BATCH = 128  # images per dense SIFT batch while sampling descriptors


def nearest_codewords(
    X: np.ndarray, codebook: np.ndarray, k: int = 1, *, chunk_size: int = 8192
) -> np.ndarray:
    """Indices of the ``k`` nearest codewords (Euclidean) of each row of ``X``, nearest first.

    Parameters
    ----------
    X
        ``(n, d)`` descriptors.
    codebook
        ``(m, d)`` codewords, ``m >= k``.
    k
        Number of neighbours.
    chunk_size
        Rows of ``X`` per distance block (bounds memory to ``chunk_size * m`` floats).

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` intp.

    Examples
    --------
    >>> B = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    >>> nearest_codewords(np.array([[0.9, 0.1]]), B, k=2).tolist()
    [[1, 0]]
    """
    X = np.asarray(X)
    B = np.asarray(codebook)
    if X.ndim != 2 or B.ndim != 2 or X.shape[1] != B.shape[1]:
        raise ValueError(f"nearest_codewords: need (n, d) descriptors and (m, d) codewords,"
                         f" got {X.shape} and {B.shape}")
    k = int(k)
    if not 1 <= k <= B.shape[0]:
        raise ValueError(f"nearest_codewords: k must be in [1, {B.shape[0]}] (the number of codewords), got {k}")
    dtype = np.float32 if X.dtype == np.float32 and B.dtype == np.float32 else np.float64
    B = B.astype(dtype, copy=False)
    half_sq = 0.5 * np.einsum("ij,ij->i", B, B)
    out = np.empty((X.shape[0], k), dtype=np.intp)
    for start in range(0, X.shape[0], max(int(chunk_size), 1)):
        x = X[start:start + chunk_size].astype(dtype, copy=False)
        d = x @ B.T
        np.subtract(half_sq, d, out=d)  # ranks like the squared distance / 2 (||x||^2 dropped)
        out[start:start + x.shape[0]] = _smallest(d, k)
    return out


def _smallest(d: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` smallest entries of each row, smallest first (``d`` is modified)."""
    if k <= 8:  # k passes of argmin beat argpartition + sort for small k
        rows = np.arange(d.shape[0])
        idx = np.empty((d.shape[0], k), dtype=np.intp)
        for j in range(k):
            idx[:, j] = d.argmin(axis=1)
            if j + 1 < k:
                d[rows, idx[:, j]] = np.inf
        return idx
    idx = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.broadcast_to(np.arange(k), d.shape)
    order = np.argsort(np.take_along_axis(d, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


class Codebook(BaseEstimator):
    """Approximate k-means codebook (:class:`sklearn.cluster.MiniBatchKMeans`) of dense SIFT.

    ``fit`` takes gray images ``(N, H, W)`` (dense SIFT descriptors are extracted from at most
    ``max_images`` of them, and at most ``max_descriptors`` are sampled) or, for other uses,
    descriptors ``(n, d)`` directly. ``predict`` gives the nearest codeword of descriptors.

    Parameters
    ----------
    n_words
        Number of codewords (clusters).
    max_images
        Images sampled (without replacement) for the descriptors; ``None``: all.
    max_descriptors
        Descriptors sampled for k-means; ``None``: all.
    step, sizes, sigma, root
        Dense SIFT grid and options (:func:`~affectlab.features.dsift.dense_sift`).
    batch_size
        Mini-batch size of k-means.
    max_iter
        Maximum passes over the sampled descriptors (k-means stops earlier when the
        mini-batch inertia stops improving).
    n_threads
        Threads for k-means and BLAS during ``fit``; ``None``: the libraries' defaults. One
        thread is the default: the small mini-batches gain little from threads, and on the
        shared 2-core machine two threads made ``fit`` about 5x slower (15.6 s vs 2.9 s,
        800 words, 50 000 descriptors).
    random_state
        Seed of the sampling and of k-means.

    Attributes
    ----------
    codebook_ : numpy.ndarray
        ``(n_words, d)`` float32 codewords.
    n_features_in_ : int
        Descriptor dimension ``d`` (128 for images).
    n_descriptors_ : int
        Number of descriptors k-means was fitted on.
    inertia_ : float
        Sum of squared distances of those descriptors to their nearest codeword.

    Examples
    --------
    >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2))]
    >>> Codebook(n_words=2, random_state=0).fit(X).predict([[0.1, 0.0], [0.9, 1.0]]).tolist() in ([0, 1], [1, 0])
    True
    """

    def __init__(
        self,
        n_words: int = 800,
        *,
        max_images: int | None = None,
        max_descriptors: int | None = 100_000,
        step: int = 4,
        sizes: int | Sequence[int] = (8, 12, 16),
        sigma: float | None = None,
        root: bool = False,
        batch_size: int = 2048,
        max_iter: int = 100,
        n_threads: int | None = 1,
        random_state: int | np.random.RandomState | None = 0,
    ) -> None:
        self.n_words = n_words
        self.max_images = max_images
        self.max_descriptors = max_descriptors
        self.step = step
        self.sizes = sizes
        self.sigma = sigma
        self.root = root
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.n_threads = n_threads
        self.random_state = random_state

    def _descriptors(self, X: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
        """Sampled descriptors of images ``X``, extracted in batches (memory: the sample only)."""
        if self.max_images is not None and X.shape[0] > int(self.max_images):
            X = X[np.sort(rng.choice(X.shape[0], int(self.max_images), replace=False))]
        per_image = dense_sift_grid(X.shape[1:], step=self.step, sizes=self.sizes).shape[0]
        total = X.shape[0] * per_image
        keep = None
        if self.max_descriptors is not None and total > int(self.max_descriptors):
            keep = np.sort(rng.choice(total, int(self.max_descriptors), replace=False))
        out = []
        for start in range(0, X.shape[0], _BATCH):
            desc, _ = dense_sift(X[start:start + _BATCH], step=self.step, sizes=self.sizes, sigma=self.sigma,
                                 root=self.root, n_threads=self.n_threads)
            desc = desc.reshape(-1, desc.shape[-1])
            if keep is not None:
                lo, hi = np.searchsorted(keep, [start * per_image, start * per_image + desc.shape[0]])
                desc = desc[keep[lo:hi] - start * per_image]
            out.append(desc)
        return np.concatenate(out)

    def fit(self, X: Any, y: Any = None) -> Codebook:
        """Learn ``codebook_`` from images ``(N, H, W)`` or descriptors ``(n, d)``; returns ``self``.

        Raises
        ------
        ValueError
            Bad input, or fewer descriptors than ``n_words``.
        """
        with limit_threads(self.n_threads):
            return self._fit(X)

    def _fit(self, X: Any) -> Codebook:
        from sklearn.cluster import MiniBatchKMeans

        if int(self.n_words) < 1:
            raise ValueError(f"Codebook: n_words must be >= 1, got {self.n_words!r}")
        rng = check_random_state(self.random_state)
        if np.ndim(X) == 3 and not hasattr(X, "tocsr"):
            from affectlab.features.basic import check_images

            D = self._descriptors(check_images(X, name="Codebook"), rng)
            self.n_features_in_ = D.shape[1]
        else:
            D = validate_data(self, X, dtype=[np.float64, np.float32])
            if self.max_descriptors is not None and D.shape[0] > int(self.max_descriptors):
                D = D[np.sort(rng.choice(D.shape[0], int(self.max_descriptors), replace=False))]
        if D.shape[0] < int(self.n_words):
            raise ValueError(
                f"Codebook: n_samples={D.shape[0]} descriptors, fewer than n_words={self.n_words}"
                " (use fewer words or more images)"
            )
        kmeans = MiniBatchKMeans(
            n_clusters=int(self.n_words),
            batch_size=int(self.batch_size),
            max_iter=int(self.max_iter),
            init_size=min(D.shape[0], max(3 * int(self.batch_size), 3 * int(self.n_words))),
            n_init=1,
            compute_labels=False,
            random_state=rng.randint(np.iinfo(np.int32).max),
        ).fit(D)
        self.codebook_ = kmeans.cluster_centers_.astype(np.float32)
        self.n_descriptors_ = int(D.shape[0])
        nearest = nearest_codewords(D, self.codebook_, 1)[:, 0]
        self.inertia_ = float(((D - self.codebook_[nearest]) ** 2).sum())
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest codeword of each descriptor ``(n, d)`` (hard vector quantisation)."""
        check_is_fitted(self, "codebook_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        with limit_threads(self.n_threads):
            return nearest_codewords(X, self.codebook_, 1)[:, 0]
