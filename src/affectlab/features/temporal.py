"""Temporal descriptors of face sequences: LBP-TOP, LPQ-TOP, SIFT-TOP, SIFT-LBP and frame pooling.

A sequence is a gray volume ``(T, H, W)`` (frames of one aligned face); a batch is
``(N, T, H, W)``. Three Orthogonal Planes (TOP; Zhao & Pietikäinen, PAMI 2007): the XY planes
are the frames, the XT planes the rows of the volume seen over time (one image ``(T, W)`` per
row ``y``), the YT planes its columns over time (one image ``(T, H)`` per column ``x``).

- :func:`lbp_top` / :class:`LBPTOP`: uniform LBP codes (:func:`~affectlab.features.lbp.lbp_codes`)
  of every XY, XT and YT plane, histogrammed over a spatial pyramid of the ``(y, x)`` position
  and over time, one block per plane. Only pixels whose whole neighbourhood lies inside the
  volume are counted (the border of ``ceil(R)`` in x, y and t is dropped, as in the authors'
  code), so a sequence needs ``T >= 2 ceil(R) + 1`` frames.
- :func:`lpq_top` / :class:`LPQTOP`: the same with LPQ codes
  (:func:`~affectlab.features.lpq.lpq_codes`), a ``win_size`` window in XY and ``win_size_t``
  in the planes holding time (Päivärinta et al., 2011); ``T >= win_size_t``.
- :class:`SiftTOP`: dense SIFT (:func:`~affectlab.features.dsift.dense_sift`) on the three
  planes, each plane coded on its own k-means codebook by LLC and max-pooled over a spatial
  pyramid of the descriptors' ``(y, x)`` positions (:mod:`affectlab.features.llc`). The
  volume is first resampled along time to ``t_length`` frames by linear interpolation (short
  sequences have too few frames for a SIFT patch, as in the temporal interpolation model of
  micro-expression work).
- :class:`SiftLBP`: the bag of dense SIFT on the XY frames (LLC, SPM) next to the LBP-TOP
  histograms of the XT and YT planes.
- :func:`pool_frames` / :class:`PooledFrameFeatures`: any per-frame descriptor of the
  feature registry (``hog``, ``lbp``, ``dsift_llc``, ``deep``...) max- or mean-pooled over the
  frames into one vector.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> videos = rng.integers(0, 256, (2, 3, 16, 16), dtype=np.uint8)
>>> lbp_top(videos[0], levels=1).shape                     # 3 planes x 59 bins
(177,)
>>> LBPTOP(levels=2).fit_transform(videos).shape            # 3 x 59 x (1 + 4)
(2, 885)
>>> pool_frames(np.ones((3, 4)), method="max").tolist()
[1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from affectlab.checks import is_integer
from affectlab.errors import ConfigError
from affectlab.features.basic import as_array, check_finite
from affectlab.features.codebook import Codebook
from affectlab.features.dsift import dense_sift, limit_threads
from affectlab.features.lbp import lbp_codes, lbp_n_bins
from affectlab.features.llc import llc_codes, pyramid_max_pool
from affectlab.features.lpq import LPQ_BINS, lpq_codes
from affectlab.features.pyramid import pyramid_grids, spatial_pyramid_histograms
from affectlab.features.registry import check_params, create_feature, feature_info

__all__ = [
    "LBPTOP",
    "LPQTOP",
    "PLANES",
    "POOLINGS",
    "SEQUENCE_FEATURES",
    "PooledFrameFeatures",
    "SiftLBP",
    "SiftTOP",
    "check_volumes",
    "create_sequence_feature",
    "lbp_top",
    "list_sequence_features",
    "lpq_top",
    "pool_frames",
    "resample_time",
    "sequence_feature_is_stateless",
    "top_planes",
]

#: The three orthogonal planes, in output order.
PLANES = ("xy", "xt", "yt")
#: Pooling methods of :func:`pool_frames`.
POOLINGS = ("mean", "max", "mean_max")


# ------------------------------------------------------------------------------------------------
# input checks and plane views


def check_volumes(X: Any, *, name: str = "sequences", min_frames: int = 1,
                  min_size: tuple[int, int] = (1, 1)) -> np.ndarray:
    """A batch of gray sequences ``(N, T, H, W)`` (a single ``(T, H, W)`` gets ``N = 1``).

    Raises
    ------
    ValueError
        Wrong number of dimensions, sequences of different shapes, an empty batch, too few
        frames, frames too small, a dtype that is not a real number, or NaN / infinite values.

    Examples
    --------
    >>> check_volumes(np.zeros((3, 8, 8), np.uint8)).shape
    (1, 3, 8, 8)
    """
    X = as_array(X, name, "sequences of different lengths or frame sizes cannot form one batch (N, T, H, W); "
                 "resample them first (e.g. resample_time, one sequence at a time)")
    if X.ndim == 3:
        X = X[None]
    if X.ndim != 4:
        raise ValueError(f"{name}: expected gray sequences (N, T, H, W) or one (T, H, W), got shape {X.shape}")
    if X.dtype.kind not in "uif":
        raise ValueError(f"{name}: expected integer or float gray levels (e.g. uint8), got dtype {X.dtype}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (shape {X.shape})")
    if X.shape[1] < min_frames:
        raise ValueError(f"{name}: sequences of {X.shape[1]} frame(s) are too short (need at least {min_frames})")
    if X.shape[2] < min_size[0] or X.shape[3] < min_size[1]:
        raise ValueError(f"{name}: frames of {X.shape[2]}x{X.shape[3]} are too small "
                         f"(need at least {min_size[0]}x{min_size[1]})")
    check_finite(X, name, "sequence")
    return X


def top_planes(volumes: np.ndarray) -> dict[str, np.ndarray]:
    """The plane images of a batch ``(N, T, H, W)``, each as a batch of 2-D images.

    Returns
    -------
    dict
        ``"xy"``: ``(N * T, H, W)`` frames; ``"xt"``: ``(N * H, T, W)``, one image per row
        ``y`` (image row = time); ``"yt"``: ``(N * W, T, H)``, one image per column ``x``
        (image row = time, image column = y).

    Examples
    --------
    >>> v = np.arange(2 * 3 * 4).reshape(1, 2, 3, 4)
    >>> p = top_planes(v)
    >>> p["xt"][1].tolist() == v[0, :, 1, :].tolist(), p["yt"][2].tolist() == v[0, :, :, 2].tolist()
    (True, True)
    """
    n, t, h, w = volumes.shape
    return {
        "xy": volumes.reshape(n * t, h, w),
        "xt": np.ascontiguousarray(volumes.transpose(0, 2, 1, 3)).reshape(n * h, t, w),
        "yt": np.ascontiguousarray(volumes.transpose(0, 3, 1, 2)).reshape(n * w, t, h),
    }


def _to_volume_order(codes: np.ndarray, plane: str, n: int) -> np.ndarray:
    """Per-plane code images back to ``(N, T', H', W')`` indexed ``[video, t, y, x]``."""
    if plane == "xy":  # (N*T, H, W)
        return codes.reshape(n, -1, *codes.shape[1:])
    if plane == "xt":  # (N*H, T, W) -> (N, H, T, W) -> (N, T, H, W)
        return codes.reshape(n, -1, *codes.shape[1:]).transpose(0, 2, 1, 3)
    # yt: (N*W, T, H) -> (N, W, T, H) -> (N, T, H, W)
    return codes.reshape(n, -1, *codes.shape[1:]).transpose(0, 2, 3, 1)


def _check_planes(planes: Sequence[str]) -> tuple[str, ...]:
    planes = (planes,) if isinstance(planes, str) else tuple(planes)
    if not planes or any(p not in PLANES for p in planes) or len(set(planes)) < len(planes):
        raise ValueError(f"planes must be distinct names among {PLANES}, got {planes!r}")
    return planes


def _pooled_pyramid(codes: np.ndarray, n_bins: int, levels: int, normalize: str | None) -> np.ndarray:
    """Histograms of ``(N, T, H, W)`` codes over a spatial pyramid of ``(y, x)``, summed over ``t``.

    Returns ``(N, n_bins * cells)``; with ``"l1"`` each cell's histogram (over all frames) sums to 1.
    """
    n, t, h, w = codes.shape
    per_frame = spatial_pyramid_histograms(codes.reshape(n * t, h, w), n_bins, levels=levels, normalize=None)
    summed = per_frame.reshape(n, t, -1).sum(axis=1)
    norm = "none" if normalize is None else str(normalize).lower()
    if norm == "l1":
        cells = summed.reshape(n, -1, n_bins)
        total = cells.sum(axis=-1, keepdims=True)
        np.divide(cells, total, out=cells, where=total > 0)
    elif norm != "none":
        raise ValueError(f"normalize must be 'l1' or 'none', got {normalize!r}")
    return summed


def _top_histograms(
    volumes: np.ndarray,
    code: Callable[[np.ndarray, str], np.ndarray],
    n_bins: int,
    crop: dict[str, tuple[int, int, int]],
    levels: int,
    normalize: str | None,
    planes: tuple[str, ...],
) -> np.ndarray:
    """Shared LBP-TOP / LPQ-TOP machinery.

    ``code(images, plane)`` gives a code image per plane image (possibly smaller: a "valid"
    region); ``crop[plane] = (t0, y0, x0)`` are the offsets, in that plane's code array put in
    volume order, of the common interior (same ``t``, ``y``, ``x`` ranges for every plane).
    """
    n = volumes.shape[0]
    views = top_planes(volumes)
    blocks = []
    sizes = {}
    ordered = {}
    for plane in planes:
        ordered[plane] = _to_volume_order(code(views[plane], plane), plane, n)
    # the common interior: the smallest extent along each axis after the offsets
    for plane in planes:
        t0, y0, x0 = crop[plane]
        _, T, H, W = ordered[plane].shape
        sizes[plane] = (T - 2 * t0, H - 2 * y0, W - 2 * x0)
    t_len, h_len, w_len = (min(s[i] for s in sizes.values()) for i in range(3))
    if min(t_len, h_len, w_len) < 1:
        raise ValueError(f"sequences of shape {volumes.shape[1:]} leave no pixel with a full neighbourhood")
    finest = pyramid_grids(levels)[-1]
    if h_len < finest or w_len < finest:
        raise ValueError(f"the {h_len}x{w_len} interior is smaller than the {finest}x{finest} pyramid grid")
    for plane in planes:
        t0, y0, x0 = crop[plane]
        c = ordered[plane][:, t0:t0 + t_len, y0:y0 + h_len, x0:x0 + w_len]
        blocks.append(_pooled_pyramid(np.ascontiguousarray(c), n_bins, levels, normalize))
    return np.concatenate(blocks, axis=1)


# ------------------------------------------------------------------------------------------------
# LBP-TOP and LPQ-TOP


def lbp_top(
    volumes: np.ndarray,
    *,
    P: int = 8,
    R: float = 1,
    levels: int = 3,
    normalize: str | None = "l1",
    planes: Sequence[str] = PLANES,
) -> np.ndarray:
    """LBP-TOP histograms of one sequence ``(T, H, W)`` or a batch ``(N, T, H, W)``.

    Parameters
    ----------
    volumes
        Gray sequences; ``T >= 2 ceil(R) + 1``.
    P, R
        Neighbours and radius of the LBP circle (the same in every plane).
    levels
        Spatial pyramid levels over ``(y, x)`` (grids 1, 2, 4...); time is pooled whole.
    normalize
        ``"l1"``: every cell of every plane sums to 1; ``"none"``: counts.
    planes
        Which planes, in this order (default XY, XT, YT).

    Returns
    -------
    numpy.ndarray
        ``(len(planes) * lbp_n_bins(P) * cells,)`` for one sequence, ``(N, ...)`` for a batch,
        float64. Codes are counted on the interior ``t, y, x`` in ``[r, size - r)``,
        ``r = ceil(R)``.

    Examples
    --------
    >>> flat = np.full((3, 8, 8), 7, np.uint8)  # a constant video: every code is "all ones" (57)
    >>> h = lbp_top(flat, levels=1)
    >>> [int(np.argmax(h[i * 59:(i + 1) * 59])) for i in range(3)], float(h.max())
    ([57, 57, 57], 1.0)
    """
    r = int(np.ceil(float(R)))
    V = check_volumes(volumes, name="lbp_top", min_frames=2 * r + 1, min_size=(2 * r + 1, 2 * r + 1))
    single = np.ndim(volumes) == 3
    planes = _check_planes(planes)
    crop = {p: (r, r, r) for p in planes}
    out = _top_histograms(V, lambda images, plane: lbp_codes(images, P=P, R=R), lbp_n_bins(P), crop, levels,
                          normalize, planes)
    return out[0] if single else out


def lpq_top(
    volumes: np.ndarray,
    *,
    win_size: int = 7,
    win_size_t: int = 3,
    decorrelate: bool = True,
    rho: float = 0.9,
    levels: int = 3,
    normalize: str | None = "l1",
    planes: Sequence[str] = PLANES,
) -> np.ndarray:
    """LPQ-TOP histograms (256 bins per plane and cell) of one sequence or a batch.

    Parameters
    ----------
    win_size
        LPQ window in the XY planes.
    win_size_t
        LPQ window in the XT and YT planes (square, so also its extent along x or y); a
        sequence needs ``T >= win_size_t`` frames.
    decorrelate, rho
        See :func:`~affectlab.features.lpq.lpq_codes`.
    levels, normalize, planes
        As :func:`lbp_top`.

    Returns
    -------
    numpy.ndarray
        ``(len(planes) * 256 * cells,)`` or ``(N, ...)``. Codes are counted on the interior
        common to all planes: ``t`` in ``[r_t, T - r_t)``, ``x, y`` in ``[r, size - r)`` with
        ``r_t = (win_size_t - 1) / 2`` and ``r`` the larger half-window.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lpq_top(rng.integers(0, 256, (3, 16, 16), dtype=np.uint8), levels=1).shape
    (768,)
    """
    for key, value in (("win_size", win_size), ("win_size_t", win_size_t)):
        if not is_integer(value) or value < 3 or value % 2 == 0:
            raise ValueError(f"lpq_top: {key} must be an odd integer >= 3, got {value!r}")
    r_xy, r_t = (int(win_size) - 1) // 2, (int(win_size_t) - 1) // 2
    r = max(r_xy, r_t)
    V = check_volumes(volumes, name="lpq_top", min_frames=int(win_size_t),
                      min_size=(max(int(win_size), 2 * r + 1),) * 2)
    single = np.ndim(volumes) == 3
    planes = _check_planes(planes)

    def code(images: np.ndarray, plane: str) -> np.ndarray:
        m = win_size if plane == "xy" else win_size_t
        return lpq_codes(images, win_size=m, decorrelate=decorrelate, rho=rho)

    # offsets of the common interior inside each plane's "valid" code array (volume order t, y, x)
    crop = {
        "xy": (r_t, r - r_xy, r - r_xy),  # XY codes exist for every t; y, x start at r_xy
        "xt": (0, r, r - r_t),  # XT: t starts at r_t (valid), y is the slice index, x starts at r_t
        "yt": (0, r - r_t, r),  # YT: t starts at r_t, y starts at r_t (valid), x is the slice index
    }
    out = _top_histograms(V, code, LPQ_BINS, crop, levels, normalize, planes)
    return out[0] if single else out


# ------------------------------------------------------------------------------------------------
# pooling of per-frame features


def pool_frames(features: np.ndarray, *, method: str = "mean") -> np.ndarray:
    """Pool per-frame features over time: ``(T, D)`` -> ``(D,)`` or ``(N, T, D)`` -> ``(N, D)``.

    ``"mean"``, ``"max"`` or ``"mean_max"`` (both, concatenated: ``2 D`` values).

    Examples
    --------
    >>> f = np.array([[1.0, 4.0], [3.0, 0.0]])
    >>> pool_frames(f).tolist(), pool_frames(f, method="max").tolist()
    ([2.0, 2.0], [3.0, 4.0])
    >>> pool_frames(f, method="mean_max").tolist()
    [2.0, 2.0, 3.0, 4.0]
    """
    F = np.asarray(features)
    if F.ndim not in (2, 3) or F.shape[-2] == 0:
        raise ValueError(f"pool_frames: expected (T, D) or (N, T, D) features with T >= 1, got shape {F.shape}")
    if method == "mean":
        return F.mean(axis=-2)
    if method == "max":
        return F.max(axis=-2)
    if method == "mean_max":
        return np.concatenate([F.mean(axis=-2), F.max(axis=-2)], axis=-1)
    raise ValueError(f"pool_frames: method must be one of {', '.join(POOLINGS)}, got {method!r}")


# ------------------------------------------------------------------------------------------------
# estimators


class _StatelessSequence(TransformerMixin, BaseEstimator):
    def fit(self, X: Any, y: Any = None) -> _StatelessSequence:
        """Nothing to learn; checks the input and returns ``self``."""
        check_volumes(X, name=type(self).__name__)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True


class LBPTOP(_StatelessSequence):
    """LBP-TOP transformer: ``(N, T, H, W)`` -> ``(N, 3 * 59 * cells)`` float32 (:func:`lbp_top`)."""

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    def __init__(self, P: int = 8, R: float = 1, levels: int = 3, normalize: str | None = "l1",
                 planes: Sequence[str] = PLANES) -> None:
        self.P = P
        self.R = R
        self.levels = levels
        self.normalize = normalize
        self.planes = planes

    def transform(self, X: Any) -> np.ndarray:
        V = check_volumes(X, name="lbp_top")
        return lbp_top(V, P=self.P, R=self.R, levels=self.levels, normalize=self.normalize,
                       planes=self.planes).astype(np.float32)


class LPQTOP(_StatelessSequence):
    """LPQ-TOP transformer: ``(N, T, H, W)`` -> ``(N, 3 * 256 * cells)`` float32 (:func:`lpq_top`)."""

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    def __init__(self, win_size: int = 7, win_size_t: int = 3, decorrelate: bool = True, rho: float = 0.9,
                 levels: int = 3, normalize: str | None = "l1", planes: Sequence[str] = PLANES) -> None:
        self.win_size = win_size
        self.win_size_t = win_size_t
        self.decorrelate = decorrelate
        self.rho = rho
        self.levels = levels
        self.normalize = normalize
        self.planes = planes

    def transform(self, X: Any) -> np.ndarray:
        V = check_volumes(X, name="lpq_top")
        return lpq_top(V, win_size=self.win_size, win_size_t=self.win_size_t, decorrelate=self.decorrelate,
                       rho=self.rho, levels=self.levels, normalize=self.normalize,
                       planes=self.planes).astype(np.float32)


def resample_time(volumes: np.ndarray, length: int) -> np.ndarray:
    """Linearly interpolate ``(N, T, H, W)`` sequences to ``length`` frames (float32).

    The first and last frames are kept; ``T = 1`` repeats the frame.

    Examples
    --------
    >>> v = np.array([0.0, 10.0]).reshape(1, 2, 1, 1) * np.ones((1, 2, 1, 2))
    >>> resample_time(v, 3)[0, :, 0, 0].tolist()
    [0.0, 5.0, 10.0]
    """
    V = np.asarray(volumes, dtype=np.float32)
    if V.ndim != 4 or V.shape[1] < 1:
        raise ValueError(f"resample_time: expected sequences (N, T, H, W) with T >= 1, got shape {V.shape}")
    t = V.shape[1]
    length = int(length)
    if length < 1:
        raise ValueError(f"resample_time: length must be >= 1, got {length}")
    if t == length:
        return V.copy()
    if t == 1:
        return np.repeat(V, length, axis=1)
    pos = np.linspace(0.0, t - 1.0, length)
    lo = np.clip(np.floor(pos).astype(int), 0, t - 2)
    frac = (pos - lo).astype(np.float32)[None, :, None, None]
    return V[:, lo] * (1.0 - frac) + V[:, lo + 1] * frac


def _plane_sift(V: np.ndarray, plane: str, *, step: int, sizes: Sequence[int], t_length: int,
                slice_step: int, n_threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Dense SIFT of one plane of every sequence.

    Returns the descriptors ``(N, K, 128)`` and their positions ``(K, 3)`` ``[x, y, size]`` in
    the frame's ``(x, y)`` coordinates (time pooled), so the spatial pyramid cells are shared by
    all planes.
    """
    n, t, h, w = V.shape
    if plane == "xy":
        images = V.reshape(n * t, h, w)
        desc, pos = dense_sift(images, step=step, sizes=sizes, n_threads=n_threads)
        return desc.reshape(n, t * pos.shape[0], 128), np.tile(pos, (t, 1))
    R = resample_time(V, t_length) / np.float32(255.0) if V.dtype == np.uint8 else resample_time(V, t_length)
    if plane == "xt":  # one (t_length, W) image per selected row y
        rows = np.arange(0, h, slice_step)
        images = np.ascontiguousarray(R[:, :, rows, :].transpose(0, 2, 1, 3)).reshape(n * rows.size, t_length, w)
        desc, pos = dense_sift(images, step=step, sizes=sizes, n_threads=n_threads)
        # image column = x, image row = time; the slice index gives y
        where = np.concatenate([np.c_[pos[:, 0], np.full(len(pos), y, np.float64), pos[:, 2]] for y in rows])
    else:  # "yt": one (t_length, H) image per selected column x; image column = y
        cols = np.arange(0, w, slice_step)
        images = np.ascontiguousarray(R[:, :, :, cols].transpose(0, 3, 1, 2)).reshape(n * cols.size, t_length, h)
        desc, pos = dense_sift(images, step=step, sizes=sizes, n_threads=n_threads)
        where = np.concatenate([np.c_[np.full(len(pos), x, np.float64), pos[:, 0], pos[:, 2]] for x in cols])
    return desc.reshape(n, -1, 128), where


class _BagOfSift(TransformerMixin, BaseEstimator):
    """Shared code: per-plane codebooks of dense SIFT, LLC coding and SPM max pooling."""

    _sift_planes: tuple[str, ...] = PLANES

    def _planes_for_sift(self) -> tuple[str, ...]:
        return self._sift_planes

    def _descriptors(self, V: np.ndarray, plane: str) -> tuple[np.ndarray, np.ndarray]:
        return _plane_sift(V, plane, step=self.step, sizes=self.sizes, t_length=getattr(self, "t_length", 1),
                           slice_step=getattr(self, "slice_step", 1), n_threads=self.n_threads)

    def _fit_codebooks(self, V: np.ndarray) -> None:
        if not 1 <= int(self.k) <= int(self.n_words):
            raise ValueError(f"{type(self).__name__}: k must be in [1, n_words={self.n_words}], got {self.k!r}")
        self.codebooks_ = {}
        for i, plane in enumerate(self._planes_for_sift()):
            desc, _ = self._descriptors(V, plane)
            seed = None if self.random_state is None else int(self.random_state) + i
            book = Codebook(n_words=self.n_words, max_descriptors=self.max_descriptors, n_threads=self.n_threads,
                            random_state=seed).fit(desc.reshape(-1, 128))
            self.codebooks_[plane] = book.codebook_

    def _encode(self, V: np.ndarray) -> list[np.ndarray]:
        blocks = []
        h, w = V.shape[2:]
        for plane in self._planes_for_sift():
            desc, positions = self._descriptors(V, plane)
            book = self.codebooks_[plane]
            idx, wts = llc_codes(desc.reshape(-1, 128), book, k=self.k, beta=self.beta)
            shape3 = desc.shape[:2] + (idx.shape[1],)
            blocks.append(pyramid_max_pool(idx.reshape(shape3), wts.reshape(shape3), positions, (h, w), book.shape[0],
                                           levels=self.levels))
        return blocks


class SiftTOP(_BagOfSift):
    """SIFT-TOP: dense SIFT on the XY, XT and YT planes, one LLC codebook per plane, SPM max pooling.

    ``fit`` learns the three codebooks (k-means) from the training sequences only;
    ``transform`` maps ``(N, T, H, W)`` to ``(N, 3 * n_words * cells)`` float32, each plane's
    block L2-normalised.

    Parameters
    ----------
    n_words
        Codewords per plane.
    k, beta
        LLC neighbours and regularisation (:func:`~affectlab.features.llc.llc_codes`).
    levels
        Spatial pyramid grids over the descriptor ``(y, x)`` positions (e.g. ``(1, 2)``).
    step, sizes
        Dense SIFT grid step and patch sizes, the same in every plane.
    t_length
        Frames the sequences are resampled to (linear interpolation) before the XT / YT planes
        are described; at least the largest patch size.
    slice_step
        Describe every ``slice_step``-th XT / YT slice (rows / columns) only.
    max_descriptors
        Descriptors sampled per plane for k-means.
    random_state, n_threads
        Seed of the codebooks; BLAS / OpenMP threads.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> V = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    >>> SiftTOP(n_words=8, levels=(1,), sizes=(8,), t_length=8, slice_step=8).fit(V).transform(V).shape
    (4, 24)
    """

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    def __init__(self, n_words: int = 200, k: int = 5, beta: float = 1e-4, levels: int | Sequence[int] = (1, 2),
                 step: int = 4, sizes: int | Sequence[int] = (8, 12, 16), t_length: int = 16, slice_step: int = 4,
                 max_descriptors: int | None = 50_000, random_state: int | None = 0,
                 n_threads: int | None = 1) -> None:
        self.n_words = n_words
        self.k = k
        self.beta = beta
        self.levels = levels
        self.step = step
        self.sizes = sizes
        self.t_length = t_length
        self.slice_step = slice_step
        self.max_descriptors = max_descriptors
        self.random_state = random_state
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> SiftTOP:
        """Learn one codebook per plane from sequences ``(N, T, H, W)``; returns ``self``."""
        V = check_volumes(X, name="sift_top")
        with limit_threads(self.n_threads):
            self._fit_codebooks(V)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``(N, 3 * n_words * cells)`` float32."""
        check_is_fitted(self, "codebooks_")
        V = check_volumes(X, name="sift_top")
        with limit_threads(self.n_threads):
            return np.concatenate(self._encode(V), axis=1).astype(np.float32)


class SiftLBP(_BagOfSift):
    """SIFT-LBP: bag of dense SIFT on the XY frames (LLC, SPM) + LBP-TOP histograms of XT and YT.

    ``fit`` learns the XY codebook from the training sequences only. Output:
    ``(N, n_words * sift cells + 2 * 59 * lbp cells)`` float32; the SIFT block is L2-normalised,
    the LBP histograms L1 per cell (the classifier standardises every column).

    Parameters
    ----------
    n_words, k, beta, levels, step, sizes, max_descriptors, random_state, n_threads
        The XY bag of SIFT (as :class:`SiftTOP`).
    lbp_levels, P, R
        The LBP-TOP histograms of the XT and YT planes (:func:`lbp_top`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> V = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    >>> SiftLBP(n_words=8, levels=(1,), lbp_levels=1).fit(V).transform(V).shape  # 8 + 2 x 59
    (4, 126)
    """

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    _sift_planes = ("xy",)

    def __init__(self, n_words: int = 200, k: int = 5, beta: float = 1e-4, levels: int | Sequence[int] = (1, 2),
                 step: int = 4, sizes: int | Sequence[int] = (8, 12, 16), lbp_levels: int = 3, P: int = 8,
                 R: float = 1, max_descriptors: int | None = 50_000, random_state: int | None = 0,
                 n_threads: int | None = 1) -> None:
        self.n_words = n_words
        self.k = k
        self.beta = beta
        self.levels = levels
        self.step = step
        self.sizes = sizes
        self.lbp_levels = lbp_levels
        self.P = P
        self.R = R
        self.max_descriptors = max_descriptors
        self.random_state = random_state
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any = None) -> SiftLBP:
        """Learn the XY codebook from sequences ``(N, T, H, W)``; returns ``self``."""
        V = check_volumes(X, name="sift_lbp")
        with limit_threads(self.n_threads):
            self._fit_codebooks(V)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "codebooks_")
        V = check_volumes(X, name="sift_lbp")
        with limit_threads(self.n_threads):
            (sift,) = self._encode(V)
        lbp = lbp_top(V, P=self.P, R=self.R, levels=self.lbp_levels, planes=("xt", "yt"))
        return np.concatenate([sift, lbp], axis=1).astype(np.float32)


class PooledFrameFeatures(TransformerMixin, BaseEstimator):
    """A per-frame image descriptor pooled over the frames of each sequence.

    Parameters
    ----------
    feature
        A name of the image feature registry (:func:`affectlab.features.list_features`):
        ``"hog"``, ``"lbp"``, ``"dsift_llc"`` (dense SIFT), ``"deep"`` (CNN activations)...
    params
        Its parameters.
    pooling
        ``"mean"``, ``"max"`` or ``"mean_max"`` (:func:`pool_frames`).

    Features that learn (``dsift_llc``'s codebook) are fitted on every frame of the training
    sequences. ``(N, T, H, W)`` -> ``(N, D)`` (``2 D`` for ``"mean_max"``) float32.

    Examples
    --------
    >>> V = np.random.default_rng(0).integers(0, 256, (2, 3, 16, 16), dtype=np.uint8)
    >>> PooledFrameFeatures("pixels", pooling="max").fit_transform(V).shape
    (2, 256)
    """

    #: Output version, in feature cache keys: bump it when a change alters what this computes.
    version = 1

    def __init__(self, feature: str = "hog", params: dict[str, Any] | None = None, pooling: str = "mean") -> None:
        self.feature = feature
        self.params = params
        self.pooling = pooling

    def _extractor(self) -> Any:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        return create_feature(self.feature, **dict(self.params or {}))

    def fit(self, X: Any, y: Any = None) -> PooledFrameFeatures:
        """Fit the per-frame feature on every frame of ``X`` (stateless ones only check)."""
        V = check_volumes(X, name="pooled")
        n, t = V.shape[:2]
        frames = V.reshape(n * t, *V.shape[2:])
        frame_y = None if y is None else np.repeat(np.asarray(y), t)
        self.extractor_ = self._extractor().fit(frames, frame_y)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "extractor_")
        V = check_volumes(X, name="pooled")
        n, t = V.shape[:2]
        F = np.asarray(self.extractor_.transform(V.reshape(n * t, *V.shape[2:])), dtype=np.float32)
        return pool_frames(F.reshape(n, t, -1), method=self.pooling).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# a small registry of sequence features (inputs (N, T, H, W), unlike the image registry)

#: name -> factory of the sequence descriptors.
SEQUENCE_FEATURES: dict[str, Callable[..., Any]] = {
    "lbp_top": LBPTOP,
    "lpq_top": LPQTOP,
    "sift_top": SiftTOP,
    "sift_lbp": SiftLBP,
    "pooled": PooledFrameFeatures,
}


def list_sequence_features() -> list[str]:
    """Names accepted by :func:`create_sequence_feature`.

    >>> list_sequence_features()
    ['lbp_top', 'lpq_top', 'pooled', 'sift_lbp', 'sift_top']
    """
    return sorted(SEQUENCE_FEATURES)


def create_sequence_feature(name: str, **params: Any) -> Any:
    """A new, unfitted sequence descriptor; :class:`ConfigError` for an unknown name or parameter.

    >>> create_sequence_feature("lbp_top", levels=2)
    LBPTOP(levels=2)
    """
    if name not in SEQUENCE_FEATURES:
        raise ConfigError(f"unknown sequence feature {name!r} (known: {', '.join(list_sequence_features())})")
    factory = SEQUENCE_FEATURES[name]
    check_params("sequence feature", name, factory, params)
    if name == "pooled":
        inner = params.get("feature", "hog")
        try:
            create_feature(inner, **dict(params.get("params") or {}))
        except ConfigError as exc:
            raise ConfigError(f"sequence feature 'pooled': {exc}") from None
        if params.get("pooling", "mean") not in POOLINGS:
            raise ConfigError(f"sequence feature 'pooled': pooling must be one of {', '.join(POOLINGS)}")
    return factory(**params)


def sequence_feature_is_stateless(name: str, params: dict[str, Any] | None = None) -> bool:
    """Whether a sequence feature gives the same output whatever it was fitted on.

    >>> sequence_feature_is_stateless("lbp_top"), sequence_feature_is_stateless("sift_top")
    (True, False)
    >>> sequence_feature_is_stateless("pooled", {"feature": "dsift_llc"})
    False
    """
    if name in ("lbp_top", "lpq_top"):
        return True
    if name == "pooled":
        return feature_info((params or {}).get("feature", "hog")).stateless
    return False
