"""``affectlab data info`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from affectlab.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, ["data", "info", *args])


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("affectlab: error: ")
    return lines[0]


def test_plain_table(ckplus_tree: Path) -> None:
    result = run(str(ckplus_tree))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "total     5" in out and "subjects  2" in out and "format    folders (image)" in out
    assert "anger" in out and "happy" in out and "%" in out
    assert result.stderr == ""


def test_plain_table_with_splits(kaggle_tree: Path) -> None:
    result = run(str(kaggle_tree))
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["class"])
    assert header.split() == ["class", "test", "train", "total"]
    assert "subjects  0 (none given)" in result.stdout


def test_json_shape(kaggle_tree: Path) -> None:
    result = run(str(kaggle_tree), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["total"] == 5 and info["subjects"] == 0 and info["problems"] == 0
    assert info["splits"] == {"train": 3, "test": 2}
    assert info["classes"] == {"angry": 1, "happy": 3, "sad": 1}
    assert info["by_split"]["train"] == {"happy": 2, "sad": 1}
    assert info["format"] == "folders" and info["kind"] == "image" and info["name"] == "fer"


def test_fer2013_json(fer_csv: Path) -> None:
    info = json.loads(run(str(fer_csv), "--json").stdout)
    assert info["format"] == "fer2013" and info["splits"] == {"Training": 2, "PublicTest": 1}
    assert info["classes"] == {"angry": 1, "happy": 1, "neutral": 1}


def test_forced_format(tmp_path: Path, png) -> None:
    png(tmp_path / "flat" / "happy_1.png")
    png(tmp_path / "flat" / "sad_1.png")
    info = json.loads(run(str(tmp_path / "flat"), "--format", "filename", "--json").stdout)
    assert info["classes"] == {"happy": 1, "sad": 1} and info["format"] == "filename"


def test_skipped_items_reported_on_stderr(tmp_path: Path, csv_file, fer_line) -> None:
    rows = [fer_line(1)] + [fer_line(2, n=5)] * 7
    path = csv_file(tmp_path / "f.csv", ["emotion,pixels,Usage", *rows])
    result = run(str(path), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["problems"] == 7
    err = result.stderr.splitlines()
    assert err[0] == "affectlab: warning: skipped 7 bad item(s):"
    assert "row 3: 5 pixel values, expected 2304" in err[1]
    assert len(err) == 1 + 5 + 1 and "and 2 more" in err[-1]

    strict = run(str(path), "--strict")
    assert "row 3: 5 pixel values" in one_error_line(strict)


def test_all_rows_bad(tmp_path: Path, csv_file, fer_line) -> None:
    path = csv_file(tmp_path / "f.csv", ["emotion,pixels,Usage", fer_line(9)])
    line = one_error_line(run(str(path)))
    assert "no usable items (1 skipped; first:" in line and "row 2: emotion 9" in line


def test_show_problems_zero(tmp_path: Path, csv_file, fer_line) -> None:
    path = csv_file(tmp_path / "f.csv", ["emotion,pixels,Usage", fer_line(1), fer_line(9), fer_line(9)])
    result = run(str(path), "--show-problems", "0")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == ["affectlab: warning: skipped 2 bad item(s)"]


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing", None, "missing: not found"),
        ("empty.csv", b"", "empty.csv: empty file"),
        ("cols.csv", b"a,b\n1,2\n", "cols.csv: missing column(s)"),
        ("bad.csv.gz", b"\x1f\x8b\x08\x00trunc", "bad.csv.gz: truncated or corrupt"),
        ("plain.csv.gz", b"emotion,pixels,Usage\n", "plain.csv.gz: truncated or corrupt"),
        ("bin.csv", b"\xff\xfe\xfa", "bin.csv: not a UTF-8"),
        ("x.txt", b"hi", "x.txt: unknown dataset file type"),
        ("void", "dir", "void: cannot tell the dataset format"),
    ],
)
def test_bad_sources_one_line(tmp_path: Path, name: str, content, match: str) -> None:
    source = tmp_path / name
    if content == "dir":
        source.mkdir()
    elif content is not None:
        source.write_bytes(content)
    line = one_error_line(run(str(source)))
    assert match in line and str(source) in line


def test_truncated_real_gzip_one_line(tmp_path: Path, fer_csv: Path) -> None:
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(fer_csv.read_bytes()[:-20])
    assert "cut.csv.gz: truncated or corrupt" in one_error_line(run(str(cut), "--json"))


def test_manifest_missing_path_reported(tmp_path: Path, png, csv_file) -> None:
    png(tmp_path / "a.png")
    path = csv_file(tmp_path / "m.csv", ["path,label,subject,split", "a.png,happy,S1,", "gone.png,sad,S2,"])
    result = run(str(path))
    assert result.exit_code == 0 and "row 3: 'gone.png' file not found" in result.stderr
    assert "row 3: 'gone.png' file not found" in one_error_line(run(str(path), "--strict"))


def test_bad_format_choice_is_a_usage_error(ckplus_tree: Path) -> None:
    result = run(str(ckplus_tree), "--format", "xml")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_help_explains_formats_and_examples() -> None:
    result = CliRunner().invoke(cli, ["data", "info", "--help"])
    assert result.exit_code == 0
    for word in ("fer2013", "manifest", "emodb", "orl", "folders", "filename", "Examples", "--json"):
        assert word in result.stdout
    assert "info" in CliRunner().invoke(cli, ["data", "--help"]).stdout
