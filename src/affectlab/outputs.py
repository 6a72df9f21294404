"""Output safety, one rule for every command: an output is never an input, and only what we wrote is removed.

- :func:`check_not_input` / :func:`check_outputs`: an output path that is one of the command's inputs (the same
  file after resolving symbolic links; :func:`os.path.samefile` where both exist, so hard links count too) is
  refused with one :class:`~affectlab.errors.ConfigError` naming the option and the file, before any work.
  :func:`check_run_folder` does the same for a run folder (``experiment --out``, ``train --out``).
- Folders the tool deletes from (feature caches, a batch's ``OUT.parquet.parts/``) carry a marker file,
  :data:`MARKER_NAME`, written by the tool (:func:`write_marker`); before deleting, :func:`require_marker`
  refuses a folder without it, and the caller removes only files of its own naming inside.
- Folders the tool writes outputs into that may also be inputs (``analyze --save DIR``, ``fool --out DIR``)
  get a list of the files written there, :data:`OUTPUTS_LIST_NAME` (:func:`record_outputs`), and a folder
  given as input skips those files (:func:`skip_tool_outputs`), so a rerun never analyses its own outputs.
- :func:`exclusive_lock`: one writer at a time for an output file (``batch --out``): a second one refuses.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); photo = d / "x.jpg"; _ = photo.write_bytes(b"jpeg")
>>> check_not_input(d / "." / "x.jpg", [photo], option="--output")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
affectlab.errors.ConfigError: --output ....jpg: that is an input file (...x.jpg); refusing to overwrite it
>>> check_not_input(d / "r.jsonl", [photo], option="--output")  # anything else is fine
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from affectlab import __version__
from affectlab.errors import ConfigError

__all__ = [
    "MARKER_NAME",
    "OUTPUTS_LIST_NAME",
    "same_file",
    "matching_input",
    "check_not_input",
    "check_outputs",
    "check_run_folder",
    "write_marker",
    "read_marker",
    "require_marker",
    "record_outputs",
    "listed_outputs",
    "skip_tool_outputs",
    "exclusive_lock",
]

#: The marker file of a folder the tool may delete from (JSON: ``{"tool": "affectlab", "kind": ..., ...}``).
MARKER_NAME = ".affectlab.json"
#: The list of the files the tool wrote into a user's folder, one name per line.
OUTPUTS_LIST_NAME = ".affectlab-outputs"
_OUTPUTS_HEADER = "# files written here by affectlab (a folder given as input skips them); one name per line\n"


# -- an output is not an input ------------------------------------------------------------------------
def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name the same file: :func:`os.path.samefile` where both exist, else the same
    path after resolving symbolic links."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def matching_input(output: str | Path, inputs: Iterable[str | Path]) -> Path | None:
    """The first of ``inputs`` that is the same file as ``output`` (``None``: none is).

    One ``stat`` of each input when ``output`` exists; otherwise (no existing input can be it) only the
    inputs with the same file name are compared by their resolved paths.
    """
    try:
        target = os.stat(output)
    except OSError:
        target = None
    name = Path(output).name
    for item in inputs:
        if target is not None:
            try:
                st = os.stat(item)
            except OSError:
                if Path(item).name == name and same_file(output, item):
                    return Path(item)
                continue
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                return Path(item)
        elif Path(item).name == name and same_file(output, item):
            return Path(item)
    return None


def check_not_input(output: str | Path | None, inputs: Iterable[str | Path], *, option: str) -> None:
    """Refuse (:class:`ConfigError` naming ``option`` and the file) an ``output`` that is one of ``inputs``."""
    if output is None:
        return
    found = matching_input(output, inputs)
    if found is not None:
        raise ConfigError(f"{option} {output}: that is an input file ({found}); refusing to overwrite it")


def check_outputs(outputs: Iterable[tuple[str, str | Path | None]], inputs: Iterable[str | Path]) -> None:
    """:func:`check_not_input` for each ``(option, path)`` of ``outputs``; also refuse two options naming the
    same file (the second would overwrite the first)."""
    inputs = list(inputs)
    seen: list[tuple[str, str | Path]] = []
    for option, path in outputs:
        if path is None:
            continue
        check_not_input(path, inputs, option=option)
        for other_option, other in seen:
            if same_file(path, other):
                raise ConfigError(f"{option} {path}: {other_option} writes the same file; give them different paths")
        seen.append((option, path))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_run_folder(folder: str | Path, inputs: Iterable[str | Path | None], *, option: str = "--out") -> None:
    """Refuse a run folder that is an input folder or lies inside one (the run's files would join the data),
    or that holds an input file (the run would overwrite it, e.g. its ``config.yaml``)."""
    where = os.path.realpath(folder)
    for item in inputs:
        if item is None or not os.path.exists(item):
            continue
        source = os.path.realpath(item)
        if os.path.isdir(item) and _inside(where, source):
            raise ConfigError(f"{option} {folder}: the run folder would lie inside the input folder {item}; "
                              "choose a folder outside it")
        if not os.path.isdir(item) and _inside(source, where):
            raise ConfigError(f"{option} {folder}: holds the input file {item}, which the run could overwrite; "
                              "choose another run folder")


# -- markers: folders the tool deletes from ----------------------------------------------------------------
def write_marker(folder: str | Path, kind: str, **info: Any) -> Path:
    """Write (atomically) the marker saying ``folder`` is the tool's ``kind`` folder; ``info`` joins its JSON."""
    path = Path(folder) / MARKER_NAME
    payload = {"tool": "affectlab", "kind": kind, "version": __version__, **info}
    tmp = path.with_name(f".{MARKER_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_marker(folder: str | Path, kind: str | None = None) -> dict[str, Any] | None:
    """The marker of ``folder`` (of that ``kind`` when given), or ``None`` (absent, unreadable, another kind)."""
    try:
        payload = json.loads((Path(folder) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(payload, Mapping) or payload.get("tool") != "affectlab":
        return None
    if kind is not None and payload.get("kind") != kind:
        return None
    return dict(payload)


def require_marker(folder: str | Path, kind: str, *, what: str, hint: str = "") -> dict[str, Any]:
    """The marker of ``folder``; a folder without it (not written by affectlab) raises :class:`ConfigError`
    naming ``what`` (e.g. ``"--dir /x"``) so nothing there is deleted."""
    marker = read_marker(folder, kind)
    if marker is None:
        raise ConfigError(f"{what}: {folder} has no {MARKER_NAME} marker, so it was not written by affectlab "
                          f"(or by a version before markers); nothing there is removed{hint}")
    return marker


# -- outputs written into a user's folder ------------------------------------------------------------------
def record_outputs(folder: str | Path, names: Iterable[str]) -> None:
    """Add ``names`` (files just written directly in ``folder``) to the folder's list of the tool's outputs."""
    names = [n for n in names if n]
    if not names:
        return
    path = Path(folder) / OUTPUTS_LIST_NAME
    try:
        with open(path, "a", encoding="utf-8") as handle:
            if handle.tell() == 0:
                handle.write(_OUTPUTS_HEADER)
            handle.write("".join(f"{n}\n" for n in names))
    except OSError:  # the outputs are written; only the list that keeps them out of a later run is missing
        pass


def listed_outputs(folder: str | Path) -> set[str]:
    """Names of the files the tool wrote directly in ``folder`` (see :func:`record_outputs`)."""
    try:
        text = (Path(folder) / OUTPUTS_LIST_NAME).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {line for line in text.splitlines() if line and not line.startswith("#")}


def skip_tool_outputs(paths: Iterable[Path]) -> list[Path]:
    """``paths`` (files found in a folder given as input) without the files the tool wrote there."""
    lists: dict[Path, set[str]] = {}
    kept = []
    for path in paths:
        listed = lists.get(path.parent)
        if listed is None:
            listed = lists[path.parent] = listed_outputs(path.parent)
        if path.name not in listed:
            kept.append(path)
    return kept


# -- one writer at a time -----------------------------------------------------------------------------
@contextlib.contextmanager
def exclusive_lock(target: str | Path, *, option: str, what: str = "run") -> Iterator[Path | None]:
    """Hold an exclusive lock on ``target`` (a ``.NAME.lock`` file beside it, :func:`fcntl.flock`) while the
    block runs; another process holding it makes this raise :class:`ConfigError` at once, naming ``option``.

    The lock file is removed on exit. Where ``fcntl`` does not exist (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield None
        return
    target = Path(target)
    lock = target.with_name(f".{target.name}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {target}: cannot create its folder ({exc.strerror or exc})") from None
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"{option} {target}: cannot write next to it ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip()
            os.close(fd)
            raise ConfigError(f"{option} {target}: another affectlab {what} is writing it"
                              f"{f' (process {holder})' if holder else ''}; wait until it ends or choose "
                              f"another {option}") from None
        try:  # the lock file may have been removed by its last holder between our open and flock
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)
