"""Built-in features: raw pixels, and the input checks shared by all image descriptors.

HOG moved to :mod:`affectlab.features.hog` (still registered as ``"hog"``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from affectlab.features.registry import register_feature

__all__ = ["PixelFeatures", "as_array", "check_finite", "check_images"]


def check_images(X: np.ndarray, *, name: str = "images", min_size: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Check a batch of gray images ``(N, H, W)`` of a real numeric dtype and return it as an array.

    Parameters
    ----------
    X
        Images ``(N, H, W)``: integers (typically uint8) or floats.
    name
        What to call the input in error messages (e.g. the descriptor's name).
    min_size
        Smallest allowed ``(H, W)``.

    Raises
    ------
    ValueError
        Wrong number of dimensions, images of different sizes, an empty batch, images smaller
        than ``min_size``, a dtype that is not a real number (bool, complex, object, strings), or
        NaN / infinite values (the message names the first such image).

    Examples
    --------
    >>> check_images(np.zeros((2, 4, 4), np.uint8)).shape
    (2, 4, 4)
    """
    X = as_array(X, name, "images of different sizes cannot form one batch (N, H, W); resize them to one size")
    if X.ndim != 3:
        raise ValueError(f"{name}: expected a batch of gray images (N, H, W), got shape {X.shape}")
    if X.dtype.kind not in "uif":
        raise ValueError(f"{name}: expected integer or float gray levels (e.g. uint8), got dtype {X.dtype}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (shape {X.shape})")
    if X.shape[1] < min_size[0] or X.shape[2] < min_size[1]:
        raise ValueError(
            f"{name}: images of {X.shape[1]}x{X.shape[2]} are too small (need at least {min_size[0]}x{min_size[1]})"
        )
    check_finite(X, name, "image")
    return X


def as_array(X: object, name: str, ragged: str) -> np.ndarray:
    """``np.asarray(X)``, with a :class:`ValueError` naming ``name`` for ragged nested lists."""
    try:
        return np.asarray(X)
    except ValueError:  # numpy: "setting an array element with a sequence ... inhomogeneous shape"
        raise ValueError(f"{name}: {ragged}") from None


def check_finite(X: np.ndarray, name: str, item: str) -> None:
    """Raise :class:`ValueError` naming the first ``item`` (index along axis 0) holding NaN or inf.

    Integer arrays are always finite and are not scanned.

    Examples
    --------
    >>> check_finite(np.array([[0.0], [np.nan]]), "lbp", "image")
    Traceback (most recent call last):
    ...
    ValueError: lbp: image 1 contains NaN or infinite values
    """
    if X.dtype.kind != "f":
        return
    finite = np.isfinite(X.reshape(X.shape[0], -1)).all(axis=1)
    if not finite.all():
        raise ValueError(f"{name}: {item} {int(np.argmin(finite))} contains NaN or infinite values")


class _Stateless(TransformerMixin, BaseEstimator):
    _input_name = "images"  # what error messages call the input (the feature's registry name)

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> _Stateless:
        """Nothing to learn; checks the input and returns ``self``."""
        check_images(X, name=self._input_name)
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

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    _input_name = "pixels"

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = check_images(X, name=self._input_name)
        scale = 255.0 if X.dtype == np.uint8 else 1.0
        return (X.reshape(X.shape[0], -1).astype(np.float32) / np.float32(scale))
