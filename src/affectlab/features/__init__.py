"""Image descriptors as scikit-learn transformers, and their registry."""

from affectlab.features.basic import HOGFeatures, PixelFeatures
from affectlab.features.registry import create_feature, feature_info, list_features, register_feature

__all__ = ["create_feature", "feature_info", "list_features", "register_feature", "HOGFeatures", "PixelFeatures"]
