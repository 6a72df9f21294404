"""The parquet result store: journal parts, resume bookkeeping, merge order."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from affectlab.batch import ResultStore
from affectlab.errors import ConfigError, DataError

CLASSES = ["happy", "sad"]


def _row(source: str, status: str = "ok", happy: float | None = 0.75) -> dict:
    return {
        "source": source, "media": "image", "n_frames": None, "status": status,
        "error": "boom" if status == "error" else None,
        "n_faces": 1 if status == "ok" else 0, "label": "happy" if status == "ok" else None,
        "prob_happy": happy if status == "ok" else None, "prob_sad": 1 - happy if status == "ok" else None,
        "probabilities": None, "valence": None, "arousal": None, "dominance": None,
        "boxes": json.dumps([[1, 2, 3, 4]] if status == "ok" else []), "dataset_label": None,
    }


def test_chunks_are_journalled_and_merged_in_item_order(tmp_path):
    store = ResultStore(tmp_path / "r.parquet", CLASSES)
    store.write_chunk([_row("b"), _row("c", "error")])
    store.write_chunk([_row("a", "no_face")])
    assert store.done() == {"a": "no_face", "b": "ok", "c": "error"}
    assert not store.out.exists() and len(list(store.parts_dir.glob("part-*.parquet"))) == 2
    assert store.finalize(["a", "b", "c"]) == 3
    table = pq.read_table(store.out)
    assert table.column("source").to_pylist() == ["a", "b", "c"]
    assert table.column("status").to_pylist() == ["no_face", "ok", "error"]
    assert table.column("prob_happy").to_pylist() == [None, 0.75, None]
    assert not store.parts_dir.exists()


def test_resume_reads_the_final_file_and_new_parts_and_later_rows_win(tmp_path):
    store = ResultStore(tmp_path / "r.parquet", CLASSES)
    store.write_chunk([_row("a"), _row("b", "error")])
    store.finalize(["a", "b"])
    store = ResultStore(tmp_path / "r.parquet", CLASSES)  # a new run
    assert store.done() == {"a": "ok", "b": "error"}
    store.write_chunk([_row("b", "ok", happy=0.5)])  # a retried error
    assert store.finalize(["a", "b", "x"]) == 2
    rows = pq.read_table(store.out).to_pylist()
    assert [(r["source"], r["status"], r["prob_happy"]) for r in rows] == [("a", "ok", 0.75), ("b", "ok", 0.5)]


def test_results_of_another_model_are_refused(tmp_path):
    ResultStore(tmp_path / "r.parquet", CLASSES).finalize()
    store = ResultStore(tmp_path / "r.parquet", ["angry", "happy", "sad"])
    with pytest.raises(ConfigError, match="another model"):
        store.done()  # found before any work is done


def test_unreadable_earlier_results_name_the_file(tmp_path):
    (tmp_path / "r.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="r.parquet: cannot read earlier batch results"):
        ResultStore(tmp_path / "r.parquet", CLASSES).done()


def test_clear_removes_results_and_journal(tmp_path):
    store = ResultStore(tmp_path / "r.parquet", CLASSES)
    store.write_chunk([_row("a")])
    store.finalize()
    store.write_chunk([_row("b")])
    store.clear()
    assert store.done() == {} and not store.out.exists() and not store.parts_dir.exists()
