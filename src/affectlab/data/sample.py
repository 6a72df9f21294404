"""The sample record and the dataset container shared by every reader."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["Sample", "Dataset", "MediaKind"]

MediaKind = Literal["image", "audio", "video"]


@dataclass(frozen=True)
class Sample:
    """One labelled item of a dataset.

    Parameters
    ----------
    id
        Unique within its dataset: a relative path, or ``"<file>:<row>"`` for tabular sources.
    path
        The media file on disk, or ``None`` when the media is inline (``pixels``).
    label
        Class name (lower case, e.g. ``"happy"``), or ``None`` when unlabelled.
    subject
        Subject / speaker id (``"S010"``, ``"03"``, ``"s7"``), or ``None`` when unknown.
    split
        Named split from the source (``"Training"``, ``"PublicTest"``), or ``None``.
    pixels
        Inline image as a uint8 array (FER2013 rows), else ``None``.
    extras
        Anything else the source provides: ``valence``/``arousal``/``dominance``, ``row``,
        ``sequence``...
    """

    id: str
    path: Path | None = None
    label: str | None = None
    subject: str | None = None
    split: str | None = None
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)
    extras: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def source(self) -> str:
        """A human-readable pointer to the item (path, or id for inline media)."""
        return str(self.path) if self.path is not None else self.id


@dataclass
class Dataset:
    """An ordered collection of :class:`Sample` records from one source.

    ``classes`` is the label vocabulary in its canonical order (e.g. FER2013's 0..6 order); it can
    list classes that have no sample.
    """

    name: str
    samples: list[Sample]
    classes: list[str]
    kind: MediaKind = "image"
    root: Path | None = None
    #: Items skipped while reading (``errors="skip"``), one message naming the file or row each.
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]

    @property
    def labels(self) -> np.ndarray:
        """Labels as an object array of class names (``None`` where unlabelled)."""
        return np.array([s.label for s in self.samples], dtype=object)

    @property
    def targets(self) -> np.ndarray:
        """Labels as integer indices into :attr:`classes` (-1 where unlabelled)."""
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index.get(s.label, -1) for s in self.samples], dtype=np.int64)

    @property
    def groups(self) -> np.ndarray:
        """Subject/speaker ids as an object array (``None`` where unknown)."""
        return np.array([s.subject for s in self.samples], dtype=object)

    @property
    def splits(self) -> np.ndarray:
        """Named split per sample as an object array (``None`` where absent)."""
        return np.array([s.split for s in self.samples], dtype=object)

    def subset(self, indices: Iterable[int] | np.ndarray, name: str | None = None) -> Dataset:
        """A new dataset with the samples at ``indices`` (same classes)."""
        chosen = [self.samples[int(i)] for i in indices]
        return Dataset(name or self.name, chosen, list(self.classes), self.kind, self.root)

    def filter(self, *, split: str | Sequence[str] | None = None) -> Dataset:
        """Samples of one or more named splits."""
        if split is None:
            return self
        wanted = {split} if isinstance(split, str) else set(split)
        keep = [i for i, s in enumerate(self.samples) if s.split in wanted]
        return self.subset(keep, name=f"{self.name}[{','.join(sorted(wanted))}]")

    def fingerprint(self) -> str:
        """SHA-256 (hex) of every sample's id, label, subject, split and content, in order.

        Content is the file's bytes, or the pixel array for samples read from a table (FER2013's
        CSV); a sample with neither counts by its metadata alone. Two run folders with the same
        fingerprint read the same data in the same order (``config.yaml`` -> ``run.data_sha256``).
        """
        digest = hashlib.sha256()
        for sample in self.samples:
            meta = "\x1f".join("" if v is None else str(v) for v in (sample.id, sample.label, sample.subject,
                                                                       sample.split))
            digest.update(meta.encode("utf-8") + b"\x1e")
            if sample.pixels is not None:
                pixels = np.ascontiguousarray(sample.pixels)
                digest.update(f"{pixels.dtype.str}{pixels.shape}".encode() + pixels.tobytes())
            elif sample.path is not None and Path(sample.path).is_file():
                digest.update(hashlib.sha256(Path(sample.path).read_bytes()).digest())
        return digest.hexdigest()

    def summary(self) -> dict[str, Any]:
        """Totals per split and class and the subject count, as ``affectlab data info`` prints."""
        splits = Counter(s.split for s in self.samples if s.split is not None)
        classes = Counter(s.label for s in self.samples if s.label is not None)
        subjects = {s.subject for s in self.samples if s.subject is not None}
        ordered_classes = {c: classes[c] for c in self.classes if classes[c]}
        ordered_classes.update({c: n for c, n in classes.items() if c not in ordered_classes})
        return {
            "name": self.name,
            "kind": self.kind,
            "total": len(self.samples),
            "splits": dict(splits),
            "classes": ordered_classes,
            "subjects": len(subjects),
        }
