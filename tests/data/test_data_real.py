"""Reader numbers on the shared datasets (skipped when ../shared/datasets is absent)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.data import detect_format, load_dataset

pytestmark = pytest.mark.shared_data


@pytest.mark.slow
def test_fer2013(dataset_path) -> None:
    path = dataset_path("fer2013/fer2013.csv.gz")
    result = CliRunner().invoke(cli, ["data", "info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["format"] == "fer2013" and info["problems"] == 0
    assert info["total"] == 32298
    assert info["splits"] == {"Training": 28709, "PublicTest": 3589}
    assert info["classes"] == {
        "angry": 4462,
        "disgust": 492,
        "fear": 4593,
        "happy": 8110,
        "sad": 5483,
        "surprise": 3586,
        "neutral": 5572,
    }
    assert info["subjects"] == 0


def test_ckplus48(dataset_path) -> None:
    path = dataset_path("ckplus48")
    assert detect_format(path) == "folders"
    ds = load_dataset(path)
    summary = ds.summary()
    assert summary["total"] == 981 and summary["subjects"] == 118 and ds.problems == []
    assert summary["classes"] == {
        "anger": 135,
        "contempt": 54,
        "disgust": 177,
        "fear": 75,
        "happy": 207,
        "sadness": 84,
        "surprise": 249,
    }
    assert all(s.subject and s.extras["sequence"].startswith(s.subject) for s in ds)


@pytest.mark.parametrize("relative", ["emodb", "emodb/wav"])
def test_emodb(dataset_path, relative: str) -> None:
    ds = load_dataset(dataset_path(relative))
    summary = ds.summary()
    assert ds.kind == "audio" and ds.problems == []
    assert summary["total"] == 535 and summary["subjects"] == 10
    assert sorted({s.subject for s in ds}) == ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    assert sum(summary["classes"].values()) == 535 and len(summary["classes"]) == 7


def test_orl(dataset_path) -> None:
    path = dataset_path("orl_faces")
    assert detect_format(path) == "orl"
    result = CliRunner().invoke(cli, ["data", "info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["total"] == 400 and info["subjects"] == 40 and len(info["classes"]) == 40
    assert set(info["classes"].values()) == {10}
