"""Alignment and cropping: hand-computable synthetic cases, borders, colour modes, bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from affectlab.errors import ConfigError
from affectlab.face import AlignedFace, FaceBox, align_face, crop_face, crop_region, eye_angle


def synthetic_eyes(angle_deg: float, half_dist: float = 30.0) -> tuple[np.ndarray, tuple, tuple]:
    """White 200x200 image with two black discs (r=8) centred on (100, 100), eye line at angle."""
    t = math.radians(angle_deg)
    left = (100 - half_dist * math.cos(t), 100 - half_dist * math.sin(t))
    right = (100 + half_dist * math.cos(t), 100 + half_dist * math.sin(t))
    img = np.full((200, 200), 255, np.uint8)
    for x, y in (left, right):  # continuous coords -> pixel-centre coords, 4 fractional bits
        cv2.circle(img, (round((x - 0.5) * 16), round((y - 0.5) * 16)), 8 * 16, 0, -1, shift=4)
    return img, left, right


def dark_centroids(crop: np.ndarray) -> list[tuple[float, float]]:
    """Centroids (continuous coords) of the dark pixels in the left and right halves."""
    h, w = crop.shape
    out = []
    for sl in (slice(0, w // 2), slice(w // 2, w)):
        mask = np.zeros_like(crop, bool)
        mask[:, sl] = crop[:, sl] < 128
        ys, xs = np.nonzero(mask)
        out.append((xs.mean() + 0.5, ys.mean() + 0.5))
    return out


@pytest.mark.parametrize("tilt", [20.0, -12.0])
def test_align_levels_synthetic_eyes(tilt):
    img, left, right = synthetic_eyes(tilt)
    box = FaceBox(50, 50, 100, 100)  # centre (100, 100) = eye midpoint
    face = align_face(img, box, (right, left), size=100, margin=0.0)  # order does not matter
    assert face.aligned and face.box == box
    assert face.angle == pytest.approx(tilt, abs=1e-9)
    # rotation about the midpoint (= crop centre) at scale 1: eyes land at (50 -+ 30, 50)
    (lx, ly), (rx, ry) = dark_centroids(face.image)
    assert lx == pytest.approx(20, abs=0.5) and rx == pytest.approx(80, abs=0.5)
    assert ly == pytest.approx(50, abs=0.5) and ry == pytest.approx(50, abs=0.5)
    np.testing.assert_allclose(face.to_crop(np.array([left, right])), [[20, 50], [80, 50]], atol=1e-9)


def test_align_with_resize_keeps_eyes_level():
    img, left, right = synthetic_eyes(15.0)
    face = align_face(img, FaceBox(50, 50, 100, 100), (left, right), size=48, margin=0.2)
    (lx, ly), (rx, ry) = dark_centroids(face.image)
    assert abs(ly - ry) < 0.5
    # side 140 -> 48 px: eyes 60 px apart become 60 * 48 / 140 = 20.6 px
    assert rx - lx == pytest.approx(60 * 48 / 140, abs=0.6)


def test_angle_is_clipped():
    img, left, right = synthetic_eyes(60.0)
    face = align_face(img, FaceBox(50, 50, 100, 100), (left, right), size=32, max_angle=30.0)
    assert face.angle == pytest.approx(30.0)


def test_no_eyes_is_plain_crop():
    img = np.random.default_rng(0).integers(0, 256, (80, 90, 3), dtype=np.uint8)
    box = FaceBox(10, 15, 40, 30)
    face = align_face(img, box, None, size=24, margin=0.25, color="rgb")
    assert isinstance(face, AlignedFace)
    assert not face.aligned and face.angle == 0.0 and face.eyes is None and face.box is box
    np.testing.assert_array_equal(face.image, crop_face(img, box, size=24, margin=0.25, color="rgb"))


def test_crop_exact_slice():
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    out = crop_face(img, FaceBox(2, 3, 4, 4), size=4, margin=0.0)
    np.testing.assert_array_equal(out, img[3:7, 2:6])


def test_crop_non_square_box_is_centred_square():
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    # box 2 wide x 4 high at (4, 3): square side 4 centred on (5, 5) -> rows 3..6, cols 3..6
    out = crop_face(img, FaceBox(4, 3, 2, 4), size=4, margin=0.0)
    np.testing.assert_array_equal(out, img[3:7, 3:7])
    assert crop_region(FaceBox(4, 3, 2, 4), 0.0) == (5.0, 5.0, 4.0)


def test_crop_pads_at_borders():
    img = np.full((10, 10), 200, np.uint8)
    # margin 0.5 around the whole image: 20x20 region with a 5-pixel black frame
    out = crop_face(img, FaceBox(0, 0, 10, 10), size=20, margin=0.5)
    assert out.shape == (20, 20)
    assert (out[5:15, 5:15] == 200).all()
    assert out[:5].max() == 0 and out[:, 15:].max() == 0
    # box hanging off the top-left corner, downscaled output
    out = crop_face(img, FaceBox(-6, -6, 10, 10), size=7, margin=0.1, color="rgb")
    assert out.shape == (7, 7, 3) and out.dtype == np.uint8
    assert out[0, 0].max() == 0 and out[-1, -1].min() == 200
    rep = crop_face(img, FaceBox(-6, -6, 10, 10), size=7, margin=0.1, border="replicate")
    assert (rep == 200).all()
    # box entirely outside the image: all padding, still the requested size
    assert crop_face(img, FaceBox(50, 50, 5, 5), size=9).shape == (9, 9)


def test_rotation_keeps_output_size_near_border():
    img, left, right = synthetic_eyes(25.0)
    face = align_face(img, FaceBox(-20, 150, 100, 100), (left, right), size=33, color="rgb")
    assert face.image.shape == (33, 33, 3)


def test_transform_maps_box_centre_to_crop_centre():
    img = np.zeros((300, 400, 3), np.uint8)
    box = FaceBox(100, 50, 120, 120)
    for eyes in (None, ((130.0, 100.0), (190.0, 110.0))):
        face = align_face(img, box, eyes, size=64, margin=0.1)
        np.testing.assert_allclose(face.to_crop(np.array([box.center])), [[32, 32]], atol=0.5)


def test_eye_angle_convention():
    assert eye_angle(((0, 0), (10, 0))) == 0.0
    assert eye_angle(((10, 10), (0, 0))) == pytest.approx(45.0)  # sorted by x first
    assert eye_angle(((0, 10), (10, 0))) == pytest.approx(-45.0)


@pytest.mark.parametrize(
    "kwargs", [{"size": 0}, {"size": 2.5}, {"margin": -0.1}, {"color": "bgr"}, {"border": "wrap"}]
)
def test_bad_parameters(kwargs):
    img = np.zeros((20, 20), np.uint8)
    with pytest.raises(ConfigError):
        crop_face(img, FaceBox(0, 0, 10, 10), **kwargs)
    with pytest.raises(ConfigError):
        align_face(img, FaceBox(0, 0, 10, 10), None, **kwargs)


def test_bad_inputs():
    img = np.zeros((20, 20), np.uint8)
    with pytest.raises(ValueError, match="box"):
        crop_face(img, FaceBox(0, 0, 0, 10))
    with pytest.raises(ValueError, match="box"):
        crop_face(img, [0, 0, 10, 10])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eyes"):
        align_face(img, FaceBox(0, 0, 10, 10), ((1.0, 2.0),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype"):
        crop_face(img.astype(np.int64), FaceBox(0, 0, 10, 10))


def test_lanczos_shrink_keeps_more_fine_detail_than_area():
    from affectlab.face.align import shrink

    # stripes 3 px wide shrunk by 2: below the new Nyquist limit, so they should survive
    img = np.tile(np.repeat(np.array([0, 255], np.uint8), 3), 16)[None, :].repeat(96, axis=0)
    area, lanczos = shrink(img, 48, "area"), shrink(img, 48, "lanczos")
    assert area.shape == lanczos.shape == (48, 48)
    assert lanczos.astype(float).std() > area.astype(float).std() > 0
    rgb = np.dstack([img] * 3)
    assert shrink(rgb, 48, "lanczos").shape == (48, 48, 3)
    with pytest.raises(ConfigError, match="downscale"):
        shrink(img, 48, "cubic")


def test_align_to_eyes_downscale_is_checked_and_used():
    from affectlab.face import EyeFraming, align_to_eyes

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (200, 200), dtype=np.uint8)
    args = (img, FaceBox(40, 40, 120, 120), ((80.0, 90.0), (120.0, 90.0)), EyeFraming(0.5, 0.4, 0.35))
    area, lanczos = align_to_eyes(*args, size=32).image, align_to_eyes(*args, size=32, downscale="lanczos").image
    assert area.shape == lanczos.shape == (32, 32) and not np.array_equal(area, lanczos)
    with pytest.raises(ConfigError, match="downscale"):
        align_to_eyes(*args, size=32, downscale="bogus")
