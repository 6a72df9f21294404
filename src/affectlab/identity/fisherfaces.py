"""A handcrafted face verifier (Fisherfaces) whose calibrated score can be fused with the Siamese net's.

Each image is standardised (zero mean, unit sd over its pixels), projected by PCA and then by LDA
fitted to separate the training subjects (Belhumeur et al. 1997); a pair's similarity is the cosine
of the two unit-length LDA embeddings. The similarity is turned into a same-subject logit by a
logistic regression fitted on pairs of subjects the embedding has not seen: the training subjects
are cut into ``calibration_folds`` groups, an embedding is fitted without each group and that
group's balanced pairs are scored. PCA, LDA and the logistic regression are scikit-learn's.

:func:`fuse_logits` adds such logits to the Siamese net's (a naive-Bayes sum of log-odds ratios:
both are calibrated so that 0 is their own decision point), deciding "same" above 0.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> faces = rng.normal(size=(8, 1, 12, 10))                       # eight people, one template each
>>> images = np.clip(128 + 40 * (faces + 0.3 * rng.normal(size=(8, 8, 12, 10))), 0, 255).reshape(-1, 12, 10)
>>> subjects = np.repeat([f"p{i}" for i in range(8)], 8)
>>> verifier = FisherfaceVerifier(n_components=20, calibration_folds=2).fit(images[:48], subjects[:48])
>>> pairs = balanced_pairs(subjects[48:], seed=0)                 # two people never seen in fitting
>>> logits = verifier.decision_function(images[48:], pairs)
>>> bool(np.mean((logits > 0) == pairs.same) > 0.9)
True
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from affectlab.checks import is_integer
from affectlab.errors import ConfigError
from affectlab.identity.pairs import Pairs, balanced_pairs
from affectlab.identity.train import (
    probability_logit,  # re-exported: the logit fuse_logits sums
)

__all__ = ["FisherfaceVerifier", "fuse_logits", "probability_logit"]


def _standardise(images: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` -> ``(N, H * W)`` float64 rows of zero mean and unit sd (lighting offset and gain removed)."""
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    return (flat - flat.mean(axis=1, keepdims=True)) / (flat.std(axis=1, keepdims=True) + 1e-6)


class _Embedding:
    """PCA -> LDA of standardised pixels, rows scaled to unit length."""

    def __init__(self, images: np.ndarray, subjects: np.ndarray, n_components: int, seed: int) -> None:
        flat = _standardise(images)
        if len(flat) <= len(set(np.asarray(subjects).tolist())):
            raise ConfigError(f"fisherfaces: LDA needs more images than subjects, got {len(flat)} images of "
                              f"{len(set(np.asarray(subjects).tolist()))} subjects")
        self.pca = PCA(n_components=min(n_components, len(flat) - 1, flat.shape[1]), random_state=seed).fit(flat)
        self.lda = LinearDiscriminantAnalysis().fit(self.pca.transform(flat), subjects)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        z = self.lda.transform(self.pca.transform(_standardise(images)))
        return z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-12)


class FisherfaceVerifier(BaseEstimator):
    """Same/different verifier: cosine of Fisherface embeddings, calibrated to a logit on unseen subjects.

    Parameters
    ----------
    n_components
        PCA components kept before LDA (at most the number of training images - 1).
    calibration_folds
        Groups of training subjects held out in turn to score pairs for the logistic calibration.
    seed
        Seed of the subject grouping, the calibration pairs and PCA's solver.
    """

    def __init__(self, n_components: int = 60, calibration_folds: int = 5, seed: int = 0) -> None:
        self.n_components = n_components
        self.calibration_folds = calibration_folds
        self.seed = seed

    def fit(self, images: np.ndarray, subjects: np.ndarray) -> FisherfaceVerifier:
        """Fit the embedding on all ``images`` and the calibration on held-out groups of their ``subjects``.

        Raises
        ------
        ConfigError
            Bad parameters, or too few subjects for the calibration groups (each needs two, and each
            fit needs two left).
        """
        images = np.asarray(images)
        subjects = np.asarray(subjects, dtype=object)
        if images.ndim != 3 or len(images) != len(subjects):
            raise ConfigError(f"fisherfaces: need (N, H, W) images and N subjects, got {images.shape} and "
                              f"{len(subjects)}")
        if not is_integer(self.n_components) or self.n_components < 1:
            raise ConfigError(f"fisherfaces: n_components must be an int >= 1, got {self.n_components!r}")
        names = sorted(set(subjects.tolist()), key=str)
        k = self.calibration_folds
        if not is_integer(k) or k < 2 or len(names) < 2 * k:
            raise ConfigError(f"fisherfaces: calibration_folds must be an int >= 2 with at least 2 subjects per group,"
                              f" got {k!r} for {len(names)} subjects")
        rng = np.random.default_rng(self.seed)
        order = [names[i] for i in rng.permutation(len(names))]
        similarities, same = [], []
        for g in range(k):
            held = set(order[g::k])
            inside = np.isin(subjects, list(held))
            embed = _Embedding(images[~inside], subjects[~inside], self.n_components, self.seed)
            idx = np.flatnonzero(inside)
            pairs = balanced_pairs(subjects[idx], seed=self.seed + g)
            similarities.append(self._cosine(embed(images[idx]), pairs))
            same.append(pairs.same)
        self.calibration_ = LogisticRegression(C=1e4).fit(np.concatenate(similarities)[:, None], np.concatenate(same))
        self.embedding_ = _Embedding(images, subjects, self.n_components, self.seed)
        self.n_subjects_ = len(names)
        self.image_shape_ = images.shape[1:]
        return self

    @staticmethod
    def _cosine(z: np.ndarray, pairs: Pairs) -> np.ndarray:
        return np.sum(z[pairs.first] * z[pairs.second], axis=1)

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Unit-length LDA embeddings ``(N, d)`` with ``d`` <= training subjects - 1."""
        check_is_fitted(self, "embedding_")
        images = np.asarray(images)
        if images.ndim != 3 or images.shape[1:] != self.image_shape_:
            raise ConfigError(f"fisherfaces: images of shape {images.shape}, fitted on (N, "
                              f"{', '.join(map(str, self.image_shape_))})")
        return self.embedding_(images)

    def similarity(self, images: np.ndarray, pairs: Pairs) -> np.ndarray:
        """Cosine similarity of every pair (indices into ``images``)."""
        z = self.embed(images)
        first, second = np.asarray(pairs.first), np.asarray(pairs.second)
        if len(first) and (min(first.min(), second.min()) < 0 or max(first.max(), second.max()) >= len(z)):
            raise ConfigError(f"fisherfaces: pair indices must lie in 0..{len(z) - 1} (the images given)")
        return self._cosine(z, pairs)

    def decision_function(self, images: np.ndarray, pairs: Pairs) -> np.ndarray:
        """Calibrated same-subject logit of every pair: > 0 means "same"."""
        check_is_fitted(self, "calibration_")
        return self.calibration_.decision_function(self.similarity(images, pairs)[:, None])


def fuse_logits(*logits: np.ndarray) -> np.ndarray:
    """``P(same)`` of the summed logits (each 0 at its own decision point): "same" at >= 0.5.

    >>> fuse_logits(np.array([2.0, -1.0]), np.array([-1.0, -1.0])).round(4).tolist()
    [0.7311, 0.1192]
    """
    if not logits:
        raise ValueError("fuse_logits needs at least one array of logits")
    arrays = [np.asarray(v, dtype=np.float64) for v in logits]
    if len({a.shape for a in arrays}) > 1:
        raise ConfigError(f"fuse_logits: the logits differ in shape: {', '.join(str(a.shape) for a in arrays)}")
    total = np.sum(arrays, axis=0)
    return 1.0 / (1.0 + np.exp(-total))
