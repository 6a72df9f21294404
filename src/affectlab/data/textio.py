"""Opening (possibly gzipped) CSV text and turning its failures into one :class:`DataError`."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from affectlab.errors import DataError

__all__ = ["open_text", "csv_errors"]


def open_text(path: Path) -> io.TextIOBase:
    """Open ``.csv`` or ``.csv.gz`` as UTF-8 text (a leading BOM is dropped)."""
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


@contextmanager
def csv_errors(path: Path) -> Iterator[None]:
    """Re-raise gzip, decoding, CSV and OS errors met while reading ``path`` as one DataError."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt compressed file ({exc})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text CSV file") from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
