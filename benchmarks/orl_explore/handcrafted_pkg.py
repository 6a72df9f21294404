"""Same as handcrafted_cal.py with the packaged FisherfaceVerifier (VALIDATION subjects only)."""
import numpy as np
from sklearn.metrics import roc_auc_score

from affectlab.identity import balanced_pairs
from affectlab.identity.fisherfaces import FisherfaceVerifier, fuse_logits, probability_logit

from common import load, rotation_run

ds, images, subjects, folds = load()
rot = rotation_run("rot_ck15")
def bal(p, y):
    return 0.5 * (np.mean(p[y] >= 0.5) + np.mean(p[~y] < 0.5))
rows = []
for fold in rot["folds"]:
    k = fold["fold"]
    rest = folds[k].val_subjects + folds[k].train_subjects
    for mem in fold["members"]:
        m = mem["m"]
        group = rest[5 * m:5 * m + 5]
        tr_s = [s for s in rest if s not in group]
        tr, va = np.flatnonzero(np.isin(subjects, tr_s)), np.flatnonzero(np.isin(subjects, group))
        pairs = balanced_pairs(subjects[va], seed=1000 + k if m == 0 else 5000 + 10 * k + m)
        y = pairs.same
        siam = np.array(mem["scores"])
        v = FisherfaceVerifier().fit(images[tr], subjects[tr])
        hc = v.decision_function(images[va], pairs)
        fused = fuse_logits(probability_logit(siam), hc)
        r = dict(siam=bal(siam, y), hc=bal(1 / (1 + np.exp(-hc)), y), fused=bal(fused, y),
                 fused_auc=roc_auc_score(y, fused), slope=float(v.calibration_.coef_[0, 0]))
        rows.append(r)
        print(k, m, {a: round(float(b), 3) for a, b in r.items()})
print("mean", {a: round(float(np.mean([r[a] for r in rows])), 4) for a in rows[0]})
