"""``POST /v1/speech``: an uploaded recording analysed with :class:`affectlab.audio.analyze.SpeechAnalyzer`."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from affectlab.data.folders import AUDIO_SUFFIXES
from affectlab.errors import MediaReadError

__all__ = ["analyze_speech_bytes"]


def analyze_speech_bytes(speech_analyzer: Any, data: bytes, *, filename: str) -> dict[str, Any]:
    """Write the upload to a temporary file and analyse it: categories, probabilities and V/A/D.

    Raises
    ------
    MediaReadError
        The recording is unreadable, empty, too short or silent; the message names ``filename``.
    """
    suffix = Path(filename).suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        suffix = ".wav"  # libsndfile reads the header; the suffix is only a hint
    start = time.perf_counter()
    handle, tmp = tempfile.mkstemp(prefix="affectlab-upload-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        result = speech_analyzer.analyze_path(tmp)
    finally:
        os.unlink(tmp)
    if result.status != "ok":
        raise MediaReadError(str(result.error or "speech analysis failed").replace(tmp, filename))
    answer = result.to_dict()
    answer["source"] = filename
    answer["seconds"] = round(time.perf_counter() - start, 4)
    return answer
