"""Clip runs of several renderings of the same clips against one frame-folder run: the mean difference, by subject.

    python benchmarks/compare_renderings.py --frames runs/ckplus48-sequences \\
        --clips runs/ckplus48-clips-seed1 runs/ckplus48-clips-seed2 ... [--methods lbp_top hog_mean ...] [--json]

One rendering of the CK+48 clips (backgrounds, paste places, drifts, the codec's losses) is one random draw of the
clip path's input; a descriptor that moves by several points between two renderings makes one run's interval a
statement about that draw. This script averages over the renderings: for each method (``feature/classifier`` or a
unique leading part, as ``affectlab compare`` names them; default every method the runs share), the clip path's
accuracy and UAR are the means over the ``--clips`` runs, and the 95 % interval of (mean clip - frames) comes from
a paired bootstrap that resamples the subjects (2,000 resamples, seed 0), each resample weighting the same subjects
in every run. Each run's own difference is listed beside it. Every run must have predicted the same sample ids with
the same true labels (renderings of the same sequences, the same folds).

Prints one line per method, or with ``--json`` one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from affectlab.errors import DataError
from affectlab.evaluate.compare import method_rows, read_predictions, weighted_scores


def shared_methods(runs: list[Path]) -> list[str]:
    """``feature/classifier`` names predicted in every run, in the first run's order."""
    names = []
    for run in runs:
        rows, columns = read_predictions(run)
        names.append(list(dict.fromkeys("/".join(r[c] for c in columns) for r in rows)))
    return [n for n in names[0] if all(n in other for other in names[1:])]


def compare_renderings(frames: Path, clips: list[Path], method: str, *, n_boot: int = 2000,
                       confidence: float = 0.95, random_state: int = 0) -> dict:
    """The mean over ``clips`` runs of ``method``'s accuracy and UAR minus the ``frames`` run's, with a paired
    subject bootstrap interval of that difference, and each clip run's own difference."""
    base_rows, base_columns = read_predictions(frames)
    base = method_rows(base_rows, base_columns, method, str(frames))
    ids = sorted(base)
    y = np.asarray([base[i]["true"] for i in ids])
    right = [np.asarray([base[i]["pred"] == base[i]["true"] for i in ids], np.float64)]
    for run in clips:
        rows, columns = read_predictions(run)
        got = method_rows(rows, columns, method, str(run))
        if set(got) != set(ids):
            raise DataError(f"{run}: {method!r} predicted other samples than in {frames} "
                            f"({len(set(got) - set(ids))} only there, {len(set(ids) - set(got))} missing)")
        clash = next((i for i in ids if got[i]["true"] != base[i]["true"]), None)
        if clash is not None:
            raise DataError(f"{run}: sample {clash!r} has true label {got[clash]['true']!r}, "
                            f"{base[clash]['true']!r} in {frames}")
        right.append(np.asarray([got[i]["pred"] == got[i]["true"] for i in ids], np.float64))
    subjects = [base[i].get("subject") or "" for i in ids]
    if "" in subjects:
        raise DataError(f"{frames}: {method!r} has samples without a subject; the bootstrap resamples subjects")
    units, unit_of = np.unique(subjects, return_inverse=True)
    classes, y_index = np.unique(y, return_inverse=True)
    onehot = np.eye(classes.size)[y_index]
    full = np.ones((1, len(ids)))
    point = [weighted_scores(full, r, onehot) for r in right]  # (accuracy, uar) arrays of one value each
    rng = np.random.default_rng(random_state)
    draws = rng.multinomial(units.size, np.full(units.size, 1.0 / units.size), size=n_boot)
    weights = draws[:, unit_of].astype(np.float64)
    scores = [weighted_scores(weights, r, onehot) for r in right]
    tail = (1.0 - confidence) / 2 * 100
    out = {"method": method, "frames_run": str(frames), "clip_runs": [str(c) for c in clips], "n": len(ids),
           "subjects": int(units.size), "n_boot": n_boot, "confidence": confidence}
    for k, name in ((0, "accuracy"), (1, "uar")):
        frame_value = float(point[0][k][0])
        clip_values = [float(p[k][0]) for p in point[1:]]
        diff = np.mean([s[k] for s in scores[1:]], axis=0) - scores[0][k]
        low, high = np.percentile(diff, [tail, 100 - tail])
        out[name] = {"frames": frame_value, "clips_mean": float(np.mean(clip_values)), "clips_each": clip_values,
                     "diff": float(np.mean(clip_values) - frame_value), "ci": [float(low), float(high)],
                     "diff_each": [v - frame_value for v in clip_values]}
    out["passes"] = out["accuracy"]["ci"][1] >= 0.0  # the interval contains 0 or lies above it
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=Path, required=True, help="the frame-folder run (B)")
    parser.add_argument("--clips", type=Path, nargs="+", required=True, help="clip runs, one per rendering (A)")
    parser.add_argument("--methods", nargs="+", default=None, help="default: every method all runs share")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for run in [args.frames, *args.clips]:
        if not (run / "predictions.csv").is_file():
            print(f"{run}: not a run folder (no predictions.csv)", file=sys.stderr)
            return 2
    try:
        methods = args.methods or shared_methods([args.frames, *args.clips])
        rows = [compare_renderings(args.frames, args.clips, m, n_boot=args.resamples) for m in methods]
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"benchmark": "compare_renderings", "rows": rows}))
        return 0
    for r in rows:
        a, u = r["accuracy"], r["uar"]
        print(f"{r['method']}: frames {a['frames']:.3f}, clips {a['clips_mean']:.3f} (each "
              f"{', '.join(f'{v:.3f}' for v in a['clips_each'])}); clips - frames {a['diff']:+.3f} "
              f"[{a['ci'][0]:+.3f}, {a['ci'][1]:+.3f}]; UAR {u['diff']:+.3f} [{u['ci'][0]:+.3f}, {u['ci'][1]:+.3f}]"
              f"{'' if r['passes'] else '  (below 0)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
