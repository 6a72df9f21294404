"""Generic CSV manifest reader: ``path,label,subject,split[,valence,arousal,dominance,...]``."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from affectlab.data.folders import _check_errors, _finish, _normalise_label, _problem, _vocabulary, media_kind
from affectlab.data.sample import Dataset, Sample
from affectlab.data.textio import csv_errors, open_text
from affectlab.errors import DataError

__all__ = ["load_manifest", "MANIFEST_COLUMNS", "DIMENSIONS"]

OnError = Literal["raise", "skip"]

#: Required columns; ``subject`` and ``split`` cells may be blank (-> ``None``).
MANIFEST_COLUMNS = ("path", "label", "subject", "split")
#: Optional numeric columns, stored as floats in ``Sample.extras``.
DIMENSIONS = ("valence", "arousal", "dominance")


def _row_sample(
    row: dict[str | None, Any],
    line: int,
    path: Path,
    allowed: list[str] | None,
) -> Sample:
    where = f"{path}: row {line}"
    base = path.parent
    if None in row:
        raise DataError(f"{where}: more fields than the header has columns")
    cells = {key: (value or "").strip() for key, value in row.items() if key is not None}
    raw_path = cells["path"]
    if not raw_path:
        raise DataError(f"{where}: empty path")
    label = _normalise_label(cells["label"])
    if not label:
        raise DataError(f"{where}: empty label")
    if allowed is not None and label not in allowed:
        raise DataError(f"{where}: unknown label {label!r} (expected one of {', '.join(allowed)})")
    file = base / raw_path
    if media_kind(file) is None:
        raise DataError(f"{where}: {raw_path!r} is not an image, audio or video file (suffix {file.suffix!r})")
    if not file.is_file():
        what = "is a folder" if file.is_dir() else "file not found"
        raise DataError(f"{where}: {raw_path!r} {what} (paths are relative to {base})")
    extras: dict[str, Any] = {"row": line}
    for column, value in cells.items():
        if column in MANIFEST_COLUMNS or not value:
            continue
        if column in DIMENSIONS:
            try:
                number = float(value)
            except ValueError:
                raise DataError(f"{where}: column {column}: {value!r} is not a number") from None
            if not math.isfinite(number):
                raise DataError(f"{where}: column {column}: {value!r} is not a finite number")
            extras[column] = number
        else:
            extras[column] = value
    return Sample(
        id=Path(raw_path).as_posix(),
        path=file,
        label=label,
        subject=cells["subject"] or None,
        split=cells["split"] or None,
        extras=extras,
    )


def load_manifest(
    path: str | Path,
    *,
    classes: Sequence[str] | None = None,
    errors: OnError = "raise",
    name: str | None = None,
) -> Dataset:
    """Read a CSV manifest (``.csv`` or ``.csv.gz``) listing media files with their labels.

    Parameters
    ----------
    path
        CSV with header ``path,label,subject,split`` (any order) and optional ``valence``,
        ``arousal``, ``dominance`` and other columns. ``path`` is relative to the CSV's folder (or
        absolute); blank ``subject``/``split`` cells mean unknown.
    classes
        Allowed labels in order; default: the labels found, sorted.
    errors
        ``"raise"``: the first bad row raises :class:`~affectlab.errors.DataError` naming the file
        and row (the line number, header = 1); ``"skip"``: bad rows go to ``Dataset.problems``.
        Missing columns, an empty or unreadable file always raise.
    name
        Dataset name; default: the file name without ``.csv``/``.csv.gz``.

    Returns
    -------
    Dataset
        One sample per row, ``id`` = the path as written; the dimensions are floats in
        ``extras`` (as are other non-empty columns, as strings) with the ``row`` number. The media
        kind (image/audio/video) comes from the file suffixes; files are not decoded.

    Examples
    --------
    >>> ds = load_manifest("clips/manifest.csv")  # doctest: +SKIP
    >>> ds[0].extras["valence"]  # doctest: +SKIP
    0.25
    """
    _check_errors(errors)
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {'is a folder, expected a CSV file' if path.is_dir() else 'file not found'}")
    allowed = None if classes is None else [_normalise_label(c) for c in classes]
    samples: list[Sample] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    with csv_errors(path):
        with open_text(path) as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise DataError(f"{path}: empty file (expected header {','.join(MANIFEST_COLUMNS)})")
            header = [(column or "").strip().lower() for column in reader.fieldnames]
            reader.fieldnames = header
            missing = [c for c in MANIFEST_COLUMNS if c not in header]
            if missing:
                raise DataError(
                    f"{path}: missing column(s) {','.join(missing)} (has {','.join(header)}; "
                    f"expected {','.join(MANIFEST_COLUMNS)}[,{','.join(DIMENSIONS)}])"
                )
            for row in reader:
                line = reader.line_num
                try:
                    sample = _row_sample(row, line, path, allowed)
                    if sample.id in seen:
                        raise DataError(f"{path}: row {line}: {sample.id!r} already listed at row {seen[sample.id]}")
                except DataError as exc:
                    _problem(str(exc), errors, problems)
                    continue
                seen[sample.id] = line
                samples.append(sample)
    vocabulary = _vocabulary(samples, allowed)
    stem = path.name.removesuffix(".gz").removesuffix(".csv")
    if not samples and not problems:
        raise DataError(f"{path}: no data rows")
    return _finish(name or stem, path.parent, samples, vocabulary, problems, "rows")
