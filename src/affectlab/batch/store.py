"""Parquet results that survive interruption: one part file per finished chunk, merged at the end.

While a batch runs, each finished chunk is written atomically to ``<out>.parts/part-*.parquet``, so
a kill (even ``kill -9``) loses at most the chunks in flight. A rerun reads the sources already in
``<out>`` and in the parts, skips them, and finally merges everything into ``<out>``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from affectlab.errors import ConfigError, DataError

__all__ = ["ResultStore", "result_schema", "probability_column", "BASE_COLUMNS"]

#: Columns every result row has, in order; one ``prob_<class>`` column per class follows ``label``.
BASE_COLUMNS = ("source", "media", "status", "error", "n_faces", "n_frames", "label")


def probability_column(class_name: str) -> str:
    """``"prob_<class>"``: the column holding that class's probability for the largest face.

    >>> probability_column("happy")
    'prob_happy'
    """
    return f"prob_{class_name}"


def result_schema(class_names: Sequence[str]) -> pa.Schema:
    """The parquet schema of batch results for a model with ``class_names``.

    >>> result_schema(["a", "b"]).names  # doctest: +NORMALIZE_WHITESPACE
    ['source', 'media', 'status', 'error', 'n_faces', 'n_frames', 'label', 'prob_a', 'prob_b',
     'probabilities', 'valence', 'arousal', 'dominance', 'boxes', 'dataset_label']
    """
    fields = [
        pa.field("source", pa.string(), nullable=False),
        pa.field("media", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("n_faces", pa.int32(), nullable=False),
        pa.field("n_frames", pa.int32()),
        pa.field("label", pa.string()),
        *[pa.field(probability_column(c), pa.float64()) for c in class_names],
        pa.field("probabilities", pa.string()),
        pa.field("valence", pa.float64()),
        pa.field("arousal", pa.float64()),
        pa.field("dominance", pa.float64()),
        pa.field("boxes", pa.string(), nullable=False),
        pa.field("dataset_label", pa.string()),
    ]
    return pa.schema(fields)


class ResultStore:
    """Results of one batch: the final parquet file ``out`` plus its journal of part files.

    Parameters
    ----------
    out
        The parquet file to produce.
    class_names
        Classes of the model, giving the ``prob_<class>`` columns.
    """

    def __init__(self, out: str | Path, class_names: Sequence[str]) -> None:
        self.out = Path(out)
        self.parts_dir = self.out.with_name(self.out.name + ".parts")
        self.schema = result_schema(class_names)

    # -- reading -------------------------------------------------------------------------------
    def _files(self) -> list[Path]:
        files = [self.out] if self.out.is_file() else []
        if self.parts_dir.is_dir():
            files += sorted(self.parts_dir.glob("part-*.parquet"))
        return files

    def _read(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        try:
            names = pq.read_schema(path).names
            if names != self.schema.names:
                raise ConfigError(
                    f"{path}: earlier results have columns {','.join(names)}, this run writes "
                    f"{','.join(self.schema.names)} (another model?); use --restart or another --out"
                )
            return pq.read_table(path, columns=columns)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{path}: cannot read earlier batch results ({exc});"
                            " use --restart or another --out") from None

    def done(self) -> dict[str, str]:
        """``source -> status`` of every item already recorded (final file and journal)."""
        status: dict[str, str] = {}
        for path in self._files():
            table = self._read(path, ["source", "status"])
            for source, state in zip(table.column("source").to_pylist(), table.column("status").to_pylist()):
                status[source] = state
        return status

    # -- writing -------------------------------------------------------------------------------
    def write_chunk(self, rows: Sequence[dict[str, Any]]) -> Path | None:
        """Append finished rows as one journal part (written to a temporary name, then renamed)."""
        if not rows:
            return None
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(list(rows), schema=self.schema)
        name = f"part-{len(list(self.parts_dir.glob('part-*.parquet'))):06d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.parts_dir / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.parts_dir / name)
        return self.parts_dir / name

    def finalize(self, order: Sequence[str] = ()) -> int:
        """Merge the final file and the journal into ``out`` (rows in ``order``, later rows win); rows written."""
        files = self._files()
        if not files:
            pq.write_table(self.schema.empty_table(), self._tmp())
            os.replace(self._tmp(), self.out)
            return 0
        tables = [self._read(path) for path in files]
        rows: dict[str, dict[str, Any]] = {}
        for table in tables:
            for row in table.to_pylist():
                rows[row["source"]] = row
        position = {source: i for i, source in enumerate(order)}
        ranked = sorted(rows, key=lambda s: (position.get(s, len(position)), s))
        merged = pa.Table.from_pylist([rows[s] for s in ranked], schema=self.schema)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(merged, self._tmp())
        os.replace(self._tmp(), self.out)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return merged.num_rows

    def clear(self) -> None:
        """Delete earlier results (the final file and the journal)."""
        if self.out.is_file():
            self.out.unlink()
        shutil.rmtree(self.parts_dir, ignore_errors=True)

    def _tmp(self) -> Path:
        return self.out.with_name(f".{self.out.name}.tmp")
