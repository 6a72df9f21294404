"""CSV manifest reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.data import load_manifest
from affectlab.errors import DataError

HEADER = "path,label,subject,split,valence,arousal,dominance"


@pytest.fixture
def media(tmp_path: Path, png, touch_file) -> Path:
    png(tmp_path / "img" / "a.png")
    png(tmp_path / "img" / "b.png")
    touch_file(tmp_path / "aud" / "c.wav", b"RIFF")
    return tmp_path


def test_manifest_rows_dims_and_kinds(media: Path, csv_file) -> None:
    path = csv_file(
        media / "m.csv",
        [
            HEADER + ",note",
            "img/a.png,Happy,S1,train,0.5,-0.25,1,first",
            "img/b.png,sad,,test,,,,",
            "aud/c.wav,sad,S2,,0.1,0.2,0.3,",
        ],
    )
    ds = load_manifest(path)
    assert ds.name == "m" and ds.classes == ["happy", "sad"] and ds.kind == "image"
    a, b, c = ds
    assert (a.id, a.label, a.subject, a.split, a.path) == ("img/a.png", "happy", "S1", "train", media / "img/a.png")
    assert a.extras == {"row": 2, "valence": 0.5, "arousal": -0.25, "dominance": 1.0, "note": "first"}
    assert b.subject is None and b.split == "test" and b.extras == {"row": 3}
    assert c.split is None and c.extras["dominance"] == pytest.approx(0.3)
    assert ds.summary()["subjects"] == 2


def test_manifest_gz_bom_and_column_order(media: Path, csv_file) -> None:
    path = csv_file(media / "m.csv.gz", ["\ufeffsplit,subject,label,path", "train,S1,happy,img/a.png"], gz=True)
    ds = load_manifest(path)
    assert ds.name == "m" and ds[0].label == "happy" and ds[0].split == "train"


def test_missing_columns_one_error_naming_them(media: Path, csv_file) -> None:
    path = csv_file(media / "bad.csv", ["file,emotion,subject", "img/a.png,happy,S1"])
    with pytest.raises(DataError) as info:
        load_manifest(path, errors="skip")  # structural problems raise even when skipping rows
    message = str(info.value)
    assert "bad.csv" in message and "missing column(s) path,label,split" in message


def test_empty_file(media: Path) -> None:
    (media / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: empty file"):
        load_manifest(media / "empty.csv")
    (media / "header.csv").write_text(HEADER + "\n")
    with pytest.raises(DataError, match="header.csv: no data rows"):
        load_manifest(media / "header.csv")


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("img/missing.png,happy,S1,train", r"row 3: 'img/missing.png' file not found"),
        ("img/b.png,,S1,train", "row 3: empty label"),
        (",happy,S1,train", "row 3: empty path"),
        ("img,happy,S1,train", "row 3: 'img' is not an image, audio or video file"),
        ("img/b.png,happy,S1,train,abc", "row 3: column valence: 'abc' is not a number"),
        ("img/b.png,happy,S1,train,nan", "row 3: column valence: 'nan' is not a finite number"),
        ("img/b.png,happy,S1,train,1,2,3,4", "row 3: more fields than the header has columns"),
        ("img/a.png,happy,S1,train", "row 3: 'img/a.png' already listed at row 2"),
        ("img/b.png,angry,S1,train", "row 3: unknown label 'angry'"),
    ],
)
def test_bad_rows_name_the_row(media: Path, csv_file, row: str, match: str) -> None:
    path = csv_file(media / "m.csv", [HEADER, "img/a.png,happy,S1,train", row])
    with pytest.raises(DataError, match=match) as info:
        load_manifest(path, classes=["happy", "sad"])
    assert str(info.value).startswith(f"{path}: row 3")
    ds = load_manifest(path, classes=["happy", "sad"], errors="skip")
    assert [s.id for s in ds] == ["img/a.png"]
    assert len(ds.problems) == 1 and "row 3" in ds.problems[0]


def test_unreadable_inputs(media: Path) -> None:
    with pytest.raises(DataError, match="nope.csv: file not found"):
        load_manifest(media / "nope.csv")
    (media / "bin.csv").write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(DataError, match="bin.csv: not a UTF-8 text CSV"):
        load_manifest(media / "bin.csv")
    (media / "fake.csv.gz").write_bytes(b"path,label\n")
    with pytest.raises(DataError, match="fake.csv.gz: truncated or corrupt"):
        load_manifest(media / "fake.csv.gz")
