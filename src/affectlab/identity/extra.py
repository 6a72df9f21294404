"""Extra training identities from another face dataset (people disjoint from the verification set).

The Siamese branch learns identity features from whatever subjects it is trained on; ORL's 25
training subjects per fold are few. Any dataset whose samples carry a subject id (e.g. CK+48,
``S###`` in the file names) can add identities for the branch's classification pretraining,
as long as its people are not in the verification set (CK+ and ORL are different people). Its
images are fitted into the verification image frame with :func:`fit_face_layout`, so that faces
have a similar scale and position (CK+48 crops are tight faces, ORL frames show the whole head).

Examples
--------
>>> img = np.full((48, 48), 200, np.uint8)
>>> fit_face_layout(img, (28, 24), FaceLayout(height=23, top=3, left=0)).shape
(28, 24)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.checks import is_integer
from affectlab.data import load_dataset
from affectlab.data.media import read_image, to_gray
from affectlab.errors import ConfigError, DataError

__all__ = [
    "EXTRA_KEYS",
    "ExtraIdentities",
    "FaceLayout",
    "fit_face_layout",
    "load_extra_identities",
    "parse_face_layout",
]

#: Keys of the ``extra_identities`` section of a ``kind: siamese`` file, with their defaults.
EXTRA_KEYS: dict[str, Any] = {
    "source": None,          # dataset folder/file with a subject per sample (required)
    "layout": {"height": None, "top": 0, "left": 0},   # where the source image goes in the frame
    "epochs": 15,            # branch classification epochs over the extra subjects (once per ensemble seed)
    "lr": 0.002,
    "batch_size": 64,
    "prefix": "extra:",      # prepended to the extra subject ids so they can never equal a verification id
}


@dataclass(frozen=True)
class FaceLayout:
    """Where a source image goes in the target frame: resized to ``height`` rows (aspect kept; ``None``:
    the frame's height), its top-left corner at (``top``, ``left``); the rest of the frame repeats the
    image's border pixels, and what falls outside is cut off."""

    height: int | None = None
    top: int = 0
    left: int = 0


@dataclass
class ExtraIdentities:
    """Gray ``(N, H, W)`` uint8 images, their subject ids and where they came from."""

    images: np.ndarray
    subjects: np.ndarray
    source: Path
    layout: FaceLayout

    @property
    def n_subjects(self) -> int:
        return len(set(self.subjects.tolist()))


def fit_face_layout(image: np.ndarray, size: tuple[int, int], layout: FaceLayout) -> np.ndarray:
    """Resize a gray ``image`` and place it in a ``size`` = (height, width) frame as ``layout`` says.

    Examples
    --------
    >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> fit_face_layout(img, (6, 4), FaceLayout(height=4, top=1, left=0))[:, 0].tolist()   # top row repeated
    [0, 0, 4, 8, 12, 12]
    """
    import cv2

    h, w = int(size[0]), int(size[1])
    rows = int(layout.height or h)
    if rows < 1:
        raise ConfigError(f"extra_identities.layout.height must be >= 1, got {layout.height!r}")
    cols = max(1, round(image.shape[1] * rows / image.shape[0]))
    resized = cv2.resize(image, (cols, rows),
                         interpolation=cv2.INTER_AREA if rows < image.shape[0] else cv2.INTER_LINEAR)
    pad_top, pad_left = max(0, layout.top), max(0, layout.left)
    pad_bottom, pad_right = max(0, h - layout.top - rows), max(0, w - layout.left - cols)
    canvas = cv2.copyMakeBorder(resized, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_REPLICATE)
    r0, c0 = max(0, -layout.top), max(0, -layout.left)
    return np.ascontiguousarray(canvas[r0: r0 + h, c0: c0 + w])


def parse_face_layout(value: Any) -> FaceLayout:
    """A :class:`FaceLayout` from a ``{height, top, left}`` mapping (missing keys: defaults)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"extra_identities.layout must be a mapping, got {value!r}")
    unknown = sorted(set(value) - set(EXTRA_KEYS["layout"]))
    if unknown:
        raise ConfigError(f"extra_identities.layout: unknown key(s) {', '.join(unknown)} (known: height, top, left)")
    merged = {**EXTRA_KEYS["layout"], **value}
    for key in ("top", "left"):
        if not is_integer(merged[key]):
            raise ConfigError(f"extra_identities.layout.{key} must be an int, got {merged[key]!r}")
    if merged["height"] is not None and (not is_integer(merged["height"]) or merged["height"] < 1):
        raise ConfigError(f"extra_identities.layout.height must be an int >= 1, got {merged['height']!r}")
    return FaceLayout(merged["height"], merged["top"], merged["left"])


def load_extra_identities(source: str | Path, size: tuple[int, int], *, layout: FaceLayout | Mapping[str, Any] | None
                          = None, prefix: str = "extra:", progress: bool = False) -> ExtraIdentities:
    """Read a dataset with subject ids (any :func:`~affectlab.data.load_dataset` format) as extra identities.

    Raises
    ------
    DataError
        A sample has no subject, or fewer than two subjects have two or more images.
    """
    from tqdm.auto import tqdm

    layout = layout if isinstance(layout, FaceLayout) else parse_face_layout(layout or {})
    dataset = load_dataset(source)
    missing = [s.id for s in dataset.samples if not s.subject]
    if missing:
        raise DataError(f"{source}: extra identities need a subject for every sample; {len(missing)} have none "
                        f"(first: {missing[0]})")
    images, subjects = [], []
    for sample in tqdm(dataset.samples, desc="extra identities", unit="img", disable=not progress, leave=False):
        if sample.pixels is not None:
            gray = to_gray(np.asarray(sample.pixels, dtype=np.uint8))
        else:
            gray = read_image(sample.path, mode="gray")
        images.append(fit_face_layout(gray, size, layout))
        subjects.append(f"{prefix}{sample.subject}")
    subjects_arr = np.asarray(subjects, dtype=object)
    _, counts = np.unique(subjects_arr.astype(str), return_counts=True)
    if int(np.sum(counts >= 2)) < 2:
        raise DataError(f"{source}: extra identities need at least two subjects with two or more images, got "
                        f"{int(np.sum(counts >= 2))}")
    return ExtraIdentities(np.stack(images), subjects_arr, Path(dataset.root or source), layout)
