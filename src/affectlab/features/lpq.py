"""Local phase quantisation (LPQ; Ojansivu & Heikkilä, ICISP 2008) and its spatial pyramids.

At every pixel, a short-term Fourier transform over the ``M x M`` neighbourhood (uniform window)
is taken at the four frequencies ``[a, 0]``, ``[0, a]``, ``[a, a]``, ``[a, -a]`` with ``a = 1/M``;
the real and imaginary parts give 8 numbers, which are decorrelated (whitened under a model where
pixels at distance ``d`` correlate as ``rho**d``) and sign-quantised into an 8-bit code 0..255.
This follows the authors' reference Matlab code ``lpq.m`` (``conv2`` with the filters
``w0 = 1``, ``w1 = exp(-2 pi i a x)``, ``w2 = conj(w1)``, ``'valid'`` region, bit ``k`` set when
response ``k`` > 0), vectorised over a batch with separable OpenCV filters. The phase at these low
frequencies is unchanged by centrally symmetric blur, hence LPQ's blur insensitivity.

Note: a singular vector is only defined up to sign; columns of the whitening matrix are made to
have their largest entry positive, which may flip some bits relative to another SVD routine.

Examples
--------
>>> import numpy as np
>>> images = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
>>> lpq_codes(images).shape
(2, 42, 42)
>>> LPQFeatures(levels=2).fit_transform(images).shape
(2, 1280)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import DTypeLike
from threadpoolctl import threadpool_limits

from affectlab.checks import is_integer
from affectlab.features.basic import _Stateless, check_images
from affectlab.features.pyramid import pyramid_grids, spatial_pyramid_histograms
from affectlab.features.registry import register_feature

__all__ = ["lpq_filters", "lpq_whitening_matrix", "lpq_codes", "lpq_histograms", "LPQFeatures", "LPQ_BINS"]

LPQ_BINS = 256


def _check_window(win_size: int) -> int:
    if not is_integer(win_size) or win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"lpq: win_size must be an odd integer >= 3, got {win_size!r}")
    return int(win_size)


def lpq_filters(win_size: int = 7) -> np.ndarray:
    """The four complex 2-D STFT filters of ``lpq.m`` (to be applied by convolution).

    Returns
    -------
    numpy.ndarray
        ``(4, M, M)`` complex128: ``w0' * w1``, ``w1' * w0``, ``w1' * w1``, ``w1' * w2`` with
        ``w0 = 1``, ``w1(x) = exp(-2 pi i x / M)``, ``w2 = conj(w1)``, ``x = -r..r``; axis 1 is
        the row (vertical) offset, axis 2 the column offset.

    Examples
    --------
    >>> f = lpq_filters(3)
    >>> f.shape, bool(np.allclose(f[0, 0], f[0, 2]))  # [a, 0]: constant down the columns
    ((4, 3, 3), True)
    """
    M = _check_window(win_size)
    x = np.arange(M) - (M - 1) / 2
    w0 = np.ones(M, dtype=np.complex128)
    w1 = np.exp(-2j * np.pi * x / M)
    w2 = np.conj(w1)
    return np.stack([np.outer(w0, w1), np.outer(w1, w0), np.outer(w1, w1), np.outer(w1, w2)])


@lru_cache(maxsize=16)
def _whitening(M: int, rho: float) -> np.ndarray:
    filters = lpq_filters(M)
    # rows: Re and Im of each filter, flattened (the matrix M of lpq.m)
    operator = np.stack([part for f in filters for part in (f.real.ravel(), f.imag.ravel())])
    rr, cc = np.meshgrid(np.arange(M), np.arange(M), indexing="ij")
    points = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.float64)
    distance = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1))
    covariance = operator @ (rho**distance) @ operator.T
    almost_unit = np.diag([1.000007, 1.000006, 1.000005, 1.000004, 1.000003, 1.000002, 1.000001, 1.0])
    _, _, vt = np.linalg.svd(almost_unit @ covariance @ almost_unit)  # avoids repeated singular values
    v = vt.T
    v *= np.where(v[np.abs(v).argmax(axis=0), np.arange(8)] < 0, -1.0, 1.0)  # deterministic signs
    v.setflags(write=False)
    return v


def lpq_whitening_matrix(win_size: int = 7, rho: float = 0.9) -> np.ndarray:
    """The 8x8 orthogonal matrix ``V`` of ``lpq.m``; decorrelated responses are ``V.T @ f``.

    ``f`` stacks ``[Re F1, Im F1, ..., Re F4, Im F4]``; ``V`` holds the right singular vectors of
    ``A D A``, with ``D`` the covariance of ``f`` when pixel values correlate as ``rho**distance``
    and ``A`` an almost-unit diagonal that separates equal singular values, as in ``lpq.m``.

    Examples
    --------
    >>> V = lpq_whitening_matrix(7)
    >>> V.shape, bool(np.allclose(V.T @ V, np.eye(8)))
    ((8, 8), True)
    """
    M = _check_window(win_size)
    if not 0 < float(rho) < 1:
        raise ValueError(f"lpq: rho must lie in (0, 1), got {rho!r}")
    return _whitening(M, float(rho)).copy()


def _responses(images: np.ndarray, M: int) -> np.ndarray:
    """The 8 STFT responses ``(8, N, H - M + 1, W - M + 1)`` (``conv2(..., 'valid')`` of ``lpq.m``)."""
    import cv2

    n, h, w = images.shape
    r = (M - 1) // 2
    y = np.arange(-r, r + 1)
    cos = np.cos(2 * np.pi * y / M)
    sin = np.sin(2 * np.pi * y / M)
    ones = np.ones(M)
    # conv2 with w1 = exp(-2 pi i a x) is a correlation with exp(+2 pi i a x) = cos + i sin.
    tall = images.astype(np.float64).reshape(n * h, w)  # the batch as one tall image: vertical

    def vertical(kernel: np.ndarray) -> np.ndarray:  # filtering mixes images only in cropped rows
        out = cv2.filter2D(tall, cv2.CV_64F, kernel.reshape(M, 1), borderType=cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(out.reshape(n, h, w)[:, r : h - r]).reshape(-1, w)

    def horizontal(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        out = cv2.filter2D(x, cv2.CV_64F, kernel.reshape(1, M), borderType=cv2.BORDER_REPLICATE)
        return out[:, r : w - r]

    col_sum, col_cos, col_sin = vertical(ones), vertical(cos), vertical(sin)
    cc, ss = horizontal(col_cos, cos), horizontal(col_sin, sin)
    cs, sc = horizontal(col_cos, sin), horizontal(col_sin, cos)
    stack = np.stack([
        horizontal(col_sum, cos),  # Re F[a, 0]
        horizontal(col_sum, sin),  # Im F[a, 0]
        horizontal(col_cos, ones),  # Re F[0, a]
        horizontal(col_sin, ones),  # Im F[0, a]
        cc - ss,  # Re F[a, a]
        cs + sc,  # Im F[a, a]
        cc + ss,  # Re F[a, -a]   (w1' * w2)
        sc - cs,  # Im F[a, -a]
    ])
    return stack.reshape(8, n, h - 2 * r, w - 2 * r)


def lpq_codes(images: np.ndarray, *, win_size: int = 7, decorrelate: bool = True, rho: float = 0.9) -> np.ndarray:
    """LPQ code of every pixel with a full ``win_size`` neighbourhood.

    Parameters
    ----------
    images
        ``(N, H, W)`` gray images, at least ``win_size`` pixels a side.
    win_size
        Odd local window size ``M``; the frequencies use ``a = 1/M``.
    decorrelate
        Whiten the 8 responses with :func:`lpq_whitening_matrix` before quantising.
    rho
        Correlation coefficient of neighbouring pixels in the whitening model.

    Returns
    -------
    numpy.ndarray
        ``(N, H - M + 1, W - M + 1)`` uint8 codes; bit ``k`` is set when response ``k`` > 0.

    Examples
    --------
    >>> lpq_codes(np.zeros((1, 9, 9), np.uint8), decorrelate=False).shape
    (1, 3, 3)
    """
    M = _check_window(win_size)
    images = check_images(images, name="lpq", min_size=(M, M))
    out = np.empty((images.shape[0], images.shape[1] - M + 1, images.shape[2] - M + 1), dtype=np.uint8)
    step = max(1, (1 << 16) // (images.shape[1] * images.shape[2]))  # chunks that stay in cache
    transform = lpq_whitening_matrix(M, rho).T if decorrelate else None
    # The 8x8 products are tiny: threaded BLAS only adds contention on a busy machine.
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, images.shape[0], step):
            f = _responses(images[start : start + step], M)
            if transform is not None:
                f = (transform @ f.reshape(8, -1)).reshape(f.shape)
            code = np.zeros(f.shape[1:], dtype=np.uint8)
            for k in range(8):
                code |= (f[k] > 0).view(np.uint8) << np.uint8(k)
            out[start : start + step] = code
    return out


def lpq_histograms(
    images: np.ndarray,
    *,
    win_size: int = 7,
    decorrelate: bool = True,
    rho: float = 0.9,
    levels: int = 4,
    normalize: str | None = "l1",
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """Spatial pyramid of 256-bin LPQ histograms (grids 1, 2, 4, ... over the code image).

    Parameters
    ----------
    images
        ``(N, H, W)`` gray images.
    win_size, decorrelate, rho
        See :func:`lpq_codes`.
    levels
        Pyramid levels (4: grids 1, 2, 4, 8 and ``256 * 85 = 21760`` values; the 8x8 grid
        is the most accurate on 48x48 CK+ faces).
    normalize
        ``"l1"`` (each cell sums to 1) or ``"none"``.
    dtype
        Floating type of the result.

    Returns
    -------
    numpy.ndarray
        ``(N, 256 * sum(g * g))`` of ``dtype``.

    Examples
    --------
    >>> lpq_histograms(np.zeros((2, 20, 20), np.uint8), levels=1).shape
    (2, 256)
    """
    M = _check_window(win_size)
    images = check_images(images, name="lpq", min_size=(M, M))
    finest = pyramid_grids(levels)[-1]
    if images.shape[1] - M + 1 < finest or images.shape[2] - M + 1 < finest:
        raise ValueError(
            f"lpq: images of {images.shape[1]}x{images.shape[2]} leave fewer codes than the {finest}x{finest} grid"
        )
    codes = lpq_codes(images, win_size=M, decorrelate=decorrelate, rho=rho)
    return spatial_pyramid_histograms(codes, LPQ_BINS, levels=levels, normalize=normalize, dtype=dtype)


@register_feature("lpq")
class LPQFeatures(_Stateless):
    """LPQ histograms over a spatial pyramid: ``(N, H, W)`` -> ``(N, 256 * 85)`` float32 by default.

    Parameters
    ----------
    win_size
        Odd local window size (7).
    decorrelate
        Whiten the STFT coefficients before quantisation.
    rho
        Pixel correlation of the whitening model.
    levels
        Pyramid levels (grids 1, 2, 4, 8 for 4).
    normalize
        ``"l1"`` per cell or ``"none"``.

    Examples
    --------
    >>> LPQFeatures(levels=1).fit_transform(np.zeros((2, 16, 16), np.uint8)).shape
    (2, 256)
    """

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    _input_name = "lpq"

    def __init__(
        self,
        win_size: int = 7,
        decorrelate: bool = True,
        rho: float = 0.9,
        levels: int = 4,
        normalize: str | None = "l1",
    ) -> None:
        self.win_size = win_size
        self.decorrelate = decorrelate
        self.rho = rho
        self.levels = levels
        self.normalize = normalize

    def transform(self, X: np.ndarray) -> np.ndarray:
        return lpq_histograms(X, win_size=self.win_size, decorrelate=self.decorrelate, rho=self.rho,
                              levels=self.levels, normalize=self.normalize, dtype=np.float32)
