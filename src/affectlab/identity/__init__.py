"""Face identity: ORL same/different pairs with subject-disjoint splits, Siamese training, heatmaps, and closed-set
identity classification.

The networks live in :mod:`affectlab.models.identity` (``vgg_identity``, a classifier in the
registry), :mod:`affectlab.models.vgg` (``vgg_face128``, the 21-layer VGG variant for 128 x 128 faces) and
:mod:`affectlab.models.siamese` (:func:`~affectlab.models.siamese.siamese_vgg`, a
pair network). ``kind: siamese`` and ``kind: identity`` experiment files are run by
:mod:`affectlab.experiments.siamese` and :mod:`affectlab.experiments.identity`; :func:`square_frame` pads ORL's
92 x 112 images to a square with edge values.

Examples
--------
>>> import numpy as np
>>> pairs = balanced_pairs(np.repeat(["s1", "s2"], 2))
>>> pairs.same.tolist()
[True, True, False, False]
"""

from affectlab.identity.extra import (
    ExtraIdentities,
    FaceLayout,
    fit_face_layout,
    load_extra_identities,
)
from affectlab.identity.fisherfaces import FisherfaceVerifier, fuse_logits
from affectlab.identity.heatmaps import PairHeatmaps, pair_heatmaps
from affectlab.identity.images import prepare_faces, square_frame
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
    "prepare_faces",
    "pretrain_branch",
    "probability_logit",
    "square_frame",
    "subject_folds",
    "verification_metrics",
]
