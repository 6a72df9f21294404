"""EmoDB and ORL readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.data import EMODB_CLASSES, load_emodb, load_orl
from affectlab.data.emodb import parse_emodb_name
from affectlab.errors import DataError


@pytest.fixture
def emodb(tmp_path: Path, touch_file) -> Path:
    root = tmp_path / "emodb"
    for name in ["03a01Fa.wav", "03a01Wa.wav", "16b10Tb.wav", "08a02Nc.wav", "10a04Ad.wav"]:
        touch_file(root / "wav" / name, b"RIFF")
    touch_file(root / "wav" / "notes.txt", b"x")
    return root


def test_emodb_names(emodb: Path) -> None:
    for source in (emodb, emodb / "wav"):
        ds = load_emodb(source)
        assert ds.kind == "audio" and ds.name == "emodb" and len(ds) == 5
        assert ds.classes == ["anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"]
        assert list(EMODB_CLASSES) == ds.classes
        first = ds[0]
        assert (first.id, first.subject, first.label) == ("03a01Fa.wav", "03", "happiness")
        assert first.extras == {"text": "a01", "version": "a"}
        assert [s.label for s in ds] == ["happiness", "anger", "neutral", "fear", "sadness"]
        assert ds.summary()["subjects"] == 4


def test_emodb_bad_names(emodb: Path, touch_file) -> None:
    touch_file(emodb / "wav" / "03a01Xa.wav", b"RIFF")
    touch_file(emodb / "wav" / "speech.wav", b"RIFF")
    with pytest.raises(DataError, match=r"03a01Xa.wav: not an EmoDB file name: unknown emotion letter 'X'"):
        load_emodb(emodb)
    ds = load_emodb(emodb, errors="skip")
    assert len(ds) == 5 and len(ds.problems) == 2
    assert any("speech.wav" in p for p in ds.problems)


def test_emodb_empty(tmp_path: Path) -> None:
    (tmp_path / "wav").mkdir()
    with pytest.raises(DataError, match="no .wav files"):
        load_emodb(tmp_path)


def test_parse_emodb_name() -> None:
    assert parse_emodb_name("16b10Lb") == ("16", "boredom", "b10", "b")
    with pytest.raises(ValueError):
        parse_emodb_name("3a01Fa")


@pytest.fixture
def orl(tmp_path: Path, png, touch_file) -> Path:
    root = tmp_path / "orl_faces"
    for subject in (1, 2, 10):
        for k in (1, 2, 10):
            png(root / f"s{subject}" / f"{k}.pgm")
    touch_file(root / "README", b"The ORL face database")
    touch_file(root / "s1" / "Thumbs.db", b"x")
    return root


def test_orl(orl: Path) -> None:
    ds = load_orl(orl)
    assert len(ds) == 9 and ds.kind == "image" and ds.name == "orl"
    assert ds.classes == ["s1", "s2", "s10"]
    assert [s.id for s in ds][:3] == ["s1/1.pgm", "s1/2.pgm", "s1/10.pgm"]
    assert all(s.label == s.subject for s in ds)
    assert ds[0].extras == {"image": "1"}
    assert ds.summary()["subjects"] == 3


def test_orl_bad_folder(orl: Path, png) -> None:
    png(orl / "extra" / "1.pgm")
    with pytest.raises(DataError, match="extra: not an ORL subject folder"):
        load_orl(orl)
    ds = load_orl(orl, errors="skip")
    assert len(ds) == 9 and len(ds.problems) == 1
