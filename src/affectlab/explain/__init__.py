"""Explanations: CAM, Grad-CAM, LayerCAM, guided backpropagation, guided Grad-CAM, filter and activation
views, and the bounded fooling attack with its difference map.

Every explainer is a context manager that owns its hooks, leaves the model as it found it and
works on batches of float32 images in ``[0, 1]`` (or uint8), returning an :class:`Explanation`
with ``(N, H, W)`` maps in ``[0, 1]``. :mod:`affectlab.explain.regions` says which face regions hold the
fooling changes and the CAM heat; ``kind: fooling`` experiment files run both over a dataset.

Examples
--------
>>> import numpy as np
>>> from affectlab.models import create_model
>>> from affectlab.explain import GradCAM, fool
>>> model = create_model("mini_xception", pretrained=True)
>>> faces = np.full((2, 48, 48), 128, np.uint8)
>>> with GradCAM(model) as gradcam:                 # default layer: model.config.cam_layer
...     maps = gradcam(faces).maps
>>> maps.shape
(2, 48, 48)
>>> result = fool(model, faces, bound=0.15)         # towards the most likely wrong class
>>> bool(result.success.all()), bool(np.abs(result.delta).max() <= 0.15 + 1e-6)
(True, True)
"""

from affectlab.explain.base import (
    Explainer,
    Explanation,
    as_batch,
    find_layer,
    normalise_maps,
)
from affectlab.explain.cam import CAM, class_score_maps
from affectlab.explain.fooling import (
    DIFFERENCE_BANDS,
    DIFFERENCE_SCALES,
    FoolingResult,
    band_shares,
    difference_bands,
    difference_gray,
    difference_map,
    fool,
)
from affectlab.explain.gradcam import GradCAM, LayerCAM, gradcam_maps, layercam_maps
from affectlab.explain.guided import (
    GuidedBackprop,
    GuidedGradCAM,
    explain_all,
    signed_display,
)
from affectlab.explain.targets import (
    most_likely_wrong,
    predicted,
    reaches_probability,
    resolve_targets,
)
from affectlab.explain.views import ActivationMaps, activation_maps, first_layer_filters

__all__ = [
    "Explainer",
    "Explanation",
    "CAM",
    "GradCAM",
    "LayerCAM",
    "GuidedBackprop",
    "GuidedGradCAM",
    "ActivationMaps",
    "FoolingResult",
    "DIFFERENCE_BANDS",
    "DIFFERENCE_SCALES",
    "activation_maps",
    "as_batch",
    "band_shares",
    "class_score_maps",
    "difference_bands",
    "difference_gray",
    "difference_map",
    "explain_all",
    "find_layer",
    "first_layer_filters",
    "fool",
    "gradcam_maps",
    "layercam_maps",
    "most_likely_wrong",
    "normalise_maps",
    "predicted",
    "reaches_probability",
    "resolve_targets",
    "signed_display",
]
