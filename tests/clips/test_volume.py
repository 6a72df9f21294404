"""Clip -> aligned face volume: hand-checked cases, lost frames, and every refusal."""

from __future__ import annotations

import numpy as np
import pytest

from affectlab.clips import (
    ClipMissingFrames,
    ClipNoFace,
    ClipRefused,
    ClipTooShort,
    ClipUnreadable,
    VolumeBuilder,
    VolumeSettings,
    clip_volume,
)
from affectlab.clips.volume import nearest_positions
from affectlab.errors import ConfigError, MediaReadError, NoFaceError
from affectlab.face import FER2013_EYE_FRAMING, align_to_eyes, create_detector, eye_centres
from affectlab.face.dlib_detector import make_frontend


@pytest.fixture(scope="module")
def frontend():
    """One face front-end for the module (loading the landmark model once)."""
    return make_frontend("auto")


@pytest.fixture(scope="module")
def builder(frontend):
    return VolumeBuilder(frames=4, size=48, detector=frontend)


def test_volume_of_a_moving_face_does_not_jitter(builder, clip_dir):
    v = builder(clip_dir / "face.avi")
    assert v.volume.shape == (4, 48, 48) and v.volume.dtype == np.uint8
    assert v.n_frames == 8 and v.n_face_frames == 8 and v.n_tracks == 1
    assert v.frame_indices == [0, 2, 5, 7] and v.filled == [False] * 4
    # the face only moves: aligned, the frames are nearly the same picture (unaligned crops of a
    # fixed box would differ by the 21 px the face moved)
    frames = v.volume.astype(np.float64)
    assert np.abs(frames - frames[0]).mean(axis=(1, 2)).max() < 6.0
    # the eyes follow the face: 3 px per frame in x, 1 in y (smoothed)
    mid = v.eyes.mean(axis=1)
    assert np.allclose(np.diff(mid[:, 0]), 3.0, atol=0.5) and np.allclose(np.diff(mid[:, 1]), 1.0, atol=0.5)


def test_volume_frames_are_the_faces_aligned_on_the_first_frame_eyes(clip_dir, frontend):
    from affectlab.video.reader import VideoReader

    v = clip_volume(clip_dir / "face.avi", frames=8, size=48, smooth=1, detector=frontend)
    first = next(iter(VideoReader(clip_dir / "face.avi"))).image
    detector = frontend
    box = detector.detect(first)[0]
    eyes = eye_centres(detector.landmarks(first, box)) if hasattr(detector, "landmarks") else v.eyes[0]
    direct = align_to_eyes(first, box, eyes, FER2013_EYE_FRAMING, size=48).image
    assert np.abs(direct.astype(int) - v.volume[0]).mean() < 2.0


def test_short_clip_is_refused_or_repeated(clip_dir, frontend):
    with pytest.raises(ClipTooShort, match=r"short\.avi: 2 frame\(s\), fewer than the 3"):
        clip_volume(clip_dir / "short.avi", frames=3, size=32, detector=frontend)
    v = clip_volume(clip_dir / "short.avi", frames=3, size=32, short="repeat", detector=frontend)
    assert v.frame_indices == [0, 1, 1] and v.volume.shape == (3, 32, 32)


def test_no_face_and_corrupt_clips_give_one_line_naming_the_file(builder, clip_dir):
    with pytest.raises(ClipNoFace) as no_face:
        builder(clip_dir / "blank.avi")
    with pytest.raises(ClipUnreadable) as corrupt:
        builder(clip_dir / "corrupt.mp4")
    with pytest.raises(ClipUnreadable, match="file not found"):
        builder(clip_dir / "absent.mp4")
    for info, reason in ((no_face, "no_face"), (corrupt, "unreadable")):
        message = str(info.value)
        assert "\n" not in message and message.startswith(str(clip_dir)), message
        assert info.value.reason == reason
    # the general types still catch them
    assert isinstance(no_face.value, NoFaceError) and isinstance(corrupt.value, MediaReadError)


def test_lost_frames_are_filled_or_refused(clip_dir, frontend):
    gap = clip_dir / "gap.avi"  # the face is absent from frames 4 and 5 of 10
    v = clip_volume(gap, frames=10, size=32, detector=frontend)
    assert v.n_face_frames == 8 and v.filled == [False] * 4 + [True, True] + [False] * 4
    near = clip_volume(gap, frames=10, size=32, fill="nearest", detector=frontend)
    assert near.frame_indices == [0, 1, 2, 3, 3, 6, 6, 7, 8, 9]
    assert np.array_equal(near.volume[4], near.volume[3])
    with pytest.raises(ClipMissingFrames, match="lost in 2 of 10 frames"):
        clip_volume(gap, frames=10, size=32, missing="refuse", detector=frontend)
    with pytest.raises(ClipMissingFrames, match="more than max_missing 0.1"):
        clip_volume(gap, frames=10, size=32, max_missing=0.1, detector=frontend)


def test_the_haar_front_end_also_gives_a_volume(clip_dir):
    v = VolumeBuilder(frames=3, size=32, detector="haar")(clip_dir / "face.avi")
    assert v.volume.shape == (3, 32, 32) and v.n_face_frames >= 6


def test_lanczos_downscale_gives_the_same_faces_sharper(clip_dir, frontend):
    area = clip_volume(clip_dir / "face.avi", frames=3, size=32, detector=frontend)
    lanczos = clip_volume(clip_dir / "face.avi", frames=3, size=32, detector=frontend, downscale="lanczos")
    assert lanczos.frame_indices == area.frame_indices and np.allclose(lanczos.eyes, area.eyes)
    a, b = area.volume.astype(float), lanczos.volume.astype(float)
    assert 0 < np.abs(a - b).mean() < 8.0  # the same crops, resampled differently
    assert np.abs(np.diff(b, axis=2)).mean() > np.abs(np.diff(a, axis=2)).mean()


def test_a_detector_object_can_be_shared(clip_dir):
    v = VolumeBuilder(frames=3, size=32, detector=create_detector("haar"))(clip_dir / "face.avi")
    assert v.volume.shape == (3, 32, 32)


@pytest.mark.parametrize("bad", [{"frames": 0}, {"size": 4}, {"missing": "drop"}, {"fill": "zero"},
                                 {"short": "pad"}, {"max_missing": 1.0}, {"smooth": 0}, {"unknown": 1},
                                 {"framing": {"eye_x": 2.0}}, {"max_frames": 0}, {"keep_tilt": 100},
                                 {"downscale": "nearest"}])
def test_bad_settings_raise_config_errors(bad):
    with pytest.raises(ConfigError):
        VolumeSettings.from_mapping(bad)


def test_nearest_positions_spread_over_the_clip():
    assert nearest_positions(24, 3).tolist() == [0, 12, 23]
    assert nearest_positions(5, 5).tolist() == [0, 1, 2, 3, 4]
    assert nearest_positions(1, 3).tolist() == [0, 0, 0]


def test_refusals_are_clip_refused():
    assert all(issubclass(c, ClipRefused) for c in (ClipNoFace, ClipTooShort, ClipUnreadable, ClipMissingFrames))
