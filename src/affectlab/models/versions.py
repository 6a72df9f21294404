"""Declared versions of what a cached network's output depends on (see docs/experiments.md, "The feature cache").

A fine-tuned network's cache key holds these numbers, not the source code, so moving or re-documenting
code keeps the cache. Bump a number in the same commit as a change that alters what the code computes:

- :data:`TRAINING_VERSION`: the training procedure (``affectlab.models.train``: ``fit_classifier``,
  ``predict_proba``, ``seed_everything``; ``affectlab.models.augment``; ``transfer_weights``; the
  settings of ``TrainConfig`` / ``AugmentConfig``, defaults included, are in the key themselves),
- :data:`MODEL_VERSIONS`: one registered architecture (its layers, initialisation, normalisation).

``tests/classify/test_network_versions.py`` trains and runs them on fixed inputs and fails, asking for a
bump, when their output changed while these numbers did not.
"""

from __future__ import annotations

__all__ = ["MODEL_VERSIONS", "TRAINING_VERSION", "model_version"]

#: The training procedure behind a fine-tuned network.
TRAINING_VERSION = 1

#: Registered architecture -> its version.
MODEL_VERSIONS: dict[str, int | str] = {
    "mini_xception": 1,
    "resnet18_fer": 1,
    "resnet_fer": 1,
    "resnet_fer_wide": 1,
    "tencrop_cnn": 1,
    "vgg_face128": 2,  # 2: 13 convolutions (VGG-16 layout, 21 layers), He-normal initialisation
    "vgg_identity": 1,
}


def model_version(name: str) -> int | str:
    """The declared version of architecture ``name``; 1 for one registered outside affectlab.

    >>> model_version("mini_xception")
    1
    """
    return MODEL_VERSIONS.get(name, 1)
