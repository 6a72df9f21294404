"""``affectlab cache``: see and trim the feature cache (``info``, ``prune``, ``clear``)."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from affectlab.errors import ConfigError

if TYPE_CHECKING:
    from affectlab.features.cache import FeatureCache

__all__ = ["cache_group"]

_DIR_OPTION = click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Cache folder [default: $AFFECTLAB_CACHE_DIR/features, else $XDG_CACHE_HOME/affectlab/features,"
         " else ~/.cache/affectlab/features].")


def _open(directory: Path | None) -> FeatureCache:
    from affectlab.features.cache import FeatureCache, default_cache_dir

    return FeatureCache(directory or default_cache_dir())


def _require_marker(cache: FeatureCache, directory: Path | None) -> None:
    """Refuse, naming the option, a folder that holds entry-like files but no cache marker: it is not ours."""
    if cache.entries():
        cache.require_marker(f"--dir {directory}" if directory is not None else "cache folder")


def _human(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n_bytes) < 1024 or unit == "GiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError  # pragma: no cover


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return _dt.datetime.fromtimestamp(seconds).isoformat(sep=" ", timespec="minutes")


@click.group("cache")
def cache_group() -> None:
    """See and trim the feature cache that `affectlab experiment` fills.

    Descriptors and fine-tuned networks' decisions are kept on disk, keyed by the images, the
    parameters and the code, so a rerun reads them instead of computing again. Nothing is ever
    evicted on its own: trim it here. A removed entry is simply computed again when needed.

    \b
    Examples:
      affectlab cache info
      affectlab cache prune --max-size 5G          keep the 5 GiB used most recently
      affectlab cache prune --unused-for 30        drop what no run read for 30 days
      affectlab cache clear --yes
    """


@cache_group.command("info")
@_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def info_command(directory: Path | None, as_json: bool) -> None:
    """Folder, number of entries, size on disk and the oldest / newest use."""
    usage = _open(directory).usage()
    if as_json:
        click.echo(json.dumps(usage))
        return
    click.echo(f"folder     {usage['directory']}")
    click.echo(f"entries    {usage['entries']}")
    click.echo(f"size       {_human(usage['bytes'])}")
    click.echo(f"oldest use {_when(usage['oldest_use'])}")
    click.echo(f"newest use {_when(usage['newest_use'])}")


@cache_group.command("prune")
@_DIR_OPTION
@click.option("--max-size", default=None, metavar="SIZE",
              help="Keep at most this much, most recently used first: 500M, 5G, 20GiB ...")
@click.option("--unused-for", type=click.FloatRange(min=0), default=None, metavar="DAYS",
              help="First remove every entry no run has read for this many days.")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
def prune_command(directory: Path | None, max_size: str | None, unused_for: float | None, dry_run: bool) -> None:
    """Remove least recently used entries (by size, by age or both)."""
    from affectlab.features.cache import parse_size

    if max_size is None and unused_for is None:
        raise ConfigError("prune needs --max-size SIZE and/or --unused-for DAYS (see affectlab cache prune --help)")
    try:
        max_bytes = None if max_size is None else parse_size(max_size)
    except ValueError as exc:
        raise ConfigError(f"--max-size: {exc}") from None
    cache = _open(directory)
    _require_marker(cache, directory)
    removed = cache.prune(max_bytes, unused_for_days=unused_for, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    left = cache.usage()["bytes"] - (sum(e.size for e in removed) if dry_run else 0)
    click.echo(f"{verb} {len(removed)} entries ({_human(sum(e.size for e in removed))}); "
               f"{_human(left)} {'would stay' if dry_run else 'left'} in {cache.directory}")


@cache_group.command("clear")
@_DIR_OPTION
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clear_command(directory: Path | None, yes: bool) -> None:
    """Remove every entry.

    Only a folder with affectlab's cache marker is touched, and in it only the entries'
    own files (<key[:2]>/<key>.npy and .json); anything else stays.
    """
    cache = _open(directory)
    usage = cache.usage()
    if not usage["entries"]:
        click.echo(f"nothing to remove in {cache.directory}")
        return
    _require_marker(cache, directory)
    if not yes:
        click.confirm(f"remove {usage['entries']} entries ({_human(usage['bytes'])}) from {cache.directory}?",
                      abort=True)
    removed = cache.clear()
    click.echo(f"removed {len(removed)} entries ({_human(sum(e.size for e in removed))}) from {cache.directory}")
