"""Calibrated handcrafted verifier + Siamese fusion, accuracy at fixed decision points: VALIDATION only.

hc logit = logistic calibration of the Fisherface cosine, the calibration fitted on inner subject-disjoint
folds of the 25 training subjects (PCA+LDA on 20, pairs among the other 5). Fused = siamese logit + w * hc logit.
"""
import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from affectlab.identity import balanced_pairs
from affectlab.identity.train import probability_logit

from common import load, rotation_run

ds, images, subjects, folds = load()
rot = rotation_run("rot_ck15")
def pix(x):
    f = x.reshape(len(x), -1).astype(np.float64)
    return (f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-6)
def fisher(tr, n_pca):
    f = pix(images[tr])
    pca = PCA(n_components=min(n_pca, len(tr) - 1), random_state=0).fit(f)
    lda = LinearDiscriminantAnalysis().fit(pca.transform(f), subjects[tr])
    def embed(idx):
        z = lda.transform(pca.transform(pix(images[idx])))
        return z / np.linalg.norm(z, axis=1, keepdims=True)
    return embed
def cos(embed, idx, pairs):
    z = embed(idx)
    return np.sum(z[pairs.first] * z[pairs.second], axis=1)
def calibrated(tr_subj, n_pca, inner=5):
    s, y = [], []
    for i in range(inner):
        held = tr_subj[i::inner]
        fit_s = [t for t in tr_subj if t not in held]
        emb = fisher(np.flatnonzero(np.isin(subjects, fit_s)), n_pca)
        h = np.flatnonzero(np.isin(subjects, held))
        p = balanced_pairs(subjects[h], seed=77 + i)
        s.append(cos(emb, h, p))
        y.append(p.same)
    lr = LogisticRegression(C=1e4).fit(np.concatenate(s)[:, None], np.concatenate(y))
    emb = fisher(np.flatnonzero(np.isin(subjects, tr_subj)), n_pca)
    return emb, lr
logit = probability_logit  # logit(p), p clipped to [1e-6, 1 - 1e-6]
def bal(sc, y):
    return 0.5 * (np.mean(sc[y] > 0) + np.mean(sc[~y] <= 0))
rows = []
for n_pca in (60,):
  for fold in rot["folds"]:
    k = fold["fold"]
    f = folds[k]
    rest = f.val_subjects + f.train_subjects
    for mem in fold["members"]:
        m = mem["m"]
        group = rest[5 * m:5 * m + 5]
        train_subj = [s for s in rest if s not in group]
        va = np.flatnonzero(np.isin(subjects, group))
        pairs = balanced_pairs(subjects[va], seed=1000 + k if m == 0 else 5000 + 10 * k + m)
        y = pairs.same
        siam = logit(np.array(mem["scores"]))
        emb, lr = calibrated(train_subj, n_pca)
        hc = lr.decision_function(cos(emb, va, pairs)[:, None])
        r = {"fold": k, "m": m, "siam_acc": bal(siam, y), "hc_acc": bal(hc, y), "hc_auc": roc_auc_score(y, hc),
             "siam_auc": roc_auc_score(y, siam), "slope": float(lr.coef_[0, 0]), "icpt": float(lr.intercept_[0])}
        for w in (0.5, 1.0):
            fz = siam + w * hc
            r[f"sum{w}_acc"] = bal(fz, y)
            r[f"sum{w}_auc"] = roc_auc_score(y, fz)
        fm = 0.5 * (siam + hc)
        r["mean_acc"] = bal(fm, y)
        rows.append(r)
        print({a: round(b, 3) if isinstance(b, float) else b for a, b in r.items()}, flush=True)
  print(n_pca, "mean", {a: round(float(np.mean([r[a] for r in rows])), 4) for a in rows[0] if a not in ("fold", "m")})
