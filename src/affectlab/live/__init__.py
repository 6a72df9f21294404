"""Live analysis: cameras, devices, streams and files analysed frame by frame as the frames come.

- :mod:`affectlab.live.source`: SOURCE parsing and opening (:func:`open_source`), and the
  :class:`FrameGrabber` thread that keeps only the newest frame (dropping, never queueing);
- :mod:`affectlab.live.analyzer`: :class:`LiveAnalyzer`, the tracker and the expression model one
  frame at a time, with per-track smoothing; its :class:`LiveFrame` records are the JSON lines of
  ``affectlab live`` and the answers of the service's ``/v1/stream``;
- :mod:`affectlab.live.run`: :class:`LiveRun`, the loop, and its :class:`LiveStats`.
"""

from affectlab.live.analyzer import LiveAnalyzer, LiveFace, LiveFrame, Smoother
from affectlab.live.run import LiveRun, LiveStats
from affectlab.live.source import FrameGrabber, LiveSource, SourceSpec, SourceStalled, open_source, parse_source

__all__ = [
    "FrameGrabber",
    "LiveAnalyzer",
    "LiveFace",
    "LiveFrame",
    "LiveRun",
    "LiveSource",
    "LiveStats",
    "Smoother",
    "SourceSpec",
    "SourceStalled",
    "open_source",
    "parse_source",
]
