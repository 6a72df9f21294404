"""Image descriptors as scikit-learn transformers, and their registry.

Importing the package registers its descriptors (each module registers its own); the ``deep`` feature
(activations of a pretrained network) lives in :mod:`affectlab.models.deep_features`.
"""

from affectlab.features import llc as _llc  # noqa: F401  (registers dense SIFT + LLC)
from affectlab.features.basic import PixelFeatures
from affectlab.features.hog import HOGFeatures, PHOGFeatures, hog_descriptors, phog_descriptors
from affectlab.features.lbp import LBPFeatures, lbp_codes, lbp_histograms
from affectlab.features.lpq import LPQFeatures, lpq_codes, lpq_histograms
from affectlab.features.pyramid import spatial_pyramid_histograms
from affectlab.features.registry import create_feature, feature_info, list_features, register_feature

__all__ = [
    "create_feature",
    "feature_info",
    "list_features",
    "register_feature",
    "HOGFeatures",
    "LBPFeatures",
    "LPQFeatures",
    "PHOGFeatures",
    "PixelFeatures",
    "hog_descriptors",
    "lbp_codes",
    "lbp_histograms",
    "lpq_codes",
    "lpq_histograms",
    "phog_descriptors",
    "spatial_pyramid_histograms",
]
