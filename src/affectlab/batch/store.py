"""Parquet results that survive interruption: one part file per finished chunk, merged at the end.

While a batch runs, each finished chunk is written atomically to ``<out>.parts/part-*.parquet``, so
a kill (even ``kill -9``) loses at most the chunks in flight. A rerun reads the sources already in
``<out>`` and in the parts, skips them, and finally merges everything into ``<out>``.

Every file records the settings its rows were made with (parquet metadata :data:`SETTINGS_KEY`); a
store opened with other settings refuses to resume from it, naming the difference. The parts folder
carries the tool's marker (:mod:`affectlab.outputs`): a folder of that name without it is refused, and
only the part files of the store's own naming are ever removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from affectlab.errors import ConfigError, DataError
from affectlab.outputs import MARKER_NAME, require_marker, write_marker

__all__ = ["ResultStore", "result_schema", "probability_column", "BASE_COLUMNS", "SETTINGS_KEY", "PARTS_KIND"]

#: Parquet metadata key of the JSON ``{"tool": "affectlab", "settings": {...}, "files": {...}}`` of every file.
SETTINGS_KEY = b"affectlab.batch"
#: Marker kind of a batch's journal folder.
PARTS_KIND = "batch-parts"
_PART = re.compile(r"part-\d{6}-[0-9a-f]{8}\.parquet")
_PART_TMP = re.compile(r"\.part-\d{6}-[0-9a-f]{8}\.parquet\.tmp")

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
     'probabilities', 'valence', 'arousal', 'dominance', 'boxes', 'dataset_label', 'model',
     'landmarks', 'yaw', 'pitch', 'roll']
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
        pa.field("model", pa.string()),  # the network that made the row (face model; speech model for recordings)
        # the largest face's landmarks ([[x, y], ...] image pixels) and head pose (degrees): landmark front-end only
        pa.field("landmarks", pa.list_(pa.list_(pa.float64()))),
        pa.field("yaw", pa.float64()),
        pa.field("pitch", pa.float64()),
        pa.field("roll", pa.float64()),
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
    settings
        What the rows depend on (model, weights' hash, options, version: see
        :func:`affectlab.batch.runner.result_settings`); recorded in every file written, and earlier
        files recorded with other settings are refused. ``None``: neither recorded nor checked.
    files
        Paths of the files behind ``settings`` (e.g. the weights), recorded for information only.
    """

    def __init__(self, out: str | Path, class_names: Sequence[str], settings: Mapping[str, Any] | None = None,
                 files: Mapping[str, Any] | None = None) -> None:
        self.out = Path(out)
        self.parts_dir = self.out.with_name(self.out.name + ".parts")
        self.settings = None if settings is None else json.loads(json.dumps(dict(settings), default=str))
        payload = {"tool": "affectlab", "settings": self.settings, "files": dict(files or {})}
        self.schema = result_schema(class_names).with_metadata({SETTINGS_KEY: json.dumps(payload, default=str)})

    # -- reading -------------------------------------------------------------------------------
    def _parts(self) -> list[Path]:
        """The journal's part files (none when there is no journal); a journal folder the tool did not
        write (no marker) is refused, so nothing in it is read or removed."""
        if not self.parts_dir.exists():
            return []
        if not self.parts_dir.is_dir():
            raise ConfigError(f"--out {self.out}: {self.parts_dir} is in the way (not a journal folder); "
                              "move it away or choose another --out")
        require_marker(self.parts_dir, PARTS_KIND, what=f"--out {self.out}",
                       hint="; move it away or choose another --out")
        return sorted(p for p in self.parts_dir.iterdir() if _PART.fullmatch(p.name) and p.is_file())

    def _files(self) -> list[Path]:
        return ([self.out] if self.out.is_file() else []) + self._parts()

    def _check_settings(self, path: Path, metadata: Mapping[bytes, bytes] | None) -> None:
        if self.settings is None:
            return
        try:
            earlier = json.loads((metadata or {})[SETTINGS_KEY])["settings"]
        except (KeyError, ValueError, TypeError):
            earlier = None
        if not isinstance(earlier, dict):
            raise ConfigError(f"--out {self.out}: the earlier results in {path} do not record the settings they were "
                              "made with (an older affectlab wrote them); pass --restart to start over, or choose "
                              "another --out")
        if earlier == self.settings:
            return
        names = list(dict.fromkeys([*earlier, *self.settings]))
        changes = [f"{_option(n)} {_show(earlier.get(n))} (now {_show(self.settings.get(n))})"
                   for n in names if earlier.get(n) != self.settings.get(n)]
        raise ConfigError(f"--out {self.out}: the earlier results in {path} were made with other settings: "
                          f"{'; '.join(changes)}; rerun with those to resume, or pass --restart to start over "
                          "(or choose another --out)")

    def _read(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        try:
            schema = pq.read_schema(path)
            self._check_settings(path, schema.metadata)
            names = schema.names
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
    def _open_journal(self) -> None:
        """Create the journal folder with its marker, atomically (a folder already there must carry it)."""
        if self.parts_dir.exists():
            self._parts()  # raises unless it is this tool's journal
            return
        self.parts_dir.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.parts_dir.with_name(f".{self.parts_dir.name}.{uuid.uuid4().hex[:8]}.new")
        fresh.mkdir()
        write_marker(fresh, PARTS_KIND, out=self.out.name)
        os.rename(fresh, self.parts_dir)

    def write_chunk(self, rows: Sequence[dict[str, Any]]) -> Path | None:
        """Append finished rows as one journal part (written to a temporary name, then renamed)."""
        if not rows:
            return None
        self._open_journal()
        table = pa.Table.from_pylist(list(rows), schema=self.schema)
        name = f"part-{len(self._parts()):06d}-{uuid.uuid4().hex[:8]}.parquet"
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
        self._remove_journal()
        return merged.num_rows

    def _remove_journal(self) -> None:
        """Remove the journal's own files (parts, their temporary files, the marker), then the folder when
        that leaves it empty; anything else in it stays."""
        if not self.parts_dir.is_dir():
            return
        for path in self._parts():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        for path in self.parts_dir.iterdir():
            if _PART_TMP.fullmatch(path.name) or path.name == MARKER_NAME:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        with contextlib.suppress(OSError):  # not empty: the user's own files stay, and so does the folder
            self.parts_dir.rmdir()

    def clear(self) -> None:
        """Delete earlier results (the final file and the journal); a file or journal folder that affectlab
        did not write is refused (:class:`ConfigError`) and nothing is deleted."""
        if self.out.exists():
            try:
                metadata = pq.read_schema(self.out).metadata or {}
            except (OSError, pa.ArrowException):
                metadata = {}
            if SETTINGS_KEY not in metadata:
                raise ConfigError(f"--out {self.out}: not batch results written by affectlab (or by a version before "
                                  "they recorded their settings); nothing is removed: delete it yourself or choose "
                                  "another --out")
        self._parts()  # refuses a journal folder without the marker, before anything is deleted
        if self.out.is_file():
            self.out.unlink()
        self._remove_journal()

    def _tmp(self) -> Path:
        return self.out.with_name(f".{self.out.name}.tmp")


def _option(name: str) -> str:
    """The CLI spelling of a settings key: ``whole_frame`` -> ``--whole-frame``; ``affectlab``: its version."""
    return "affectlab version" if name == "affectlab" else "--" + name.replace("_", "-")


def _show(value: Any) -> str:
    return "none" if value is None else str(value)
