"""Version guard of the feature extractors: a changed output without a bumped ``version`` fails.

Every built-in image feature (``affectlab.features.list_features``) and sequence feature
(``affectlab.features.temporal.SEQUENCE_FEATURES``) runs on a fixed synthetic input; the signature of its
output is compared with ``feature_versions.json``. Rewrite that file with
``.venv/bin/python -m tests.features.test_feature_versions`` (see :mod:`tests.version_guard`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import version_guard

GOLDEN = Path(__file__).with_name("feature_versions.json")
UPDATE = ".venv/bin/python -m tests.features.test_feature_versions"

#: Small settings, so that every feature runs in well under a second.
IMAGE_PARAMS: dict[str, dict[str, Any]] = {
    "deep": {},
    "dsift_llc": {"n_words": 8, "levels": (1, 2), "step": 8, "sizes": (8,), "max_descriptors": 500},
    "hog": {},
    "lbp": {},
    "lpq": {},
    "phog": {},
    "pixels": {},
}
SEQUENCE_PARAMS: dict[str, dict[str, Any]] = {
    "lbp_top": {},
    "lpq_top": {},
    "pooled": {"feature": "lbp", "params": {"levels": 2}, "pooling": "mean_max"},
    "sift_lbp": {"n_words": 8, "levels": (1,), "step": 8, "sizes": (8,), "lbp_levels": 1, "max_descriptors": 500},
    "sift_top": {"n_words": 8, "levels": (1,), "step": 8, "sizes": (8,), "t_length": 8, "slice_step": 8,
                 "max_descriptors": 500},
}


def fixed_images() -> np.ndarray:
    """Six 48 x 48 uint8 faces-to-be: smooth waves plus fixed noise."""
    rows, cols = np.mgrid[:48, :48]
    waves = (np.sin(cols / 5.0) + np.cos(rows / 7.0)) * 60 + 128
    noise = np.random.default_rng(0).normal(0, 20, (6, 48, 48))
    return np.clip(waves + noise, 0, 255).astype(np.uint8)


def fixed_volumes() -> np.ndarray:
    """Four 8-frame sequences: each image drifting right one pixel per frame."""
    images = fixed_images()
    return np.stack([np.stack([np.roll(images[i], t, axis=1) for t in range(8)]) for i in range(4)])


def _builtin_image_features() -> list[str]:
    from affectlab.features import feature_info, list_features

    return [n for n in list_features() if feature_info(n).factory.__module__.startswith("affectlab.")]


def image_outputs() -> dict[str, tuple[int | str, list[float]]]:
    """Built-in image feature -> (declared version, signature of its output on :func:`fixed_images`)."""
    from affectlab.features import create_feature, feature_info

    images, labels = fixed_images(), np.array(["a", "b"] * 3)
    out = {}
    for name in _builtin_image_features():
        X = create_feature(name, **IMAGE_PARAMS.get(name, {})).fit(images, labels).transform(images)
        out[name] = (feature_info(name).version, version_guard.signature(X))
    return out


def sequence_outputs() -> dict[str, tuple[int | str, list[float]]]:
    """Sequence feature -> (declared version, signature of its output on :func:`fixed_volumes`)."""
    from affectlab.features.temporal import SEQUENCE_FEATURES, create_sequence_feature

    volumes, labels = fixed_volumes(), np.array(["a", "b"] * 2)
    out = {}
    for name, factory in SEQUENCE_FEATURES.items():
        X = create_sequence_feature(name, **SEQUENCE_PARAMS.get(name, {})).fit(volumes, labels).transform(volumes)
        out[f"sequence:{name}"] = (factory.version, version_guard.signature(X))
    return out


def all_outputs() -> dict[str, tuple[int | str, list[float]]]:
    return {**image_outputs(), **sequence_outputs()}


def test_every_builtin_extractor_declares_its_own_version():
    from affectlab.features import feature_info
    from affectlab.features.temporal import SEQUENCE_FEATURES

    factories = [feature_info(n).factory for n in _builtin_image_features()] + list(SEQUENCE_FEATURES.values())
    undeclared = [f.__qualname__ for f in factories if "version" not in vars(f)]  # not inherited from a base
    assert not undeclared, f"declare `version = 1` in the class body of {', '.join(undeclared)}"
    assert all(feature_info(n).version == feature_info(n).factory.version for n in _builtin_image_features())


def test_outputs_match_their_declared_versions():
    found = version_guard.problems(version_guard.read_golden(GOLDEN), all_outputs(), what="feature",
                                   bump="`version` in the extractor's class body", update=UPDATE)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("change", ["output", "version", "new"])
def test_the_guard_fails_on_a_change_without_a_bump(change):
    """The guard itself: an altered output with the stored version fails and asks for a bump; a bumped
    version or a new feature asks for the file to be rewritten."""
    golden = {"hog": {"version": 1, "signature": version_guard.signature(np.arange(10.0))}}
    same = {"hog": (1, version_guard.signature(np.arange(10.0) + 1e-9))}
    assert version_guard.problems(golden, same, what="feature", bump="b", update="u") == []
    altered = {"output": {"hog": (1, version_guard.signature(np.arange(10.0) * 1.01))},
               "version": {"hog": (2, golden["hog"]["signature"])},
               "new": {"hog": (1, golden["hog"]["signature"]), "lbp": (1, [1.0])}}[change]
    found = version_guard.problems(golden, altered, what="feature", bump="b", update="u")
    expected = {"output": "changed but its version is still 1. Bump", "version": "version 1 -> 2",
                "new": "'lbp' has no golden output"}[change]
    assert len(found) == 1 and expected in found[0]
    rewritten = version_guard.updated(golden, altered, force=False)
    assert (rewritten == golden) == (change == "output")  # no rewrite without a bump, short of --force


if __name__ == "__main__":
    version_guard.main(GOLDEN, all_outputs)
