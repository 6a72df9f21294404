"""`affectlab cache clear/prune` removes only what the feature cache wrote, and only from a marked cache folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from affectlab.cli import cli
from affectlab.features.cache import FeatureCache
from affectlab.outputs import MARKER_NAME


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _users_folder(root: Path) -> Path:
    """Arrays with descriptions, as a user keeps them; one even named like a cache entry."""
    root.mkdir()
    np.save(root / "subject1.npy", np.arange(5))
    (root / "subject1.json").write_text('{"notes": "mine"}')
    key = "ab" + "c" * 62
    (root / "ab").mkdir()
    np.save(root / "ab" / f"{key}.npy", np.ones(3))
    (root / "ab" / f"{key}.json").write_text("{}")
    return root


def test_clear_refuses_a_folder_without_the_marker_and_changes_nothing(tmp_path):
    folder = _users_folder(tmp_path / "mine")
    before = _hashes(folder)
    for args in (["clear", "--yes"], ["prune", "--max-size", "0"], ["prune", "--unused-for", "0", "--dry-run"]):
        result = CliRunner().invoke(cli, ["cache", *args, "--dir", str(folder)])
        assert result.exit_code == 1, result.output  # before: clear and prune deleted every *.npy with its .json
        assert result.stderr.strip().splitlines() == [
            f"affectlab: error: --dir {folder}: {folder} has no {MARKER_NAME} marker, so it was not written by "
            "affectlab (or by a version before markers); nothing there is removed; if it is an affectlab cache "
            "from before markers, delete the folder yourself"]
    assert _hashes(folder) == before


def test_clear_of_a_real_cache_leaves_the_files_it_did_not_write(tmp_path):
    cache = FeatureCache(tmp_path / "features")
    cache.put("12" + "f" * 62, np.zeros((3, 4)), {"feature": "pixels"})
    cache.put("34" + "e" * 22, np.zeros(2))  # a network decision's shorter key
    assert (cache.directory / MARKER_NAME).is_file()
    np.save(cache.directory / "notes.npy", np.arange(3))  # a user's file dropped in the folder
    (cache.directory / "notes.json").write_text("{}")
    (cache.directory / "12" / "mine.npy").write_bytes(b"x")
    before = {k: v for k, v in _hashes(cache.directory).items() if k.startswith("notes") or k.endswith("mine.npy")}
    assert cache.usage()["entries"] == 2
    result = CliRunner().invoke(cli, ["cache", "clear", "--yes", "--dir", str(cache.directory)])
    assert result.exit_code == 0, result.output
    assert "removed 2 entries" in result.stdout
    left = _hashes(cache.directory)
    assert {k: v for k, v in left.items() if k != MARKER_NAME} == before


def test_a_folder_with_only_foreign_files_has_nothing_to_remove(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    np.save(folder / "a.npy", np.arange(3))
    (folder / "a.json").write_text("{}")
    result = CliRunner().invoke(cli, ["cache", "clear", "--yes", "--dir", str(folder)])
    assert result.exit_code == 0 and "nothing to remove" in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["a.json", "a.npy"]
