"""The proxy generator: displacement field, warp, classes, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectlab.errors import ConfigError, DataError
from affectlab.pairs import (
    Bump,
    ProxyConfig,
    ckplus_source_faces,
    displacement_field,
    expression_bumps,
    load_pair_images,
    make_proxy_pairs,
    read_pair_manifest,
    warp_image,
    write_proxy_pairs,
)
from affectlab.pairs.proxy import LANDMARKS

QUIET = {"center_jitter": 0.0, "rotation_deg": 0.0, "scale": 0.0, "translate": 0.0, "brightness": 0.0,
         "contrast": 0.0, "noise": 0.0, "asymmetry": 0.0}


def _face(seed: int = 0, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(size, size)), 0), 1)
    smooth = (smooth - smooth.min()) / (np.ptp(smooth) + 1e-9)
    return (40 + 170 * smooth).astype(np.uint8)


def test_displacement_field_hand_computed():
    dx, dy = displacement_field((7, 9), [Bump((4.0, 3.0), (2.0, -1.0), 2.0)])
    assert dx.shape == (7, 9)
    assert dx[3, 4] == pytest.approx(2.0) and dy[3, 4] == pytest.approx(-1.0)
    # one pixel right and two down: |d|^2 = 5 -> exp(-5 / 8)
    g = math.exp(-5.0 / 8.0)
    assert dx[5, 5] == pytest.approx(2.0 * g, rel=1e-5) and dy[5, 5] == pytest.approx(-g, rel=1e-5)
    # two bumps add up
    dx2, _ = displacement_field((7, 9), [Bump((4.0, 3.0), (1.0, 0.0), 2.0), Bump((4.0, 3.0), (1.0, 0.0), 2.0)])
    np.testing.assert_allclose(dx2, dx, rtol=1e-6)


def test_zero_amplitude_is_identity():
    face = _face()
    bumps = expression_bumps(face.shape, mouth=(0.0, 0.0), cheek=(0.0, 0.0), lid=(0.0, 0.0))
    assert bumps == []
    dx, dy = displacement_field(face.shape, bumps)
    np.testing.assert_array_equal(warp_image(face, dx, dy), face)
    zero = make_proxy_pairs(face[None], ["S1"], config=ProxyConfig(pairs_per_face=2, mouth_amplitude=(0, 0),
                                                                   cheek_amplitude=(0, 0), **QUIET))
    np.testing.assert_array_equal(zero.apex, zero.onset)


def test_warp_is_local_and_moves_content_up():
    face = _face(1)
    bumps = [Bump((24.0, 38.0), (0.0, -3.0), 3.0)]
    dx, dy = displacement_field(face.shape, bumps)
    assert np.abs(dy[:20]).max() < 1e-6  # far from the mouth: no motion
    warped = warp_image(face, dx, dy)
    np.testing.assert_array_equal(warped[:25], face[:25])
    assert np.abs(warped[30:46].astype(int) - face[30:46]).max() > 0
    # a horizontal edge below the bump's centre moves up
    edge = np.zeros((48, 48), np.uint8)
    edge[40:] = 200
    moved = warp_image(edge, *displacement_field(edge.shape, [Bump((24.0, 40.0), (0.0, -3.0), 3.0)]))
    assert moved[38, 24] > 100 and moved[38, 2] == 0


def test_posed_moves_only_the_mouth_spontaneous_also_the_eyes():
    face = _face(2)
    pairs = make_proxy_pairs(face[None], ["S1"], config=ProxyConfig(pairs_per_face=2, **QUIET))
    assert pairs.label.tolist() == [0, 1]
    diff = np.abs(pairs.apex.astype(int) - pairs.onset)
    eye_rows = slice(int(0.40 * 47) - 2, int(0.47 * 47) + 2)
    eye_cols = slice(int(LANDMARKS["lid_left"][0] * 47) - 2, int(LANDMARKS["lid_left"][0] * 47) + 3)
    assert diff[0][eye_rows, eye_cols].max() <= 1  # posed: eyes untouched (bilinear rounding only)
    assert diff[1][eye_rows, eye_cols].max() > 1  # spontaneous: lower eyelid raised
    mouth = slice(34, 44)
    assert diff[0][mouth].max() > 3 and diff[1][mouth].max() > 3
    assert pairs.cheek[0].tolist() == [0.0, 0.0] and (pairs.cheek[1] > 0).all()


def test_generator_is_seeded_and_balanced():
    faces = np.stack([_face(i) for i in range(3)])
    a = make_proxy_pairs(faces, ["S1", "S1", "S2"], config=ProxyConfig(pairs_per_face=4, seed=3))
    b = make_proxy_pairs(faces, ["S1", "S1", "S2"], config=ProxyConfig(pairs_per_face=4, seed=3))
    c = make_proxy_pairs(faces, ["S1", "S1", "S2"], config=ProxyConfig(pairs_per_face=4, seed=4))
    np.testing.assert_array_equal(a.apex, b.apex)
    np.testing.assert_array_equal(a.onset, b.onset)
    assert not np.array_equal(a.apex, c.apex)
    assert len(a) == 12 and a.label.sum() == 6
    assert a.subject.tolist() == ["S1"] * 8 + ["S2"] * 4
    # noise and jitter make the raw difference of posed pairs non-zero everywhere, not just at the mouth
    assert np.abs(a.apex[0, :10].astype(int) - a.onset[0, :10]).mean() > 1


def test_proxy_config_from_mapping_errors():
    cfg = ProxyConfig.from_mapping({"pairs_per_face": 2, "cheek_amplitude": [0.5, 1], "noise": 0})
    assert cfg.cheek_amplitude == (0.5, 1.0) and cfg.noise == 0.0
    with pytest.raises(ConfigError, match="data.proxy: unknown key"):
        ProxyConfig.from_mapping({"mouth": 1})
    with pytest.raises(ConfigError, match="mouth_amplitude"):
        ProxyConfig.from_mapping({"mouth_amplitude": [3, 1]})
    with pytest.raises(ConfigError, match="pairs_per_face"):
        ProxyConfig.from_mapping({"pairs_per_face": 0})
    with pytest.raises(DataError):
        make_proxy_pairs(np.zeros((2, 8, 8), np.float32), ["a", "b"])


def test_ckplus_source_faces_one_per_sequence(dataset_path):
    root = dataset_path("ckplus48")
    faces, subjects, ids = ckplus_source_faces(root)
    assert faces.shape == (327, 48, 48) and faces.dtype == np.uint8
    assert len(set(subjects.tolist())) == 118
    first = [i for i in ids if i.endswith("S010_004_00000017.png")]
    assert first  # the lowest-numbered frame of that sequence


def test_ckplus_source_faces_errors(tmp_path):
    with pytest.raises(ConfigError):
        ckplus_source_faces(tmp_path / "nope")
    with pytest.raises(DataError, match="no CK"):
        ckplus_source_faces(tmp_path)


def test_write_proxy_pairs_roundtrips_through_the_manifest(tmp_path):
    faces = np.stack([_face(i) for i in range(2)])
    pairs = make_proxy_pairs(faces, ["S1", "S2"], config=ProxyConfig(pairs_per_face=2))
    manifest = write_proxy_pairs(pairs, tmp_path / "out")
    records = read_pair_manifest(manifest)
    assert [r.label for r in records] == ["posed", "spontaneous"] * 2
    assert [r.subject for r in records] == ["S1", "S1", "S2", "S2"]
    onset, apex = load_pair_images(records, root=manifest.parent)
    np.testing.assert_array_equal(onset, pairs.onset)
    np.testing.assert_array_equal(apex, pairs.apex)
