"""Histograms of oriented gradients (HOG) and their pyramid form (PHOG), vectorised over a batch.

:func:`hog_descriptors` follows scikit-image's ``skimage.feature.hog`` for gray images: central
differences (zero on the border), unsigned orientations in ``[0, 180)`` hard-assigned to
``orientations`` bins, magnitudes summed per cell and divided by the cell area, cells tiling the
top-left ``(H // ch * ch, W // cw * cw)`` pixels, overlapping blocks (stride one cell) normalised
with ``L1``, ``L1-sqrt``, ``L2`` or ``L2-Hys`` (eps 1e-5), flattened block by block. It agrees with
scikit-image to about float32 precision and is much faster on batches.

:func:`phog_descriptors` is the pyramid of histograms of orientation gradients of Bosch, Zisserman
& Munoz (CIVR 2007): orientation histograms of edge pixels (Canny), weighted by gradient
magnitude, over grids 1, 2, 4, 8, concatenated and normalised to sum 1.

Examples
--------
>>> import numpy as np
>>> images = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
>>> hog_descriptors(images, orientations=9, pixels_per_cell=8, cells_per_block=2).shape
(2, 900)
>>> phog_descriptors(images).shape
(2, 680)
"""

from __future__ import annotations

import numpy as np

from affectlab.checks import is_integer
from affectlab.features.basic import _Stateless, check_images
from affectlab.features.pyramid import pyramid_grids, spatial_pyramid_histograms
from affectlab.features.registry import register_feature

__all__ = [
    "hog_cell_histograms",
    "hog_normalize_blocks",
    "hog_descriptors",
    "phog_descriptors",
    "HOGFeatures",
    "PHOGFeatures",
    "BLOCK_NORMS",
]

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
_NEAR_EDGE = 1e-4  # in bin units: float32 angles this close to a bin edge are redone in float64


def _pair(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    if is_integer(value):
        pair = (int(value), int(value))
    else:
        try:
            pair = tuple(int(v) for v in value)  # type: ignore[union-attr]
        except TypeError:
            raise ValueError(f"hog: {name} must be an int or a pair, got {value!r}") from None
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"hog: {name} must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


def _gradients(images: np.ndarray, transform_sqrt: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Central differences along rows and columns, zero on the border: ``(g_row, g_col)``."""
    # scikit-image works in float32 for float32/float16 images and in float64 otherwise; small
    # integers are exact in float32 too, unless their square roots are taken.
    small_int = images.dtype.kind in "ui" and images.dtype.itemsize <= 2 and not transform_sqrt
    dtype = np.float32 if small_int or images.dtype in (np.float32, np.float16) else np.float64
    x = images.astype(dtype, copy=False)
    if transform_sqrt:
        x = np.sqrt(x)
    g_row = np.zeros(x.shape, dtype)
    g_col = np.zeros(x.shape, dtype)
    np.subtract(x[:, 2:, :], x[:, :-2, :], out=g_row[:, 1:-1, :])
    np.subtract(x[:, :, 2:], x[:, :, :-2], out=g_col[:, :, 1:-1])
    return g_row, g_col


def _unsigned_orientation_bins(g_row: np.ndarray, g_col: np.ndarray, n: int) -> np.ndarray:
    """Orientation bin of each gradient exactly as scikit-image assigns it; ``n`` marks a dropped vote.

    scikit-image bins ``rad2deg(arctan2(g_row, g_col)) % 180`` (float64) against the float32 edges
    ``k * float32(180 / n)``. Here the angle is computed in float32, in bin units shifted to be
    positive; horizontal gradients (exactly 0 degrees) go to bin 0, and the few other votes within
    ``_NEAR_EDGE`` of an edge are redone with scikit-image's float64 arithmetic.
    """
    position = np.arctan2(g_row, g_col, dtype=np.float32)
    position *= np.float32(n / np.pi)
    position += np.float32(n)  # [0, 2n]: the angle + 180 degrees, in bins
    bins = position.astype(np.int16)
    bins %= n
    distance = position - np.rint(position)
    near = np.abs(distance, out=distance) < _NEAR_EDGE
    horizontal = g_row == 0
    bins[horizontal] = 0
    near &= ~horizontal
    if near.any():
        exact = np.rad2deg(np.arctan2(g_row[near].astype(np.float64), g_col[near].astype(np.float64))) % 180
        edges = (np.float32(180.0 / n) * np.arange(n + 1, dtype=np.float32)).astype(np.float64)  # C float products
        bins[near] = np.searchsorted(edges, exact, side="right") - 1  # n: beyond the last edge, dropped
    return bins


def _cell_sums(images: np.ndarray, n: int, ch: int, cw: int, rows: int, cols: int, transform_sqrt: bool) -> np.ndarray:
    """Summed gradient magnitudes ``(N, rows, cols, n)`` of one chunk of images."""
    g_row, g_col = _gradients(images, transform_sqrt)
    g_row, g_col = g_row[:, : rows * ch, : cols * cw], g_col[:, : rows * ch, : cols * cw]
    magnitude = np.hypot(g_row, g_col) if g_row.dtype == np.float64 else np.sqrt(g_row * g_row + g_col * g_col)
    bins = _unsigned_orientation_bins(g_row, g_col, n)
    count = images.shape[0]
    cell = ((np.arange(rows * ch) // ch)[:, None] * cols + (np.arange(cols * cw) // cw)[None, :]) * (n + 1)
    first = (np.arange(count) * (rows * cols * (n + 1)))[:, None, None]
    index = np.add(first, cell)
    index += bins  # slot n of each cell collects the dropped votes
    hist = np.bincount(index.ravel(), weights=magnitude.ravel(), minlength=count * rows * cols * (n + 1))
    return hist.reshape(count, rows, cols, n + 1)[..., :n]


def hog_cell_histograms(
    images: np.ndarray,
    *,
    orientations: int = 9,
    pixels_per_cell: int | tuple[int, int] = 8,
    transform_sqrt: bool = False,
) -> np.ndarray:
    """Per-cell histograms of unsigned gradient orientations, weighted by magnitude.

    Parameters
    ----------
    images
        ``(N, H, W)`` gray images.
    orientations
        Number of bins over ``[0, 180)`` degrees.
    pixels_per_cell
        Cell size (``c`` or ``(rows, cols)``); pixels beyond the last full cell are ignored.
    transform_sqrt
        Take the square root of the image first (power-law compression).

    Returns
    -------
    numpy.ndarray
        ``(N, H // ch, W // cw, orientations)`` float64: summed magnitudes / cell area.

    Examples
    --------
    >>> ramp = np.tile(np.arange(16, dtype=np.uint8) * 10, (1, 16, 1))  # gradient along columns
    >>> h = hog_cell_histograms(ramp, pixels_per_cell=8)
    >>> h.shape, bool(h[0, 0, 0, 0] > 0), float(h[0, 0, 0, 1:].sum())
    ((1, 2, 2, 9), True, 0.0)
    """
    ch, cw = _pair(pixels_per_cell, "pixels_per_cell")
    images = check_images(images, name="hog", min_size=(ch, cw))
    n = int(orientations)
    if n < 1:
        raise ValueError(f"hog: orientations must be a positive integer, got {orientations!r}")
    count, h, w = images.shape
    rows, cols = h // ch, w // cw
    hist = np.empty((count, rows, cols, n))
    step = max(1, (1 << 16) // (h * w))  # chunks of ~64k pixels keep the temporaries in cache
    for start in range(0, count, step):
        part = slice(start, start + step)
        hist[part] = _cell_sums(images[part], n, ch, cw, rows, cols, transform_sqrt)
    return hist / (ch * cw)


def hog_normalize_blocks(
    cells: np.ndarray, *, cells_per_block: int | tuple[int, int] = 2, block_norm: str = "L2-Hys"
) -> np.ndarray:
    """Group cell histograms into overlapping blocks and normalise each block.

    Parameters
    ----------
    cells
        ``(N, rows, cols, orientations)`` cell histograms (:func:`hog_cell_histograms`).
    cells_per_block
        Block size in cells (``b`` or ``(rows, cols)``); blocks move by one cell.
    block_norm
        One of :data:`BLOCK_NORMS`.

    Returns
    -------
    numpy.ndarray
        ``(N, rows - br + 1, cols - bc + 1, br, bc, orientations)`` float64.

    Examples
    --------
    >>> hog_normalize_blocks(np.ones((1, 3, 3, 4)), cells_per_block=2).shape
    (1, 2, 2, 2, 2, 4)
    """
    br, bc = _pair(cells_per_block, "cells_per_block")
    if block_norm not in BLOCK_NORMS:
        raise ValueError(f"hog: block_norm must be one of {BLOCK_NORMS}, got {block_norm!r}")
    cells = np.asarray(cells, dtype=np.float64)
    if cells.ndim != 4 or cells.shape[1] < br or cells.shape[2] < bc:
        raise ValueError(f"hog: cannot make {br}x{bc}-cell blocks from cell histograms of shape {cells.shape}")
    windows = np.lib.stride_tricks.sliding_window_view(cells, (br, bc), axis=(1, 2))  # (N, R, C, n, br, bc)
    blocks = np.ascontiguousarray(np.moveaxis(windows, 3, -1))  # (N, R, C, br, bc, n)
    axes = (3, 4, 5)
    eps = 1e-5
    if block_norm in ("L1", "L1-sqrt"):
        out = blocks / (np.abs(blocks).sum(axis=axes, keepdims=True) + eps)
        return np.sqrt(out) if block_norm == "L1-sqrt" else out
    out = blocks / np.sqrt((blocks * blocks).sum(axis=axes, keepdims=True) + eps**2)
    if block_norm == "L2-Hys":
        np.minimum(out, 0.2, out=out)
        out /= np.sqrt((out * out).sum(axis=axes, keepdims=True) + eps**2)
    return out


def hog_descriptors(
    images: np.ndarray,
    *,
    orientations: int = 9,
    pixels_per_cell: int | tuple[int, int] = 8,
    cells_per_block: int | tuple[int, int] = 2,
    block_norm: str = "L2-Hys",
    transform_sqrt: bool = False,
) -> np.ndarray:
    """HOG descriptors of a batch, laid out as ``skimage.feature.hog(..., feature_vector=True)``.

    Parameters
    ----------
    images
        ``(N, H, W)`` gray images, at least one block in size.
    orientations, pixels_per_cell, cells_per_block, block_norm, transform_sqrt
        As in scikit-image (note the block default here is 2x2 cells, scikit-image's is 3x3).

    Returns
    -------
    numpy.ndarray
        ``(N, n_blocks_row * n_blocks_col * br * bc * orientations)`` float64.

    Examples
    --------
    >>> hog_descriptors(np.zeros((1, 64, 128), np.uint8)).shape  # 7 x 15 blocks of 2 x 2 x 9
    (1, 3780)
    """
    ch, cw = _pair(pixels_per_cell, "pixels_per_cell")
    br, bc = _pair(cells_per_block, "cells_per_block")
    images = check_images(images, name="hog")
    if images.shape[1] < ch * br or images.shape[2] < cw * bc:
        raise ValueError(
            f"hog: images of {images.shape[1]}x{images.shape[2]} are smaller than one block"
            f" ({br}x{bc} cells of {ch}x{cw} pixels)"
        )
    cells = hog_cell_histograms(
        images, orientations=orientations, pixels_per_cell=(ch, cw), transform_sqrt=transform_sqrt
    )
    blocks = hog_normalize_blocks(cells, cells_per_block=(br, bc), block_norm=block_norm)
    return blocks.reshape(images.shape[0], -1)


@register_feature("hog")
class HOGFeatures(_Stateless):
    """Histograms of oriented gradients per image (:func:`hog_descriptors`), float32.

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
    transform_sqrt
        Square-root (gamma) compression of the image first.

    Examples
    --------
    >>> HOGFeatures(pixels_per_cell=8).transform(np.zeros((2, 48, 48), np.uint8)).shape
    (2, 900)
    """

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    _input_name = "hog"

    def __init__(
        self,
        orientations: int = 9,
        pixels_per_cell: int | tuple[int, int] = 8,
        cells_per_block: int | tuple[int, int] = 2,
        block_norm: str = "L2-Hys",
        transform_sqrt: bool = False,
    ) -> None:
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.transform_sqrt = transform_sqrt

    def transform(self, X: np.ndarray) -> np.ndarray:
        out = hog_descriptors(
            X,
            orientations=self.orientations,
            pixels_per_cell=self.pixels_per_cell,
            cells_per_block=self.cells_per_block,
            block_norm=self.block_norm,
            transform_sqrt=self.transform_sqrt,
        )
        return out.astype(np.float32)


# --- PHOG ---------------------------------------------------------------------------------------


def _canny_masks(g_row: np.ndarray, g_col: np.ndarray, magnitude: np.ndarray,
                 high_quantile: float = 0.7, low_ratio: float = 0.4) -> np.ndarray:
    """Canny edge masks ``(N, H, W)`` bool from precomputed derivatives (OpenCV, one call per image).

    Thresholds follow Matlab's ``edge(I, 'canny')``: the high one leaves ``high_quantile`` of the
    pixels below it (but is at least 1/64 of the largest magnitude, as Matlab's 64-bin histogram
    makes it), the low one is ``low_ratio`` times the high one. Derivatives are scaled per
    image to int16 for OpenCV, so an image's mask does not depend on the rest of the batch.
    """
    import cv2

    n = len(magnitude)
    peak = np.maximum(np.abs(g_row).reshape(n, -1).max(axis=1), np.abs(g_col).reshape(n, -1).max(axis=1))
    scale = np.where(peak > 0, 16384.0 / np.maximum(peak, 1e-30), 0.0)[:, None, None]
    dx = np.rint(g_col * scale).astype(np.int16)
    dy = np.rint(g_row * scale).astype(np.int16)
    flat = magnitude.reshape(n, -1)
    high = np.maximum(np.quantile(flat, high_quantile, axis=1), flat.max(axis=1) / 64) * scale[:, 0, 0]
    masks = np.zeros(magnitude.shape, dtype=bool)
    for i in np.flatnonzero(high > 0):
        hi = float(high[i])
        masks[i] = cv2.Canny(dx[i], dy[i], low_ratio * hi, hi, L2gradient=True) > 0
    return masks


def _smoothed_sobel(images: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """3x3 Sobel derivatives ``(g_row, g_col)`` of the Gaussian-smoothed images (float32).

    The batch goes through OpenCV as one tall image; each image gets its own replicated margin,
    wider than the filters reach, so images never mix and results do not depend on the batch.
    """
    import cv2

    n, h, w = images.shape
    radius = int(np.ceil(3 * sigma)) if sigma > 0 else 0
    margin = radius + 1
    tall = np.pad(images.astype(np.float32), ((0, 0), (margin, margin), (0, 0)), mode="edge").reshape(-1, w)
    if radius:
        tall = cv2.GaussianBlur(tall, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_REPLICATE)
    g_col = cv2.Sobel(tall, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    g_row = cv2.Sobel(tall, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    crop = (slice(None), slice(margin, margin + h))
    return g_row.reshape(n, h + 2 * margin, w)[crop], g_col.reshape(n, h + 2 * margin, w)[crop]


def phog_descriptors(
    images: np.ndarray,
    *,
    bins: int = 8,
    angle: int = 360,
    levels: int = 4,
    edges: bool = True,
    sigma: float = 1.0,
    normalize: str | None = "global",
) -> np.ndarray:
    """Pyramid histograms of oriented gradients (PHOG, Bosch et al. 2007) of a batch.

    Gradients come from Sobel filters on the image smoothed with a Gaussian of ``sigma``; with
    ``edges=True`` only Canny edge pixels vote (Matlab-style automatic thresholds: 70 % of the
    pixels below the high one, low = 0.4 x high), each with its gradient magnitude.

    Parameters
    ----------
    images
        ``(N, H, W)`` gray images, at least ``2**(levels-1)`` pixels a side.
    bins
        Orientation bins over ``[0, angle)``.
    angle
        360 (signed gradient direction) or 180 (unsigned).
    levels
        Pyramid levels (grids 1, 2, 4, 8 for 4): ``bins * sum(g * g)`` values.
    edges
        Only Canny edge pixels vote; ``False``: every pixel votes with its magnitude.
    sigma
        Gaussian smoothing before the derivatives (0: none).
    normalize
        ``"global"``: the whole descriptor sums to 1 (as Bosch et al.); ``"l1"``: each cell sums
        to 1; ``"none"``: summed magnitudes.

    Returns
    -------
    numpy.ndarray
        ``(N, bins * sum(g * g))`` float64.

    Examples
    --------
    >>> d = phog_descriptors(np.random.default_rng(1).integers(0, 256, (1, 32, 32)).astype(np.uint8), levels=3)
    >>> d.shape, round(float(d.sum()), 6)
    ((1, 168), 1.0)
    """
    images = check_images(images, name="phog")
    finest = pyramid_grids(levels)[-1]
    if images.shape[1] < max(finest, 3) or images.shape[2] < max(finest, 3):
        size = f"{images.shape[1]}x{images.shape[2]}"
        raise ValueError(f"phog: images of {size} are smaller than the {finest}x{finest} grid")
    if angle not in (180, 360):
        raise ValueError(f"phog: angle must be 180 or 360, got {angle!r}")
    if int(bins) < 1:
        raise ValueError(f"phog: bins must be a positive integer, got {bins!r}")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"phog: sigma must be >= 0, got {sigma!r}")
    norm = "none" if normalize is None else str(normalize).lower()
    if norm not in ("global", "l1", "none"):
        raise ValueError(f"phog: normalize must be 'global', 'l1' or 'none', got {normalize!r}")
    n, h, w = images.shape
    out = np.empty((n, int(bins) * sum(g * g for g in pyramid_grids(levels))))
    step = max(1, (1 << 18) // (h * w))  # bounded temporaries for large batches
    for start in range(0, n, step):
        part = slice(start, start + step)
        out[part] = _phog(images[part], int(bins), angle, levels, edges, float(sigma), norm)
    return out


def _phog(images: np.ndarray, bins: int, angle: int, levels: int, edges: bool, sigma: float, norm: str) -> np.ndarray:
    g_row, g_col = _smoothed_sobel(images, sigma)
    magnitude = np.sqrt(g_row * g_row + g_col * g_col)
    direction = np.arctan2(g_row, g_col)  # (-pi, pi]
    if angle == 180:
        direction = np.where(direction < 0, direction + np.pi, direction)
        direction = np.where(direction >= np.pi, 0, direction)
    else:
        direction = direction + np.pi  # [0, 2 pi]
    codes = np.minimum((direction * (bins / np.deg2rad(angle))).astype(np.intp), bins - 1)
    weights = magnitude * _canny_masks(g_row, g_col, magnitude) if edges else magnitude
    hist = spatial_pyramid_histograms(codes, bins, levels=levels, weights=weights,
                                      normalize="l1" if norm == "l1" else None)
    if norm == "global":
        total = hist.sum(axis=1, keepdims=True)
        np.divide(hist, total, out=hist, where=total > 0)
    return hist


@register_feature("phog")
class PHOGFeatures(_Stateless):
    """PHOG descriptors (:func:`phog_descriptors`): ``(N, H, W)`` -> ``(N, bins * 85)`` float32 by default.

    Parameters
    ----------
    bins
        Orientation bins.
    angle
        360 (signed) or 180 (unsigned) degrees.
    levels
        Pyramid levels (grids 1, 2, 4, 8 for 4).
    edges
        Only Canny edge pixels vote.
    sigma
        Gaussian smoothing before the derivatives.
    normalize
        ``"global"``, ``"l1"`` (per cell) or ``"none"``.

    Examples
    --------
    >>> PHOGFeatures(levels=3).fit_transform(np.zeros((2, 32, 32), np.uint8)).shape
    (2, 168)
    """

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    _input_name = "phog"

    def __init__(
        self,
        bins: int = 8,
        angle: int = 360,
        levels: int = 4,
        edges: bool = True,
        sigma: float = 1.0,
        normalize: str | None = "global",
    ) -> None:
        self.bins = bins
        self.angle = angle
        self.levels = levels
        self.edges = edges
        self.sigma = sigma
        self.normalize = normalize

    def transform(self, X: np.ndarray) -> np.ndarray:
        out = phog_descriptors(X, bins=self.bins, angle=self.angle, levels=self.levels, edges=self.edges,
                               sigma=self.sigma, normalize=self.normalize)
        return out.astype(np.float32)
