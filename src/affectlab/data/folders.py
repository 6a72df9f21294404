"""Folder readers: class-per-folder trees (``root/<class>/<file>``, ``root/<split>/<class>/<file>``)
and filename-labelled folders (``root/<label>_<rest>.<ext>``).

Readers list files; they never decode media (a corrupt image still loads here, and only
:func:`affectlab.data.read_image` fails on it). Scans are sorted in natural order (``x2`` before
``x10``), so the sample order is deterministic.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from affectlab.data.sample import Dataset, MediaKind, Sample
from affectlab.data.scan import AUDIO_SUFFIXES, VIDEO_SUFFIXES, media_files, media_kind, natural_key, subfolders
from affectlab.errors import ConfigError, DataError

__all__ = [
    "load_class_folders",
    "load_filename_labelled",
    "media_kind",
    "parse_subject",
    "AUDIO_SUFFIXES",
    "VIDEO_SUFFIXES",
    "CKPLUS_SUBJECT_PATTERN",
]

OnError = Literal["raise", "skip"]

#: CK+ file stems ``S010_006_00000015``: subject ``S010``, sequence ``S010_006``, frame 15.
CKPLUS_SUBJECT_PATTERN = re.compile(r"^(?P<sequence>(?P<subject>S\d+)_\d+)_(?P<frame>\d+)$")


def parse_subject(
    stem: str, pattern: str | re.Pattern[str] | None = CKPLUS_SUBJECT_PATTERN
) -> tuple[str | None, dict[str, Any]]:
    """Subject id and extra fields from a file stem, using a regex with a ``subject`` group.

    Other named groups become extras; ``frame`` is converted to ``int``. No match: ``(None, {})``.

    Examples
    --------
    >>> parse_subject("S010_006_00000015")
    ('S010', {'sequence': 'S010_006', 'frame': 15})
    >>> parse_subject("happy_001")
    (None, {})
    """
    if pattern is None:
        return None, {}
    match = re.match(pattern, stem)
    if match is None:
        return None, {}
    groups = match.groupdict()
    subject = groups.pop("subject", None)
    extras: dict[str, Any] = {k: v for k, v in groups.items() if v is not None}
    if isinstance(extras.get("frame"), str) and extras["frame"].isdigit():
        extras["frame"] = int(extras["frame"])
    return subject, extras


# -- helpers shared by the readers of this package -----------------------------------------------


def _check_errors(errors: str) -> None:
    if errors not in ("raise", "skip"):
        raise ConfigError(f"errors={errors!r}: expected 'raise' or 'skip'")


def _problem(message: str, errors: str, problems: list[str]) -> None:
    """Raise ``DataError(message)`` or record it, according to ``errors``."""
    if errors == "raise":
        raise DataError(message)
    problems.append(message)


def _dataset_kind(samples: Iterable[Sample], default: MediaKind = "image") -> MediaKind:
    kinds = Counter(media_kind(s.path) for s in samples if s.path is not None)
    kinds.pop(None, None)
    return kinds.most_common(1)[0][0] if kinds else default  # type: ignore[return-value]


def _normalise_label(raw: str) -> str:
    return raw.strip().lower()


def _vocabulary(samples: Iterable[Sample], allowed: list[str] | None) -> list[str]:
    """``allowed`` when given, else the labels found in natural order."""
    if allowed is not None:
        return allowed
    return sorted({s.label for s in samples if s.label is not None}, key=natural_key)


def _finish(
    name: str,
    root: Path,
    samples: list[Sample],
    classes: list[str],
    problems: list[str],
    what: str,
) -> Dataset:
    if not samples and not problems:
        raise DataError(f"{root}: no {what} found")
    return Dataset(name, samples, classes, _dataset_kind(samples), root, problems)


# -- readers --------------------------------------------------------------------------------------


def _looks_split_layout(top: list[Path]) -> bool:
    """True when the top folders hold only sub-folders (``<split>/<class>/``), no media files."""
    has_media = any(media_files(d) for d in top)
    has_nested = any(subfolders(d) for d in top)
    return has_nested and not has_media


def load_class_folders(
    root: str | Path,
    *,
    splits: bool | None = None,
    classes: Sequence[str] | None = None,
    subject_pattern: str | re.Pattern[str] | None = CKPLUS_SUBJECT_PATTERN,
    errors: OnError = "raise",
    name: str | None = None,
) -> Dataset:
    """Read a class-per-folder tree: ``root/<class>/<file>`` or ``root/<split>/<class>/<file>``.

    Parameters
    ----------
    root
        The tree's top folder, e.g. ``ckplus48`` or a Kaggle FER folder with ``train/`` and
        ``test/``.
    splits
        ``True``: the top folders are splits (``train/happy/x.png`` -> split ``"train"``);
        ``False``: they are classes; ``None`` (default): splits when the top folders hold only
        sub-folders.
    classes
        The allowed class names in order; a folder outside it is a bad item. Default: the class
        folder names (lower case) in sorted order, empty folders included.
    subject_pattern
        Regex with a ``subject`` group matched against each file stem (default: CK+
        ``S010_006_00000015`` -> subject ``"S010"``, extras ``sequence``, ``frame``). Files that
        do not match get ``subject=None``.
    errors
        ``"raise"``: the first bad item raises :class:`DataError`; ``"skip"``: it is left out and
        listed in ``Dataset.problems``. Bad items: media files outside a class folder, folders
        nested inside a class folder, a class not in ``classes``.
    name
        Dataset name; default: the folder name.

    Non-media files (``README``, ``.txt``) and hidden entries are ignored. Media files are listed,
    not decoded.

    Examples
    --------
    >>> ds = load_class_folders("../shared/datasets/ckplus48")  # doctest: +SKIP
    >>> ds.summary()["subjects"]  # doctest: +SKIP
    118
    """
    _check_errors(errors)
    root = Path(root)
    top = subfolders(root)
    if not top:
        raise DataError(f"{root}: no class folders (expected {root}/<class>/<file>)")
    problems: list[str] = []
    for stray in media_files(root):
        _problem(f"{stray}: media file outside a class folder", errors, problems)
    if splits is None:
        splits = _looks_split_layout(top)
    groups: list[tuple[str | None, Path]] = []
    if splits:
        for split_dir in top:
            for stray in media_files(split_dir):
                _problem(f"{stray}: media file outside a class folder in split {split_dir.name!r}", errors, problems)
            groups.extend((split_dir.name, class_dir) for class_dir in subfolders(split_dir))
    else:
        groups = [(None, class_dir) for class_dir in top]

    allowed = None if classes is None else [_normalise_label(c) for c in classes]
    found: set[str] = set()
    samples: list[Sample] = []
    for split, class_dir in groups:
        label = _normalise_label(class_dir.name)
        if allowed is not None and label not in allowed:
            _problem(f"{class_dir}: unknown class {label!r} (expected one of {', '.join(allowed)})", errors, problems)
            continue
        found.add(label)
        for nested in subfolders(class_dir):
            _problem(f"{nested}: unexpected folder inside class folder {class_dir.name!r}", errors, problems)
        for file in media_files(class_dir):
            subject, extras = parse_subject(file.stem, subject_pattern)
            samples.append(
                Sample(
                    id=file.relative_to(root).as_posix(),
                    path=file,
                    label=label,
                    subject=subject,
                    split=split,
                    extras=extras,
                )
            )
    vocabulary = allowed if allowed is not None else sorted(found, key=natural_key)
    return _finish(name or root.resolve().name, root, samples, vocabulary, problems, "media files in class folders")


def load_filename_labelled(
    root: str | Path,
    *,
    separator: str = "_",
    classes: Sequence[str] | None = None,
    subject_pattern: str | re.Pattern[str] | None = CKPLUS_SUBJECT_PATTERN,
    errors: OnError = "raise",
    name: str | None = None,
) -> Dataset:
    """Read a flat folder whose file names carry the label: ``happy_001.png`` -> ``"happy"``.

    Parameters
    ----------
    root
        The folder; sub-folders and non-media files are ignored.
    separator
        The label is the part of the stem before the first ``separator``.
    classes
        Allowed labels in order; default: the labels found, sorted.
    subject_pattern
        Regex with a ``subject`` group matched against the rest of the stem (after the label), e.g.
        ``happy_S010_006_00000015.png`` -> subject ``"S010"``.
    errors
        ``"raise"`` or ``"skip"`` (see :func:`load_class_folders`). Bad items: a name without the
        separator or with an empty label, a label not in ``classes``.
    name
        Dataset name; default: the folder name.

    Examples
    --------
    >>> ds = load_filename_labelled("faces/")  # doctest: +SKIP
    >>> ds[0].label  # doctest: +SKIP
    'happy'
    """
    _check_errors(errors)
    if not separator:
        raise ConfigError("separator must be a non-empty string")
    root = Path(root)
    allowed = None if classes is None else [_normalise_label(c) for c in classes]
    problems: list[str] = []
    samples: list[Sample] = []
    for file in media_files(root):
        raw, sep, rest = file.stem.partition(separator)
        label = _normalise_label(raw)
        if not sep or not label:
            expected = f"<label>{separator}<rest>{file.suffix}"
            _problem(f"{file}: no label in the file name (expected {expected})", errors, problems)
            continue
        if allowed is not None and label not in allowed:
            _problem(f"{file}: unknown label {label!r} (expected one of {', '.join(allowed)})", errors, problems)
            continue
        subject, extras = parse_subject(rest, subject_pattern)
        samples.append(Sample(id=file.name, path=file, label=label, subject=subject, extras=extras))
    vocabulary = _vocabulary(samples, allowed)
    return _finish(name or root.resolve().name, root, samples, vocabulary, problems, "media files")
