"""How much fine detail the clip path's face volumes keep, measured against the CK+48 originals (no classifier).

Two measurements, printed as JSON:

- ``chain``: each of ``--n-frames`` CK+48 frames upscaled to the rendering's face size (bicubic, as
  ``render_ckplus_clips.py`` does) and shrunk back to 48 x 48 with each ``--downscale`` method, no warp: the detail it
  keeps (median ratio of mean |Laplacian| over the central 32 x 32, shrunk / original) and its mean absolute error
  against the original (grey levels).
- ``volumes``: the first ``--n-clips`` clips of a rendered folder (``--clips``, its ``manifest.csv``) through the clip
  path (3 frames of 48 x 48, each ``--downscale``), each volume frame against its CK+48 original: the Laplacian and
  gradient ratios, and an affine registration (OpenCV's ECC) of volume to original: its scale and shift.

    python benchmarks/clip_sharpness.py --clips /root/affectlab-clips/ckplus48-pad8-seed1
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from affectlab.data.loader import load_dataset
from affectlab.data.media import read_image
from affectlab.face.align import DOWNSCALES, shrink
from affectlab.video.sequences import SEQUENCE_PATTERN, group_sequences

REPO = Path(__file__).resolve().parents[1]
INNER = slice(8, 40)  # the central 32 x 32 of a 48 x 48 face


def laplacian_energy(face: np.ndarray) -> float:
    """Mean |Laplacian| over the central 32 x 32 of a 48 x 48 face.

    >>> laplacian_energy(np.full((48, 48), 9, np.uint8))
    0.0
    """
    return float(np.mean(np.abs(cv2.Laplacian(face.astype(np.float32), cv2.CV_32F))[INNER, INNER]))


def gradient_energy(face: np.ndarray) -> float:
    """Mean Sobel gradient magnitude over the central 32 x 32 of a 48 x 48 face."""
    g = face.astype(np.float32)
    return float(np.mean(np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[INNER, INNER]))


def register(original: np.ndarray, face: np.ndarray) -> tuple[float, float, float]:
    """Scale and shift (x, y) of the affine map that best carries ``original`` onto ``face`` (ECC); NaN if it fails."""
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(original.astype(np.float32), face.astype(np.float32), warp,
                                       cv2.MOTION_AFFINE, (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5),
                                       None, 5)
    except cv2.error:
        return float("nan"), float("nan"), float("nan")
    return float(np.sqrt(abs(np.linalg.det(warp[:, :2])))), float(warp[0, 2]), float(warp[1, 2])


def _summary(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, float)
    return {"median": round(float(np.nanmedian(v)), 3), "p10": round(float(np.nanpercentile(v, 10)), 3),
            "p90": round(float(np.nanpercentile(v, 90)), 3)}


def chain(originals: list[np.ndarray], face_size: int, methods: list[str]) -> dict[str, dict]:
    """The render-and-shrink chain without a warp, per shrink method."""
    out = {}
    for method in methods:
        kept, error = [], []
        for face in originals:
            back = shrink(cv2.resize(face, (face_size, face_size), interpolation=cv2.INTER_CUBIC), 48, method)
            kept.append(laplacian_energy(back) / laplacian_energy(face))
            error.append(float(np.abs(back.astype(float) - face)[INNER, INNER].mean()))
        out[method] = {"laplacian_kept": _summary(kept), "mean_abs_error": round(float(np.mean(error)), 2)}
    return out


def volumes(clips: Path, frames_of: dict[str, list[str]], n_clips: int, methods: list[str]) -> dict[str, dict]:
    """The clip path's volumes against the originals, per shrink method."""
    from affectlab.clips.volume import VolumeBuilder

    rows = list(csv.DictReader(open(clips / "manifest.csv", newline="")))[:n_clips]
    out = {}
    for method in methods:
        build = VolumeBuilder(frames=3, size=48, missing="fill", max_missing=0.5, short="refuse", downscale=method)
        lap, grad, scale, dx, dy = [], [], [], [], []
        for row in rows:
            volume = build(clips / row["path"]).volume
            for face, path in zip(volume, frames_of[row["id"]][-3:], strict=True):
                original = read_image(path, mode="gray")
                lap.append(laplacian_energy(face) / laplacian_energy(original))
                grad.append(gradient_energy(face) / gradient_energy(original))
                s, x, y = register(original, face)
                scale.append(s), dx.append(x), dy.append(y)
        out[method] = {"frames": len(lap), "laplacian_kept": _summary(lap), "gradient_kept": _summary(grad),
                       "scale": _summary(scale), "shift_x": _summary(dx), "shift_y": _summary(dy)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, help="a render_ckplus_clips.py folder (omit: the chain only)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "ckplus48")
    parser.add_argument("--n-clips", type=int, default=40)
    parser.add_argument("--n-frames", type=int, default=300, help="CK+48 frames for the chain measurement")
    parser.add_argument("--face-size", type=int, default=140, help="the rendering's face size (its default)")
    parser.add_argument("--downscale", nargs="+", default=list(DOWNSCALES), choices=DOWNSCALES)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data}: CK+48 folder not found", file=sys.stderr)
        return 2
    dataset = load_dataset(args.data)
    originals = [read_image(s.path, mode="gray") for s in dataset.samples[: args.n_frames]]
    result = {"chain": chain(originals, args.face_size, args.downscale)}
    if args.clips is not None:
        seqs = group_sequences(dataset, pattern=SEQUENCE_PATTERN)
        frames_of = {seqs.ids[i]: list(seqs.frames[i]) for i in range(len(seqs.ids))}
        result["volumes"] = volumes(args.clips, frames_of, args.n_clips, args.downscale)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
