"""Tracking: IoU association, one id per person, re-detection after a loss."""

from __future__ import annotations

import numpy as np
import pytest

from affectlab.errors import ConfigError
from affectlab.face import FaceBox
from affectlab.video import FaceTracker, IoUTracker, box_iou, iou_matrix


def test_iou_hand_values():
    assert box_iou(FaceBox(0, 0, 10, 10), FaceBox(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou(FaceBox(0, 0, 10, 10), FaceBox(10, 10, 5, 5)) == 0.0
    assert iou_matrix([], [FaceBox(0, 0, 1, 1)]).shape == (0, 1)


def test_two_moving_boxes_keep_their_ids_even_when_listed_in_another_order():
    tracker = IoUTracker()
    a, b = FaceBox(0, 0, 40, 40), FaceBox(100, 0, 40, 40)
    assert [t.id for t, _ in tracker.update([a, b])] == [1, 2]
    for step in range(1, 6):
        a2, b2 = FaceBox(4 * step, 0, 40, 40), FaceBox(100 - 4 * step, 2, 40, 40)
        assert [t.id for t, _ in tracker.update([b2, a2])] == [2, 1]


def test_short_loss_keeps_the_id_long_loss_starts_a_new_one():
    tracker = IoUTracker(max_missed=2)
    box = FaceBox(10, 10, 50, 50)
    tracker.update([box])
    tracker.update([])
    tracker.update([])
    assert [t.id for t, _ in tracker.update([box])] == [1]  # missed 2 frames: still alive
    for _ in range(3):
        tracker.update([])
    assert [t.id for t, _ in tracker.update([box])] == [2]  # missed 3 > 2: a new person


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError):
        IoUTracker(iou_threshold=0)
    with pytest.raises(ConfigError):
        FaceTracker(scan_every=0)


@pytest.mark.parametrize("scan_every", [1, 4])
def test_a_real_face_translated_across_frames_keeps_one_track_id(scan_every, make_face_frames):
    tracker = FaceTracker(scan_every=scan_every)
    ids, xs = [], []
    for frame in make_face_frames(10, step=6):
        faces = tracker.step(frame)
        ids.append([f.track_id for f in faces])
        xs.append(faces[0].box.x if faces else None)
    assert ids == [[1]] * 10
    assert np.all(np.diff(xs) > 0)  # the box follows the face to the right
    if scan_every > 1:
        assert tracker.n_roi > 0 and tracker.n_scans < 10  # windows re-detected the face in between


def test_face_lost_for_two_frames_is_redetected_with_the_same_id(make_face_frames):
    tracker = FaceTracker(scan_every=5, max_missed=3)
    ids = [[f.track_id for f in tracker.step(frame)] for frame in make_face_frames(9, step=3, absent=(4, 5))]
    assert ids[4] == [] and ids[5] == []
    assert ids[:4] == [[1]] * 4 and ids[6:] == [[1]] * 3


def test_tracks_carry_base_face_eyes_for_alignment(make_face_frames):
    tracker = FaceTracker(scan_every=3)
    faces = [tracker.step(frame) for frame in make_face_frames(4, step=4)]
    assert all(f[0].eyes is not None for f in faces)
    # the eyes move with the box: same offset from the box in every frame
    offsets = [(f[0].eyes[0][0] - f[0].box.x) / f[0].box.w for f in faces]
    assert max(offsets) - min(offsets) < 1e-9
