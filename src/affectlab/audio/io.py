"""Audio input: read wav/flac/mp3/ogg, mix down to mono, resample to 16 kHz, reject bad input.

Every reader returns a 1-D float32 signal in [-1, 1] at ``sample_rate`` (16 kHz by default, the
rate of openSMILE's ComParE/eGeMAPS configurations and of the wav2vec2-family models). Audio
that cannot be used raises :class:`~affectlab.errors.MediaReadError` naming the file and the
problem: missing or unreadable files, no samples, non-finite samples, audio shorter than
``min_duration`` seconds, or silence (peak amplitude around the mean, so a constant DC offset
counts as silence, below ``silence_threshold``).

Decoding uses ``soundfile`` (libsndfile: wav, flac, ogg/vorbis, mp3 with libsndfile >= 1.1);
resampling uses ``soxr`` (the SoX resampler, "HQ" quality). Both come with the optional
``affectlab[speech]`` extra.

Examples
--------
>>> import numpy as np
>>> tone = np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
>>> y = resample(tone, 22050, 16000)
>>> y.shape, y.dtype.name
((16000,), 'float32')
>>> check_signal(np.zeros(16000), 16000, source="zeros.wav")
Traceback (most recent call last):
...
affectlab.errors.MediaReadError: zeros.wav: silent audio (peak amplitude 0 < 0.0001)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from affectlab.audio._deps import require
from affectlab.data.decoders import QUIET_DECODERS_ENV, decoder_stderr_dropped
from affectlab.errors import MediaReadError

__all__ = [
    "AUDIO_SUFFIXES",
    "QUIET_DECODERS_ENV",
    "MIN_DURATION",
    "SILENCE_THRESHOLD",
    "TARGET_SAMPLE_RATE",
    "check_signal",
    "file_sha256",
    "is_audio_path",
    "read_audio",
    "resample",
    "to_mono",
]

#: File suffixes treated as audio (lower case).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg"})
#: Sample rate every signal is brought to.
TARGET_SAMPLE_RATE = 16_000
#: Sample rates read (Hz); a header outside them is corrupt (a 1 Hz rate once made soxr crash the process).
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 1_000_000
#: Most samples :func:`resample` produces (2**30: 18.6 hours at 16 kHz); soxr overflows past 2**31.
MAX_RESAMPLED_SAMPLES = 2**30
#: Shortest usable audio in seconds (openSMILE functionals are all NaN below ~0.1 s).
MIN_DURATION = 0.25
#: Peak absolute amplitude (around the signal's mean) below which audio counts as silent.
SILENCE_THRESHOLD = 1e-4
def is_audio_path(path: str | Path) -> bool:
    """Whether ``path`` has an audio suffix (:data:`AUDIO_SUFFIXES`).

    >>> is_audio_path("a/b.WAV"), is_audio_path("face.png")
    (True, False)
    """
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def to_mono(signal: np.ndarray) -> np.ndarray:
    """Mix ``(n,)`` or ``(n, channels)`` audio down to ``(n,)`` float32 (mean of the channels).

    >>> to_mono(np.array([[1.0, 0.0], [0.5, 0.5]])).tolist()
    [0.5, 0.5]
    """
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim == 2:
        return x.mean(axis=1, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"audio must be (n,) or (n, channels), got shape {x.shape}")
    return x


def resample(signal: np.ndarray, orig_rate: int, target_rate: int = TARGET_SAMPLE_RATE,
             *, quality: str = "HQ") -> np.ndarray:
    """Resample a mono signal with soxr; returns float32 (a copy even when the rates agree).

    Raises ``ValueError`` for rates outside ``MIN_SAMPLE_RATE..MAX_SAMPLE_RATE`` Hz or an output
    longer than ``MAX_RESAMPLED_SAMPLES``.
    """
    x = np.asarray(signal, dtype=np.float32)
    if orig_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} -> {target_rate}")
    for rate in (orig_rate, target_rate):
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise ValueError(f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    if orig_rate == target_rate or x.size == 0:
        return x.copy()
    if x.size * (target_rate / orig_rate) > MAX_RESAMPLED_SAMPLES:
        raise ValueError(f"{x.size} samples at {orig_rate} Hz are too long to resample to {target_rate} Hz")
    soxr = require("soxr", "resampling audio")
    return np.asarray(soxr.resample(x, orig_rate, target_rate, quality=quality), dtype=np.float32)


def check_signal(
    signal: np.ndarray,
    sample_rate: int,
    *,
    source: str = "<signal>",
    min_duration: float = MIN_DURATION,
    silence_threshold: float = SILENCE_THRESHOLD,
) -> np.ndarray:
    """Validate a mono signal; return it as float32.

    Integer PCM (``int16`` / ``int32`` as ``scipy.io.wavfile`` or ``soundfile(dtype="int16")``
    give it; unsigned 8-bit) is scaled to [-1, 1] first, the range every reader here returns.

    >>> check_signal(np.array([16384, -32768] * 4000, np.int16), 16000)[:2].tolist()
    [0.5, -1.0]

    Raises
    ------
    MediaReadError
        Empty, non-finite, shorter than ``min_duration`` seconds, or silent (peak of
        ``|x - mean(x)|`` below ``silence_threshold``: a constant offset is no sound); the
        message starts with ``source``.
    """
    try:
        x = np.asarray(signal)
        if x.dtype.kind in "iu":  # integer PCM: full scale is 2 ** (bits - 1); unsigned is offset by that
            full_scale = float(2 ** (8 * x.dtype.itemsize - 1))
            x = ((x.astype(np.float64) - (full_scale if x.dtype.kind == "u" else 0.0)) / full_scale)
        x = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise MediaReadError(f"{source}: not a numeric audio signal ({exc})") from None
    if x.ndim != 1:
        raise MediaReadError(f"{source}: expected mono audio of shape (n,), got {x.shape}")
    if x.size == 0:
        raise MediaReadError(f"{source}: empty audio (0 samples)")
    if not np.all(np.isfinite(x)):
        raise MediaReadError(f"{source}: audio holds NaN or infinite samples")
    duration = x.size / float(sample_rate)
    if duration < min_duration:
        raise MediaReadError(f"{source}: too short ({duration:.3f} s; at least {min_duration:g} s needed)")
    peak = float(np.max(np.abs(x - x.mean(dtype=np.float64))))
    if peak < silence_threshold:
        raise MediaReadError(f"{source}: silent audio (peak amplitude {peak:.3g} < {silence_threshold:g})")
    return x


def read_audio(
    path: str | Path,
    *,
    sample_rate: int = TARGET_SAMPLE_RATE,
    min_duration: float = MIN_DURATION,
    silence_threshold: float = SILENCE_THRESHOLD,
) -> np.ndarray:
    """Read an audio file as mono float32 at ``sample_rate`` and validate it.

    Parameters
    ----------
    path
        A wav, flac, ogg or mp3 file (anything libsndfile decodes).
    sample_rate
        Output rate in Hz (soxr "HQ" resampling when the file's rate differs).
    min_duration, silence_threshold
        See :func:`check_signal`.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float32.

    Raises
    ------
    MediaReadError
        Missing, unreadable, empty, too short or silent; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise MediaReadError(f"{path}: file not found")
    if not path.is_file():
        raise MediaReadError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise MediaReadError(f"{path}: empty file")
    sf = require("soundfile", f"reading {path}")
    try:
        with decoder_stderr_dropped():
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        # the file exists (checked above): libsndfile's "File does not exist or is not a regular file"
        # is what it says when a decoder (e.g. mpg123 for .mp3) rejects the data
        reason = str(exc.error_string).strip().rstrip(".")
        if "does not exist" in reason:
            reason = "the data could not be decoded"
        raise MediaReadError(f"{path}: cannot read audio (corrupt, truncated or unsupported format: "
                             f"{reason})") from None
    except (RuntimeError, OSError, ValueError, TypeError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise MediaReadError(f"{path}: cannot read audio ({reason})") from None
    if data.shape[0] == 0:
        raise MediaReadError(f"{path}: empty audio (0 samples)")
    if not np.all(np.isfinite(data)):  # a corrupt float WAV: refused before mixing warns of overflows
        raise MediaReadError(f"{path}: audio holds NaN or infinite samples")
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # huge finite floats: inf, refused by check_signal
            mono = resample(to_mono(data), int(rate), sample_rate)
    except ValueError as exc:
        raise MediaReadError(f"{path}: cannot resample ({exc})") from None
    return check_signal(mono, sample_rate, source=str(path), min_duration=min_duration,
                        silence_threshold=silence_threshold)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes (cache keys)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
