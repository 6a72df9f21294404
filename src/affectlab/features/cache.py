"""A feature cache on disk and parallel feature extraction, for experiments.

Computed features are stored as ``.npy`` files under a cache folder (default
``~/.cache/affectlab/features``; ``$AFFECTLAB_CACHE_DIR/features`` or
``$XDG_CACHE_HOME/affectlab/features`` when set), keyed by

- the content of the images (a SHA-256 of the exact gray ``(N, H, W)`` array the extractor sees,
  so the sample set, its order, the files' contents and the loading settings such as the size are
  all covered),
- the extractor: registry name, declared ``version`` (:class:`~affectlab.features.registry.FeatureEntry`),
  all its parameters (defaults included), what it loads beyond them (``cache_token``, e.g. the
  weights of a ``deep`` feature) and the versions of the libraries whose numerics it relies on
  (:data:`LIBRARIES`),
- for features that learn (``stateless=False``), the samples and labels they were fitted on.

Not the source code: moving, reordering or documenting code keeps the cache. A change of what an
extractor computes bumps its ``version`` (``tests/features/test_feature_versions.py`` fails until
it does). A changed image, parameter, version or library gives a new key (a miss); stale entries are
never read.

Examples
--------
>>> import numpy as np, tempfile
>>> from affectlab.features import create_feature
>>> folder = tempfile.TemporaryDirectory()
>>> cache = FeatureCache(folder.name)
>>> images = np.zeros((3, 8, 8), np.uint8)
>>> key = cache.key("pixels", create_feature("pixels"), images_fingerprint(images))
>>> X, hit = cache.get_or_compute(key, lambda: np.ones((3, 64), np.float32))
>>> hit, cache.get_or_compute(key, lambda: None)[1]
(False, True)
>>> folder.cleanup()
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.features.registry import feature_info
from affectlab.outputs import read_marker, require_marker, write_marker
from affectlab.parallel import run_tasks

__all__ = [
    "CacheEntry",
    "FeatureCache",
    "parse_size",
    "default_cache_dir",
    "images_fingerprint",
    "extractor_fingerprint",
    "file_digest",
    "library_versions",
    "LIBRARIES",
    "parallel_transform",
]

#: Libraries whose versions join every feature key (their numerics shape the features): a
#: distribution name, or a tuple of alternative names of one library (the first one installed counts).
LIBRARIES: tuple[str | tuple[str, ...], ...] = (
    "numpy", "scipy", "scikit-image", "scikit-learn",
    ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless", "opencv-contrib-python"),
    "torch",
)


def default_cache_dir() -> Path:
    """``$AFFECTLAB_CACHE_DIR/features``, else ``$XDG_CACHE_HOME/affectlab/features``, else
    ``~/.cache/affectlab/features``."""
    if os.environ.get("AFFECTLAB_CACHE_DIR"):
        return Path(os.environ["AFFECTLAB_CACHE_DIR"]).expanduser() / "features"
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "affectlab" / "features"


def _sha(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def images_fingerprint(images: np.ndarray) -> str:
    """SHA-256 of an image batch: shape, dtype and every pixel."""
    images = np.ascontiguousarray(images)
    digest = hashlib.sha256(f"{images.shape}|{images.dtype.str}".encode())
    flat = images.reshape(-1).view(np.uint8)
    step = 1 << 24
    for start in range(0, flat.size, step):
        digest.update(flat[start:start + step].data)
    return digest.hexdigest()


@lru_cache(maxsize=64)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """SHA-256 prefix of a file's bytes (e.g. network weights), remembered per size and modification time;
    ``"missing"`` for a file that cannot be read."""
    try:
        stat = Path(path).stat()
        return _digest_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError:
        return "missing"


def _installed_version(names: str | tuple[str, ...]) -> tuple[str, str]:
    """``(name, version)`` of the first installed distribution among ``names``; ``"absent"`` when none is."""
    candidates = (names,) if isinstance(names, str) else names
    for name in candidates:
        try:
            return name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return candidates[0], "absent"


@lru_cache(maxsize=8)
def _versions_of(libraries: tuple[str | tuple[str, ...], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(_installed_version(names) for names in libraries)


def library_versions(libraries: tuple[str | tuple[str, ...], ...] = LIBRARIES) -> dict[str, str]:
    """Installed versions of ``libraries`` (see :data:`LIBRARIES`), ``"absent"`` for one not installed.

    >>> library_versions(("numpy", "no-such-distribution"))["no-such-distribution"]
    'absent'
    """
    return dict(_versions_of(tuple(libraries)))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"array": _sha(np.ascontiguousarray(value).tobytes()), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "get_params"):
        return {"class": type(value).__qualname__, "params": _plain(value.get_params(deep=False))}
    return repr(value)


def extractor_fingerprint(name: str, extractor: Any) -> dict[str, Any]:
    """What identifies the output of ``extractor``, registered as ``name``: the name, its declared version,
    its parameters (defaults included) and the libraries' versions; never where or how its code is written.

    >>> from affectlab.features import create_feature
    >>> sorted(extractor_fingerprint("lbp", create_feature("lbp")))
    ['libraries', 'name', 'params', 'version']
    """
    params = extractor.get_params(deep=False) if hasattr(extractor, "get_params") else {}
    fingerprint = {
        "name": name,
        "version": feature_info(name).version,
        "params": _plain(params),
        "libraries": library_versions(),
    }
    if callable(getattr(extractor, "cache_token", None)):  # e.g. deep features: the weights in use
        fingerprint["token"] = str(extractor.cache_token())
    return fingerprint


#: Marker kind of a cache folder (:mod:`affectlab.outputs`): written with the first entry, required to remove any.
CACHE_KIND = "feature-cache"
#: The file stem of an entry: its hex key (``<dir>/<key[:2]>/<key>.npy``); nothing else under the folder is one.
_ENTRY_KEY = re.compile(r"[0-9a-f]{16,64}")


class FeatureCache:
    """Feature matrices on disk, one ``<key>.npy`` (+ ``<key>.json`` description) per entry.

    The folder carries the marker :data:`affectlab.outputs.MARKER_NAME` (written with the first entry);
    :meth:`prune` and :meth:`clear` refuse a folder without it, and only ever remove files of the
    entries' own naming (``<key[:2]>/<key>.npy`` and its ``.json``), so a folder given by mistake
    loses nothing.

    Parameters
    ----------
    directory
        Cache folder (created on the first write).

    Attributes
    ----------
    hits, misses
        Lookups answered from disk / computed, since creation.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        self.hits = 0
        self.misses = 0
        self._warned = False
        self._marked = False

    def key(
        self,
        name: str,
        extractor: Any,
        images_hash: str,
        *,
        fit_on: tuple[np.ndarray, Sequence[Any]] | None = None,
    ) -> str:
        """The cache key of ``extractor`` (registered as ``name``) applied to the hashed images.

        ``fit_on=(indices, labels)`` identifies the training samples of a feature that learns.
        """
        spec = extractor_fingerprint(name, extractor)
        spec["images"] = images_hash
        if fit_on is not None:
            indices, labels = fit_on
            spec["fit"] = _sha(np.asarray(indices, dtype=np.int64).tobytes(), "\x1f".join(str(v) for v in labels))
        return _sha(json.dumps(spec, sort_keys=True))

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The stored array, or ``None`` (absent or unreadable)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            X = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        touch(path)
        return X

    def put(self, key: str, X: np.ndarray, description: Mapping[str, Any] | None = None) -> None:
        """Store ``X`` atomically; a failed write only warns (the run goes on without caching)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._mark()
            handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
            with os.fdopen(handle, "wb") as out:
                np.save(out, np.asarray(X), allow_pickle=False)
            os.replace(tmp, path)
            if description is not None:
                path.with_suffix(".json").write_text(json.dumps(_plain(dict(description)), indent=1) + "\n")
        except OSError as exc:
            if not self._warned:
                warnings.warn(f"feature cache {self.directory}: cannot write ({exc}); continuing without it",
                              RuntimeWarning, stacklevel=2)
                self._warned = True

    def get_or_compute(
        self,
        key: str,
        compute: Callable[[], np.ndarray],
        description: Mapping[str, Any] | None = None,
    ) -> tuple[np.ndarray, bool]:
        """``(array, hit)``: the stored array, or ``compute()`` stored under ``key``."""
        X = self.get(key)
        if X is not None:
            self.hits += 1
            return X, True
        self.misses += 1
        X = compute()
        self.put(key, X, description)
        return X, False

    def _mark(self) -> None:
        """Write the folder's marker once (it says the folder is an affectlab cache, see :meth:`prune`)."""
        if not self._marked:
            if read_marker(self.directory, CACHE_KIND) is None:
                write_marker(self.directory, CACHE_KIND)
            self._marked = True

    def require_marker(self, what: str | None = None) -> None:
        """Raise :class:`~affectlab.errors.ConfigError` (naming ``what``, default the folder) unless the folder
        carries the cache marker."""
        require_marker(self.directory, CACHE_KIND, what=what or f"feature cache {self.directory}",
                       hint="; if it is an affectlab cache from before markers, delete the folder yourself")

    def entries(self) -> list[CacheEntry]:
        """Every stored array under the folder (features and cached network decisions), least recently used first.

        Only files of the entries' naming count (``<key[:2]>/<key>.npy``, a hex key): any other file is not
        an entry, and is never removed.
        """
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.rglob("*.npy"):
            if not (_ENTRY_KEY.fullmatch(path.stem) and path.parent.name == path.stem[:2]) or not path.is_file():
                continue
            try:
                stat = path.stat()
            except OSError:  # removed by another process meanwhile
                continue
            size = stat.st_size
            description = path.with_suffix(".json")
            if description.is_file():
                size += description.stat().st_size
            found.append(CacheEntry(path, size, stat.st_mtime))
        return sorted(found, key=lambda entry: (entry.last_used, str(entry.path)))

    def usage(self) -> dict[str, Any]:
        """``{"directory", "entries", "bytes", "oldest_use", "newest_use"}`` (times as POSIX seconds or None)."""
        entries = self.entries()
        return {"directory": str(self.directory), "entries": len(entries),
                "bytes": sum(entry.size for entry in entries),
                "oldest_use": entries[0].last_used if entries else None,
                "newest_use": entries[-1].last_used if entries else None}

    def prune(self, max_bytes: int | None = None, *, unused_for_days: float | None = None,
              dry_run: bool = False) -> list[CacheEntry]:
        """Remove entries not used for ``unused_for_days``, then the least recently used ones until the
        cache holds at most ``max_bytes``; returns what was (or, with ``dry_run``, would be) removed.

        A later run that needs a removed entry simply computes it again. A folder without the cache
        marker raises :class:`~affectlab.errors.ConfigError` (:meth:`require_marker`): nothing is removed.
        """
        entries = self.entries()
        if entries:
            self.require_marker()
        doomed: list[CacheEntry] = []
        if unused_for_days is not None:
            cutoff = time.time() - 86400.0 * unused_for_days
            doomed = [entry for entry in entries if entry.last_used < cutoff]
            entries = [entry for entry in entries if entry.last_used >= cutoff]
        if max_bytes is not None:
            total = sum(entry.size for entry in entries)
            for entry in entries:
                if total <= max_bytes:
                    break
                doomed.append(entry)
                total -= entry.size
        if not dry_run:
            for entry in doomed:
                for path in (entry.path, entry.path.with_suffix(".json")):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
        return doomed

    def clear(self) -> list[CacheEntry]:
        """Remove every entry; returns them."""
        return self.prune(max_bytes=0)


@dataclass(frozen=True)
class CacheEntry:
    """One stored array: its file, its size in bytes (with its description) and when it was last used."""

    path: Path
    size: int
    last_used: float


def touch(path: Path) -> None:
    """Mark a cache file as just used (its modification time orders :meth:`FeatureCache.prune`)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def parse_size(text: str | int) -> int:
    """Bytes from ``"500M"``, ``"1.5GB"``, ``"20 GiB"`` or a plain number (powers of 1024).

    >>> parse_size("1.5G"), parse_size("0"), parse_size(2048)
    (1610612736, 0, 2048)
    """
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"size {text}: must not be negative")
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), flags=re.IGNORECASE)
    if match is None:
        raise ValueError(f"size {text!r}: give a number with an optional unit K, M, G or T (e.g. 500M, 20G)")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " kmgt".index(unit.lower() or " "))


def _transform_chunk(extractor: Any, images: np.ndarray, fit: bool) -> np.ndarray:
    if fit:
        extractor = extractor.fit(images)
    return np.asarray(extractor.transform(images), dtype=np.float32)


def parallel_transform(
    extractor: Any,
    images: np.ndarray,
    *,
    n_jobs: int | None = None,
    chunk_size: int = 256,
    fit_chunks: bool = False,
    progress: bool = False,
    desc: str = "features",
) -> np.ndarray:
    """``extractor.transform(images)`` computed in chunks, over ``n_jobs`` processes (joblib).

    Parameters
    ----------
    extractor
        A fitted (or stateless) transformer mapping ``(n, H, W)`` images to ``(n, D)``.
    n_jobs
        Worker processes (``None``: 1, ``-1``: all cores). Each worker uses one BLAS thread.
    chunk_size
        Images per task (lowered so that every worker gets a few chunks).
    fit_chunks
        Call ``fit`` on each chunk first (stateless extractors, whose ``fit`` only checks input).
    progress
        A progress bar over the chunks on stderr.

    Returns
    -------
    numpy.ndarray
        ``(N, D)`` float32, rows in the order of ``images`` (equal to a serial transform).
    """
    from joblib import delayed, effective_n_jobs

    n = len(images)
    jobs = 1 if n_jobs is None else effective_n_jobs(n_jobs)
    if jobs > 1:
        chunk_size = max(16, min(chunk_size, math.ceil(n / (4 * jobs))))
    starts = list(range(0, n, max(1, chunk_size)))
    tasks = [delayed(_transform_chunk)(extractor, images[s:s + chunk_size], fit_chunks) for s in starts]
    parts = run_tasks(tasks, jobs, progress=progress, desc=desc, unit="img", total=n,
                      advance=lambda part: part.shape[0])
    if not parts:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(parts).reshape(n, -1)
