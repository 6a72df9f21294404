"""Feature cache housekeeping: last use, least-recently-used pruning, `affectlab cache`."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from affectlab.cli import main
from affectlab.features.cache import FeatureCache, parse_size


def _filled(tmp_path, n=4, rows=100) -> tuple[FeatureCache, list[str]]:
    """n entries of rows x 10 float64 (8,000 bytes of data each), last used one hour apart, key0 oldest."""
    cache = FeatureCache(tmp_path / "features")
    keys = [f"{k:02d}" + "a" * 62 for k in range(n)]
    now = time.time()
    for k, key in enumerate(keys):
        cache.put(key, np.zeros((rows, 10)), {"k": k})
        path = cache.directory / key[:2] / f"{key}.npy"
        os.utime(path, (now - 3600 * (n - k), now - 3600 * (n - k)))
    return cache, keys


def _names(entries) -> list[str]:
    return [e.path.name[:2] for e in entries]


def test_entries_are_listed_least_recently_used_first_with_their_descriptions_sizes(tmp_path) -> None:
    cache, _ = _filled(tmp_path)
    entries = cache.entries()
    assert _names(entries) == ["00", "01", "02", "03"]
    npy = entries[0].path.stat().st_size
    assert entries[0].size == npy + entries[0].path.with_suffix(".json").stat().st_size
    assert cache.usage()["entries"] == 4 and cache.usage()["bytes"] == sum(e.size for e in entries)


def test_reading_an_entry_makes_it_the_most_recently_used(tmp_path) -> None:
    cache, keys = _filled(tmp_path)
    assert cache.get(keys[0]) is not None
    assert _names(cache.entries()) == ["01", "02", "03", "00"]


def test_prune_to_a_size_removes_the_least_recently_used_until_it_fits(tmp_path) -> None:
    cache, keys = _filled(tmp_path)
    size = cache.entries()[0].size
    removed = cache.prune(max_bytes=2 * size + 1)
    assert _names(removed) == ["00", "01"]
    assert _names(cache.entries()) == ["02", "03"]
    assert cache.get(keys[0]) is None and cache.get(keys[3]) is not None
    assert not (cache.directory / "00" / f"{keys[0]}.json").exists()  # the description goes with it


def test_prune_by_age_and_dry_run(tmp_path) -> None:
    cache, _ = _filled(tmp_path)
    would = cache.prune(unused_for_days=2.5 / 24, dry_run=True)  # entries 3 h and 4 h old
    assert _names(would) == ["00", "01"]
    assert len(cache.entries()) == 4  # nothing removed
    assert _names(cache.prune(unused_for_days=2.5 / 24)) == ["00", "01"]
    assert _names(cache.clear()) == ["02", "03"] and cache.entries() == []


def test_an_absent_folder_is_an_empty_cache(tmp_path) -> None:
    cache = FeatureCache(tmp_path / "never-made")
    assert cache.usage() == {"directory": str(cache.directory), "entries": 0, "bytes": 0,
                             "oldest_use": None, "newest_use": None}
    assert cache.prune(max_bytes=0) == []


@pytest.mark.parametrize(("text", "expected"), [("0", 0), ("512", 512), ("1k", 1024), ("1.5G", 3 * 2**29),
                                                ("20 GiB", 20 * 2**30), ("3MB", 3 * 2**20)])
def test_parse_size(text, expected) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "5X", "-1G", "ten"])
def test_parse_size_rejects_nonsense(text) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_cli_info_prune_clear(tmp_path, capsys) -> None:
    cache, _ = _filled(tmp_path)
    folder = str(cache.directory)
    assert main(["cache", "info", "--dir", folder, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 4
    assert main(["cache", "prune", "--dir", folder, "--unused-for", str(2.5 / 24)]) == 0
    assert "removed 2 entries" in capsys.readouterr().out
    assert main(["cache", "prune", "--dir", folder]) == 1
    assert "--max-size" in capsys.readouterr().err
    assert main(["cache", "prune", "--dir", folder, "--max-size", "lots"]) == 1
    assert "--max-size" in capsys.readouterr().err
    assert main(["cache", "clear", "--dir", folder, "--yes"]) == 0
    assert "removed 2 entries" in capsys.readouterr().out
    assert cache.entries() == []
