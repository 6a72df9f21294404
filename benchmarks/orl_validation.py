"""Fisherfaces, the Siamese net and their logit sum on the VALIDATION pairs of a ``kind: siamese`` run.

    python benchmarks/orl_validation.py runs/orl-siamese-rotation [--n-components 60] [--json out.json]

Protocol: a Siamese run with validation subjects (``affectlab experiment configs/orl-siamese-rotation.yaml --out
runs/orl-siamese-rotation``; configs/orl-siamese.yaml has none since session 6) saves, in
``validation_scores.json``, every net's P(same) on the balanced pairs of its own validation group (5 non-test
subjects per net; with ``protocol.val_rotation`` each of a fold's nets has another group). For each such group this
script fits a :class:`~affectlab.identity.fisherfaces.FisherfaceVerifier` on that net's *training* subjects only (never
its validation group, never the fold's test subjects), scores the same pairs, and prints for every group and on
average: balanced accuracy at each verifier's own decision point (Siamese: its threshold; the others: logit 0) and
ROC AUC of the net alone, Fisherfaces alone, the plain logit sum (the rule the config adopts) and the sum with half
weight on Fisherfaces. No test pair is read. This is the evidence for the config's ``handcrafted`` section.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

from affectlab.data.orl import load_orl
from affectlab.experiments.stages import load_gray_images
from affectlab.identity import Pairs
from affectlab.identity.fisherfaces import FisherfaceVerifier, fuse_logits
from affectlab.identity.train import probability_logit, verification_metrics

VERIFIERS = ("siamese", "fisherfaces", "sum", "sum_half")


def study(run: Path, data: Path | None, n_components: int | None) -> list[dict]:
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    if not (run / "validation_scores.json").is_file():
        raise SystemExit(f"{run}: no validation_scores.json (a run without validation subjects, or not a kind: siamese "
                         "run folder); use a run of configs/orl-siamese-rotation.yaml")
    groups = json.loads((run / "validation_scores.json").read_text(encoding="utf-8"))
    dataset = load_orl(data or config["data"]["source"])
    images = load_gray_images(dataset, tuple(config["images"]["size"]), progress=False)
    subjects = np.asarray(dataset.groups)
    hand = {"n_components": 60, "calibration_folds": 5, "seed": 0, **(config.get("handcrafted") or {})}
    hand.pop("method", None)
    if n_components is not None:
        hand["n_components"] = n_components
    rows = []
    for g in groups:
        train = np.flatnonzero(np.isin(subjects, g["train_subjects"]))
        verifier = FisherfaceVerifier(**hand).fit(images[train], subjects[train])
        used, inverse = np.unique(np.concatenate([g["first"], g["second"]]), return_inverse=True)
        n = len(g["first"])
        pairs = Pairs(inverse[:n], inverse[n:], np.asarray(g["same"], dtype=bool))
        siamese = probability_logit(np.asarray(g["score"]), g["threshold"])
        fisher = verifier.decision_function(images[used], pairs)
        p_same = {"siamese": fuse_logits(siamese), "fisherfaces": fuse_logits(fisher),
                  "sum": fuse_logits(siamese, fisher), "sum_half": fuse_logits(siamese, 0.5 * fisher)}
        row = {"fold": g["fold"], "member": g["member"], "val_subjects": g["val_subjects"], "n_pairs": n}
        for name in VERIFIERS:  # balanced accuracy ("same" at P >= 0.5) and AUC
            metrics = verification_metrics(p_same[name], pairs.same, 0.5)
            row[f"{name}_acc"], row[f"{name}_auc"] = metrics["uar"], metrics["auc"]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a kind: siamese run folder with validation_scores.json")
    parser.add_argument("--data", type=Path, default=None, help="ORL folder (default: the run's data.source)")
    parser.add_argument("--n-components", type=int, default=None, help="PCA components (default: the run's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if not (args.run / "validation_scores.json").is_file():
        print(f"error: {args.run}/validation_scores.json not found (rerun the config with this version)",
              file=sys.stderr)
        return 2
    rows = study(args.run, args.data, args.n_components)
    head = "| fold | net | validation subjects | " + " | ".join(f"{v} acc | {v} AUC" for v in VERIFIERS) + " |"
    print(head)
    print("| ---: | ---: | --- | " + " | ".join("---: | ---:" for _ in VERIFIERS) + " |")
    for r in rows:
        cells = " | ".join(f"{r[f'{v}_acc']:.3f} | {r[f'{v}_auc']:.3f}" for v in VERIFIERS)
        print(f"| {r['fold']} | {r['member']} | {', '.join(r['val_subjects'])} | {cells} |")
    means = " | ".join(f"{np.mean([r[f'{v}_acc'] for r in rows]):.3f} | {np.mean([r[f'{v}_auc'] for r in rows]):.3f}"
                       for v in VERIFIERS)
    print(f"| mean of {len(rows)} | | | {means} |")
    better = sum(r["sum_acc"] > r["siamese_acc"] for r in rows)
    print(f"\nthe logit sum beats the net alone on {better} of {len(rows)} validation groups")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
