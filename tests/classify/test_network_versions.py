"""Version guard of the networks behind cached fine-tuned members: a changed output without a bump fails.

Every registered architecture runs forward from a fixed random initialisation, and one fusion member is
fine-tuned on fixed images; the signatures of their outputs are compared with ``network_versions.json``
together with the declared versions (``affectlab.models.versions``: ``MODEL_VERSIONS``,
``TRAINING_VERSION``; ``affectlab.experiments.fusion_networks.FINETUNE_VERSION``). Rewrite that file with
``.venv/bin/python -m tests.classify.test_network_versions`` (see :mod:`tests.version_guard`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests import version_guard

GOLDEN = Path(__file__).with_name("network_versions.json")
UPDATE = ".venv/bin/python -m tests.classify.test_network_versions"
BUMP = ("MODEL_VERSIONS / TRAINING_VERSION in affectlab.models.versions, or FINETUNE_VERSION in "
        "affectlab.experiments.fusion_networks")
LABELS = ["a", "b"]


def architecture_outputs() -> dict[str, tuple[int | str, list[float]]]:
    """Registered architecture -> (its version, signature of its logits on a fixed input from seed 0 weights)."""
    import torch

    from affectlab.models import create_model, list_models
    from affectlab.models.versions import model_version

    out = {}
    for name in list_models():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = create_model(name).eval()
        channels, (height, width) = model.config.channels, model.config.input_size
        x = torch.linspace(0, 1, 2 * channels * height * width).reshape(2, channels, height, width)
        with torch.no_grad():
            logits = model(x)
        out[f"model:{name}"] = (model_version(name), version_guard.signature(logits.numpy()))
    return out


def finetune_output() -> dict[str, tuple[int | str, list[float]]]:
    """A mini_xception fusion member fine-tuned one epoch from its bundled weights, with flip TTA: (the three
    declared versions it depends on, signature of its decision values)."""
    from affectlab.experiments import fusion_networks
    from affectlab.models.versions import TRAINING_VERSION, model_version

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(16, 48, 48)).astype(np.float32) / 255
    y = np.array(LABELS * 8)
    raw = [{"label": "cnn", "type": "finetune", "model": "mini_xception", "init": "default", "tta_flip": True,
            "train": {"epochs": 1, "batch_size": 8, "num_threads": 1, "schedule": "constant"}}]
    spec = fusion_networks.parse_networks(raw, base=None, oof_splits=2, feature_labels=[])[0]
    scores = fusion_networks._finetune_scores(spec, images, y, LABELS, np.arange(12), np.arange(12, 16), 3,
                                              None, None)
    version = (f"finetune={fusion_networks.FINETUNE_VERSION},training={TRAINING_VERSION},"
               f"mini_xception={model_version('mini_xception')}")
    return {"finetune:mini_xception": (version, version_guard.signature(scores))}


def all_outputs() -> dict[str, tuple[int | str, list[float]]]:
    return {**architecture_outputs(), **finetune_output()}


def test_every_registered_architecture_declares_a_version():
    from affectlab.models import list_models
    from affectlab.models.versions import MODEL_VERSIONS

    undeclared = [name for name in list_models() if name not in MODEL_VERSIONS]
    assert not undeclared, f"add {', '.join(undeclared)} to affectlab.models.versions.MODEL_VERSIONS"


def test_outputs_match_their_declared_versions():
    found = version_guard.problems(version_guard.read_golden(GOLDEN), all_outputs(), what="network",
                                   bump=BUMP, update=UPDATE)
    assert not found, "\n".join(found)


if __name__ == "__main__":
    version_guard.main(GOLDEN, all_outputs)
