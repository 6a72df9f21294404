"""Handcrafted verifiers and score fusion with the Siamese net: VALIDATION subjects only.

For each (fold, member) of results_rotate.jsonl["rot_ck15"] (fold 0/1, nets 0-2, each scored on its own
group of 5 non-test subjects), fit a handcrafted verifier on the other 25 non-test subjects and score the
same pairs. Test subjects are never loaded into any fit or score here.
"""
import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import roc_auc_score

from affectlab.features.hog import hog_descriptors
from affectlab.features.lbp import lbp_histograms
from affectlab.identity import balanced_pairs
from affectlab.identity.train import probability_logit

from common import load, rotation_run

ds, images, subjects, folds = load()
rot = rotation_run("rot_ck15")

def feats(kind, x):
    x = x.astype(np.float64)
    if kind == "pixels":
        f = x.reshape(len(x), -1)
        return (f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-6)
    if kind == "lbp":
        return np.sqrt(lbp_histograms(x.astype(np.uint8), levels=3))
    if kind == "hog":
        return hog_descriptors(x.astype(np.uint8), pixels_per_cell=4, cells_per_block=2)
    if kind == "lbp+pixels":
        return np.hstack([feats("lbp", x), 0.1 * feats("pixels", x)])
    raise ValueError(kind)

def lda_scores(kind, tr, va, pairs, n_pca):
    ftr, fva = feats(kind, images[tr]), feats(kind, images[va])
    pca = PCA(n_components=min(n_pca, len(tr) - 1), whiten=False, random_state=0).fit(ftr)
    lda = LinearDiscriminantAnalysis().fit(pca.transform(ftr), subjects[tr])
    z = lda.transform(pca.transform(fva))
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return np.sum(z[pairs.first] * z[pairs.second], axis=1)

def chi2_scores(kind, va, pairs):
    f = feats(kind, images[va]) ** 2
    a, b = f[pairs.first], f[pairs.second]
    return -np.sum((a - b) ** 2 / (a + b + 1e-12), axis=1)

logit = probability_logit  # logit(p), p clipped to [1e-6, 1 - 1e-6]
variants = [("lbp_chi2", None), ("pixels", 60), ("pixels", 100), ("lbp", 60), ("lbp", 100), ("hog", 60), ("hog", 100),
            ("lbp+pixels", 100)]
table = {}
for fold in rot["folds"]:
    k = fold["fold"]
    f = folds[k]
    rest = f.val_subjects + f.train_subjects
    for mem in fold["members"]:
        m = mem["m"]
        group = rest[5 * m:5 * m + 5]
        assert group == mem["group"]
        train_subj = [s for s in rest if s not in group]
        tr, va = np.flatnonzero(np.isin(subjects, train_subj)), np.flatnonzero(np.isin(subjects, group))
        pairs = balanced_pairs(subjects[va], seed=1000 + k if m == 0 else 5000 + 10 * k + m)
        same = np.array(mem["same"])
        assert np.array_equal(same, pairs.same)
        siam = logit(np.array(mem["scores"]))
        row = {"siamese": roc_auc_score(same, siam)}
        for kind, n in variants:
            hc = chi2_scores("lbp", va, pairs) if kind == "lbp_chi2" else lda_scores(kind, tr, va, pairs, n)
            name = f"{kind}_{n}"
            row[name] = roc_auc_score(same, hc)
            zs = (siam - siam.mean()) / siam.std()
            zh = (hc - hc.mean()) / hc.std()
            row[name + "+siam"] = roc_auc_score(same, zs + zh)
        table[(k, m)] = row
        print(k, m, {a: round(b, 3) for a, b in row.items()}, flush=True)
keys = list(next(iter(table.values())).keys())
print("mean", {a: round(float(np.mean([r[a] for r in table.values()])), 4) for a in keys})
