"""``POST /v1/video``: an uploaded video analysed with :class:`affectlab.video.VideoAnalyzer`."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from affectlab.data.folders import VIDEO_SUFFIXES

__all__ = ["analyze_video_bytes"]


def analyze_video_bytes(
    video_analyzer_cls: Any,
    analyzer: Any,
    data: bytes,
    *,
    filename: str,
    fps: float | None,
    max_frames: int,
    frames: bool,
) -> dict[str, Any]:
    """Write the upload to a temporary file (OpenCV reads paths) and analyse it with the shared analyser.

    Returns :meth:`VideoResult.to_dict` with ``source`` set to the uploaded name and ``seconds``.
    """
    suffix = Path(filename).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        suffix = ".mp4"  # OpenCV probes the container; the suffix is only a hint
    start = time.perf_counter()
    handle, tmp = tempfile.mkstemp(prefix="affectlab-upload-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        video = video_analyzer_cls(analyzer)
        try:
            result = video.analyze(tmp, fps=fps, max_frames=max_frames)
        except Exception as exc:  # name the upload, not the temporary file
            exc.args = tuple(str(a).replace(tmp, filename) if isinstance(a, str) else a for a in exc.args)
            raise
        out_dict = result.to_dict(frames=frames)
    finally:
        os.unlink(tmp)
    out_dict["source"] = filename
    out_dict["seconds"] = round(time.perf_counter() - start, 4)
    return out_dict
