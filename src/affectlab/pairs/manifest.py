"""CSV manifests of onset/apex pairs: ``onset,apex,label,subject`` (one pair per row).

Image paths are relative to the manifest's folder (or absolute). Extra columns are ignored.
Errors name the file and the row (the header is row 1).

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> path = write_pair_manifest(folder / "pairs.csv", [PairRecord("a0.png", "a1.png", "posed", "S001")])
>>> [r.label for r in read_pair_manifest(path)]
['posed']
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from affectlab.data.media import read_image
from affectlab.errors import DataError, MediaReadError

__all__ = ["PAIR_COLUMNS", "PairRecord", "load_pair_images", "read_pair_manifest", "write_pair_manifest"]

PAIR_COLUMNS: tuple[str, ...] = ("onset", "apex", "label", "subject")


@dataclass(frozen=True)
class PairRecord:
    """One row: the onset and apex image paths, the label and the subject id."""

    onset: str
    apex: str
    label: str
    subject: str
    row: int = 0


def read_pair_manifest(path: str | Path) -> list[PairRecord]:
    """Read a pair manifest; paths stay as written (resolve them with :func:`load_pair_images`).

    Raises
    ------
    DataError
        The file is missing, lacks a column, or a row has an empty cell (file and row named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: pair manifest not found")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in PAIR_COLUMNS if c not in header]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)} (need {','.join(PAIR_COLUMNS)})")
            records = []
            for row_number, row in enumerate(reader, start=2):
                values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
                empty = [c for c in PAIR_COLUMNS if not values.get(c)]
                if empty:
                    raise DataError(f"{path}: row {row_number}: empty {', '.join(empty)}")
                records.append(PairRecord(values["onset"], values["apex"], values["label"], values["subject"],
                                          row_number))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text CSV ({exc.reason})") from None
    if not records:
        raise DataError(f"{path}: no pairs")
    return records


def write_pair_manifest(path: str | Path, records: Iterable[PairRecord]) -> Path:
    """Write ``records`` as a manifest CSV (paths written as given)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PAIR_COLUMNS)
        for r in records:
            writer.writerow([r.onset, r.apex, r.label, r.subject])
    return path


def load_pair_images(records: Sequence[PairRecord], *, root: str | Path | None = None,
                     size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Read every pair as gray uint8 ``(N, size, size)`` onset and apex arrays.

    Relative paths resolve against ``root`` (the manifest's folder). A missing or unreadable
    image raises :class:`~affectlab.errors.MediaReadError` naming the row and the file; an onset
    and apex of different sizes (frames of one clip share a size; resizing them apart would
    misalign the apex - onset difference) raise :class:`~affectlab.errors.DataError` naming both.
    """
    base = Path(root) if root is not None else Path.cwd()
    onsets, apexes = [], []
    for record in records:
        pair, files = [], []
        for which in ("onset", "apex"):
            file = Path(getattr(record, which))
            file = file if file.is_absolute() else base / file
            try:
                image = read_image(file, mode="gray")
            except MediaReadError as exc:
                raise MediaReadError(f"row {record.row} ({which}): {exc}") from None
            pair.append(image)
            files.append(file)
        if pair[0].shape != pair[1].shape:
            (h0, w0), (h1, w1) = pair[0].shape, pair[1].shape
            raise DataError(f"row {record.row}: onset {files[0]} is {w0}x{h0} but apex {files[1]} is {w1}x{h1}; "
                            "the two images of a pair must have one size")
        for k, image in enumerate(pair):
            if image.shape != (size, size):
                shrink = image.shape[0] > size or image.shape[1] > size
                pair[k] = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        onsets.append(pair[0])
        apexes.append(pair[1])
    if not onsets:
        raise DataError("no pairs to load")
    return np.stack(onsets), np.stack(apexes)
