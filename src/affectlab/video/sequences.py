"""Image sequences from frame-per-file datasets: CK+48's ``S###_###_########.png`` grouped by sequence.

CK+48 keeps the last 3 frames of each of the 327 labelled CK+ sequences as separate images named
``<subject>_<sequence>_<frame>.png`` in one folder per class. :func:`group_sequences` turns any
image :class:`~affectlab.data.Dataset` into sequences by a file-name pattern (the sequence id is
the first group, the frame number the second); :func:`load_sequences` also reads the frames
into a ``(N, T, H, W)`` volume array.

Examples
--------
>>> from affectlab.data import Dataset, Sample
>>> ds = Dataset("toy", [Sample(f"happy/S005_001_0000000{i}.png", label="happy", subject="S005")
...                      for i in (3, 1, 2)], ["happy"])
>>> seqs = group_sequences(ds)
>>> seqs.ids, [p.name for p in seqs.frames[0]]
(['S005_001'], ['S005_001_00000001.png', 'S005_001_00000002.png', 'S005_001_00000003.png'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.checks import is_integer
from affectlab.data.loader import load_dataset
from affectlab.data.media import read_image
from affectlab.data.sample import Dataset
from affectlab.errors import ConfigError, DataError

__all__ = ["SEQUENCE_PATTERN", "SequenceSet", "group_sequences", "load_sequences"]

#: ``S010_004_00000017`` -> sequence ``S010_004``, frame 17 (matched on the file stem).
SEQUENCE_PATTERN = r"^(S\d+_\d+)_(\d+)$"


@dataclass
class SequenceSet:
    """Labelled sequences of frames.

    Attributes
    ----------
    ids
        Sequence ids (``"S010_004"``), sorted.
    labels, subjects
        One label and one subject per sequence (object arrays).
    frames
        Frame files of each sequence, in frame order.
    classes
        The dataset's class vocabulary.
    volumes
        ``(N, T, H, W)`` uint8 gray frames once read (:func:`load_sequences`), else None.
    """

    ids: list[str]
    labels: np.ndarray
    subjects: np.ndarray
    frames: list[list[Path]]
    classes: list[str]
    volumes: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def summary(self) -> dict[str, Any]:
        counts = {c: int(np.sum(self.labels == c)) for c in self.classes if np.any(self.labels == c)}
        lengths = sorted({len(f) for f in self.frames})
        return {"sequences": len(self), "subjects": len(set(self.subjects.tolist())), "classes": counts,
                "frames_per_sequence": lengths, "frames": int(sum(len(f) for f in self.frames))}


def group_sequences(dataset: Dataset, *, pattern: str = SEQUENCE_PATTERN) -> SequenceSet:
    """Group the labelled image samples of ``dataset`` into sequences by their file names.

    Raises
    ------
    DataError
        No file matches ``pattern``, or the frames of one sequence disagree on the label or
        subject (the sequence is named).
    ConfigError
        ``pattern`` is not a regular expression with two groups.
    """
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"sequences.pattern {pattern!r}: not a regular expression ({exc})") from None
    if regex.groups < 2:
        raise ConfigError(f"sequences.pattern {pattern!r}: needs two groups (sequence id, frame number)")
    groups: dict[str, list[tuple[int, Path, str, str | None]]] = {}
    for sample in dataset.samples:
        if sample.label is None:
            continue
        path = Path(sample.path) if sample.path is not None else Path(sample.id)
        if not path.is_absolute() and dataset.root is not None:
            path = dataset.root / path
        match = regex.match(path.stem)
        if match is None:
            continue
        number = int(match.group(2)) if match.group(2).isdigit() else 0
        groups.setdefault(match.group(1), []).append((number, path, str(sample.label), sample.subject))
    if not groups:
        raise DataError(f"{dataset.name}: no labelled file name matches the sequence pattern {pattern!r}")
    ids, labels, subjects, frames = [], [], [], []
    for seq_id in sorted(groups):
        members = sorted(groups[seq_id], key=lambda m: (m[0], m[1].name))
        seq_labels = {m[2] for m in members}
        if len(seq_labels) > 1:
            raise DataError(f"sequence {seq_id}: its frames have different labels ({', '.join(sorted(seq_labels))})")
        seq_subjects = {m[3] for m in members}
        if len(seq_subjects) > 1:
            raise DataError(f"sequence {seq_id}: its frames have different subjects")
        ids.append(seq_id)
        labels.append(members[0][2])
        subject = members[0][3]
        subjects.append(subject if subject is not None else seq_id.split("_")[0])
        frames.append([m[1] for m in members])
    return SequenceSet(ids, np.array(labels, dtype=object), np.array(subjects, dtype=object), frames,
                       list(dataset.classes))


def load_sequences(
    source: str | Path | Dataset,
    *,
    pattern: str = SEQUENCE_PATTERN,
    size: int | tuple[int, int] | None = 48,
    frames: int | None = None,
    progress: bool = False,
) -> SequenceSet:
    """Read a frame-per-file dataset as sequences with their ``(N, T, H, W)`` gray volumes.

    Parameters
    ----------
    source
        A dataset folder (any layout :func:`~affectlab.data.load_dataset` reads) or a dataset.
    pattern
        File-stem pattern: group 1 = sequence id, group 2 = frame number.
    size
        Resize every frame to ``size`` (int or ``(height, width)``); ``None`` keeps them (they
        must then agree).
    frames
        Keep the last ``frames`` frames of each sequence (the apex end in CK+); ``None``
        requires all sequences to have the same length.

    Raises
    ------
    ConfigError, DataError, MediaReadError
        Sequences of different lengths without ``frames``, a sequence shorter than ``frames``,
        an unreadable frame (named).
    """
    import cv2
    from tqdm.auto import tqdm

    dataset = source if isinstance(source, Dataset) else load_dataset(source)
    seqs = group_sequences(dataset, pattern=pattern)
    lengths = sorted({len(f) for f in seqs.frames})
    if frames is None and len(lengths) > 1:
        raise ConfigError(f"sequences have {lengths[0]} to {lengths[-1]} frames; set sequences: {{frames: N}} "
                          "to keep the last N of each")
    if frames is not None:
        if not is_integer(frames) or frames < 1:
            raise ConfigError(f"sequences.frames must be a positive integer, got {frames!r}")
        short = [i for i, f in zip(seqs.ids, seqs.frames) if len(f) < frames]
        if short:
            raise DataError(f"{len(short)} sequence(s) have fewer than {frames} frames, e.g. {short[0]}")
        seqs.frames = [f[-frames:] for f in seqs.frames]
    hw = None if size is None else ((size, size) if isinstance(size, int) else (int(size[0]), int(size[1])))
    volumes = []
    for files in tqdm(seqs.frames, desc="sequences", unit="seq", disable=not progress, leave=False):
        images = []
        for path in files:
            image = read_image(path, mode="gray")
            if hw is not None and image.shape != hw:
                shrink = image.shape[0] > hw[0] or image.shape[1] > hw[1]
                image = cv2.resize(image, (hw[1], hw[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            images.append(image)
        volumes.append(np.stack(images))
    shapes = {v.shape for v in volumes}
    if len(shapes) > 1:
        raise ConfigError("frames differ in size; set images: {size: N} in the config")
    seqs.volumes = np.stack(volumes)
    return seqs
