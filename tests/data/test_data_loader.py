"""load_dataset: auto-detection, forced formats, and FER2013 bad inputs through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.cli import main
from affectlab.data import FORMATS, detect_format, load_dataset
from affectlab.errors import ConfigError, DataError

from .conftest import write_png


@pytest.fixture
def sources(tmp_path: Path, png, touch_file, csv_file, fer_line, ckplus_tree, kaggle_tree) -> dict[str, Path]:
    png(tmp_path / "flat" / "happy_1.png")
    png(tmp_path / "flat" / "sad_2.png")
    touch_file(tmp_path / "emodb" / "wav" / "03a01Fa.wav", b"RIFF")
    touch_file(tmp_path / "wavs" / "11b02Ec.wav", b"RIFF")
    png(tmp_path / "orl_faces" / "s1" / "1.pgm")
    png(tmp_path / "orl_faces" / "s2" / "1.pgm")
    touch_file(tmp_path / "orl_faces" / "README", b"x")
    manifest = csv_file(tmp_path / "flat" / "list.csv", ["path,label,subject,split", "happy_1.png,happy,,"])
    fer = csv_file(tmp_path / "fer.csv", ["emotion,pixels,Usage", fer_line(0)])
    return {
        "folders": ckplus_tree,
        "kaggle": kaggle_tree,
        "filename": tmp_path / "flat",
        "emodb": tmp_path / "emodb",
        "emodb_wav": tmp_path / "emodb" / "wav",
        "emodb_flat": tmp_path / "wavs",
        "orl": tmp_path / "orl_faces",
        "manifest": manifest,
        "fer2013": fer,
    }


@pytest.mark.parametrize(
    ("key", "expected", "total"),
    [
        ("folders", "folders", 5),
        ("kaggle", "folders", 5),
        ("filename", "filename", 2),
        ("emodb", "emodb", 1),
        ("emodb_wav", "emodb", 1),
        ("emodb_flat", "emodb", 1),
        ("orl", "orl", 2),
        ("manifest", "manifest", 1),
        ("fer2013", "fer2013", 1),
    ],
)
def test_auto_detection(sources: dict[str, Path], key: str, expected: str, total: int) -> None:
    assert detect_format(sources[key]) == expected
    assert detect_format(str(sources[key])) == expected
    ds = load_dataset(sources[key])
    assert len(ds) == total


def test_fer2013_gz_detected_and_options_passed(fer_csv: Path) -> None:
    assert detect_format(fer_csv) == "fer2013"
    ds = load_dataset(fer_csv, usage="PublicTest")
    assert [s.label for s in ds] == ["neutral"]
    assert ds.summary()["splits"] == {"PublicTest": 1}


def test_forced_format(sources: dict[str, Path]) -> None:
    ds = load_dataset(sources["orl"], format="folders")
    assert ds.classes == ["s1", "s2"] and all(s.subject is None for s in ds)
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(sources["manifest"], format="folders")


def test_unknown_format_and_options(sources: dict[str, Path]) -> None:
    assert set(FORMATS) == {"fer2013", "folders", "filename", "manifest", "emodb", "orl"}
    with pytest.raises(ConfigError, match="format 'xml'"):
        load_dataset(sources["orl"], format="xml")
    with pytest.raises(ConfigError, match="format 'orl' does not take option.*usage"):
        load_dataset(sources["orl"], usage="Training")
    assert len(load_dataset(sources["orl"], errors="skip")) == 2


def test_missing_empty_and_unknown_sources(tmp_path: Path, touch_file) -> None:
    with pytest.raises(DataError, match="nothing-here: not found"):
        load_dataset(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: cannot tell the dataset format \\(empty folder\\)"):
        load_dataset(tmp_path / "empty")
    touch_file(tmp_path / "misc" / "notes.txt", b"x")
    with pytest.raises(DataError, match="misc: cannot tell the dataset format"):
        load_dataset(tmp_path / "misc")
    touch_file(tmp_path / "data.json", b"{}")
    with pytest.raises(DataError, match="data.json: unknown dataset file type"):
        load_dataset(tmp_path / "data.json")
    touch_file(tmp_path / "empty.csv")
    with pytest.raises(DataError, match="empty.csv: empty file"):
        load_dataset(tmp_path / "empty.csv")


def test_fer2013_wrong_columns_are_a_manifest_error(tmp_path: Path, csv_file) -> None:
    path = csv_file(tmp_path / "x.csv", ["a,b,c", "1,2,3"])
    with pytest.raises(DataError, match="x.csv: missing column"):
        load_dataset(path)
    path = csv_file(tmp_path / "y.csv", ["emotion,pixels", "1,2"])
    with pytest.raises(DataError, match="y.csv: wrong columns emotion,pixels.*missing Usage"):
        load_dataset(path)


def test_truncated_gzip(tmp_path: Path, fer_csv: Path) -> None:
    data = fer_csv.read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.csv.gz: truncated or corrupt compressed file"):
        load_dataset(cut, format="fer2013")
    with pytest.raises(DataError, match="cut.csv.gz: truncated or corrupt compressed file"):
        load_dataset(cut)
    not_gz = tmp_path / "plain.csv.gz"
    not_gz.write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="plain.csv.gz: truncated or corrupt"):
        load_dataset(not_gz)


def test_fer2013_bad_rows(tmp_path: Path, csv_file, fer_line) -> None:
    path = csv_file(
        tmp_path / "f.csv",
        ["emotion,pixels,Usage", fer_line(1), fer_line(2, n=2303), fer_line(7), fer_line(4)],
    )
    with pytest.raises(DataError, match=r"f.csv: row 3: 2303 pixel values, expected 2304"):
        load_dataset(path)
    ds = load_dataset(path, errors="skip")
    assert [s.label for s in ds] == ["disgust", "sad"]
    assert len(ds.problems) == 2
    assert "row 4: emotion 7 is not a known class" in ds.problems[1]


@pytest.mark.parametrize("fmt", ["auto", "fer2013", "manifest"])
def test_permission_error_is_a_data_error(fer_csv: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    def denied(path: Path):
        raise PermissionError(13, "Permission denied", str(path))

    for module in ("affectlab.data.fer2013", "affectlab.data.loader", "affectlab.data.manifest"):
        monkeypatch.setattr(f"{module}.open_text", denied)
    with pytest.raises(DataError, match="fer2013.csv.gz: cannot read \\(Permission denied\\)"):
        load_dataset(fer_csv, format=fmt)


def test_unreadable_folder_is_a_data_error(ckplus_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("affectlab.data.scan.os.scandir", denied)
    with pytest.raises(DataError, match="ck: cannot list folder \\(Permission denied\\)"):
        load_dataset(ckplus_tree)


def _ck_class_folder(tmp_path: Path) -> Path:
    """One class folder of CK+48 taken on its own: ``anger/S010_004_00000017.png`` ..."""
    folder = tmp_path / "ck" / "anger"
    for name in ("S010_004_00000017", "S010_004_00000018", "S011_002_00000021", "S014_003_00000029"):
        write_png(folder / f"{name}.png")
    return folder


def test_a_ck_class_folder_is_not_read_as_labelled_by_subject(tmp_path, capsys):
    folder = _ck_class_folder(tmp_path)
    with pytest.raises(DataError, match=r"named like CK\+ frames \(e\.g\. S010_004_00000017\.png\)"):
        detect_format(folder)
    with pytest.raises(DataError, match="give the folder above"):
        load_dataset(folder)
    assert main(["data", "info", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'ck'}/<class>/" in err
    # the folder above reads as classes, and the layout can still be forced
    assert load_dataset(folder.parent).summary()["classes"] == {"anger": 4}
    assert load_dataset(folder, format="filename").classes == ["s010", "s011", "s014"]


def test_a_flat_folder_with_labels_in_the_names_is_still_detected(tmp_path):
    write_png(tmp_path / "flat" / "happy_S010_004_00000017.png")
    write_png(tmp_path / "flat" / "sad_S011_002_00000021.png")
    write_png(tmp_path / "flat" / "S012_001_00000001.png")  # one CK+-style name among labelled ones
    assert detect_format(tmp_path / "flat") == "filename"
