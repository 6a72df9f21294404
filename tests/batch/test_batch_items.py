"""Finding the items of a batch: folders, CSV lists, FER2013-style CSVs, single files."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from affectlab.batch import BatchOptions, discover_items, run_batch
from affectlab.errors import ConfigError, DataError
from tests.batch.batch_fixtures import face_variants, mixed_folder  # noqa: F401  (shared fixtures)


def test_folder_gives_every_image_sorted_with_class_folder_labels(mixed_folder):
    items = discover_items(mixed_folder)
    names = [Path(i.source).relative_to(mixed_folder).as_posix() for i in items]
    assert names == ["happy/face0.png", "happy/face1.png", "happy/face2.png", "other/blank.png", "other/corrupt.png"]
    assert [i.label for i in items] == ["happy"] * 3 + ["other"] * 2
    assert all(Path(i.source).is_absolute() and i.path == i.source for i in items)


def test_videos_and_recordings_are_items_too(mixed_folder):
    (mixed_folder / "clips").mkdir()
    (mixed_folder / "clips" / "a.mp4").write_bytes(b"not decoded while listing")
    (mixed_folder / "clips" / "b.wav").write_bytes(b"RIFF")
    items = discover_items(mixed_folder)
    assert [i.media for i in items] == ["video", "audio"] + ["image"] * 5
    assert [Path(i.source).name for i in items[:2]] == ["a.mp4", "b.wav"]


def test_csv_lists_paths_relative_to_itself_and_keeps_missing_files(mixed_folder, tmp_path):
    csv = mixed_folder / "list.csv"
    csv.write_text("path,label\nhappy/face1.png,Happy\nmissing.png,\nhappy/face1.png,happy\n")
    items = discover_items(csv)
    assert [Path(i.source).name for i in items] == ["face1.png", "missing.png"]  # duplicate listed once
    assert items[0].label == "happy" and items[1].label is None
    assert Path(items[0].source) == (mixed_folder / "happy" / "face1.png").absolute()


def test_fer2013_style_csv_gives_inline_pixels(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for label in (3, 0):
        rows.append(f"{label},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},Training")
    path = tmp_path / "tiny.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(rows) + "\n")
    items = discover_items(path)
    assert len(items) == 2 and items[0].path is None
    assert items[0].pixels.shape == (48, 48) and items[0].pixels.dtype == np.uint8
    assert items[0].label == "happy" and items[1].label == "angry"
    assert items[0].source.endswith("tiny.csv.gz:2") and items[0].source != items[1].source


def test_several_sources_are_merged_without_duplicates(mixed_folder):
    one = mixed_folder / "happy" / "face0.png"
    items = discover_items([one, mixed_folder])
    assert len(items) == 5 and items[0].source == str(one.absolute())


@pytest.mark.parametrize(
    ("make", "error", "needle"),
    [
        (lambda d: d, ConfigError, "holds no image, video or audio files"),
        (lambda d: (d / "a.txt").write_text("x") and d, ConfigError, "holds no image, video or audio files"),
        (lambda d: d / "absent", ConfigError, "not found"),
        (lambda d: (d / "x.csv").write_text("file,label\na.png,happy\n") and d / "x.csv", DataError,
         "no 'path' column"),
        (lambda d: (d / "notes.txt").write_text("hi") and d / "notes.txt", ConfigError,
         "not an image, video or audio file, a folder or a CSV"),
    ],
)
def test_bad_sources_raise_one_clear_error(tmp_path, make, error, needle):
    with pytest.raises(error, match=needle):
        discover_items(make(tmp_path))


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _fer_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{e},{p},{u}\n" for e, p, u in rows))
    return path


def test_bad_rows_of_a_pixels_csv_become_error_rows_not_silently_lost(tmp_path, face_variants):
    import cv2

    face = cv2.resize(cv2.cvtColor(face_variants(1)[0], cv2.COLOR_RGB2GRAY), (48, 48))
    good = " ".join(str(v) for v in face.ravel())
    csv = _fer_csv(tmp_path / "faces.csv", [("3", good, "Training"), ("3", "1 2 3", "Training"),
                                            ("x", good, "Training"), ("0", good, "PublicTest")])
    items = discover_items(csv)
    assert [i.source.rsplit(":", 1)[-1] for i in items] == ["2", "3", "4", "5"]  # every row, in file order
    out = tmp_path / "r.parquet"
    summary = run_batch(csv, out, options=BatchOptions(whole_frame=True), progress=False)
    assert (summary.total, summary.rows, summary.error) == (4, 4, 2)  # before: total 2, two rows vanished
    rows = {r["source"].rsplit(":", 1)[-1]: r for r in _rows(out)}
    assert rows["3"]["status"] == "error" and "row 3: 3 pixel values, expected 2304" in rows["3"]["error"]
    assert rows["4"]["status"] == "error" and "row 4: emotion 'x'" in rows["4"]["error"]
    assert rows["2"]["status"] == "ok" and rows["5"]["status"] == "ok"


def test_a_pixels_only_csv_like_kaggles_test_csv_is_analysed_row_by_row(tmp_path, face_variants):
    import cv2

    face = cv2.resize(cv2.cvtColor(face_variants(1)[0], cv2.COLOR_RGB2GRAY), (48, 48))
    csv = tmp_path / "test.csv"
    csv.write_text("pixels\n" + " ".join(str(v) for v in face.ravel()) + "\n1 2 3\n")
    items = discover_items(csv)  # before: "wrong columns pixels; expected emotion,pixels,Usage"
    assert [i.source for i in items] == [f"{csv.absolute()}:2", f"{csv.absolute()}:3"]
    assert items[0].pixels.shape == (48, 48) and (items[0].pixels == face).all() and items[0].label is None
    assert items[1].error == f"{csv}: row 3: 3 pixel values, expected 2304"
    summary = run_batch(csv, tmp_path / "r.parquet", options=BatchOptions(whole_frame=True), progress=False)
    assert (summary.total, summary.ok, summary.error) == (2, 1, 1)


def test_a_manifest_row_with_an_empty_path_does_not_stop_the_batch(mixed_folder, tmp_path):
    manifest = tmp_path / "list.csv"
    face = mixed_folder / "happy" / "face0.png"
    manifest.write_text(f"path,label\n{face},happy\n,sad\n{mixed_folder / 'happy' / 'face1.png'},happy\n")
    out = tmp_path / "r.parquet"
    summary = run_batch(manifest, out, progress=False)  # before: DataError, nothing analysed
    assert (summary.total, summary.ok, summary.error) == (3, 2, 1)
    bad = [r for r in _rows(out) if r["status"] == "error"]
    assert [r["source"] for r in bad] == [f"{manifest.absolute()}:3"]
    assert f"{manifest}: row 3: empty path" == bad[0]["error"]
