"""Siamese verification at full resolution: a validation-only check of a recipe, and accuracy against the number of
training subjects.

    python benchmarks/orl_siamese_curve.py validate configs/orl-siamese.yaml [--fold 0] [--val-subjects 5]
        [--set train.lr=0.0001 ...] [--start-checkpoint <cache>/checkpoints/distill-<key>.pt]
    python benchmarks/orl_siamese_curve.py curve configs/orl-siamese.yaml --subjects 10 20 [--fold 0]
        [--out runs/orl-siamese-curve] [--data ../shared/datasets/orl_faces] [--threads 1]
    python benchmarks/orl_siamese_curve.py summary configs/orl-siamese.yaml [--out runs/orl-siamese-curve]
        [--full runs/orl-siamese]

``validate``: the config's recipe (images, model, train; the ``distill`` section's start weights, from the default
feature cache) trained on fold ``--fold``'s non-test subjects minus ``--val-subjects`` of them (the fold's seeded
order, as ``protocol.val_subjects`` would take them), scored after every epoch on balanced pairs of those validation
subjects only; the fold's test subjects are never loaded into any score. Prints one JSON object: the per-epoch
validation history (accuracy at P(same) = 0.5, AUC, loss) and the time; with a distilled start, also how well that
start verifies before any pair training (``distilled_val_auc``: for the branch's embedding and for its map into the
teacher's space, the cosine's AUC on the validation pairs and its accuracy there at the cosine threshold most
accurate on balanced pairs of the training subjects). ``--start-checkpoint`` takes the start from a distillation's
checkpoint (one still running, say) instead of the config's finished distillation.

``curve``: the config as it is (its declared recipe; ``protocol.val_subjects: 0``, fixed epochs, 'same' at 0.5, so
nothing is chosen on any pairs) run on fold ``--fold`` only, each net trained on only the first N of the fold's
training subjects, for each N of ``--subjects``; the test pairs are the fold's unseen subjects, as in the full run.
Nothing is selected from these numbers: they describe how verification accuracy grows with the number of training
identities. Prints one JSON line per N (accuracy, AUC, true-accept and true-reject rates, pairs, seconds); the run
folders go under ``--out``. ``--threads`` overrides ``train.num_threads`` (torch's CPU threads; an execution setting,
not part of the recipe; the run folder's config.yaml records it).

``summary``: pools the Siamese net's test pairs of every ``fold<k>_n<N>`` run folder under ``--out`` by N (and, with
``--full``, of the complete run of the config, whose nets train on all of each fold's training subjects) and prints
one JSON line per N: folds, pairs, accuracy, AUC, true-accept and true-reject rates, and each fold's accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from affectlab.experiments.kinds import read_experiment_file

REPO = Path(__file__).resolve().parents[1]


def apply_settings(raw: dict, settings: list[str]) -> dict:
    """``raw`` with each ``SECTION.KEY=VALUE`` of ``settings`` set, for variants of a recipe tried on validation
    subjects without writing a file (the value read as YAML, as in a config file: write 0.0001, not 1e-4).

    >>> apply_settings({"train": {"lr": 0.0005}}, ["train.lr=0.0001", "distill.epochs=4"])
    {'train': {'lr': 0.0001}, 'distill': {'epochs': 4}}
    """
    import yaml

    for item in settings:
        name, sep, value = item.partition("=")
        section, dot, key = name.partition(".")
        if not sep or not dot or not section or not key:
            raise SystemExit(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. train.lr=0.0001")
        raw[section] = {**(raw.get(section) or {}), key: yaml.safe_load(value)}
    return raw


def validate(config: Path, fold: int, n_val: int, data: Path | None, settings: list[str] = (),
             start_checkpoint: Path | None = None) -> dict:
    from affectlab.data.orl import load_orl
    from affectlab.experiments.config import resolve_source
    from affectlab.experiments.config import section as _section
    from affectlab.experiments.siamese import _MODEL_KEYS, _TRAIN_KEYS, _build_net, _image_size
    from affectlab.experiments.siamese_distill import adapt_branch, distill_section, load_branch, photo_targets
    from affectlab.identity import balanced_pairs, fit_siamese, subject_folds
    from affectlab.identity.classify import read_identity_images
    from affectlab.identity.train import SiameseTrainConfig
    from affectlab.models.augment import AugmentConfig
    from affectlab.models.siamese import siamese_vgg

    raw, path = read_experiment_file(config)
    raw = apply_settings(raw, list(settings))
    size, square = _image_size(raw)
    source = data or resolve_source(raw["data"]["source"], Path(path).resolve().parent, "data.source")
    protocol = raw.get("protocol") or {}
    train = _section(raw, "train", _TRAIN_KEYS)
    aug = {**_TRAIN_KEYS["augment"], **(train.get("augment") or {})}
    cfg = SiameseTrainConfig(**{k: v for k, v in train.items() if k not in ("ensemble", "augment")},
                             augment=AugmentConfig(float(aug["rotation"]), float(aug["scale"]),
                                                   float(aug["translate"]), bool(aug["flip"])))
    cfg = replace(cfg, select_on="none", threshold_rule="fixed")  # the validation pairs are only logged
    dataset = load_orl(source)
    subjects = np.asarray(dataset.groups)
    f = subject_folds(subjects, n_folds=int(protocol.get("n_folds", 4)), n_val=n_val,
                      seed=int(protocol.get("seed", 0)))[fold]
    train_idx = np.flatnonzero(np.isin(subjects, f.train_subjects))
    val_idx = np.flatnonzero(np.isin(subjects, f.val_subjects))
    keep = np.concatenate([train_idx, val_idx])  # the fold's test subjects are not even read
    images = np.zeros((len(subjects), *size), np.uint8)
    images[keep] = read_identity_images(dataset.subset(keep), size, square)
    pairs = balanced_pairs(subjects[val_idx], seed=int(protocol.get("seed", 0)) + 1000 + fold)
    torch.manual_seed(cfg.seed + fold)
    model_cfg = _section(raw, "model", _MODEL_KEYS)
    net = _build_net(siamese_vgg, size, model_cfg)
    tick = time.time()
    if start_checkpoint is not None:  # a distillation's checkpoint, e.g. one still running
        saved = torch.load(start_checkpoint, weights_only=False)
        distilled = saved["net"], saved["head"]
    else:  # the experiment's distilled branch (the same cache entry)
        distilled = _distill_start(raw, Path(path).resolve().parent, size, model_cfg, cfg)
    start_auc = None
    if distilled is not None:
        load_branch(net, distilled[0])
        head = torch.nn.Linear(net.embedding_dim, len(distilled[1]["bias"]))
        head.load_state_dict(distilled[1])
        train_pairs = balanced_pairs(subjects[train_idx], seed=int(protocol.get("seed", 0)) + 2000 + fold)
        start_auc = {name: _start_metrics(net, images, train_idx, train_pairs, val_idx, pairs, projection)
                     for name, projection in (("embedding", None), ("projection", head))}
        section = distill_section(raw, Path(path).resolve().parent)
        if section["adapt_epochs"] > 0:  # the training subjects' photographs only
            from affectlab.data.media import read_image
            from affectlab.features.cache import FeatureCache, default_cache_dir

            photos = [read_image(dataset.samples[i].path, mode="gray") for i in train_idx]
            targets = photo_targets(photos, FeatureCache(default_cache_dir()), progress=True)
            start_auc["adapt_history"] = adapt_branch(net, distilled[1], images[train_idx], targets, section, cfg,
                                                      cfg.seed + fold)
            start_auc["adapted"] = {"embedding": _start_metrics(net, images, train_idx, train_pairs, val_idx, pairs)}
    fit = fit_siamese(net, train=(images[train_idx], subjects[train_idx]), val=(images[val_idx], pairs), config=cfg,
                      progress=False)
    return {"config": str(config), "settings": list(settings), "fold": fold,
            "train_subjects": len(f.train_subjects),
            "val_subjects": f.val_subjects, "val_pairs": len(pairs), "distilled_val_auc": start_auc,
            "pretrain": fit.pretrain_history, "history": fit.history, "seconds": round(time.time() - tick, 1)}


@torch.no_grad()
def _start_metrics(net, images: np.ndarray, train_idx, train_pairs, val_idx, pairs, head=None) -> dict:
    """How well the distilled branch verifies before pair training: ROC AUC of the cosine of its embeddings (or of
    their map ``head`` into the teacher's space) on the validation pairs, and the accuracy there at the cosine
    that is most accurate on balanced pairs of the training subjects."""
    from sklearn.metrics import roc_auc_score

    from affectlab.identity.train import best_threshold

    net.eval()

    def cosines(idx, p):
        emb = net.embed(torch.from_numpy(images[idx]).unsqueeze(1).float() / 255.0)
        emb = torch.nn.functional.normalize(head(emb) if head is not None else emb, dim=1)
        return (emb[p.first] * emb[p.second]).sum(1).numpy()

    threshold, _ = best_threshold(cosines(train_idx, train_pairs), train_pairs.same)
    val = cosines(val_idx, pairs)
    return {"auc": round(float(roc_auc_score(pairs.same, val)), 4),
            "accuracy": round(float(np.mean((val >= threshold) == pairs.same)), 4), "threshold": round(threshold, 4)}


def _distill_start(raw: dict, base: Path, size: tuple[int, int], model_cfg: dict, cfg) -> tuple[dict, dict] | None:
    """The distilled start weights of the config's ``distill`` section and its linear map into the teacher's space
    (from the default feature cache, computed and stored there when missing), or None without that section."""
    from affectlab.experiments.siamese import _build_net
    from affectlab.experiments.siamese_distill import distill_section, distilled_state, load_distill_faces
    from affectlab.features.cache import FeatureCache, default_cache_dir
    from affectlab.models.siamese import siamese_vgg

    section = distill_section(raw, base)
    if section is None:
        return None
    cache = FeatureCache(default_cache_dir())
    faces = load_distill_faces(section, size, cache, n_jobs=2, progress=True)
    state, head, _ = distilled_state(lambda m: _build_net(siamese_vgg, size, m), model_cfg, size, faces, section, cfg,
                                      cfg.seed, cache, progress=True)
    return state, head


def curve(config: Path, fold: int, counts: list[int], out: Path, data: Path | None,
          threads: int | None = None) -> list[dict]:
    from affectlab.experiments.siamese import run_siamese_experiment

    raw, path = read_experiment_file(config)
    raw["_path"] = path
    if threads is not None:
        raw["train"] = {**(raw.get("train") or {}), "num_threads": threads}
    rows = []
    for n in counts:
        cfg = {**raw, "protocol": {**(raw.get("protocol") or {}), "folds": [fold], "train_subjects": n},
               "heatmaps": {"n_pairs": 0}}
        cfg.pop("handcrafted", None)
        tick = time.time()
        result = run_siamese_experiment(cfg, out / f"fold{fold}_n{n}", data=data, progress=False, overwrite=True)
        row = next(r for r in result.rows if r["feature"] == "siamese_vgg")
        rows.append({"config": str(config), "fold": fold, "train_subjects": n,
                     **{k: round(float(row[k]), 4) for k in ("accuracy", "auc", "true_accept_rate",
                                                              "true_reject_rate")},
                     "pairs": int(row["n_test"]), "seconds": round(time.time() - tick, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(out: Path, full: Path | None) -> list[dict]:
    import csv
    import re

    from sklearn.metrics import roc_auc_score

    groups: dict[int, list[Path]] = {}
    for folder in sorted(out.glob("fold*_n*")):
        match = re.fullmatch(r"fold(\d+)_n(\d+)", folder.name)
        if match and (folder / "pair_scores.csv").is_file():
            groups.setdefault(int(match.group(2)), []).append(folder)
    runs: dict[int | str, list[Path]] = dict(groups)
    if full is not None:
        runs["all"] = [full]
    rows = []
    for n, folders in sorted(runs.items(), key=lambda kv: (isinstance(kv[0], str), kv[0])):
        truth, pred, score, folds = [], [], [], []
        for folder in folders:
            with open(folder / "pair_scores.csv", newline="", encoding="utf-8") as handle:
                for r in csv.DictReader(handle):
                    if r["feature"] != "siamese_vgg":
                        continue
                    folds.append(int(r["fold"]))
                    truth.append(r["true"] == "same")
                    pred.append(r["pred"] == "same")
                    score.append(float(r["score"]))
        t, p, f = np.array(truth), np.array(pred), np.array(folds)
        rows.append({"train_subjects": n, "folds": sorted(set(folds)), "pairs": len(t),
                     "accuracy": round(float(np.mean(t == p)), 4), "auc": round(float(roc_auc_score(t, score)), 4),
                     "true_accept_rate": round(float(np.mean(p[t])), 4),
                     "true_reject_rate": round(float(np.mean(~p[~t])), 4),
                     "fold_accuracy": {str(k): round(float(np.mean(t[f == k] == p[f == k])), 4)
                                       for k in sorted(set(folds))}})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["validate", "curve", "summary"])
    parser.add_argument("config", type=Path)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--val-subjects", type=int, default=5)
    parser.add_argument("--subjects", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "orl-siamese-curve")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--full", type=Path, default=None, help="summary: the config's complete run folder")
    parser.add_argument("--threads", type=int, default=None, help="curve: torch CPU threads (train.num_threads)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="validate: change one setting of the config, e.g. train.lr=0.0001 (repeatable)")
    parser.add_argument("--start-checkpoint", type=Path, default=None,
                        help="validate: start from this distillation checkpoint (<cache>/checkpoints/distill-*.pt, "
                             "e.g. of a distillation still running) instead of the config's finished one")
    args = parser.parse_args()
    if args.mode == "validate":
        print(json.dumps(validate(args.config, args.fold, args.val_subjects, args.data, args.settings,
                                  args.start_checkpoint)))
    elif args.mode == "curve":
        curve(args.config, args.fold, args.subjects, args.out, args.data, args.threads)
    else:
        summary(args.out, args.full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
