"""Speech front-end: audio I/O, openSMILE functionals, self-supervised embeddings, speech experiments.

Importing this package needs no optional dependency; soundfile/soxr/opensmile
(``pip install 'affectlab[speech]'``) and transformers (``pip install 'affectlab[ssl]'``) are
imported when first used, with one clear error when missing.
"""

from affectlab.audio.io import (
    AUDIO_SUFFIXES,
    TARGET_SAMPLE_RATE,
    check_signal,
    is_audio_path,
    read_audio,
    resample,
)
from affectlab.audio.normalise import (
    NORMALISATIONS,
    describe_normalisation,
    normalise,
    normalise_per_speaker,
)
from affectlab.audio.norms import AFFECTIVE_NORMS, category_to_vad

__all__ = [
    "AFFECTIVE_NORMS",
    "AUDIO_SUFFIXES",
    "NORMALISATIONS",
    "TARGET_SAMPLE_RATE",
    "category_to_vad",
    "check_signal",
    "describe_normalisation",
    "is_audio_path",
    "normalise",
    "normalise_per_speaker",
    "read_audio",
    "resample",
]
