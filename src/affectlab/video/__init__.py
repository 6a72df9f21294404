"""Video: frame reading and sampling, face tracking, per-frame expression timelines.

Temporal descriptors (LBP-TOP, LPQ-TOP, SIFT-TOP, SIFT-LBP, frame pooling) live in
:mod:`affectlab.features.temporal`; the CK+48 sequence experiment in
:mod:`affectlab.experiments.sequences`.
"""

from affectlab.video.analyze import FaceFrame, TrackResult, VideoAnalyzer, VideoResult
from affectlab.video.reader import (
    Frame,
    VideoInfo,
    VideoReader,
    is_video_path,
    prefetch,
)
from affectlab.video.tracker import (
    FaceTracker,
    IoUTracker,
    Track,
    TrackedFace,
    box_iou,
    iou_matrix,
)

__all__ = [
    "FaceFrame",
    "FaceTracker",
    "Frame",
    "IoUTracker",
    "Track",
    "TrackResult",
    "TrackedFace",
    "VideoAnalyzer",
    "VideoInfo",
    "VideoReader",
    "VideoResult",
    "box_iou",
    "iou_matrix",
    "is_video_path",
    "prefetch",
]
