"""FER2013 canonical CSV reader (``emotion,pixels,Usage``; ``.csv`` or ``.csv.gz``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from affectlab.data.sample import Dataset, Sample
from affectlab.data.textio import csv_errors, open_text
from affectlab.errors import DataError
from affectlab.labels import FER2013_CLASSES

__all__ = ["load_fer2013", "fer2013_arrays", "parse_pixels", "FER2013_COLUMNS", "FER2013_SIDE"]

FER2013_COLUMNS = ("emotion", "pixels", "Usage")
FER2013_SIDE = 48

OnError = Literal["raise", "skip"]


def _parse_row(row: dict[str, str], line: int, path: Path) -> tuple[int, np.ndarray, str]:
    where = f"{path}: row {line}"
    raw_label = (row.get("emotion") or "").strip()
    try:
        label = int(raw_label)
    except ValueError:
        raise DataError(f"{where}: emotion {raw_label!r} is not an integer 0-6") from None
    if not 0 <= label < len(FER2013_CLASSES):
        raise DataError(f"{where}: emotion {label} is not a known class (0-6)")
    pixels = parse_pixels(row.get("pixels") or "", where)
    usage = (row.get("Usage") or "").strip()
    if not usage:
        raise DataError(f"{where}: empty Usage")
    return label, pixels, usage


def parse_pixels(text: str, where: str) -> np.ndarray:
    """A FER2013 ``pixels`` cell (2304 space-separated values 0..255) as a 48x48 uint8 image.

    ``where`` ("file: row N") starts the :class:`~affectlab.errors.DataError` of a bad cell.

    >>> parse_pixels(" ".join(["7"] * 2304), "x.csv: row 2").shape
    (48, 48)
    """
    fields = text.split()
    if len(fields) != FER2013_SIDE * FER2013_SIDE:
        raise DataError(f"{where}: {len(fields)} pixel values, expected {FER2013_SIDE * FER2013_SIDE}")
    try:
        values = np.array(fields, dtype=np.int32)
    except ValueError:
        raise DataError(f"{where}: pixels contain a non-integer value") from None
    if values.min() < 0 or values.max() > 255:
        raise DataError(f"{where}: pixel values must lie in 0..255")
    return values.astype(np.uint8).reshape(FER2013_SIDE, FER2013_SIDE)


def load_fer2013(
    path: str | Path,
    *,
    usage: str | list[str] | None = None,
    errors: OnError = "raise",
    limit: int | None = None,
    progress: bool = False,
) -> Dataset:
    """Read the FER2013 CSV into a :class:`Dataset` of inline 48x48 gray images.

    Parameters
    ----------
    path
        ``fer2013.csv`` or ``fer2013.csv.gz`` with columns ``emotion,pixels,Usage``.
    usage
        Keep only these ``Usage`` values (e.g. ``"Training"``); all rows when ``None``.
    errors
        ``"raise"``: the first bad row raises :class:`DataError` naming it. ``"skip"``: bad rows
        are left out and listed in ``Dataset.problems``.
    limit
        Stop after this many kept rows (quick looks and tests).
    progress
        Show a row counter on stderr while reading (the full file takes a few seconds).

    FER2013 has no subject ids, so ``Sample.subject`` is ``None``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {'is a folder, expected a CSV file' if path.is_dir() else 'file not found'}")
    wanted = None if usage is None else ({usage} if isinstance(usage, str) else set(usage))
    samples: list[Sample] = []
    problems: list[str] = []
    with csv_errors(path):
        with open_text(path) as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                raise DataError(f"{path}: empty file (expected header {','.join(FER2013_COLUMNS)})")
            missing = [c for c in FER2013_COLUMNS if c not in header]
            if missing:
                raise DataError(
                    f"{path}: wrong columns {','.join(header)}; expected {','.join(FER2013_COLUMNS)}"
                    f" (missing {','.join(missing)})"
                )
            rows = tqdm(reader, desc=f"reading {path.name}", unit=" rows", disable=None if progress else True,
                        leave=False)
            for row_number, row in enumerate(rows, start=2):  # line 1 is the header
                if wanted is not None and (row.get("Usage") or "").strip() not in wanted:
                    continue
                try:
                    label, pixels, split = _parse_row(row, row_number, path)
                except DataError as exc:
                    if errors == "raise":
                        raise
                    problems.append(str(exc))
                    continue
                samples.append(
                    Sample(
                        id=f"{path.name}:{row_number}",
                        label=FER2013_CLASSES[label],
                        split=split,
                        pixels=pixels,
                        extras={"row": row_number},
                    )
                )
                if limit is not None and len(samples) >= limit:
                    break
    if not samples and not problems:
        raise DataError(f"{path}: no data rows" + (f" with Usage in {sorted(wanted)}" if wanted else ""))
    return Dataset("fer2013", samples, list(FER2013_CLASSES), "image", path.parent, problems)


def fer2013_arrays(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Stack a FER2013 dataset into ``X`` (N, 48, 48) uint8 and ``y`` (N,) int64."""
    X = np.stack([s.pixels for s in dataset.samples]) if len(dataset) else np.zeros((0, 48, 48), np.uint8)
    return X, dataset.targets
