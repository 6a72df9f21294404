"""One entry point for every dataset layout: :func:`load_dataset` with format auto-detection."""

from __future__ import annotations

import csv
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from affectlab.data.emodb import EMODB_NAME_PATTERN, emodb_wav_folder, load_emodb
from affectlab.data.fer2013 import load_fer2013
from affectlab.data.folders import (
    CKPLUS_SUBJECT_PATTERN,
    load_class_folders,
    load_filename_labelled,
)
from affectlab.data.manifest import load_manifest
from affectlab.data.orl import ORL_SUBJECT_PATTERN, load_orl
from affectlab.data.sample import Dataset
from affectlab.data.scan import folder_entries, media_files, subfolders
from affectlab.data.textio import csv_errors, open_text
from affectlab.errors import ConfigError, DataError

__all__ = ["load_dataset", "detect_format", "FORMATS"]

_READERS: dict[str, Callable[..., Dataset]] = {
    "fer2013": load_fer2013,
    "folders": load_class_folders,
    "filename": load_filename_labelled,
    "manifest": load_manifest,
    "emodb": load_emodb,
    "orl": load_orl,
}
#: The names ``format=`` accepts (besides ``"auto"``).
FORMATS: tuple[str, ...] = tuple(_READERS)


def _csv_header(path: Path) -> list[str]:
    with csv_errors(path):
        with open_text(path) as handle:
            header = next(csv.reader(handle), None)
    if not header:
        raise DataError(f"{path}: empty file (expected a CSV header)")
    return [column.strip().lower() for column in header]


def _is_csv(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".csv") or name.endswith(".csv.gz")


def _looks_emodb(folder: Path) -> bool:
    wavs = [Path(e.name).stem for e in folder_entries(emodb_wav_folder(folder)) if e.name.lower().endswith(".wav")]
    matching = sum(1 for stem in wavs if EMODB_NAME_PATTERN.match(stem))
    return bool(wavs) and 2 * matching >= len(wavs)


def _looks_orl(dirs: list[Path]) -> bool:
    if not dirs or not all(ORL_SUBJECT_PATTERN.match(d.name) for d in dirs):
        return False
    return any(e.name.lower().endswith(".pgm") for e in folder_entries(dirs[0]))


def detect_format(source: str | Path) -> str:
    """The format :func:`load_dataset` would use for ``source`` (one of :data:`FORMATS`).

    Rules, in order: a ``.csv``/``.csv.gz`` with a ``pixels`` column is ``"fer2013"``, any other
    CSV ``"manifest"``; a folder of EmoDB-named ``.wav`` files (or holding ``wav/`` with them) is
    ``"emodb"``; a folder of ``s<N>/`` sub-folders with ``.pgm`` files ``"orl"``; a folder whose
    sub-folders (``<class>/``) or sub-sub-folders (``<split>/<class>/``) hold media files
    ``"folders"``; a flat folder of ``<label>_*.<ext>`` media files ``"filename"``.

    Raises
    ------
    DataError
        ``source`` is missing, empty, unreadable or matches no rule; the message names it.

    Examples
    --------
    >>> detect_format("../shared/datasets/ckplus48")  # doctest: +SKIP
    'folders'
    """
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: not found")
    if path.is_file():
        if not _is_csv(path):
            raise DataError(f"{path}: unknown dataset file type (expected a .csv/.csv.gz file or a folder)")
        return "fer2013" if "pixels" in _csv_header(path) else "manifest"
    if not path.is_dir():
        raise DataError(f"{path}: not a file or folder")
    if _looks_emodb(path):
        return "emodb"
    dirs = subfolders(path)
    if _looks_orl(dirs):
        return "orl"
    if any(media_files(d) or any(media_files(s) for s in subfolders(d)) for d in dirs):
        return "folders"
    flat = media_files(path)
    if any("_" in f.stem for f in flat):
        if all(CKPLUS_SUBJECT_PATTERN.match(f.stem) for f in flat):  # S010_004_00000017.png
            raise DataError(
                f"{path}: the files are named like CK+ frames (e.g. {flat[0].name}), which carry a subject, "
                f"not a label; give the folder above, whose sub-folders are the classes "
                f"({path.parent}/<class>/...), or say format='filename' (--format filename) to take the "
                "part before the first '_' as the label"
            )
        return "filename"
    contents = "empty folder" if not folder_entries(path) else "no media files in a known layout"
    raise DataError(
        f"{path}: cannot tell the dataset format ({contents}); choose one of {', '.join(FORMATS)} "
        "with format= (--format on the command line)"
    )


def load_dataset(source: str | Path, *, format: str = "auto", **kwargs: Any) -> Dataset:
    """Read any supported dataset into a :class:`Dataset`.

    Parameters
    ----------
    source
        A CSV file (FER2013 or manifest, ``.csv`` or ``.csv.gz``) or a dataset folder.
    format
        ``"auto"`` (see :func:`detect_format`) or one of ``"fer2013"``, ``"folders"``,
        ``"filename"``, ``"manifest"``, ``"emodb"``, ``"orl"``.
    **kwargs
        Passed to the reader, e.g. ``errors="skip"`` (all readers), ``usage="Training"``
        (fer2013), ``classes=[...]`` (folders, filename, manifest).

    Raises
    ------
    DataError
        The source is missing, empty, unreadable or malformed.
    ConfigError
        Unknown ``format`` or an option the chosen reader does not take.

    Examples
    --------
    >>> ds = load_dataset("../shared/datasets/emodb")  # doctest: +SKIP
    >>> ds.kind, len(ds), ds.summary()["subjects"]  # doctest: +SKIP
    ('audio', 535, 10)
    """
    if format != "auto" and format not in _READERS:
        raise ConfigError(f"format {format!r}: expected auto or one of {', '.join(FORMATS)}")
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: not found")
    name = detect_format(path) if format == "auto" else format
    reader = _READERS[name]
    accepted = inspect.signature(reader).parameters
    unknown = sorted(k for k in kwargs if k not in accepted or accepted[k].kind is not inspect.Parameter.KEYWORD_ONLY)
    if unknown:
        raise ConfigError(f"format {name!r} does not take option(s) {', '.join(unknown)}")
    try:
        return reader(path, **kwargs)
    except OSError as exc:  # a last guard: permission errors and the like name the file, no traceback
        raise DataError(f"{exc.filename or path}: cannot read ({exc.strerror or exc})") from None
