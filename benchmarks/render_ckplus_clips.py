"""Render the CK+48 sequences as short video clips, for testing the clip path on known data.

CK+48 keeps the last 3 frames of each of the 327 labelled CK+ sequences; they are grouped into
sequences exactly as ``kind: sequences`` groups them (``configs/ckplus48-sequences.yaml``: file
stem ``S###_###_########``, the last 3 frames of each). Each sequence becomes one clip:

- a 320x240 frame cut at a random place from one of five blurred scikit-image pictures (coffee,
  chelsea, rocket, immunohistochemistry, camera; as ``benchmarks/pasted_faces.py``), the same
  for the whole clip;
- every 48x48 frame upscaled (bicubic) to ``--face-size`` pixels (140) and held for ``--hold``
  frames (8), pasted at a position that starts at a random place and drifts by a random velocity
  of at most ``--drift`` px/frame (1.5) in x and y, bouncing off the frame's borders;
- Gaussian pixel noise of ``--noise`` grey levels (2), then the codec's own losses (mp4v or MJPG);
- with ``--pad N``, each 48x48 face first gets N of its own border pixels mirrored around it, so the
  face has face-like surroundings instead of the picture behind it (a CK+48 crop has nothing around
  it; the aligned square of the clip path reaches a little past it).

Everything is drawn from ``--seed`` and the sequence's position, so a run gives the same clips
byte for byte with the same OpenCV. The paste positions go to ``positions.json`` (for scoring
only: the clip path detects, tracks and aligns the faces on its own). The manifest
``manifest.csv`` has the columns ``path,label,subject,split,id`` (``id`` = the sequence id,
``S010_004``, the id the frame-folder run uses, so the two runs can be compared by
``affectlab compare``).

Run::

    python benchmarks/render_ckplus_clips.py --out /root/affectlab-clips/ckplus48
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from affectlab.data.loader import load_dataset
from affectlab.data.media import read_image
from affectlab.video.sequences import SEQUENCE_PATTERN, group_sequences

from pasted_faces import FRAME_SIZE, PICTURES, _backgrounds

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ckplus48"
DEFAULT_OUT = Path("/root/affectlab-clips/ckplus48")
CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}  # FFV1: lossless (tells codec losses apart)


def render_clip(frames: list[np.ndarray], background: np.ndarray, rng: np.random.Generator, *, face_size: int,
                hold: int, drift: float, noise: float, pad: int = 0) -> tuple[list[np.ndarray], list[list[int]]]:
    """RGB frames of one clip and the paste position ``[x, y]`` of each (for scoring only).

    ``pad`` > 0 mirrors that many pixels of each 48x48 face's border around it before the upscale, so the
    pasted square (``face_size * (48 + 2 pad) / 48`` pixels) has face-like surroundings; the face keeps its size
    and the recorded position stays that of the face itself.
    """
    width, height = FRAME_SIZE
    margin = int(round(face_size * pad / 48.0))
    if pad:
        frames = [cv2.copyMakeBorder(f, pad, pad, pad, pad, cv2.BORDER_REFLECT_101) for f in frames]
    face_size += 2 * margin
    bx = int(rng.integers(0, background.shape[1] - width + 1))
    by = int(rng.integers(0, background.shape[0] - height + 1))
    scene = background[by:by + height, bx:bx + width]
    x, y = float(rng.uniform(0, width - face_size)), float(rng.uniform(0, height - face_size))
    vx, vy = (float(v) for v in rng.uniform(-drift, drift, size=2))
    out, where = [], []
    for face in frames:
        big = cv2.resize(face, (face_size, face_size), interpolation=cv2.INTER_CUBIC)
        for _ in range(hold):
            canvas = scene.astype(np.float32)
            px, py = int(round(x)), int(round(y))
            canvas[py:py + face_size, px:px + face_size] = big[..., None]
            if noise > 0:
                canvas += rng.normal(0.0, noise, canvas.shape).astype(np.float32)
            out.append(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
            where.append([px + margin, py + margin])
            x, y = x + vx, y + vy
            if not 0 <= x <= width - face_size:  # bounce off the border
                vx, x = -vx, float(np.clip(x, 0, width - face_size))
            if not 0 <= y <= height - face_size:
                vy, y = -vy, float(np.clip(y, 0, height - face_size))
    return out, where


def write_clip(path: Path, frames: list[np.ndarray], fps: float) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[path.suffix]), fps, (width, height))
    if not writer.isOpened():
        raise SystemExit(f"{path}: OpenCV cannot write {path.suffix} ({CODECS[path.suffix]}) here")
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="The CK+48 folder.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Folder for the clips and manifest.csv.")
    parser.add_argument("--frames", type=int, default=3, help="Last frames of each sequence (as the config).")
    parser.add_argument("--hold", type=int, default=8, help="Video frames each sequence frame is shown.")
    parser.add_argument("--face-size", type=int, default=140)
    parser.add_argument("--drift", type=float, default=1.5, help="Largest speed of the face, px/frame in x and y.")
    parser.add_argument("--noise", type=float, default=2.0, help="Gaussian pixel noise (grey levels).")
    parser.add_argument("--pad", type=int, default=0,
                        help="Mirror this many pixels of each 48x48 face around it (face-like surroundings).")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--format", choices=sorted(c.lstrip(".") for c in CODECS), default="mp4")
    parser.add_argument("--limit", type=int, default=None, help="Render only the first N sequences.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data}: CK+48 folder not found", file=sys.stderr)
        return 2
    started = time.perf_counter()
    seqs = group_sequences(load_dataset(args.data), pattern=SEQUENCE_PATTERN)
    backgrounds = _backgrounds()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, positions = [], {}
    count = len(seqs) if args.limit is None else min(args.limit, len(seqs))
    for i in range(count):
        seq_id, label, subject = seqs.ids[i], str(seqs.labels[i]), str(seqs.subjects[i])
        files = seqs.frames[i][-args.frames:]
        faces = [read_image(p, mode="gray") for p in files]
        faces = [cv2.resize(f, (48, 48), interpolation=cv2.INTER_AREA) if f.shape != (48, 48) else f for f in faces]
        rng = np.random.default_rng([args.seed, i])
        frames, where = render_clip(faces, backgrounds[i % len(backgrounds)], rng, face_size=args.face_size,
                                    hold=args.hold, drift=args.drift, noise=args.noise, pad=args.pad)
        relative = Path(label) / f"{seq_id}.{args.format}"
        (args.out / label).mkdir(exist_ok=True)
        write_clip(args.out / relative, frames, args.fps)
        rows.append({"path": relative.as_posix(), "label": label, "subject": subject, "split": "", "id": seq_id})
        positions[seq_id] = {"side": args.face_size, "xy": where, "background": PICTURES[i % len(backgrounds)]}
    with (args.out / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "subject", "split", "id"])
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "positions.json").write_text(json.dumps(positions) + "\n")
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    (args.out / "render.json").write_text(json.dumps({"settings": settings, "clips": len(rows)}, indent=1) + "\n")
    print(json.dumps({"clips": len(rows), "out": str(args.out), "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
