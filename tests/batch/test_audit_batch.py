"""Session-7 audit of batch processing: regressions for what a demanding first user found."""

# ruff: noqa: F811  (test parameters name the imported fixtures)
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from affectlab.batch import BatchOptions, discover_items, run_batch
from affectlab.cli import main
from affectlab.errors import ConfigError
from tests.batch.batch_fixtures import face_variants, mixed_folder  # noqa: F401  (shared fixtures)


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_cli_prints_every_bad_item_on_stderr_and_exits_0(mixed_folder, tmp_path, capsys):
    # docs/cli.md: a bad file's record says error and "the problem is also printed on stderr"
    out = tmp_path / "r.parquet"
    assert main(["batch", str(mixed_folder), "--out", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    corrupt = mixed_folder / "other" / "corrupt.png"
    assert f"affectlab: error: {corrupt.absolute()}: not a readable image" in captured.err
    assert captured.out.count("\n") == 1 and '"error": 1' in captured.out  # stdout: the JSON summary only


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


def test_a_malformed_scheduler_address_is_a_config_error(mixed_folder, tmp_path):
    with pytest.raises(ConfigError, match="--scheduler nonsense: not a scheduler address"):
        run_batch(mixed_folder, tmp_path / "r.parquet", scheduler="nonsense", progress=False)


def test_out_must_be_a_parquet_file_so_an_input_is_never_overwritten(mixed_folder, tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"path\n{mixed_folder / 'happy' / 'face0.png'}\n")
    before = manifest.read_bytes()
    # before the fix: "cannot read earlier batch results ...; use --restart", and --restart deleted list.csv
    with pytest.raises(ConfigError, match=r"--out .*list\.csv: expected a file name ending in \.parquet"):
        run_batch(manifest, manifest, restart=True, progress=False)
    assert manifest.read_bytes() == before
    assert main(["batch", str(manifest), "--out", str(tmp_path / "r.csv")]) == 1
    assert not (tmp_path / "r.csv").exists()
    summary = run_batch(manifest, tmp_path / "R.PARQUET", progress=False)  # any case of the suffix
    assert summary.rows == 1 and np.isfinite(summary.seconds)
