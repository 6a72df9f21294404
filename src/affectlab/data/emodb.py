"""Berlin EmoDB reader: ``emodb/wav/<speaker 2 digits><text 3 chars><emotion letter><version>.wav``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from affectlab.data.folders import _check_errors, _finish, _problem
from affectlab.data.sample import Dataset, Sample
from affectlab.data.scan import folder_entries, is_folder

__all__ = [
    "load_emodb",
    "parse_emodb_name",
    "emodb_wav_folder",
    "EMODB_EMOTIONS",
    "EMODB_CLASSES",
    "EMODB_NAME_PATTERN",
]

OnError = Literal["raise", "skip"]

#: Emotion letter (position 6 of the file name) -> class name, in EmoDB's documented order.
EMODB_EMOTIONS: dict[str, str] = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
EMODB_CLASSES: tuple[str, ...] = tuple(EMODB_EMOTIONS.values())

#: ``03a01Fa``: speaker ``03``, text ``a01``, emotion letter ``F``, version ``a``.
EMODB_NAME_PATTERN = re.compile(r"^(?P<speaker>\d{2})(?P<text>[a-z]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])$")


def parse_emodb_name(stem: str) -> tuple[str, str, str, str]:
    """``(speaker, label, text, version)`` from an EmoDB file stem.

    Raises
    ------
    ValueError
        The stem does not follow the EmoDB naming scheme or has an unknown emotion letter.

    Examples
    --------
    >>> parse_emodb_name("03a01Fa")
    ('03', 'happiness', 'a01', 'a')
    """
    match = EMODB_NAME_PATTERN.match(stem)
    if match is None:
        raise ValueError(f"name {stem!r} does not follow <speaker 2 digits><text 3 chars><emotion><version>")
    letter = match["emotion"]
    if letter not in EMODB_EMOTIONS:
        raise ValueError(f"unknown emotion letter {letter!r} (expected one of {''.join(EMODB_EMOTIONS)})")
    return match["speaker"], EMODB_EMOTIONS[letter], match["text"], match["version"]


def emodb_wav_folder(root: Path) -> Path:
    """``root/wav`` when it exists, else ``root`` (accepts both ``emodb`` and ``emodb/wav``)."""
    return root / "wav" if (root / "wav").is_dir() else root


def load_emodb(root: str | Path, *, errors: OnError = "raise", name: str = "emodb") -> Dataset:
    """Read Berlin EmoDB utterances (audio is listed, not decoded).

    Parameters
    ----------
    root
        The ``emodb`` folder (holding ``wav/``) or the ``wav`` folder itself.
    errors
        ``"raise"``: a ``.wav`` whose name does not follow the scheme raises
        :class:`~affectlab.errors.DataError` naming it; ``"skip"``: it goes to
        ``Dataset.problems``.
    name
        Dataset name.

    Returns
    -------
    Dataset
        ``kind="audio"``; ``subject`` = speaker (``"03"``), ``label`` from the emotion letter
        (classes in the order of :data:`EMODB_CLASSES`), extras ``text``, ``version``.

    Examples
    --------
    >>> ds = load_emodb("../shared/datasets/emodb")  # doctest: +SKIP
    >>> len(ds), ds.summary()["subjects"]  # doctest: +SKIP
    (535, 10)
    """
    _check_errors(errors)
    root = Path(root)
    folder = emodb_wav_folder(root)
    problems: list[str] = []
    samples: list[Sample] = []
    for entry in folder_entries(folder):
        if is_folder(entry) or not entry.name.lower().endswith(".wav"):
            continue
        path = Path(entry.path)
        try:
            speaker, label, text, version = parse_emodb_name(path.stem)
        except ValueError as exc:
            _problem(f"{path}: not an EmoDB file name: {exc}", errors, problems)
            continue
        samples.append(
            Sample(
                id=path.name,
                path=path,
                label=label,
                subject=speaker,
                extras={"text": text, "version": version},
            )
        )
    dataset = _finish(name, folder, samples, list(EMODB_CLASSES), problems, ".wav files")
    dataset.kind = "audio"
    return dataset
