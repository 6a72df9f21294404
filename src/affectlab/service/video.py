"""``POST /v1/video``: an uploaded video analysed through :class:`affectlab.media.MediaAnalyzer`."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from affectlab.data.folders import VIDEO_SUFFIXES
from affectlab.data.media import ImageTooLarge, sniff_image_format
from affectlab.media import MediaAnalyzer
from affectlab.service.engine import current_deadline
from affectlab.service.uploads import UploadRejected

__all__ = ["analyze_video_bytes", "check_not_still_image"]

#: Frames decoded ahead of the analysis, and faces classified per model call: few, so that a
#: request stopped at its deadline (between frames) ends soon after it.
PREFETCH_FRAMES = 2
BATCH_SIZE = 16


def check_not_still_image(data: bytes, filename: str) -> None:
    """Refuse (415) an upload that is a still image: OpenCV would read it as a one-frame video."""
    still = sniff_image_format(data[:32])
    if still is not None and still != "GIF":
        raise UploadRejected(415, f"{filename}: a {still} still image, not a video; send images to /v1/faces")


def analyze_video_bytes(
    media: MediaAnalyzer,
    data: bytes,
    *,
    filename: str,
    fps: float | None,
    max_frames: int,
    frames: bool,
    max_pixels: int | None = None,
) -> dict[str, Any]:
    """Write the upload to a temporary file (OpenCV reads paths) and analyse it with the shared face analyser
    (:meth:`MediaAnalyzer.video`).

    Frames larger than ``max_pixels`` are refused (413) before one is decoded; on the inference
    thread, reading stops between frames at the request's deadline (504). Returns
    :meth:`VideoResult.to_dict` with ``source`` set to the uploaded name and ``seconds``.
    """
    from affectlab.video.reader import FrameDeadlineExceeded, read_limits  # (video: optional in a build)

    check_not_still_image(data, filename)
    suffix = Path(filename).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        suffix = ".mp4"  # OpenCV probes the container; the suffix is only a hint
    start = time.perf_counter()
    handle, tmp = tempfile.mkstemp(prefix="affectlab-upload-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        video = media.video(prefetch_frames=PREFETCH_FRAMES, batch_size=BATCH_SIZE)
        try:
            with read_limits(deadline=current_deadline(), max_pixels=max_pixels):
                result = video.analyze(tmp, fps=fps, max_frames=max_frames)
        except FrameDeadlineExceeded:
            raise UploadRejected(504, f"{filename}: the video analysis was stopped at the timeout") from None
        except ImageTooLarge as exc:
            raise UploadRejected(413, str(exc).replace(tmp, filename)) from None
        except Exception as exc:  # name the upload, not the temporary file
            exc.args = tuple(str(a).replace(tmp, filename) if isinstance(a, str) else a for a in exc.args)
            raise
        out_dict = result.to_dict(frames=frames)
    finally:
        os.unlink(tmp)
    out_dict["source"] = filename
    out_dict["seconds"] = round(time.perf_counter() - start, 4)
    return out_dict
