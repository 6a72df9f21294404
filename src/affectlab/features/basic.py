"""Built-in features: raw pixels and HOG (scikit-image)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from affectlab.features.registry import register_feature

__all__ = ["PixelFeatures", "HOGFeatures", "check_images"]


def check_images(X: np.ndarray) -> np.ndarray:
    """Check a batch of gray images ``(N, H, W)`` and return it as an array."""
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"expected a batch of gray images (N, H, W), got shape {X.shape}")
    return X


class _Stateless(TransformerMixin, BaseEstimator):
    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> _Stateless:
        """Nothing to learn; checks the input and returns ``self``."""
        check_images(X)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True


@register_feature("pixels")
class PixelFeatures(_Stateless):
    """Gray levels scaled to [0, 1] and flattened: ``(N, H, W)`` uint8 -> ``(N, H*W)`` float32.

    Examples
    --------
    >>> PixelFeatures().transform(np.full((1, 2, 2), 255, np.uint8)).tolist()
    [[1.0, 1.0, 1.0, 1.0]]
    """

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = check_images(X)
        scale = 255.0 if X.dtype == np.uint8 else 1.0
        return (X.reshape(X.shape[0], -1).astype(np.float32) / np.float32(scale))


@register_feature("hog")
class HOGFeatures(_Stateless):
    """Histograms of oriented gradients per image (:func:`skimage.feature.hog`).

    Parameters
    ----------
    orientations
        Number of orientation bins.
    pixels_per_cell
        Cell size in pixels (an int for square cells, or ``(rows, cols)``).
    cells_per_block
        Block size in cells for the block normalisation.
    block_norm
        ``"L2-Hys"`` (default), ``"L2"``, ``"L1"`` or ``"L1-sqrt"``.

    Examples
    --------
    >>> HOGFeatures(pixels_per_cell=8).transform(np.zeros((2, 48, 48), np.uint8)).shape
    (2, 900)
    """

    def __init__(
        self,
        orientations: int = 9,
        pixels_per_cell: int | tuple[int, int] = 8,
        cells_per_block: int | tuple[int, int] = 2,
        block_norm: str = "L2-Hys",
    ) -> None:
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm

    def transform(self, X: np.ndarray) -> np.ndarray:
        from skimage.feature import hog

        X = check_images(X)
        ppc = _pair(self.pixels_per_cell, "pixels_per_cell")
        cpb = _pair(self.cells_per_block, "cells_per_block")
        if X.shape[1] < ppc[0] * cpb[0] or X.shape[2] < ppc[1] * cpb[1]:
            raise ValueError(
                f"hog: images of {X.shape[1]}x{X.shape[2]} are smaller than one block"
                f" ({cpb[0]}x{cpb[1]} cells of {ppc[0]}x{ppc[1]} pixels)"
            )
        rows = [
            hog(image, orientations=self.orientations, pixels_per_cell=ppc, cells_per_block=cpb,
                block_norm=self.block_norm, feature_vector=True)
            for image in X
        ]
        return np.asarray(rows, dtype=np.float32).reshape(X.shape[0], -1)


def _pair(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"hog: {name} must be an int or a pair, got {value!r}")
    return pair  # type: ignore[return-value]
