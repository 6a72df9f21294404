"""Videos with the landmark front-end: tracks followed by refitting landmarks, pose columns, loss."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from affectlab import ExpressionAnalyzer
from affectlab.data import sample_photo
from affectlab.face import FaceBox
from affectlab.video import VideoAnalyzer
from affectlab.video.tracker import FaceTracker, follow_box, plausible_landmarks

from .conftest import face_frames

pytest.importorskip("dlib", reason="the landmark front-end needs pip install 'affectlab[landmarks]'")


@pytest.mark.parametrize("side", [360, 280])  # a 73 px face is followed, a 55 px one re-detected near its box
def test_landmarks_follow_a_moving_face_between_scans(side):
    tracker = FaceTracker("dlib", scan_every=5)
    size = (640, 480) if side == 360 else (400, 300)
    faces = [tracker.step(frame) for frame in face_frames(12, step=5, side=side, size=size)]
    assert [[f.track_id for f in frame] for frame in faces] == [[1]] * 12
    assert tracker.n_scans == 3 and tracker.n_roi == 9  # frames 0, 5, 10 scanned; the others followed
    boxes = [frame[0].box.x for frame in faces]
    steps = np.diff(boxes)  # the box moves with the face, 5 px a frame (detections at two scales: +-5 px)
    assert steps.mean() == pytest.approx(5.0, abs=0.5)
    assert np.abs(steps - 5.0).max() <= (1.01 if side == 360 else 5.0)
    assert all(frame[0].landmarks.shape == (5, 2) for frame in faces)


@pytest.mark.parametrize("side", [360, 280])
def test_a_face_that_vanishes_is_lost_and_found_again(side):
    tracker = FaceTracker("dlib", scan_every=10, min_hits=2)
    frames = face_frames(12, step=3, absent=(5, 6), side=side, size=(640, 480) if side == 360 else (400, 300))
    counts = [len(tracker.step(frame)) for frame in frames]
    assert counts == [1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1]  # the blank frames trigger scans that find nothing
    assert tracker.n_scans >= 3


def test_plausible_landmarks_accepts_a_face_and_refuses_a_slid_box():
    from affectlab.face.dlib_detector import DlibFrontEnd

    front = DlibFrontEnd()
    photo = sample_photo()
    [box] = front.detect(photo)
    assert plausible_landmarks(front.landmarks(photo, box), box)
    away = FaceBox(330, 380, box.w, box.h)  # the box slid onto the spacesuit
    assert not plausible_landmarks(np.array([[350.0, 400.0]] * 5), away)
    pts = np.array([[60.0, 40.0], [52.0, 40.0], [20.0, 40.0], [28.0, 40.0], [40.0, 30.0]])  # nose above the eyes
    assert not plausible_landmarks(pts, FaceBox(0, 0, 80, 80))


def test_follow_box_clips_and_drops_a_face_leaving_the_image():
    pts = np.array([[10.0, 10.0], [30.0, 10.0], [20.0, 30.0]])  # centroid (20, 16.67)
    offset = (0.0, 20.0 - 50.0 / 3.0)
    assert follow_box(FaceBox(0, 0, 40, 40), pts + [15, 0], offset, (40, 40)) == FaceBox(15, 0, 25, 40, None)
    assert follow_box(FaceBox(0, 0, 40, 40), pts + [35, 0], offset, (40, 40)) is None


def test_video_csv_and_json_carry_pose_and_landmarks(tmp_path, make_video):
    video = make_video(tmp_path / "face.avi", face_frames(8, step=4))
    result = VideoAnalyzer(ExpressionAnalyzer(detector="dlib")).analyze(video)
    [track] = result.tracks
    frame = track.to_dict()["frames"][0]
    assert len(frame["landmarks"]) == 5 and set(frame["pose"]) == {"yaw", "pitch", "roll"}
    rows = list(csv.DictReader(open(result.write_csv(tmp_path / "frames.csv"), encoding="utf-8")))
    assert len(rows) == 8
    assert all(abs(float(r["roll"])) < 10 and r["yaw"] != "" and r["pitch"] != "" for r in rows)
    points = json.loads(rows[0]["landmarks"])
    assert len(points) == 5 and float(rows[0]["x"]) < points[2][0] < float(rows[0]["x"]) + float(rows[0]["w"])
    haar = VideoAnalyzer(ExpressionAnalyzer(detector="haar")).analyze(video)
    rows = list(csv.DictReader(open(haar.write_csv(tmp_path / "haar.csv"), encoding="utf-8")))
    assert rows and rows[0]["yaw"] == "" and rows[0]["landmarks"] == ""
