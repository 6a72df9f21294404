"""Exploration harness for configs/orl-siamese.yaml: trains on a fold's 25 training subjects and
scores ONLY that fold's 5 validation subjects (never the test subjects). Appends one JSON line per
variant to runs/orl-explore/results.jsonl.

usage: python benchmarks/orl_explore/explore.py NAME
           '{"size": [28, 24], "pool_after": [1, 2, 4], "model": {...}, "train": {...}, "folds": [0], "seeds": [0]}'
"""
import json
import sys
import time

import numpy as np
import torch

from affectlab.identity import SiameseTrainConfig, balanced_pairs, fit_siamese, pair_scores
from affectlab.identity.train import eer_threshold, verification_metrics
from affectlab.models.augment import AugmentConfig
from affectlab.models.siamese import siamese_vgg

from common import DATA, OUT, extra_pretrained, load

torch.set_num_threads(1)
if len(sys.argv) != 3:
    sys.exit(f"usage: python {sys.argv[0]} NAME JSON_SPEC (see benchmarks/orl_explore/README.md)")
name, spec = sys.argv[1], json.loads(sys.argv[2])
size = tuple(spec.get("size", [28, 24]))
ds, images, subjects, folds = load(size)
base_train = dict(epochs=40, batches_per_epoch=15, subjects_per_batch=12, images_per_subject=4, lr=0.001,
                  weight_decay=0.01, num_threads=1, tta_flip=True, select_on="auc", threshold_rule="eer")
base_model = dict(hidden=128, embedding="flatten", dropout=0.3, l2_normalize=False)
aug = spec.get("augment", [8.0, 0.08, 0.08, True])
tcfg_kw = {**base_train, **spec.get("train", {})}
mcfg = {**base_model, **spec.get("model", {})}
out = {"name": name, "spec": spec, "folds": []}
tick = time.time()
extra_spec = spec.get("extra")
extra_states = {}
if extra_spec:  # branch pretraining on extra identities (CK+48), once per seed, cached on disk
    import hashlib

    from affectlab.identity.extra import load_extra_identities
    extra = load_extra_identities(str(DATA / "ckplus48"), size, layout=extra_spec.get("layout", {}))
    key = hashlib.md5(json.dumps([extra_spec, size, spec.get("pool_after"), spec.get("model"), aug,
                                  tcfg_kw.get("weight_decay")], sort_keys=True).encode()).hexdigest()[:10]
    cache = (OUT / "cache")
    cache.mkdir(exist_ok=True)
    for seed in spec.get("seeds", [0]):
        f = cache / f"extra_{key}_s{seed}.pt"
        extra_states[seed] = extra_pretrained(f, seed, size, spec.get("pool_after", [1, 2, 4]), mcfg, extra, extra_spec,
                                              tcfg_kw["weight_decay"], aug)
for k in spec.get("folds", [0]):
    fold = folds[k]
    plus = spec.get("val_plus", 0)  # move this many training subjects to validation (selection on all)
    train_subj = fold.train_subjects[:len(fold.train_subjects) - plus]
    tr = np.flatnonzero(np.isin(subjects, train_subj))
    va = np.flatnonzero(np.isin(subjects, fold.val_subjects))
    val_pairs = balanced_pairs(subjects[va], seed=1000 + k)   # the original 5: comparable across variants
    sel = np.flatnonzero(np.isin(subjects, fold.val_subjects + fold.train_subjects[len(train_subj):]))
    sel_pairs = balanced_pairs(subjects[sel], seed=2000 + k) if plus else val_pairs
    if plus:
        oth = np.flatnonzero(np.isin(subjects, fold.train_subjects[len(train_subj):]))
        oth_pairs = balanced_pairs(subjects[oth], seed=3000 + k)
    seed_scores, per_seed = [], []
    for seed in spec.get("seeds", [0]):
        torch.manual_seed(seed + k)
        net = siamese_vgg(input_size=size, pool_after=spec.get("pool_after", [1, 2, 4]), **mcfg)
        if extra_states:
            net.load_state_dict(extra_states[seed])
        cfg = SiameseTrainConfig(**{**tcfg_kw, "seed": seed}, augment=AugmentConfig(*aug))
        t0 = time.time()
        fit = fit_siamese(net, train=(images[tr], subjects[tr]), val=(images[sel], sel_pairs), config=cfg,
                          progress=False, extra=(extra.images, extra.subjects) if extra_spec else None)
        if plus:
            np.save((OUT / "scores") / f"{name}_f{k}_s{seed}_other.npy",
                    pair_scores(net, images[oth], oth_pairs, tta_flip=cfg.tta_flip))
        h = fit.history
        sc = pair_scores(net, images[va], val_pairs, tta_flip=cfg.tta_flip)
        seed_scores.append(sc)
        (OUT / "scores").mkdir(exist_ok=True)
        np.save((OUT / "scores") / f"{name}_f{k}_s{seed}.npy", sc)
        per_seed.append({"seed": seed, "best_epoch": fit.best_epoch, "best_auc": max(r["val_auc"] for r in h),
                         "last_auc": h[-1]["val_auc"], "last5_auc": float(np.mean([r["val_auc"] for r in h[-5:]])),
                         "last_acc_eer": h[-1]["val_accuracy"],
                         "last5_acc_eer": float(np.mean([r["val_accuracy"] for r in h[-5:]])),
                         "final_loss": h[-1]["train_loss"],
                         "pretrain_final": fit.pretrain_history[-1] if fit.pretrain_history else None,
                         "s": round(time.time() - t0, 1)})
        print(json.dumps(per_seed[-1]), flush=True)
    ens = np.mean(seed_scores, axis=0)
    t, acc = eer_threshold(ens, val_pairs.same)
    out["folds"].append({"fold": k, "per_seed": per_seed,
                         "ensemble_auc_selected": verification_metrics(ens, val_pairs.same)["auc"],
                         "ensemble_acc_eer_selected": acc})
out["seconds"] = round(time.time() - tick, 1)
f = out["folds"]
out["summary"] = {"last_auc": float(np.mean([s["last_auc"] for x in f for s in x["per_seed"]])),
                  "last5_auc": float(np.mean([s["last5_auc"] for x in f for s in x["per_seed"]])),
                  "last5_acc_eer": float(np.mean([s["last5_acc_eer"] for x in f for s in x["per_seed"]])),
                  "ens_auc_sel": float(np.mean([x["ensemble_auc_selected"] for x in f])),
                  "ens_acc_sel": float(np.mean([x["ensemble_acc_eer_selected"] for x in f]))}
print(json.dumps({"name": name, **out["summary"], "seconds": out["seconds"]}), flush=True)
with open((OUT / "results.jsonl"), "a") as fh:
    fh.write(json.dumps(out) + "\n")
