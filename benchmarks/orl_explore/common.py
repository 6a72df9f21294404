"""Shared set-up of the ORL exploration harnesses: paths, the ORL images and the config's subject folds."""

import json
from pathlib import Path

import numpy as np

from affectlab.data.orl import load_orl
from affectlab.experiments.stages import load_gray_images
from affectlab.identity import subject_folds

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "datasets"   # ../shared/datasets beside the checkout
OUT = REPO / "runs" / "orl-explore"
OUT.mkdir(parents=True, exist_ok=True)


def load(size=(28, 24)):
    """ORL dataset, its gray images at ``size``, subject ids and the 4 subject folds of configs/orl-siamese.yaml."""
    ds = load_orl(str(DATA / "orl_faces"))
    images = load_gray_images(ds, tuple(size), progress=False)
    subjects = np.asarray(ds.groups)
    return ds, images, subjects, subject_folds(subjects, n_folds=4, n_val=5, seed=0)


def rotation_run(name="rot_ck15"):
    """The last ``results_rotate.jsonl`` record called ``name`` (per-pair validation scores of rotate.py)."""
    return [r for r in map(json.loads, open(OUT / "results_rotate.jsonl")) if r["name"] == name][-1]


def extra_pretrained(path, seed, size, pool_after, model_kw, extra, extra_spec, weight_decay, augment):
    """State dict of a fresh ``siamese_vgg`` (seed ``seed``) whose branch was trained to classify the extra
    identities (CK+48), cached at ``path``."""
    import time

    import torch

    from affectlab.identity import pretrain_branch
    from affectlab.models.augment import AugmentConfig
    from affectlab.models.siamese import siamese_vgg

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        net = siamese_vgg(input_size=size, pool_after=pool_after, **model_kw)
        t0 = time.time()
        h = pretrain_branch(net, extra.images, extra.subjects, epochs=extra_spec.get("epochs", 15),
                            lr=extra_spec.get("lr", 0.002), batch_size=extra_spec.get("batch_size", 64),
                            weight_decay=weight_decay, augment=AugmentConfig(*augment), seed=seed)
        print(json.dumps({"extra_pretrain_seed": seed, "s": round(time.time() - t0, 1), "last": h[-1]}), flush=True)
        torch.save(net.state_dict(), path)
    return torch.load(path)
