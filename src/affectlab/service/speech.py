"""``POST /v1/speech``: an uploaded recording analysed through :class:`affectlab.media.MediaAnalyzer`."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from affectlab.data.folders import AUDIO_SUFFIXES
from affectlab.errors import MediaReadError
from affectlab.media import MediaAnalyzer
from affectlab.service.uploads import UploadRejected

__all__ = ["analyze_speech_bytes", "MAX_AUDIO_S"]

#: Longest recording analysed (seconds, from the file's header before decoding): a 10 MB MP3 can
#: hold 40 minutes, 900 MB once decoded, and openSMILE's one call cannot be stopped at the timeout.
MAX_AUDIO_S = 600.0
#: Most samples (all channels) decoded: 10 minutes of 48 kHz stereo.
MAX_AUDIO_SAMPLES = int(MAX_AUDIO_S * 48_000 * 2)


def _check_length(path: str, filename: str) -> None:
    """413 for a recording whose header states more than ``MAX_AUDIO_S`` s or ``MAX_AUDIO_SAMPLES``."""
    try:
        import soundfile as sf

        info = sf.info(path)
        frames, rate, channels = int(info.frames), float(info.samplerate), int(info.channels)
    except Exception:  # noqa: BLE001 - not readable: read_audio says why, as for any bad file
        return
    if rate > 0 and frames / rate > MAX_AUDIO_S:
        raise UploadRejected(413, f"{filename}: recording of {frames / rate:.0f} s exceeds the limit of "
                                  f"{MAX_AUDIO_S:g} s")
    if frames * max(channels, 1) > MAX_AUDIO_SAMPLES:
        raise UploadRejected(413, f"{filename}: recording of {frames} frames x {channels} channels exceeds the "
                                  f"limit of {MAX_AUDIO_SAMPLES} samples")


def analyze_speech_bytes(media: MediaAnalyzer, data: bytes, *, filename: str) -> dict[str, Any]:
    """Write the upload to a temporary file and analyse it (:meth:`MediaAnalyzer.analyze` as a recording):
    categories, probabilities and V/A/D.

    Raises
    ------
    MediaReadError
        The recording is unreadable, empty, too short or silent; the message names ``filename``.
    UploadRejected
        413: the header states more than ``MAX_AUDIO_S`` seconds (nothing is decoded).
    """
    suffix = Path(filename).suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        suffix = ".wav"  # libsndfile reads the header; the suffix is only a hint
    start = time.perf_counter()
    handle, tmp = tempfile.mkstemp(prefix="affectlab-upload-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        _check_length(tmp, filename)
        result = media.analyze(tmp, kind="audio")
    finally:
        os.unlink(tmp)
    if result.status != "ok":
        raise MediaReadError(str(result.error or "speech analysis failed").replace(tmp, filename))
    answer = result.to_dict()
    answer["source"] = filename
    answer["seconds"] = round(time.perf_counter() - start, 4)
    return answer
