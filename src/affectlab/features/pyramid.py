"""Spatial pyramid histograms of per-pixel codes (SPM), shared by LBP, LPQ and PHOG.

Level ``l`` splits each image into a ``2**l x 2**l`` grid of cells (grids 1, 2, 4, 8... for
``levels`` = 1, 2, 3, 4...); every cell gets an ``n_bins`` histogram of the codes in it. The output
concatenates level 0 (whole image), then level 1 cells in row-major order, and so on, so its size
is ``n_bins * sum(g * g)``: e.g. 4 levels of 59-bin LBP give 59 x 85 = 5015 values.

Cell ``(i, j)`` of a ``g x g`` grid holds rows ``r`` with ``r * g // H == i`` and columns ``c`` with
``c * g // W == j`` (cells differ by at most one pixel when ``g`` does not divide the size), so the
cells of a finer power-of-two grid nest exactly in those of a coarser one.

Examples
--------
>>> import numpy as np
>>> codes = np.array([[[0, 1], [1, 1]]])
>>> spatial_pyramid_histograms(codes, 2, levels=2, normalize=None).tolist()
[[1.0, 3.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from affectlab.checks import is_integer

__all__ = ["pyramid_grids", "pyramid_size", "cell_histograms", "spatial_pyramid_histograms", "NORMALIZE"]

NORMALIZE = ("l1", "none")
"""Accepted ``normalize`` values: ``"l1"`` (each cell sums to 1) or ``"none"`` (raw counts)."""


def pyramid_grids(levels: int) -> tuple[int, ...]:
    """The grid sizes ``(1, 2, 4, ...)`` of a pyramid with ``levels`` levels.

    Examples
    --------
    >>> pyramid_grids(4)
    (1, 2, 4, 8)
    """
    if not is_integer(levels) or levels < 1:
        raise ValueError(f"levels must be a positive integer, got {levels!r}")
    return tuple(2**level for level in range(int(levels)))


def pyramid_size(n_bins: int, levels: int) -> int:
    """Length of the pyramid descriptor: ``n_bins * sum(g * g)``.

    Examples
    --------
    >>> pyramid_size(59, 4)
    5015
    """
    return int(n_bins) * sum(g * g for g in pyramid_grids(levels))


def _check_codes(codes: np.ndarray, n_bins: int, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    codes = np.asarray(codes)
    if codes.ndim != 3:
        raise ValueError(f"codes: expected per-pixel codes (N, H, W), got shape {codes.shape}")
    if codes.dtype.kind not in "ui":
        raise ValueError(f"codes: expected integer codes, got dtype {codes.dtype}")
    if codes.size == 0:
        raise ValueError(f"codes: empty array of shape {codes.shape}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be positive, got {n_bins}")
    lo, hi = int(codes.min()), int(codes.max())
    if lo < 0 or hi >= n_bins:
        raise ValueError(f"codes: values must lie in [0, {n_bins - 1}], found [{lo}, {hi}]")
    if weights is not None:
        weights = np.asarray(weights)
        if weights.shape != codes.shape:
            raise ValueError(f"weights: expected shape {codes.shape}, got {weights.shape}")
    return codes, weights


def _check_grid(grid: int | tuple[int, int], h: int, w: int) -> tuple[int, int]:
    gr, gc = (grid, grid) if isinstance(grid, int | np.integer) else grid
    gr, gc = int(gr), int(gc)
    if not (1 <= gr <= h and 1 <= gc <= w):
        raise ValueError(f"a {gr}x{gc} grid does not fit images of {h}x{w}")
    return gr, gc


def _chunks(n: int, per_image: int, target: int = 1 << 18) -> list[slice]:
    """Slices of the batch with about ``target`` values each: temporaries stay small and cached."""
    step = max(1, target // max(per_image, 1))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _cell_counts(codes: np.ndarray, weights: np.ndarray | None, n_bins: int, gr: int, gc: int) -> np.ndarray:
    """One bincount over a chunk: ``(m, gr, gc, n_bins)`` float64 (no checks)."""
    m, h, w = codes.shape
    row_cell = np.arange(h) * gr // h
    col_cell = np.arange(w) * gc // w
    first_bin = (row_cell[:, None] * gc + col_cell[None, :]) * n_bins  # (H, W): first bin of each pixel's cell
    per_image = gr * gc * n_bins
    index = (np.arange(m)[:, None, None] * per_image + first_bin) + codes
    votes = None if weights is None else weights.reshape(-1)
    counts = np.bincount(index.reshape(-1), weights=votes, minlength=m * per_image)
    return counts.reshape(m, gr, gc, n_bins).astype(np.float64, copy=False)


def cell_histograms(
    codes: np.ndarray, n_bins: int, grid: int | tuple[int, int], *, weights: np.ndarray | None = None
) -> np.ndarray:
    """Histograms of ``codes`` in each cell of a ``grid`` (unnormalised counts or summed weights).

    Parameters
    ----------
    codes
        ``(N, H, W)`` integer codes in ``[0, n_bins)``.
    n_bins
        Number of histogram bins.
    grid
        Cells per side (``g`` or ``(rows, cols)``); each must not exceed the image size.
    weights
        Optional ``(N, H, W)`` vote of each pixel (default 1).

    Returns
    -------
    numpy.ndarray
        ``(N, rows, cols, n_bins)`` float64.

    Examples
    --------
    >>> cell_histograms(np.array([[[0, 1], [1, 1]]]), 2, 1)[0, 0, 0].tolist()
    [1.0, 3.0]
    """
    codes, weights = _check_codes(codes, n_bins, weights)
    n, h, w = codes.shape
    gr, gc = _check_grid(grid, h, w)
    out = np.empty((n, gr, gc, n_bins))
    for part in _chunks(n, max(h * w, gr * gc * n_bins)):
        out[part] = _cell_counts(codes[part], None if weights is None else weights[part], n_bins, gr, gc)
    return out


def spatial_pyramid_histograms(
    codes: np.ndarray,
    n_bins: int,
    *,
    levels: int = 3,
    weights: np.ndarray | None = None,
    normalize: str | None = "l1",
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """Concatenated per-cell histograms of ``codes`` over grids 1, 2, 4, ... (``levels`` of them).

    One :func:`numpy.bincount` builds the finest grid; coarser grids are sums of its nested cells.

    Parameters
    ----------
    codes
        ``(N, H, W)`` integer codes in ``[0, n_bins)``.
    n_bins
        Number of histogram bins.
    levels
        Number of pyramid levels (grids ``2**0 .. 2**(levels-1)``); the finest grid must fit the image.
    weights
        Optional ``(N, H, W)`` vote of each pixel (e.g. gradient magnitude); default 1.
    normalize
        ``"l1"``: each cell's histogram sums to 1 (empty cells stay 0); ``"none"`` or ``None``: raw sums.
    dtype
        Floating type of the result (float32 halves the memory of large pyramids).

    Returns
    -------
    numpy.ndarray
        ``(N, n_bins * sum(g * g))`` of ``dtype``, level 0 first, cells row-major within a level.

    Examples
    --------
    >>> codes = np.zeros((2, 8, 8), np.uint8)
    >>> spatial_pyramid_histograms(codes, 59, levels=4).shape
    (2, 5015)
    """
    norm = "none" if normalize is None else str(normalize).lower()
    if norm not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE} or None, got {normalize!r}")
    grids = pyramid_grids(levels)
    codes, weights = _check_codes(codes, n_bins, weights)
    n, h, w = codes.shape
    _check_grid(grids[-1], h, w)
    cells = sum(g * g for g in grids)
    starts = np.cumsum([0] + [g * g * n_bins for g in grids])
    pixels = np.concatenate([  # pixels per cell, level by level: the totals of unweighted cells
        np.outer(np.bincount(np.arange(h) * g // h), np.bincount(np.arange(w) * g // w)).ravel() for g in grids
    ])
    out = np.empty((n, cells * n_bins), dtype=dtype)
    if out.dtype.kind != "f":
        raise ValueError(f"dtype must be a floating type, got {out.dtype}")
    for part in _chunks(n, max(h * w, cells * n_bins)):
        chunk = out[part]
        m = chunk.shape[0]

        def level(i: int) -> np.ndarray:  # (m, g, g, n_bins) view of level i of this chunk
            g = grids[i]
            return chunk[:, starts[i] : starts[i + 1]].reshape(m, g, g, n_bins)  # noqa: B023

        level(len(grids) - 1)[...] = _cell_counts(
            codes[part], None if weights is None else weights[part], n_bins, grids[-1], grids[-1]
        )
        for i in range(len(grids) - 2, -1, -1):  # each cell sums the 2x2 finer cells nested in it
            finer = level(i + 1).reshape(m, grids[i], 2, grids[i], 2, n_bins)
            coarse = level(i)
            np.add(finer[:, :, 0, :, 0], finer[:, :, 0, :, 1], out=coarse)
            coarse += finer[:, :, 1, :, 0]
            coarse += finer[:, :, 1, :, 1]
        if norm == "l1":
            by_cell = chunk.reshape(m, cells, n_bins)
            if weights is None:
                by_cell *= (1.0 / pixels)[:, None].astype(out.dtype)
            else:
                total = by_cell.sum(axis=-1, keepdims=True)
                np.divide(by_cell, total, out=by_cell, where=total > 0)
    return out
