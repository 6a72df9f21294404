"""A seeded, documented proxy benchmark of posed vs spontaneous onset/apex pairs built from real faces.

No public posed/spontaneous collection is reachable here, so this module manufactures one:

- **onset** = a real face (an aligned 48x48 gray crop, e.g. the first frame of a CK+48 sequence);
- **apex** = the same face under a smooth, local displacement field made of Gaussian bumps at fixed
  relative positions of an aligned face (:data:`LANDMARKS`):

  * ``posed`` (label 0): the two mouth corners move up and slightly outward;
  * ``spontaneous`` (label 1): the same mouth-corner raise (same amplitude distribution) **plus** a
    cheek raise and a lower-eyelid raise (eye narrowing, the Duchenne marker) of random, sometimes
    small, amplitude.

Nuisances make a raw pixel difference noisy: per-side asymmetry of every amplitude, per-pair
jitter of the bump centres (faces are not perfectly aligned), a small global similarity transform
of the apex (rotation / scale / translation), brightness and contrast changes of the apex and
independent Gaussian pixel noise on both images. The label depends only on the warp: the source
face's own expression (CK+48 frames are expressive) is shared by both classes, because every face
yields as many posed as spontaneous pairs.

Everything is drawn from ``numpy.random.default_rng(seed)`` in a fixed order, so the same source
faces and :class:`ProxyConfig` give byte-identical pairs.

Examples
--------
>>> import numpy as np
>>> face = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (48, 1))
>>> pairs = make_proxy_pairs(face[None], ["S001"], config=ProxyConfig(pairs_per_face=4))
>>> pairs.onset.shape, pairs.apex.shape, pairs.label.tolist()
((4, 48, 48), (4, 48, 48), [0, 1, 0, 1])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from affectlab.checks import is_integer, is_number
from affectlab.data.media import read_image
from affectlab.errors import ConfigError, DataError

__all__ = [
    "LANDMARKS",
    "PAIR_CLASSES",
    "Bump",
    "ProxyConfig",
    "ProxyPairs",
    "ckplus_source_faces",
    "displacement_field",
    "expression_bumps",
    "make_proxy_pairs",
    "warp_image",
]

#: Class names, in label order.
PAIR_CLASSES: tuple[str, str] = ("posed", "spontaneous")

#: Relative (x, y) positions on an aligned face (fractions of width / height), measured on CK+48.
LANDMARKS: dict[str, tuple[float, float]] = {
    "mouth_left": (0.33, 0.81),
    "mouth_right": (0.68, 0.81),
    "cheek_left": (0.23, 0.60),
    "cheek_right": (0.77, 0.60),
    "lid_left": (0.26, 0.44),
    "lid_right": (0.71, 0.44),
}


@dataclass(frozen=True)
class Bump:
    """One Gaussian displacement bump.

    ``center`` is (x, y) in pixels, ``vector`` the displacement (dx, dy) in pixels at the centre
    (negative dy = upwards) and ``sigma`` the bump's width in pixels.
    """

    center: tuple[float, float]
    vector: tuple[float, float]
    sigma: float


def displacement_field(shape: tuple[int, int], bumps: Sequence[Bump]) -> tuple[np.ndarray, np.ndarray]:
    """The smooth displacement field ``(dx, dy)``, each ``(H, W)`` float32, of a sum of bumps.

    ``d(p) = sum_k v_k * exp(-|p - c_k|^2 / (2 sigma_k^2))``.

    >>> dx, dy = displacement_field((5, 5), [Bump((2, 2), (0.0, -1.0), 1.0)])
    >>> float(dy[2, 2]), round(float(dy[2, 3]), 4), float(dx.max())
    (-1.0, -0.6065, 0.0)
    """
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    dx = np.zeros((h, w), np.float64)
    dy = np.zeros((h, w), np.float64)
    for bump in bumps:
        if bump.sigma <= 0:
            raise ValueError(f"bump sigma must be > 0, got {bump.sigma}")
        g = np.exp(-((xs - bump.center[0]) ** 2 + (ys - bump.center[1]) ** 2) / (2.0 * bump.sigma**2))
        dx += bump.vector[0] * g
        dy += bump.vector[1] * g
    return dx.astype(np.float32), dy.astype(np.float32)


def warp_image(image: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Move the content of ``image`` by the field ``(dx, dy)`` (backward mapping, bilinear, border replicate).

    ``out(p) = image(p - d(p))``, a first-order inverse of the forward motion ``p -> p + d(p)``
    (exact for the small, smooth fields used here). A zero field returns the image unchanged.
    """
    h, w = image.shape[:2]
    if dx.shape != (h, w) or dy.shape != (h, w):
        raise ValueError(f"field shape {dx.shape} does not match image shape {(h, w)}")
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(image, xs - dx, ys - dy, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def expression_bumps(
    shape: tuple[int, int],
    *,
    mouth: tuple[float, float],
    cheek: tuple[float, float] = (0.0, 0.0),
    lid: tuple[float, float] = (0.0, 0.0),
    offsets: dict[str, tuple[float, float]] | None = None,
) -> list[Bump]:
    """Bumps of a smile on an aligned face of ``shape``; amplitudes (left, right) in pixels at 48x48.

    Mouth corners move up and 30 % outwards (sigma 3 px), cheeks up (sigma 4 px), lower eyelids up
    (sigma 2.5 px). Sizes scale with the face height; ``offsets`` shift named landmarks (pixels).
    Zero amplitudes give no bump.
    """
    h, w = shape
    scale = h / 48.0
    offsets = offsets or {}

    def at(name: str) -> tuple[float, float]:
        fx, fy = LANDMARKS[name]
        ox, oy = offsets.get(name, (0.0, 0.0))
        return fx * (w - 1) + ox, fy * (h - 1) + oy

    bumps = []
    for side, sign in (("left", -1.0), ("right", 1.0)):
        i = 0 if side == "left" else 1
        norm = float(np.hypot(0.3, 1.0))
        for name, amp, vec, sigma in (
            (f"mouth_{side}", mouth[i], (0.3 * sign / norm, -1.0 / norm), 3.0),
            (f"cheek_{side}", cheek[i], (0.0, -1.0), 4.0),
            (f"lid_{side}", lid[i], (0.0, -1.0), 2.5),
        ):
            if amp != 0:
                bumps.append(Bump(at(name), (amp * scale * vec[0], amp * scale * vec[1]), sigma * scale))
    return bumps


@dataclass(frozen=True)
class ProxyConfig:
    """Distributions of the proxy generator (amplitudes in pixels of a 48x48 face).

    Attributes
    ----------
    pairs_per_face
        Pairs drawn from each source face; labels alternate 0, 1, 0, 1... over all pairs, so even
        numbers give each face as many posed as spontaneous pairs, and odd ones (1 included) keep
        the two classes balanced over the faces (with 1: one face posed, the next spontaneous).
    mouth_amplitude
        Uniform range of the mouth-corner raise (both classes).
    cheek_amplitude
        Uniform range of the cheek raise (spontaneous only).
    lid_ratio
        Uniform range of the lower-eyelid raise as a fraction of the cheek raise.
    asymmetry
        Each side's amplitude is multiplied by ``1 + U(-asymmetry, asymmetry)``.
    center_jitter
        Per-pair, per-landmark Gaussian jitter (sd, pixels) of the bump centres.
    rotation_deg, scale, translate
        Global similarity jitter of the apex: uniform rotation in degrees, scale ``1 + U(-s, s)``
        and translation ``U(-t, t)`` pixels in x and y.
    brightness, contrast
        Apex lighting change: ``a * I + b`` with ``a = 1 + U(-contrast, contrast)`` and
        ``b = U(-brightness, brightness)`` gray levels.
    noise
        Sd (gray levels) of independent Gaussian pixel noise on both images.
    seed
        Seed of the whole generator.
    """

    pairs_per_face: int = 8
    mouth_amplitude: tuple[float, float] = (1.5, 3.5)
    cheek_amplitude: tuple[float, float] = (0.2, 2.0)
    lid_ratio: tuple[float, float] = (0.3, 0.8)
    asymmetry: float = 0.35
    center_jitter: float = 1.0
    rotation_deg: float = 3.0
    scale: float = 0.03
    translate: float = 1.0
    brightness: float = 12.0
    contrast: float = 0.08
    noise: float = 4.0
    seed: int = 0

    @classmethod
    def from_mapping(cls, values: dict[str, Any], key: str = "data.proxy") -> ProxyConfig:
        """Build from a config mapping, naming unknown or bad keys."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{key}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        kwargs = {}
        for name, value in values.items():
            default = getattr(cls(), name)
            if isinstance(default, tuple):
                if not isinstance(value, list | tuple) or len(value) != 2 or not all(
                        is_number(v) for v in value):
                    raise ConfigError(f"{key}.{name} must be [low, high], got {value!r}")
                if value[0] > value[1] or value[0] < 0:
                    raise ConfigError(f"{key}.{name} must satisfy 0 <= low <= high, got {value!r}")
                value = (float(value[0]), float(value[1]))
            elif is_integer(default) and name in ("pairs_per_face", "seed"):
                if not is_integer(value) or value < (1 if name == "pairs_per_face" else 0):
                    raise ConfigError(f"{key}.{name} must be a"
                                      f" {'positive' if name == 'pairs_per_face' else 'non-negative'}"
                                      f" integer, got {value!r}")
                value = int(value)
            else:
                if not is_number(value) or value < 0:
                    raise ConfigError(f"{key}.{name} must be a number >= 0, got {value!r}")
                value = float(value)
            kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class ProxyPairs:
    """Generated pairs: ``onset``/``apex`` ``(N, H, W)`` uint8, ``label`` ``(N,)`` (0 posed, 1 spontaneous),
    ``subject`` and ``source`` ``(N,)`` str, and the drawn ``mouth``/``cheek`` amplitudes ``(N, 2)``."""

    onset: np.ndarray
    apex: np.ndarray
    label: np.ndarray
    subject: np.ndarray
    source: np.ndarray
    mouth: np.ndarray
    cheek: np.ndarray
    classes: tuple[str, ...] = field(default=PAIR_CLASSES)

    def __len__(self) -> int:
        return len(self.label)


def _lighting_noise(image: np.ndarray, rng: np.random.Generator, cfg: ProxyConfig, *, lighting: bool) -> np.ndarray:
    out = image.astype(np.float32)
    if lighting:
        a = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
        b = rng.uniform(-cfg.brightness, cfg.brightness)
        out = a * (out - 128.0) + 128.0 + b
    out = out + rng.normal(0.0, cfg.noise, size=out.shape).astype(np.float32) if cfg.noise > 0 else out
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _global_jitter(image: np.ndarray, rng: np.random.Generator, cfg: ProxyConfig) -> np.ndarray:
    h, w = image.shape
    angle = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)
    scale = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    tx, ty = rng.uniform(-cfg.translate, cfg.translate, size=2)
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, scale)
    matrix[:, 2] += (tx, ty)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def make_proxy_pairs(
    faces: np.ndarray,
    subjects: Sequence[str],
    *,
    sources: Sequence[str] | None = None,
    config: ProxyConfig | None = None,
) -> ProxyPairs:
    """Generate ``pairs_per_face`` onset/apex pairs from every face of ``faces`` ``(M, H, W)`` uint8.

    The warp is applied to the clean face, then the apex gets the global jitter and lighting
    change, then both images get pixel noise.
    """
    cfg = config or ProxyConfig()
    faces = np.asarray(faces)
    if faces.ndim != 3 or faces.dtype != np.uint8:
        raise DataError(f"faces must be (M, H, W) uint8, got {faces.shape} {faces.dtype}")
    if len(subjects) != len(faces):
        raise DataError(f"{len(subjects)} subjects for {len(faces)} faces")
    sources = list(sources) if sources is not None else [f"face{i}" for i in range(len(faces))]
    rng = np.random.default_rng(cfg.seed)
    h, w = faces.shape[1:]
    onsets, apexes, labels, subj, src, mouths, cheeks = [], [], [], [], [], [], []
    names = list(LANDMARKS)
    for i, (face, subject, source) in enumerate(zip(faces, subjects, sources)):
        for j in range(cfg.pairs_per_face):
            label = (i * cfg.pairs_per_face + j) % 2  # j % 2 for even pairs_per_face; balanced for odd ones

            def sides(low_high: tuple[float, float]) -> tuple[float, float]:
                base = rng.uniform(*low_high)
                left, right = 1.0 + rng.uniform(-cfg.asymmetry, cfg.asymmetry, size=2)
                return base * left, base * right

            mouth = sides(cfg.mouth_amplitude)
            cheek = sides(cfg.cheek_amplitude)  # drawn for both classes so the random stream is aligned
            ratio = rng.uniform(*cfg.lid_ratio)
            offsets = {n: tuple(rng.normal(0.0, cfg.center_jitter, size=2)) for n in names}
            if label == 0:
                cheek = (0.0, 0.0)
            lid = (cheek[0] * ratio, cheek[1] * ratio)
            dx, dy = displacement_field((h, w), expression_bumps((h, w), mouth=mouth, cheek=cheek, lid=lid,
                                                                 offsets=offsets))
            apex = _global_jitter(warp_image(face, dx, dy), rng, cfg)
            apexes.append(_lighting_noise(apex, rng, cfg, lighting=True))
            onsets.append(_lighting_noise(face, rng, cfg, lighting=False))
            labels.append(label)
            subj.append(str(subject))
            src.append(str(source))
            mouths.append(mouth)
            cheeks.append(cheek)
    return ProxyPairs(
        onset=np.stack(onsets) if onsets else np.zeros((0, h, w), np.uint8),
        apex=np.stack(apexes) if apexes else np.zeros((0, h, w), np.uint8),
        label=np.asarray(labels, dtype=np.int64),
        subject=np.asarray(subj, dtype=str),
        source=np.asarray(src, dtype=str),
        mouth=np.asarray(mouths, dtype=np.float32).reshape(-1, 2),
        cheek=np.asarray(cheeks, dtype=np.float32).reshape(-1, 2),
    )


_CK_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.png$", re.IGNORECASE)


def ckplus_source_faces(root: str | Path, *, size: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One face per CK+48 sequence (its lowest-numbered frame), as ``(faces, subjects, ids)``.

    ``root`` is the CK+48 folder (``<class>/S###_###_########.png``). Faces are gray uint8
    ``(M, size, size)``, sorted by sequence id; ``subjects`` are the ``S###`` prefixes.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"data.proxy.source {root}: not a folder")
    first: dict[str, tuple[int, Path]] = {}
    for path in sorted(root.glob("*/*.png")):
        match = _CK_NAME.match(path.name)
        if match is None:
            continue
        sequence = f"{match.group(1).upper()}_{match.group(2)}"
        frame = int(match.group(3))
        if sequence not in first or frame < first[sequence][0]:
            first[sequence] = (frame, path)
    if not first:
        raise DataError(f"{root}: no CK+48 images named <class>/S###_###_########.png")
    faces, subjects, ids = [], [], []
    for sequence in sorted(first):
        path = first[sequence][1]
        image = read_image(path, mode="gray")
        if image.shape != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        faces.append(image)
        subjects.append(sequence.split("_")[0])
        ids.append(f"{path.parent.name}/{path.name}")
    return np.stack(faces), np.asarray(subjects, dtype=str), np.asarray(ids, dtype=str)


def write_proxy_pairs(pairs: ProxyPairs, folder: str | Path) -> Path:
    """Save generated pairs as PNGs plus a ``pairs.csv`` manifest (``onset,apex,label,subject``).

    Images go to ``folder/images/<subject>_<k>_{onset,apex}.png``; returns the manifest's path,
    which ``kind: pairs`` reads with ``data: {manifest: ...}``. Files derived from a licensed
    dataset stay under that dataset's terms: keep them out of the repository.
    """
    from affectlab.pairs.manifest import PairRecord, write_pair_manifest

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for k in range(len(pairs)):
        stem = f"images/{pairs.subject[k]}_{k:05d}"
        for which, image in (("onset", pairs.onset[k]), ("apex", pairs.apex[k])):
            if not cv2.imwrite(str(folder / f"{stem}_{which}.png"), image):
                raise DataError(f"{folder / f'{stem}_{which}.png'}: cannot write")
        records.append(PairRecord(f"{stem}_onset.png", f"{stem}_apex.png", pairs.classes[int(pairs.label[k])],
                                  str(pairs.subject[k]), k + 2))
    return write_pair_manifest(folder / "pairs.csv", records)
