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
from affectlab.identity.heatmaps import PairHeatmaps, pair_heatmaps
from affectlab.identity.pairs import Pairs, SubjectFold, balanced_pairs, subject_folds
from affectlab.identity.train import (
    SiameseTrainConfig,
    SiameseTrainResult,
    best_threshold,
    eer_threshold,
    fit_siamese,
    pair_loss,
    pair_scores,
    pretrain_branch,
    verification_metrics,
)

__all__ = [
    "Pairs",
    "SubjectFold",
    "balanced_pairs",
    "subject_folds",
    "SiameseTrainConfig",
    "SiameseTrainResult",
    "fit_siamese",
    "pretrain_branch",
    "pair_loss",
    "pair_scores",
    "best_threshold",
    "eer_threshold",
    "verification_metrics",
    "PairHeatmaps",
    "pair_heatmaps",
    "run_siamese_experiment",
]
