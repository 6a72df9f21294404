"""Uniform local binary patterns (LBP, 59 codes for 8 neighbours) and their spatial pyramids.

:func:`lbp_codes` gives the same codes as scikit-image's
``local_binary_pattern(image, P, R, method="nri_uniform")`` (neighbours sampled on a circle with
bilinear interpolation, zeros outside the image, code 0 = no neighbour >= centre, codes
``1 .. P*(P-1)`` = uniform patterns by number of ones and rotation, ``P*(P-1)+1`` = all ones,
``P*(P-1)+2`` = every non-uniform pattern) but works on a whole batch at once with numpy.

Examples
--------
>>> import numpy as np
>>> images = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
>>> lbp_codes(images).shape, int(lbp_codes(images).max()) <= 58
((2, 48, 48), True)
>>> LBPFeatures().fit_transform(images).shape
(2, 5015)
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np
from numpy.typing import DTypeLike

from affectlab.checks import is_integer
from affectlab.features.basic import _Stateless, check_images
from affectlab.features.pyramid import pyramid_grids, spatial_pyramid_histograms
from affectlab.features.registry import register_feature

__all__ = ["lbp_codes", "lbp_histograms", "lbp_n_bins", "LBPFeatures"]

_MAX_LUT_P = 16  # patterns of up to 16 neighbours are mapped through a lookup table


def lbp_n_bins(P: int = 8) -> int:
    """Number of non-rotation-invariant uniform codes for ``P`` neighbours: ``P*(P-1)+3``.

    Examples
    --------
    >>> lbp_n_bins(8)
    59
    """
    return P * (P - 1) + 3


def _check_PR(P: int, R: float) -> tuple[int, float]:
    if not is_integer(P) or P < 1:
        raise ValueError(f"lbp: P (number of neighbours) must be a positive integer, got {P!r}")
    if not np.isfinite(R) or R <= 0:
        raise ValueError(f"lbp: R (radius) must be positive, got {R!r}")
    return int(P), float(np.float32(R))  # scikit-image takes R as a C float


def _uniform_codes_from_bits(bits: np.ndarray) -> np.ndarray:
    """Map thresholded neighbours ``(P, ...)`` bool to nri-uniform codes (scikit-image's numbering)."""
    P = bits.shape[0]
    b = bits.astype(np.int16)
    changes = np.abs(np.diff(b, axis=0)).sum(axis=0)  # 0-1 transitions along the (open) chain
    n_ones = b.sum(axis=0)
    first_one = np.argmax(bits, axis=0)
    first_zero = np.argmax(~bits, axis=0)
    rot_index = np.where(first_one == 0, n_ones - first_zero, P - first_one)
    code = 1 + (n_ones - 1) * P + rot_index
    code = np.where(n_ones == 0, 0, np.where(n_ones == P, P * (P - 1) + 1, code))
    return np.where(changes <= 2, code, P * (P - 1) + 2)


@lru_cache(maxsize=8)
def _lookup_table(P: int) -> np.ndarray:
    """Code of every P-bit pattern (bit ``i`` = neighbour ``i`` >= centre)."""
    patterns = np.arange(2**P, dtype=np.int64)
    bits = ((patterns[None, :] >> np.arange(P)[:, None]) & 1).astype(bool)
    table = _uniform_codes_from_bits(bits).astype(np.uint8 if P <= 16 else np.uint16)
    table.setflags(write=False)
    return table


def _neighbours(images: np.ndarray, P: int, R: float) -> Iterator[np.ndarray]:
    """Yield the ``P`` interpolated neighbour images ``(N, H, W)`` in scikit-image's order and arithmetic.

    scikit-image samples neighbour ``i`` at ``(r + rp[i], c + cp[i])`` as
    ``(1 - dr) * ((1 - dc) * tl + dc * tr) + dr * ((1 - dc) * bl + dc * br)`` in float64, with
    ``dr``, ``dc`` the fractional parts of the (rounded) coordinates. The same operations are done
    here on whole arrays, with per-row / per-column ``dr`` / ``dc`` vectors so that the rounding is
    identical; the column interpolation is shared by neighbours with the same ``cp``.
    """
    n, h, w = images.shape
    angles = 2 * np.pi * np.arange(P, dtype=np.float64) / P
    rp = np.round(-R * np.sin(angles), 5)
    cp = np.round(R * np.cos(angles), 5)
    pad = int(np.ceil(max(np.abs(rp).max(), np.abs(cp).max())))
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))  # zeros outside, as skimage's mode 'C'
    padded_f: np.ndarray | None = None
    rows = np.arange(h, dtype=np.float64)
    cols = np.arange(w, dtype=np.float64)
    by_column: dict[float, np.ndarray] = {}  # cp -> column-interpolated padded image (N, H + 2 pad, W)

    def frac(x: np.ndarray) -> tuple[int, int, np.ndarray]:  # floor offset, ceil offset, fractional part
        lo, hi = np.floor(x), np.ceil(x)
        step = np.arange(x.size)
        if (lo - step != lo[0]).any() or (hi - step != hi[0]).any():  # pragma: no cover - huge images only
            raise ValueError("lbp: image too large for exact neighbour offsets")
        return int(lo[0]), int(hi[0]), x - lo

    for i in range(P):
        r_lo, r_hi, dr = frac(rows + rp[i])
        c_lo, c_hi, dc = frac(cols + cp[i])
        if not dr.any() and not dc.any():
            yield padded[:, pad + r_lo : pad + r_lo + h, pad + c_lo : pad + c_lo + w]
            continue
        if padded_f is None:
            padded_f = padded.astype(np.float64)
        if not dc.any():
            columns = padded_f[:, :, pad + c_lo : pad + c_lo + w]
        elif cp[i] in by_column:
            columns = by_column[cp[i]]
        else:
            columns = (1 - dc) * padded_f[:, :, pad + c_lo : pad + c_lo + w]
            columns += dc * padded_f[:, :, pad + c_hi : pad + c_hi + w]
            by_column[cp[i]] = columns
        top = columns[:, pad + r_lo : pad + r_lo + h]
        if not dr.any():
            yield top
            continue
        dr = dr[:, None]
        out = (1 - dr) * top
        out += dr * columns[:, pad + r_hi : pad + r_hi + h]
        yield out


def lbp_codes(images: np.ndarray, *, P: int = 8, R: float = 1) -> np.ndarray:
    """Non-rotation-invariant uniform LBP code of every pixel of a batch.

    Parameters
    ----------
    images
        ``(N, H, W)`` gray images (integer dtypes recommended; floats are compared exactly).
    P
        Number of neighbours on the circle (59 codes for 8).
    R
        Radius of the circle in pixels.

    Returns
    -------
    numpy.ndarray
        ``(N, H, W)`` codes in ``[0, P*(P-1)+2]``, uint8 for ``P <= 16`` else uint16; equal to
        ``skimage.feature.local_binary_pattern(image, P, R, method="nri_uniform")`` per image.

    Examples
    --------
    >>> pit = np.array([[[9, 9, 9], [9, 1, 9], [9, 9, 9]]], np.uint8)  # all 8 neighbours >= centre
    >>> int(lbp_codes(pit)[0, 1, 1])
    57
    """
    images = check_images(images, name="lbp")
    P, R = _check_PR(P, R)
    out = np.empty(images.shape, dtype=np.uint8 if P <= 16 else np.uint16)
    for part in _chunks(images.shape[0], images.shape[1] * images.shape[2]):
        out[part] = _codes(images[part], P, R)
    return out


def _codes(images: np.ndarray, P: int, R: float) -> np.ndarray:
    center_f: np.ndarray | None = None

    def at_least(neighbour: np.ndarray) -> np.ndarray:  # neighbour >= centre, as skimage's float64 test
        nonlocal center_f
        if neighbour.dtype == images.dtype:
            return neighbour >= images
        if center_f is None:
            center_f = images.astype(np.float64)
        return neighbour >= center_f

    if P > _MAX_LUT_P:
        bits = np.stack([at_least(neighbour) for neighbour in _neighbours(images, P, R)])
        return _uniform_codes_from_bits(bits)
    code = np.zeros(images.shape, dtype=np.uint8 if P <= 8 else np.uint32)
    for i, neighbour in enumerate(_neighbours(images, P, R)):
        code |= at_least(neighbour).astype(code.dtype) << code.dtype.type(i)
    return _lookup_table(P)[code]


def _chunks(n: int, pixels_per_image: int, target: int = 1 << 16) -> list[slice]:
    """Batch slices of about ``target`` pixels, so that temporaries stay in cache."""
    step = max(1, target // max(pixels_per_image, 1))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def lbp_histograms(
    images: np.ndarray,
    *,
    P: int = 8,
    R: float = 1,
    levels: int = 4,
    normalize: str | None = "l1",
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """Spatial pyramid of uniform-LBP histograms (grids 1, 2, 4, ... with ``levels`` levels).

    Parameters
    ----------
    images
        ``(N, H, W)`` gray images.
    P, R
        Neighbours and radius (see :func:`lbp_codes`).
    levels
        Pyramid levels; 4 gives grids 1, 2, 4, 8 and ``59 * 85 = 5015`` values for ``P=8``.
    normalize
        ``"l1"`` (each cell sums to 1) or ``"none"``.
    dtype
        Floating type of the result.

    Returns
    -------
    numpy.ndarray
        ``(N, lbp_n_bins(P) * sum(g * g))`` of ``dtype``.

    Examples
    --------
    >>> lbp_histograms(np.zeros((3, 16, 16), np.uint8), levels=2).shape
    (3, 295)
    """
    images = check_images(images, name="lbp")
    finest = pyramid_grids(levels)[-1]
    if images.shape[1] < finest or images.shape[2] < finest:
        size = f"{images.shape[1]}x{images.shape[2]}"
        raise ValueError(f"lbp: images of {size} are smaller than the {finest}x{finest} grid")
    codes = lbp_codes(images, P=P, R=R)
    return spatial_pyramid_histograms(codes, lbp_n_bins(P), levels=levels, normalize=normalize, dtype=dtype)


@register_feature("lbp")
class LBPFeatures(_Stateless):
    """Uniform LBP histograms over a spatial pyramid: ``(N, H, W)`` -> ``(N, 59 * 85)`` float32 by default.

    Parameters
    ----------
    P
        Number of neighbours (59 codes for 8).
    R
        Radius in pixels.
    levels
        Pyramid levels (grids 1, 2, 4, 8 for 4).
    normalize
        ``"l1"`` per cell or ``"none"``.

    Examples
    --------
    >>> LBPFeatures(levels=1).fit_transform(np.zeros((2, 8, 8), np.uint8)).shape
    (2, 59)
    """

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    _input_name = "lbp"

    def __init__(self, P: int = 8, R: float = 1, levels: int = 4, normalize: str | None = "l1") -> None:
        self.P = P
        self.R = R
        self.levels = levels
        self.normalize = normalize

    def transform(self, X: np.ndarray) -> np.ndarray:
        return lbp_histograms(X, P=self.P, R=self.R, levels=self.levels, normalize=self.normalize, dtype=np.float32)
