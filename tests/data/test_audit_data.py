"""Session-7 audit of the dataset readers and `affectlab data info`."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.cli import main
from affectlab.data import detect_format, load_dataset
from affectlab.errors import DataError

from .conftest import write_png


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
