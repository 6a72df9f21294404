"""Labelled clips -> face volumes: a clip, a folder of clips or a manifest CSV, read like frame sequences.

:func:`load_clips` turns every clip into a face volume (:mod:`affectlab.clips.volume`) and
returns a :class:`ClipSet`, a :class:`~affectlab.video.sequences.SequenceSet` whose
``volumes`` are the clips' aligned faces, so everything that takes frame sequences (the
temporal descriptors, the ``sequences`` runner) takes clips. Clips that give no volume are
listed in ``refused`` (one line each, naming the file and the reason) and left out; the others
are used.

Sources:

- **a manifest CSV** with columns ``path,label`` and optionally ``subject`` and ``id`` (other
  columns, e.g. ``split``, are ignored); paths are relative to the CSV's folder. ``id`` names
  the clip in predictions (default: the path as written).
- **a folder**: one sub-folder per class holding the clips (label = sub-folder name), or clips
  directly inside (no labels); id = the path relative to the folder.
- **one clip file** (no label).

Volumes are cached (``cache``): the key is the clip file's bytes (SHA-256), the volume settings,
:data:`~affectlab.clips.volume.VOLUME_VERSION` and the face front-end's libraries, so a second
run over the same clips reads no video.

Examples
--------
>>> clips = load_clips("clips/manifest.csv", frames=3, size=48)  # doctest: +SKIP
>>> clips.volumes.shape, [r.reason for r in clips.refused]  # doctest: +SKIP
((325, 3, 48, 48), ['no_face', 'too_short'])
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.clips.errors import ClipRefused, ClipUnreadable
from affectlab.clips.volume import VOLUME_VERSION, VolumeBuilder, VolumeSettings
from affectlab.data.folders import VIDEO_SUFFIXES
from affectlab.errors import DataError
from affectlab.video.sequences import SequenceSet

__all__ = ["ClipItem", "ClipSet", "Refusal", "list_clips", "load_clips", "volume_cache_key"]


@dataclass(frozen=True)
class ClipItem:
    """One listed clip: its id, file, label and subject (``None`` when unknown)."""

    id: str
    path: Path
    label: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A clip that gave no volume: its id, file, reason code and the one-line message."""

    id: str
    path: str
    reason: str
    message: str


@dataclass
class ClipSet(SequenceSet):
    """Clips as sequences: ``volumes`` ``(N, T, H, W)`` uint8 of the clips that gave one.

    Besides the :class:`~affectlab.video.sequences.SequenceSet` fields (``frames`` holds each
    clip's file as a one-element list), ``paths`` are the clip files, ``digests`` their
    content hashes (SHA-256 prefixes), ``settings`` the volume settings, ``refused`` the clips
    left out and ``details`` a small record per used clip (frames read, frames with the face,
    frames filled, seconds).
    """

    paths: list[Path] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    settings: VolumeSettings = field(default_factory=VolumeSettings)
    refused: list[Refusal] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list, repr=False)
    listed: int = 0

    def summary(self) -> dict[str, Any]:
        counts = {c: int(np.sum(self.labels == c)) for c in self.classes if np.any(self.labels == c)}
        reasons: dict[str, int] = {}
        for r in self.refused:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
        filled = sum(int(d.get("filled", 0)) for d in self.details)
        return {"clips": self.listed, "sequences": len(self), "refused": len(self.refused),
                "refused_by_reason": reasons, "subjects": len(set(self.subjects.tolist())), "classes": counts,
                "frames_per_sequence": [self.settings.frames], "filled_frames": filled,
                "frames": int(len(self) * self.settings.frames)}


def _manifest(path: Path) -> list[ClipItem]:
    from affectlab.data.textio import csv_errors, open_text

    items: list[ClipItem] = []
    seen: dict[str, int] = {}
    with csv_errors(path):
        with open_text(path) as handle:
            reader = csv.DictReader(handle)
            header = [(c or "").strip().lower() for c in (reader.fieldnames or [])]
            if "path" not in header:
                raise DataError(f"{path}: missing column 'path' (a clip manifest has path,label[,subject,id])")
            reader.fieldnames = header
            for line, row in enumerate(reader, start=2):
                cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
                if not cells.get("path"):
                    raise DataError(f"{path}: row {line}: empty path")
                clip = Path(cells["path"])
                clip = clip if clip.is_absolute() else path.parent / clip
                item_id = cells.get("id") or cells["path"]
                if item_id in seen:
                    raise DataError(f"{path}: row {line}: id {item_id!r} already on row {seen[item_id]}")
                seen[item_id] = line
                items.append(ClipItem(item_id, clip, cells.get("label") or None, cells.get("subject") or None))
    if not items:
        raise DataError(f"{path}: the manifest lists no clip")
    return items


def _videos(folder: Path) -> list[Path]:
    from affectlab.video.reader import _natural_key

    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES),
                  key=lambda p: _natural_key(p.name))


def list_clips(source: str | Path) -> list[ClipItem]:
    """The clips of a manifest CSV, a folder (class per sub-folder, or flat) or one clip file.

    Raises
    ------
    DataError
        The source does not exist, a folder holds no clip, a manifest lacks ``path`` or repeats an id.
    """
    source = Path(source)
    if source.is_file() and source.suffix.lower() in (".csv", ".gz"):
        return _manifest(source)
    if source.is_file():
        return [ClipItem(source.name, source)]
    if not source.is_dir():
        raise DataError(f"{source}: not found (expected a clip, a folder of clips or a manifest CSV)")
    items = [ClipItem(p.name, p) for p in _videos(source)]
    for sub in sorted(p for p in source.iterdir() if p.is_dir()):
        items += [ClipItem(f"{sub.name}/{p.name}", p, sub.name) for p in _videos(sub)]
    if not items:
        raise DataError(f"{source}: holds no clip ({', '.join(sorted(VIDEO_SUFFIXES))}), directly or one "
                        "folder per class")
    return items


def _frontend_identity(settings: VolumeSettings) -> dict[str, Any]:
    from affectlab.face.dlib_detector import resolve_detector_name
    from affectlab.features.cache import library_versions

    name = resolve_detector_name(settings.detector)
    libraries = library_versions(("numpy", "scipy", ("opencv-python-headless", "opencv-python"),
                                  ("dlib-bin", "dlib"), "face-recognition-models"))
    return {"detector": name, "libraries": libraries}


def volume_cache_key(digest: str, settings: VolumeSettings) -> str:
    """Cache key of the volume of a clip whose bytes hash to ``digest``, built with ``settings``.

    >>> len(volume_cache_key("0123456789abcdef", VolumeSettings(frames=3)))
    64
    """
    from affectlab.features.cache import _sha

    spec = {"clip": digest, "settings": settings.to_dict(), "version": VOLUME_VERSION,
            "frontend": _frontend_identity(settings)}
    return _sha("clip-volume", json.dumps(spec, sort_keys=True))


#: Face front-ends by name, made once per process (loading the landmark model takes a while).
_FRONTENDS: dict[str, Any] = {}


def _frontend(name: str) -> Any:
    if name not in _FRONTENDS:
        from affectlab.face.dlib_detector import make_frontend

        _FRONTENDS[name] = make_frontend(name)
    return _FRONTENDS[name]


def _info_key(key: str) -> str:
    """Cache key of a volume's frame counts (frames read, frames with the face, volume frames filled)."""
    from affectlab.features.cache import _sha

    return _sha("clip-volume-info", key)


def _build_chunk(settings: VolumeSettings, items: list[tuple[int, str]]) -> list[tuple[int, Any]]:
    """Volumes (or refusals) of ``(index, path)`` items, in one process with one front-end."""
    import cv2

    cv2.setNumThreads(1)
    builder = VolumeBuilder(settings, detector=_frontend(settings.detector))
    out: list[tuple[int, Any]] = []
    for index, path in items:
        try:
            out.append((index, builder(path)))
        except ClipRefused as exc:
            out.append((index, exc))
    return out


def load_clips(
    source: str | Path | Sequence[ClipItem],
    settings: VolumeSettings | Mapping[str, Any] | None = None,
    *,
    cache: Any = None,
    n_jobs: int | None = None,
    progress: bool = False,
    classes: Sequence[str] | None = None,
    **overrides: Any,
) -> ClipSet:
    """Read labelled clips as aligned face volumes (refused clips are listed, not raised).

    Parameters
    ----------
    source
        A manifest CSV, a folder of clips, one clip, or :class:`ClipItem` records.
    settings, overrides
        :class:`~affectlab.clips.volume.VolumeSettings` (or a mapping), single fields overridden
        by keyword (``frames=3, size=48``).
    cache
        A :class:`~affectlab.features.cache.FeatureCache`, a folder for one, ``True`` for the
        default folder, or ``None`` (no cache).
    n_jobs
        Worker processes (``None``: 1).
    classes
        Class vocabulary in order (default: the labels found, sorted).

    Raises
    ------
    DataError
        The source lists no clip, or every clip was refused (the first reasons are named).
    """
    from joblib import delayed, effective_n_jobs

    from affectlab.features.cache import FeatureCache, default_cache_dir, file_digest
    from affectlab.parallel import run_tasks

    if settings is None or isinstance(settings, Mapping):
        settings = VolumeSettings.from_mapping({**dict(settings or {}), **overrides})
    elif overrides:
        from dataclasses import replace

        settings = replace(settings, **overrides)
    items = list(source) if isinstance(source, Sequence) and not isinstance(source, str) else list_clips(source)
    if cache is True:
        cache = FeatureCache(default_cache_dir())
    elif cache is not None and not isinstance(cache, FeatureCache):
        cache = FeatureCache(cache)
    results: dict[int, Any] = {}
    digests: dict[int, str] = {}
    keys: dict[int, str] = {}
    todo: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        digest = file_digest(item.path)
        if digest == "missing":
            results[i] = ClipUnreadable(f"{item.path}: file not found" if not item.path.exists()
                                        else f"{item.path}: cannot be read")
            continue
        digests[i] = digest
        if cache is not None:
            keys[i] = volume_cache_key(digest, settings)
            stored = cache.get(keys[i])
            if stored is not None:
                cache.hits += 1
                info = cache.get(_info_key(keys[i]))
                results[i] = (stored, {"cached": True} if info is None or info.shape != (3,) else
                              {"cached": True, "frames": int(info[0]), "face_frames": int(info[1]),
                               "filled": int(info[2])})
                continue
            cache.misses += 1
        todo.append((i, str(item.path)))
    jobs = 1 if n_jobs is None else max(1, min(effective_n_jobs(n_jobs), len(todo) or 1))
    size = max(1, -(-len(todo) // (4 * jobs))) if jobs > 1 else max(1, len(todo))
    chunks = [todo[s:s + size] for s in range(0, len(todo), size)]
    tasks = [delayed(_build_chunk)(settings, chunk) for chunk in chunks]
    for part in run_tasks(tasks, jobs, progress=progress, desc="clips", unit="clip", total=len(todo),
                          advance=len):
        for i, outcome in part:
            if isinstance(outcome, ClipRefused):
                results[i] = outcome
                continue
            results[i] = outcome
            if cache is not None:
                cache.put(keys[i], outcome.volume, {"clip": str(items[i].path), **outcome.summary(),
                                                     "settings": settings.to_dict()})
                cache.put(_info_key(keys[i]), np.array([outcome.n_frames, outcome.n_face_frames,
                                                        sum(outcome.filled)], dtype=np.int64))
    ids, labels, subjects, paths, kept_digests, volumes, details, refused = [], [], [], [], [], [], [], []
    for i, item in enumerate(items):
        outcome = results[i]
        if isinstance(outcome, ClipRefused):
            refused.append(Refusal(item.id, str(item.path), outcome.reason, str(outcome).splitlines()[0]))
            continue
        if isinstance(outcome, tuple):
            volume, detail = outcome
        else:
            volume, detail = outcome.volume, outcome.summary()
        ids.append(item.id)
        labels.append(item.label)
        subjects.append(item.subject if item.subject is not None else item.id)
        paths.append(item.path)
        kept_digests.append(digests[i])
        volumes.append(volume)
        details.append(detail)
    if not volumes:
        first = "; ".join(r.message for r in refused[:3])
        raise DataError(f"every one of the {len(items)} clip(s) was refused: {first}")
    found = sorted({str(lab) for lab in labels if lab is not None})
    vocabulary = list(classes) if classes is not None else found
    unknown = sorted(set(found) - set(vocabulary))
    if unknown:
        raise DataError(f"label {unknown[0]!r} is not among the classes {', '.join(vocabulary)}")
    return ClipSet(ids=ids, labels=np.array(labels, dtype=object), subjects=np.array(subjects, dtype=object),
                   frames=[[p] for p in paths], classes=vocabulary, volumes=np.stack(volumes), paths=paths,
                   digests=kept_digests, settings=settings, refused=refused, details=details, listed=len(items))
