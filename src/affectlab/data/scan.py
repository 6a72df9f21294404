"""Listing media files in folders: the one place the dataset readers, ``analyze``, ``batch`` and the
video frame reader look into a folder.

>>> natural_key("f10.png") > natural_key("f2.png")
True
>>> media_kind("a/b.PNG"), media_kind("x.wav"), media_kind("clip.mp4"), media_kind("README")
('image', 'audio', 'video', None)
>>> sniff_media_kind(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt "), sniff_media_kind(b"\\x00\\x00\\x00\\x18ftypmp42")
('audio', 'video')
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from affectlab.data.media import IMAGE_SUFFIXES, sniff_image_format
from affectlab.data.sample import MediaKind
from affectlab.errors import DataError
from affectlab.outputs import skip_tool_outputs

__all__ = [
    "AUDIO_SUFFIXES",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "find_media",
    "folder_entries",
    "media_files",
    "media_kind",
    "natural_key",
    "sniff_media_kind",
    "subfolders",
]

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv"})

#: First bytes of audio and video containers (images: :func:`affectlab.data.media.sniff_image_format`).
_AUDIO_SIGNATURES = (b"fLaC", b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
_VIDEO_SIGNATURES = (b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"FLV\x01",
                     b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")  # Matroska/WebM, MPEG-PS, MPEG video, FLV, ASF/WMV


def natural_key(name: str, *, fold_case: bool = False) -> list[Any]:
    """Sort key putting ``f2`` before ``f10`` (digit runs compare as numbers); ``fold_case`` ignores case.

    >>> sorted(["f10", "F2", "f1"], key=lambda n: natural_key(n, fold_case=True))
    ['f1', 'F2', 'f10']
    """
    if fold_case:
        name = name.lower()
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name)]


def media_kind(path: str | Path) -> MediaKind | None:
    """``"image"``, ``"audio"`` or ``"video"`` from the file suffix (any case), else ``None``."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def sniff_media_kind(head: bytes) -> MediaKind | None:
    """The kind of media the first bytes of a file announce (32 are enough), or ``None``.

    Images are those :func:`~affectlab.data.media.sniff_image_format` knows (HEIF/AVIF included);
    audio WAV, AIFF, FLAC, Ogg and MP3; video MP4/MOV (``ftyp``), AVI, Matroska/WebM, MPEG, FLV and ASF.
    """
    head = bytes(head[:32])
    if sniff_image_format(head) is not None:
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" or head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio"
    if head.startswith(_AUDIO_SIGNATURES):
        return "audio"
    if head[4:8] == b"ftyp" or head[:4] == b"RIFF" and head[8:12] == b"AVI " or head.startswith(_VIDEO_SIGNATURES):
        return "video"
    return None


def folder_entries(folder: str | Path) -> list[os.DirEntry[str]]:
    """Visible entries of ``folder`` (not starting with ``.``) in natural order.

    Raises
    ------
    DataError
        The folder is missing, not a folder or cannot be listed; the message names it.
    """
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except FileNotFoundError:
        raise DataError(f"{folder}: folder not found") from None
    except NotADirectoryError:
        raise DataError(f"{folder}: not a folder") from None
    except OSError as exc:
        raise DataError(f"{folder}: cannot list folder ({exc.strerror or exc})") from None
    return sorted(entries, key=lambda e: natural_key(e.name))


def is_folder(entry: os.DirEntry[str]) -> bool:
    """Whether a folder entry is a folder (``False`` when it cannot be told)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def subfolders(folder: str | Path) -> list[Path]:
    """The visible sub-folders of ``folder`` in natural order."""
    return [Path(e.path) for e in folder_entries(folder) if is_folder(e)]


def media_files(folder: str | Path, kinds: Collection[MediaKind] | None = None) -> list[Path]:
    """The visible media files directly inside ``folder`` (of ``kinds``, default any) in natural order."""
    return [Path(e.path) for e in folder_entries(folder)
            if not is_folder(e) and media_kind(e.name) is not None and (kinds is None or media_kind(e.name) in kinds)]


def find_media(folder: str | Path, kinds: Collection[MediaKind] = ("image",)) -> list[Path]:
    """The files of ``kinds`` anywhere under ``folder`` (by suffix, sorted by path), without the files
    affectlab wrote there itself (:func:`affectlab.outputs.skip_tool_outputs`): what ``analyze FOLDER``
    and ``batch FOLDER`` analyse.
    """
    found = (p for p in Path(folder).rglob("*") if p.is_file() and media_kind(p) in kinds)
    return skip_tool_outputs(sorted(found))
