"""rotate.py with spec["model"] passed to siamese_vgg (e.g. {"input_norm": "per_image"}) and the extra-identity
pretraining done here when not cached (key includes the model). VALIDATION subjects only.

Rotated validation groups (exploration, VALIDATION subjects only): in fold k, member m of the ensemble
validates on group m of the 30 non-test subjects (group 0 = the fold's usual 5 validation subjects) and
trains on the other 25. Reports each member's AUC on its own group and how well thresholds transfer
between groups: member i's group scored at (a) its own EER threshold (optimistic), (b) the threshold
averaged (in logit space) over the OTHER members' groups (leave-one-group-out, honest), (c) 0.5.
Appends to results_rotate.jsonl.
usage: python benchmarks/orl_explore/rotate.py NAME JSON (same spec keys as explore.py)
"""
import hashlib
import json
import sys
import time

import numpy as np
import torch

from affectlab.identity import SiameseTrainConfig, balanced_pairs, fit_siamese, pair_scores
from affectlab.identity.extra import load_extra_identities
from affectlab.identity.train import eer_threshold, probability_logit, verification_metrics
from affectlab.models.augment import AugmentConfig
from affectlab.models.siamese import siamese_vgg

from common import DATA, OUT, extra_pretrained, load

torch.set_num_threads(1)
if len(sys.argv) != 3:
    sys.exit(f"usage: python {sys.argv[0]} NAME JSON_SPEC (see benchmarks/orl_explore/README.md)")
name, spec = sys.argv[1], json.loads(sys.argv[2])
size = (28, 24)
ds, images, subjects, folds = load(size)
base_train = dict(epochs=40, batches_per_epoch=15, subjects_per_batch=12, images_per_subject=4, lr=0.001,
                  weight_decay=0.01, num_threads=1, tta_flip=True, select_on="auc", threshold_rule="eer")
mcfg = dict(hidden=128, embedding="flatten", dropout=0.3, l2_normalize=False)
mcfg.update(spec.get("model", {}))
aug = [8.0, 0.08, 0.08, True]
tcfg_kw = {**base_train, **spec.get("train", {})}
extra_spec = spec["extra"]
extra = load_extra_identities(str(DATA / "ckplus48"), size, layout=extra_spec.get("layout", {}))
key = hashlib.md5(json.dumps([extra_spec, list(size), None, spec.get("model"), aug, tcfg_kw.get("weight_decay")],
                             sort_keys=True).encode()).hexdigest()[:10]
logit = probability_logit  # logit(p), p clipped to [1e-6, 1 - 1e-6]
out = {"name": name, "spec": spec, "folds": []}
tick = time.time()
for k in spec.get("folds", [0]):
    fold = folds[k]
    rest = fold.val_subjects + fold.train_subjects
    members = []
    for m, seed in enumerate(spec.get("seeds", [0])):
        group = rest[5 * m: 5 * m + 5]
        train_subj = [s for s in rest if s not in group]
        if "n_train" in spec:  # identity-scaling study: train on fewer of the non-test, non-group subjects
            train_subj = train_subj[: int(spec["n_train"])]
        tr, va = np.flatnonzero(np.isin(subjects, train_subj)), np.flatnonzero(np.isin(subjects, group))
        pairs = balanced_pairs(subjects[va], seed=1000 + k if m == 0 else 5000 + 10 * k + m)
        f = (OUT / "cache") / f"extra_{key}_s{seed}.pt"
        state = extra_pretrained(f, seed, size, [1, 2, 4], mcfg, extra, extra_spec, tcfg_kw["weight_decay"], aug)
        torch.manual_seed(seed + k)
        net = siamese_vgg(input_size=size, pool_after=[1, 2, 4], **mcfg)
        net.load_state_dict(state)
        cfg = SiameseTrainConfig(**{**tcfg_kw, "seed": seed}, augment=AugmentConfig(*aug))
        t0 = time.time()
        fit = fit_siamese(net, train=(images[tr], subjects[tr]), val=(images[va], pairs), config=cfg, progress=False,
                          extra=(extra.images, extra.subjects))
        sc = pair_scores(net, images[va], pairs, tta_flip=True)
        t, acc = eer_threshold(sc, pairs.same)
        members.append({"m": m, "seed": seed, "group": group, "best_epoch": fit.best_epoch,
                        "auc": verification_metrics(sc, pairs.same)["auc"], "threshold": t, "acc_own": acc,
                        "acc_05": verification_metrics(sc, pairs.same, 0.5)["uar"],
                        "last5_auc": float(np.mean([r["val_auc"] for r in fit.history[-5:]])),
                        "scores": sc.tolist(), "same": pairs.same.tolist(), "s": round(time.time() - t0, 1)})
        print(json.dumps({k2: v for k2, v in members[-1].items() if k2 not in ("scores", "same")}), flush=True)
    for i, mem in enumerate(members):
        others = [logit(np.array(o["threshold"])) for j, o in enumerate(members) if j != i]
        t_logo = float(1 / (1 + np.exp(-np.mean(others))))
        mem["t_logo"] = t_logo
        mem["acc_logo"] = verification_metrics(np.array(mem["scores"]), np.array(mem["same"]), t_logo)["uar"]
        others_single = [verification_metrics(np.array(mem["scores"]), np.array(mem["same"]), o["threshold"])["uar"]
                         for j, o in enumerate(members) if j != i]
        mem["acc_other_single_mean"] = float(np.mean(others_single))
    out["folds"].append({"fold": k, "members": members})
    print(json.dumps({"fold": k, "acc_own": [round(x["acc_own"], 3) for x in members],
                      "acc_logo": [round(x["acc_logo"], 3) for x in members],
                      "acc_other_single": [round(x["acc_other_single_mean"], 3) for x in members],
                      "acc_05": [round(x["acc_05"], 3) for x in members],
                      "thresholds": [round(x["threshold"], 3) for x in members]}), flush=True)
out["seconds"] = round(time.time() - tick, 1)
with open((OUT / "results_rotate.jsonl"), "a") as fh:
    fh.write(json.dumps(out) + "\n")
