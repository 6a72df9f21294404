"""openSMILE functionals: ComParE 2016 (6,373) and eGeMAPS v02 (88) per utterance.

openSMILE (audEERING) computes low-level descriptors (energy, spectrum, MFCC, F0, jitter,
shimmer...) every 10 ms and summarises them over the utterance with statistical functionals.
It is an optional dependency (``pip install 'affectlab[speech]'``); see :data:`OPENSMILE_LICENCE`.

Short input: below about 0.1 s openSMILE cannot fill its analysis windows and returns NaN for
(some or all) functionals. ``nan_policy`` decides what happens then: ``"raise"`` (default) raises
:class:`~affectlab.errors.MediaReadError` naming the file and how many functionals are NaN,
``"zero"`` replaces them with 0 (the value of a feature after min-max scaling that saw nothing)
and ``"keep"`` leaves them for the caller. :func:`~affectlab.audio.io.read_audio` already rejects
audio shorter than 0.25 s by default.

Examples
--------
>>> import numpy as np
>>> x = np.random.default_rng(0).normal(scale=0.1, size=16000).astype(np.float32)
>>> opensmile_functionals(x, feature_set="egemaps").shape  # doctest: +SKIP
(88,)
>>> canonical_feature_set("ComParE_2016"), canonical_feature_set("eGeMAPS")
('compare_2016', 'egemaps_v02')
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from affectlab.audio._deps import require
from affectlab.audio.io import MIN_DURATION, TARGET_SAMPLE_RATE, read_audio
from affectlab.errors import ConfigError, MediaReadError
from affectlab.parallel import run_tasks

__all__ = [
    "OPENSMILE_FEATURE_SETS",
    "OPENSMILE_LICENCE",
    "OpenSmileSet",
    "canonical_feature_set",
    "extract_opensmile",
    "opensmile_feature_names",
    "opensmile_functionals",
]

NanPolicy = Literal["raise", "zero", "keep"]

#: Licence note shown in docs, model cards and reports.
OPENSMILE_LICENCE = (
    "openSMILE (c) audEERING GmbH is free for private, research and educational use only "
    "(audEERING research licence, https://github.com/audeering/opensmile/blob/master/LICENSE); "
    "commercial use needs a licence from audEERING. AffectLab keeps it an optional extra."
)


@dataclass(frozen=True)
class OpenSmileSet:
    """A feature set: AffectLab name, openSMILE enum name, dimension, citation."""

    name: str
    opensmile_name: str
    dim: int
    citation: str


#: Supported functionals sets by AffectLab name.
OPENSMILE_FEATURE_SETS: dict[str, OpenSmileSet] = {
    "compare_2016": OpenSmileSet(
        "compare_2016", "ComParE_2016", 6373,
        "Schuller et al. 2016, The INTERSPEECH 2016 Computational Paralinguistics Challenge"),
    "egemaps_v02": OpenSmileSet(
        "egemaps_v02", "eGeMAPSv02", 88,
        "Eyben et al. 2016, The Geneva Minimalistic Acoustic Parameter Set (GeMAPS), IEEE TAC 7(2)"),
}
_ALIASES = {"compare": "compare_2016", "compare_2016": "compare_2016", "compare2016": "compare_2016",
            "egemaps": "egemaps_v02", "egemapsv02": "egemaps_v02", "egemaps_v02": "egemaps_v02"}


def canonical_feature_set(name: str) -> str:
    """AffectLab name of an openSMILE set (accepts ``ComParE_2016``, ``compare``, ``eGeMAPSv02``...)."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in _ALIASES:
        raise ConfigError(f"unknown openSMILE feature set {name!r} (known: {', '.join(OPENSMILE_FEATURE_SETS)})")
    return _ALIASES[key]


@functools.lru_cache(maxsize=4)
def _smile(feature_set: str) -> Any:
    """One openSMILE extractor per feature set and process."""
    opensmile = require("opensmile", "openSMILE features")
    info = OPENSMILE_FEATURE_SETS[feature_set]
    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, info.opensmile_name),
                           feature_level=opensmile.FeatureLevel.Functionals)


def opensmile_feature_names(feature_set: str = "compare_2016") -> list[str]:
    """openSMILE's names of the functionals, in column order (e.g. ``'F0final_sma_amean'``)."""
    return list(_smile(canonical_feature_set(feature_set)).feature_names)


def opensmile_functionals(
    signal: np.ndarray,
    *,
    feature_set: str = "compare_2016",
    sample_rate: int = TARGET_SAMPLE_RATE,
    nan_policy: NanPolicy = "raise",
    source: str = "<signal>",
) -> np.ndarray:
    """Functionals of one mono signal.

    Returns
    -------
    numpy.ndarray
        ``(D,)`` float32 (``D`` = 6,373 for ComParE 2016, 88 for eGeMAPS v02).

    Raises
    ------
    MediaReadError
        Some functionals are NaN (too short an input) and ``nan_policy="raise"``.
    """
    name = canonical_feature_set(feature_set)
    if nan_policy not in ("raise", "zero", "keep"):
        raise ConfigError(f"nan_policy must be 'raise', 'zero' or 'keep', got {nan_policy!r}")
    x = np.ascontiguousarray(np.asarray(signal, dtype=np.float32).reshape(-1))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Segment too short")
        values = np.asarray(_smile(name).process_signal(x, sample_rate).to_numpy(), dtype=np.float32).reshape(-1)
    bad = ~np.isfinite(values)
    if bad.any():
        if nan_policy == "raise":
            seconds = x.size / float(sample_rate)
            raise MediaReadError(
                f"{source}: {int(bad.sum())} of {values.size} {OPENSMILE_FEATURE_SETS[name].opensmile_name} "
                f"functionals are NaN ({seconds:.3f} s of audio is too short for openSMILE; "
                f"use longer segments or nan_policy='zero')")
        if nan_policy == "zero":
            values = np.where(bad, 0.0, values).astype(np.float32)
    return values


def _extract_chunk(paths: Sequence[str], feature_set: str, sample_rate: int, nan_policy: NanPolicy,
                   min_duration: float) -> np.ndarray:
    rows = []
    for path in paths:
        signal = read_audio(path, sample_rate=sample_rate, min_duration=min_duration)
        rows.append(opensmile_functionals(signal, feature_set=feature_set, sample_rate=sample_rate,
                                          nan_policy=nan_policy, source=str(path)))
    return np.stack(rows)


def extract_opensmile(
    paths: Sequence[str | Path],
    *,
    feature_set: str = "compare_2016",
    sample_rate: int = TARGET_SAMPLE_RATE,
    nan_policy: NanPolicy = "raise",
    min_duration: float = MIN_DURATION,
    n_jobs: int | None = None,
    chunk_size: int = 16,
    progress: bool = False,
) -> np.ndarray:
    """Functionals of many audio files, read with :func:`~affectlab.audio.io.read_audio`.

    Files are processed in chunks over ``n_jobs`` processes (joblib; ``None``: 1, ``-1``: all).

    Returns
    -------
    numpy.ndarray
        ``(len(paths), D)`` float32 in the order of ``paths``.

    Raises
    ------
    MediaReadError
        A file is missing, unreadable, too short or silent (named in the message).
    """
    from joblib import delayed, effective_n_jobs

    name = canonical_feature_set(feature_set)
    require("opensmile", "openSMILE features")
    files = [str(p) for p in paths]
    if not files:
        return np.zeros((0, OPENSMILE_FEATURE_SETS[name].dim), dtype=np.float32)
    chunks = [files[i:i + chunk_size] for i in range(0, len(files), chunk_size)]
    jobs = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    tasks = [delayed(_extract_chunk)(c, name, sample_rate, nan_policy, min_duration) for c in chunks]
    out = run_tasks(tasks, jobs, progress=progress, desc=f"openSMILE {OPENSMILE_FEATURE_SETS[name].opensmile_name}",
                    unit="file", total=len(files), advance=lambda block: block.shape[0])
    return np.concatenate(out).astype(np.float32)
