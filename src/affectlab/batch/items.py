"""What a batch runs over: image files in folders, CSV lists of paths, datasets with inline pixels."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlab.data import detect_format, load_dataset
from affectlab.data.fer2013 import parse_pixels
from affectlab.data.scan import find_media
from affectlab.data.textio import csv_errors, open_text
from affectlab.errors import AffectLabError, ConfigError, DataError
from affectlab.media import MEDIA_KINDS, media_kind

__all__ = ["BatchItem", "discover_items", "BATCH_MEDIA"]

#: Media kinds a batch analyses: faces in images and videos, emotion in speech recordings.
BATCH_MEDIA = MEDIA_KINDS


@dataclass(frozen=True)
class BatchItem:
    """One thing to analyse.

    Parameters
    ----------
    source
        Unique key of the item, written to the ``source`` column and used to resume: the absolute
        file path, or ``"<csv>:<row>"`` for inline pixels.
    path
        Image file to read (``None`` when ``pixels`` is given).
    pixels
        Inline uint8 image (FER2013 rows).
    label
        The label the source gives (class folder, manifest column), if any.
    media
        ``"image"``, ``"video"`` or ``"audio"`` (from the file suffix).
    error
        Why the item cannot be analysed, known while listing it (a CSV row with bad pixels or
        an empty path): it becomes a row with status ``error`` instead of stopping the batch.
    """

    source: str
    path: str | None = None
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)
    label: str | None = None
    media: str = "image"
    error: str | None = None


#: ``"<csv name>: row <n>: <problem>"``, the form of the FER2013 reader's skipped-row messages.
_ROW_PROBLEM = re.compile(r": row (\d+): ")


def _absolute(path: Path) -> str:
    return str(path.absolute())


def _folder_items(folder: Path) -> list[BatchItem]:
    media = find_media(folder, BATCH_MEDIA)
    if not media:
        raise ConfigError(f"{folder}: folder holds no image, video or audio files")
    labels: dict[str, str | None] = {}
    try:  # labels from class folders (<class>/ or <split>/<class>/); other folders give none
        if detect_format(folder) == "folders":
            dataset = load_dataset(folder, format="folders", errors="skip")
            labels = {_absolute(s.path): s.label for s in dataset if s.path is not None}
    except AffectLabError:
        pass
    return [BatchItem(_absolute(p), _absolute(p), label=labels.get(_absolute(p)), media=media_kind(p) or "image")
            for p in media]


def _csv_items(path: Path) -> list[BatchItem]:
    with csv_errors(path):
        with open_text(path) as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise DataError(f"{path}: empty file (expected a header with a 'path' column)")
            header = [(c or "").strip().lower() for c in reader.fieldnames]
            if "pixels" in header and "emotion" not in header:  # unlabelled, like Kaggle's FER test.csv
                reader.fieldnames = header
                items = [_unlabelled_pixel_item(path, reader.line_num, row) for row in reader]
                if not items:
                    raise DataError(f"{path}: no data rows")
                return items
            if "pixels" in header:
                return _pixel_items(path)
            if "path" not in header:
                raise DataError(f"{path}: no 'path' column (has {','.join(header)})")
            reader.fieldnames = header
            items: list[BatchItem] = []
            seen: set[str] = set()
            for row in reader:
                raw = (row.get("path") or "").strip()
                if not raw:  # one bad row never stops the batch: it becomes an error row
                    key = f"{_absolute(path)}:{reader.line_num}"
                    items.append(BatchItem(key, error=f"{path}: row {reader.line_num}: empty path"))
                    continue
                file = Path(raw) if Path(raw).is_absolute() else path.parent / raw
                key = _absolute(file)
                if key in seen:
                    continue
                seen.add(key)
                label = (row.get("label") or "").strip().lower() or None
                kind = media_kind(file) or "image"  # suffix, else content; missing/unknown files become per-item errors
                items.append(BatchItem(key, key, label=label, media=kind))
    if not items:
        raise DataError(f"{path}: no data rows")
    return items


def _unlabelled_pixel_item(path: Path, line: int, row: dict[str, str]) -> BatchItem:
    """One row of a CSV with a ``pixels`` column and no ``emotion``; a bad cell makes an error item."""
    key = f"{_absolute(path)}:{line}"
    try:
        return BatchItem(key, pixels=parse_pixels(row.get("pixels") or "", f"{path}: row {line}"))
    except DataError as exc:
        return BatchItem(key, error=str(exc))


def _pixel_items(path: Path) -> list[BatchItem]:
    """Items of a FER2013-style CSV, ``"<csv>:<row>"`` each; a row the reader skips becomes an error item."""
    dataset = load_dataset(path, format="fer2013", errors="skip")
    rows: list[tuple[int, BatchItem]] = []
    for sample in dataset:
        row = int(sample.id.rsplit(":", 1)[-1])
        rows.append((row, BatchItem(f"{_absolute(path)}:{row}", pixels=sample.pixels, label=sample.label)))
    for problem in dataset.problems:
        match = _ROW_PROBLEM.search(problem)
        if match is None:  # not about one row: keep the reader's refusal
            raise DataError(problem)
        row = int(match.group(1))
        rows.append((row, BatchItem(f"{_absolute(path)}:{row}", error=problem)))
    return [item for _, item in sorted(rows, key=lambda pair: pair[0])]


def discover_items(sources: str | Path | Iterable[str | Path]) -> list[BatchItem]:
    """The items of one or more sources, in a stable order, each source key once.

    A folder contributes every image, video and audio file below it (sorted; ``label`` from
    its class folders when it has that layout; not the files affectlab wrote there, e.g. with
    ``analyze --save``: :func:`affectlab.outputs.skip_tool_outputs`); a ``.csv``/``.csv.gz``
    lists files in a ``path`` column (relative to the CSV; optional ``label``) or holds FER2013
    ``pixels`` rows; a media file is one item.

    Raises
    ------
    ConfigError, DataError
        A source is missing, holds no images, or is a CSV without a ``path``/``pixels`` column.

    Examples
    --------
    >>> import tempfile, cv2, numpy as np, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = cv2.imwrite(str(d / "a.png"), np.zeros((8, 8), np.uint8))
    >>> [pathlib.Path(i.source).name for i in discover_items(d)]
    ['a.png']
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    items: list[BatchItem] = []
    seen: set[str] = set()
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = _folder_items(path)
        elif path.is_file():
            name = path.name.lower()
            if name.endswith((".csv", ".csv.gz")):
                found = _csv_items(path)
            elif media_kind(path) in BATCH_MEDIA:
                found = [BatchItem(_absolute(path), _absolute(path), media=media_kind(path) or "image")]
            else:
                raise ConfigError(f"{path}: not an image, video or audio file, a folder or a CSV list of media files")
        else:
            raise ConfigError(f"{path}: not found")
        for item in found:
            if item.source not in seen:
                seen.add(item.source)
                items.append(item)
    return items
