"""Temporal descriptors on synthetic sequences with known answers, and reference cross-checks."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import local_binary_pattern
from sklearn.base import clone

from affectlab.errors import ConfigError
from affectlab.features import (
    create_feature,
    lbp_codes,
    lpq_codes,
    spatial_pyramid_histograms,
)
from affectlab.features.temporal import (
    LBPTOP,
    LPQTOP,
    PooledFrameFeatures,
    SiftLBP,
    SiftTOP,
    create_sequence_feature,
    lbp_top,
    lpq_top,
    pool_frames,
    resample_time,
    sequence_feature_is_stateless,
    top_planes,
)

FLAT = 57  # uniform LBP code of "every neighbour >= centre" for P = 8
RNG = np.random.default_rng(7)


def _blocks(h: np.ndarray, n_planes: int = 3) -> list[np.ndarray]:
    return np.split(h, n_planes)


def test_static_video_xy_equals_per_frame_histogram_lbp():
    frame = RNG.integers(0, 256, (20, 24), dtype=np.uint8)
    video = np.repeat(frame[None], 5, axis=0)
    xy, xt, yt = _blocks(lbp_top(video, levels=2))
    per_frame = spatial_pyramid_histograms(lbp_codes(frame[None])[:, 1:-1, 1:-1], 59, levels=2)[0]
    np.testing.assert_allclose(xy, per_frame)
    # in a static video the neighbours one frame before and after equal the centre: XT and YT
    # codes always have their two temporal bits set, so they differ from the XY codes
    assert not np.allclose(xt, xy) and not np.allclose(yt, xy)


def test_static_stripes_give_the_flat_code_in_the_plane_along_the_stripes():
    rows = RNG.integers(0, 256, 16, dtype=np.uint8)
    horizontal = np.repeat(np.repeat(rows[:, None], 16, axis=1)[None], 3, axis=0)  # constant along x and t
    _, xt, yt = _blocks(lbp_top(horizontal, levels=1))
    assert xt[FLAT] == 1.0  # each XT plane (fixed y) is constant: every code is the flat code
    assert yt[FLAT] < 1.0
    vertical = horizontal.transpose(0, 2, 1)
    _, xt, yt = _blocks(lbp_top(vertical, levels=1))
    assert yt[FLAT] == 1.0 and xt[FLAT] < 1.0


def test_constant_video_is_flat_on_every_plane_and_level():
    h = lbp_top(np.full((3, 16, 16), 90, np.uint8), levels=3)
    cells = h.reshape(-1, 59)
    assert cells.shape == (3 * 21, 59)
    assert np.all(cells[:, FLAT] == 1.0)


def test_xt_and_yt_codes_match_scikit_image_on_each_slice():
    video = RNG.integers(0, 256, (5, 10, 12), dtype=np.uint8)
    _, H, W = video.shape
    xt = lbp_top(video, levels=1, planes=("xt",), normalize="none")
    ref = np.zeros(59)
    for y in range(1, H - 1):  # the interior: y, x, t in [1, size - 1)
        codes = local_binary_pattern(video[:, y, :], 8, 1, method="nri_uniform").astype(int)
        ref += np.bincount(codes[1:-1, 1:-1].ravel(), minlength=59)
    np.testing.assert_array_equal(xt, ref)
    yt = lbp_top(video, levels=1, planes=("yt",), normalize="none")
    ref = np.zeros(59)
    for x in range(1, W - 1):
        codes = local_binary_pattern(video[:, :, x], 8, 1, method="nri_uniform").astype(int)
        ref += np.bincount(codes[1:-1, 1:-1].ravel(), minlength=59)
    np.testing.assert_array_equal(yt, ref)


def test_plane_views_index_the_volume():
    v = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    p = top_planes(v)
    assert p["xy"].shape == (6, 4, 5) and p["xt"].shape == (8, 3, 5) and p["yt"].shape == (10, 3, 4)
    assert np.array_equal(p["xt"][4 + 2], v[1, :, 2, :])  # video 1, row y = 2
    assert np.array_equal(p["yt"][5 + 3], v[1, :, :, 3])  # video 1, column x = 3


def test_lpq_top_static_video_xy_equals_per_frame_and_batch_matches_single():
    frame = RNG.integers(0, 256, (20, 20), dtype=np.uint8)
    video = np.repeat(frame[None], 3, axis=0)
    xy = lpq_top(video, levels=2)[: 256 * 5]
    per_frame = spatial_pyramid_histograms(lpq_codes(frame[None]), 256, levels=2)[0]
    np.testing.assert_allclose(xy, per_frame)
    batch = RNG.integers(0, 256, (3, 3, 16, 16), dtype=np.uint8)
    out = LPQTOP(levels=1).fit_transform(batch)
    assert out.shape == (3, 768) and out.dtype == np.float32
    np.testing.assert_allclose(out[1], lpq_top(batch[1], levels=1), rtol=1e-6)


def test_lbp_top_estimator_matches_function_and_normalises_cells():
    batch = RNG.integers(0, 256, (4, 3, 16, 16), dtype=np.uint8)
    out = LBPTOP(levels=2).fit_transform(batch)
    assert out.shape == (4, 3 * 59 * 5)
    np.testing.assert_allclose(out.reshape(4, -1, 59).sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out[2], lbp_top(batch[2], levels=2), rtol=1e-6)


def test_too_short_or_bad_sequences_raise_clear_errors():
    with pytest.raises(ValueError, match="lbp_top.*too short"):
        lbp_top(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="lpq_top.*too short"):
        lpq_top(np.zeros((2, 16, 16), np.uint8))
    with pytest.raises(ValueError, match="sequences"):
        LBPTOP().fit(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="planes"):
        lbp_top(np.zeros((3, 8, 8), np.uint8), planes=("xz",))


def test_pooling_constant_features_gives_the_feature():
    f = RNG.normal(size=6)
    frames = np.tile(f, (4, 1))
    for method in ("mean", "max"):
        np.testing.assert_allclose(pool_frames(frames, method=method), f)
    np.testing.assert_allclose(pool_frames(frames, method="mean_max"), np.r_[f, f])
    np.testing.assert_allclose(pool_frames(np.array([[1.0, 5.0], [3.0, -1.0]])), [2.0, 2.0])
    with pytest.raises(ValueError, match="method"):
        pool_frames(frames, method="median")


def test_pooled_hog_of_a_static_video_is_the_frame_hog():
    frame = RNG.integers(0, 256, (48, 48), dtype=np.uint8)
    video = np.repeat(frame[None, None], 3, axis=1)  # (1, 3, 48, 48)
    expected = create_feature("hog").fit_transform(frame[None])[0]
    for pooling in ("mean", "max"):
        got = PooledFrameFeatures("hog", pooling=pooling).fit_transform(video)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_resample_time_is_linear_and_keeps_the_ends():
    v = np.stack([np.full((2, 2), 0.0), np.full((2, 2), 30.0)])[None]
    r = resample_time(v, 4)
    np.testing.assert_allclose(r[0, :, 0, 0], [0.0, 10.0, 20.0, 30.0])


def test_sift_top_and_sift_lbp_learn_codebooks_and_give_fixed_length_vectors():
    V = RNG.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)
    top = SiftTOP(n_words=8, levels=(1, 2), sizes=(8,), t_length=8, slice_step=4).fit(V[:4])
    X = top.transform(V)
    assert X.shape == (6, 3 * 8 * 5)
    blocks = X.reshape(6, 3, -1)
    np.testing.assert_allclose(np.linalg.norm(blocks, axis=-1), 1.0, rtol=1e-5)  # L2 per plane
    assert sorted(top.codebooks_) == ["xt", "xy", "yt"]
    again = clone(top).fit(V[:4]).transform(V)
    np.testing.assert_array_equal(X, again)  # seeded codebooks
    sl = SiftLBP(n_words=8, levels=(1,), sizes=(8,), lbp_levels=1).fit(V[:4])
    Y = sl.transform(V)
    assert Y.shape == (6, 8 + 2 * 59)
    np.testing.assert_allclose(Y[:, 8:], lbp_top(V, levels=1, planes=("xt", "yt")), rtol=1e-6)


def test_sequence_registry_validates_names_and_parameters():
    assert isinstance(create_sequence_feature("lbp_top", levels=2), LBPTOP)
    with pytest.raises(ConfigError, match="unknown sequence feature"):
        create_sequence_feature("lbp_xyz")
    with pytest.raises(ConfigError, match="no parameter 'radius'"):
        create_sequence_feature("lbp_top", radius=2)
    with pytest.raises(ConfigError, match="pooled"):
        create_sequence_feature("pooled", feature="no_such_feature")
    assert sequence_feature_is_stateless("pooled", {"feature": "hog"})
    assert not sequence_feature_is_stateless("sift_lbp")


SEQ_RNG = np.random.default_rng(0)
FACES = SEQ_RNG.integers(0, 256, (3, 32, 32), dtype=np.uint8)  # drawn first, so VIDEOS stays the same draw
VIDEOS = SEQ_RNG.integers(0, 256, (2, 3, 16, 16), dtype=np.uint8)


@pytest.mark.parametrize("name", ["lbp_top", "lpq_top", "pooled"])
def test_sequences_with_nan_are_refused(name):
    V = VIDEOS.astype(np.float64)
    V[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="sequence 1 contains NaN or infinite values"):
        create_sequence_feature(name).fit_transform(V)


def test_ragged_sequences_name_the_feature():
    ragged = [VIDEOS[0], VIDEOS[1][:2]]
    with pytest.raises(ValueError, match="^LBPTOP: sequences of different lengths or frame sizes"):
        create_sequence_feature("lbp_top").fit_transform(ragged)
    with pytest.raises(ValueError, match="^lbp_top: sequences of different lengths"):
        lbp_top(ragged)


def test_lpq_top_names_an_even_temporal_window():
    with pytest.raises(ValueError, match="lpq_top: win_size_t must be an odd integer >= 3, got 4"):
        lpq_top(VIDEOS, win_size_t=4)
    with pytest.raises(ValueError, match="lpq_top: win_size must be an odd integer >= 3, got 6"):
        lpq_top(VIDEOS, win_size=6)
    assert lpq_top(VIDEOS[0], levels=1).shape == (3 * 256,)  # one sequence still gives one vector


def test_resample_time_refuses_empty_sequences():
    with pytest.raises(ValueError, match=r"resample_time: expected sequences \(N, T, H, W\) with T >= 1"):
        resample_time(np.zeros((1, 0, 4, 4)), 3)
