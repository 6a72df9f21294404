"""Face identity: ORL same/different pairs with subject-disjoint splits, Siamese training, heatmaps.

The networks live in :mod:`affectlab.models.identity` (``vgg_identity``, a classifier in the
registry) and :mod:`affectlab.models.siamese` (:func:`~affectlab.models.siamese.siamese_vgg`, a
pair network). ``kind: siamese`` experiment files run :func:`run_siamese_experiment`.

Examples
--------
>>> import numpy as np
>>> pairs = balanced_pairs(np.repeat(["s1", "s2"], 2))
>>> pairs.same.tolist()
[True, True, False, False]
"""

from affectlab.identity.experiment import run_siamese_experiment
from affectlab.identity.extra import (
    ExtraIdentities,
    FaceLayout,
    fit_face_layout,
    load_extra_identities,
)
from affectlab.identity.fisherfaces import FisherfaceVerifier, fuse_logits
from affectlab.identity.heatmaps import PairHeatmaps, pair_heatmaps
from affectlab.identity.pairs import Pairs, SubjectFold, balanced_pairs, subject_folds
from affectlab.identity.train import (
    SiameseTrainConfig,
    SiameseTrainResult,
    best_threshold,
    calibrated_average,
    eer_threshold,
    fit_siamese,
    fixed_threshold,
    pair_loss,
    pair_scores,
    pretrain_branch,
    probability_logit,
    verification_metrics,
)

__all__ = [
    "ExtraIdentities",
    "FaceLayout",
    "FisherfaceVerifier",
    "PairHeatmaps",
    "Pairs",
    "SiameseTrainConfig",
    "SiameseTrainResult",
    "SubjectFold",
    "balanced_pairs",
    "best_threshold",
    "calibrated_average",
    "eer_threshold",
    "fit_face_layout",
    "fit_siamese",
    "fixed_threshold",
    "fuse_logits",
    "load_extra_identities",
    "pair_heatmaps",
    "pair_loss",
    "pair_scores",
    "pretrain_branch",
    "probability_logit",
    "run_siamese_experiment",
    "subject_folds",
    "verification_metrics",
]
