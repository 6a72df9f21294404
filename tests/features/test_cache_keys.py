"""Cache keys are made of declared versions, parameters, data and library versions, never of source code."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from affectlab.features import cache, create_feature, registry
from affectlab.features.cache import FeatureCache, extractor_fingerprint

REPO = Path(__file__).resolve().parents[2]
IMAGES = "images-hash"  # stands for images_fingerprint(images): keys only combine it
NETWORK = {"label": "cnn", "type": "finetune", "model": "mini_xception", "init": "default",
           "train": {"epochs": 1, "batch_size": 8}}


def key_table() -> dict[str, str]:
    """Keys of every registered feature (the learning one with its fit samples) and of a fine-tuned network."""
    from affectlab.experiments import fusion_networks
    from affectlab.features import feature_info, list_features

    store = FeatureCache("unused")
    keys = {}
    for name in list_features():
        fit_on = None if feature_info(name).stateless else (np.arange(4), ["a", "b", "a", "b"])
        keys[name] = store.key(name, create_feature(name), IMAGES, fit_on=fit_on)
    spec = fusion_networks.parse_networks([NETWORK], base=None, oof_splits=2, feature_labels=[])[0]
    keys["network"] = fusion_networks._cache_key(IMAGES, spec, ["a", "b"], np.arange(4), np.arange(4, 6), 3)
    return keys


@pytest.fixture()
def fresh_library_versions():
    cache._versions_of.cache_clear()
    yield
    cache._versions_of.cache_clear()


def _key(name: str = "hog", **params) -> str:
    return FeatureCache("unused").key(name, create_feature(name, **params), IMAGES)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found (update this test's edits)"
    path.write_text(text.replace(old, new, 1))


def _move_to_end(path: Path, function: str) -> None:
    """Move a top-level function to the end of its module."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}("))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() and not lines[i][0].isspace())
    moved = lines[start:end]
    path.write_text("".join(lines[:start] + lines[end:] + ["\n\n", *moved]))


def test_documenting_moving_and_reordering_code_keeps_every_key(tmp_path):
    """The same keys from a copy of affectlab with reworded docstrings, new comments, a function moved and the
    registration imports of affectlab.models reordered (each of these used to throw the caches away)."""
    copy = tmp_path / "affectlab"
    shutil.copytree(REPO / "src" / "affectlab", copy, ignore=shutil.ignore_patterns("__pycache__"))
    _edit(copy / "features" / "hog.py", '"""Histograms of oriented gradients per image',
          '# a comment\n    """Reworded: HOG per image')
    _move_to_end(copy / "features" / "lbp.py", "lbp_n_bins")
    _move_to_end(copy / "experiments" / "fusion_networks.py", "_decisions")
    _edit(copy / "models" / "__init__.py",
          "from affectlab.models import mini_xception as _mini_xception  # noqa: F401  (registers models)\n", "")
    _edit(copy / "models" / "__init__.py", "# isort: split\n",
          "# isort: split\nfrom affectlab.models import mini_xception as _mini_xception  # noqa: F401\n")
    script = ("import json, affectlab; from tests.features.test_cache_keys import key_table; "
              "print(json.dumps([affectlab.__file__, key_table()]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    where, keys = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(where).is_relative_to(tmp_path)  # the edited copy ran
    assert keys == key_table()


def test_a_bumped_version_changes_the_key_of_that_feature_only(monkeypatch):
    before = {name: _key(name) for name in ("hog", "lbp")}
    monkeypatch.setitem(registry._REGISTRY, "hog", dataclasses.replace(registry.feature_info("hog"), version=2))
    assert _key("hog") != before["hog"]
    assert _key("lbp") == before["lbp"]


def test_a_parameter_changes_the_key_a_restated_default_does_not():
    assert _key(pixels_per_cell=4) != _key()
    assert _key(pixels_per_cell=8) == _key()  # 8 is the default


@pytest.mark.parametrize("library", ["numpy", "scipy", "scikit-image", "scikit-learn", "opencv-python-headless",
                                     "torch"])
def test_a_library_version_changes_the_key(monkeypatch, fresh_library_versions, library):
    before = _key()
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0.1" if name == library else real(name))
    cache._versions_of.cache_clear()
    assert _key() != before


def test_library_versions_are_the_installed_ones(fresh_library_versions):
    versions = cache.library_versions()
    assert versions["numpy"] == importlib.metadata.version("numpy") == np.__version__
    assert versions["opencv-python-headless"] == importlib.metadata.version("opencv-python-headless")
    assert cache.library_versions(("no-such-distribution",)) == {"no-such-distribution": "absent"}


def test_the_key_names_no_code_class_or_affectlab_release():
    fingerprint = extractor_fingerprint("hog", create_feature("hog"))
    assert set(fingerprint) == {"name", "version", "params", "libraries"}
    assert fingerprint["version"] == registry.feature_info("hog").version == 1
    assert "HOGFeatures" not in json.dumps(fingerprint) and "affectlab" not in fingerprint["libraries"]


def test_a_deep_feature_is_keyed_by_its_weights_and_architecture_version(monkeypatch):
    from affectlab.models import versions

    before = _key("deep")
    assert extractor_fingerprint("deep", create_feature("deep"))["token"].endswith("|mini_xception@1")
    monkeypatch.setitem(versions.MODEL_VERSIONS, "mini_xception", 2)
    assert _key("deep") != before


def test_register_feature_takes_the_version_from_the_decorator_or_the_class(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Plain:
        pass

    class Declared:
        version = "3b"

    registry.register_feature("t_plain")(Plain)
    registry.register_feature("t_declared")(Declared)
    registry.register_feature("t_given", version=7)(Declared)
    assert [registry._REGISTRY[n].version for n in ("t_plain", "t_declared", "t_given")] == [1, "3b", 7]
    with pytest.raises(TypeError, match="version must be an int or a string"):
        registry.register_feature("t_bool", version=True)(Plain)


# ------------------------------------------------------------------------------ fine-tuned networks

def _network_key(spec: dict | None = None, labels: tuple[str, ...] = ("a", "b"), seed: int = 3) -> str:
    from affectlab.experiments import fusion_networks

    parsed = fusion_networks.parse_networks([spec or NETWORK], base=None, oof_splits=2, feature_labels=[])[0]
    return fusion_networks._cache_key(IMAGES, parsed, list(labels), np.arange(4), np.arange(4, 6), seed)


@pytest.mark.parametrize("change", ["finetune", "training", "architecture", "torch"])
def test_a_declared_or_library_version_changes_a_network_key(monkeypatch, fresh_library_versions, change):
    from affectlab.experiments import fusion_networks
    from affectlab.models import versions

    before = _network_key()
    if change == "finetune":
        monkeypatch.setattr(fusion_networks, "FINETUNE_VERSION", fusion_networks.FINETUNE_VERSION + 1)
    elif change == "training":
        monkeypatch.setattr(versions, "TRAINING_VERSION", versions.TRAINING_VERSION + 1)
    elif change == "architecture":
        monkeypatch.setitem(versions.MODEL_VERSIONS, "mini_xception", 2)
    else:
        real = importlib.metadata.version
        monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0.1" if name == "torch" else real(name))
        cache._versions_of.cache_clear()
    assert _network_key() != before


def test_a_network_key_follows_settings_defaults_labels_and_seed_not_the_member_name(monkeypatch):
    from affectlab.models import train

    before = _network_key()
    assert _network_key({**NETWORK, "train": {**NETWORK["train"], "lr": 0.01}}) != before
    assert _network_key({**NETWORK, "augment": {"flip": False}}) != before
    assert _network_key({**NETWORK, "tta_flip": True}) != before
    assert _network_key(labels=("a", "c")) != before
    assert _network_key(seed=4) != before
    assert _network_key({**NETWORK, "label": "renamed", "seeds": 3}) == before
    assert _network_key({**NETWORK, "train": {**NETWORK["train"], "lr": train.TrainConfig.lr}}) == before
    monkeypatch.setattr(train.TrainConfig, "__init__", _with_default(train.TrainConfig.__init__, "lr", 0.5))
    assert _network_key() != before  # a changed default is a changed setting


def _with_default(init, name: str, value: float):
    def patched(self, *args, **kwargs):
        kwargs.setdefault(name, value)
        init(self, *args, **kwargs)

    return patched


def test_a_network_key_knows_its_start_weights_by_content_not_by_path(tmp_path):
    import torch

    from affectlab.models import create_model, save_weights

    torch.manual_seed(0)
    first = save_weights(create_model("mini_xception"), tmp_path / "a.pt")
    moved = tmp_path / "elsewhere" / "b.pt"
    moved.parent.mkdir()
    shutil.copy(first, moved)
    other = save_weights(create_model("mini_xception", num_classes=3), tmp_path / "c.pt")
    keys = [_network_key({**NETWORK, "init": str(path)}) for path in (first, moved, other)]
    assert keys[0] == keys[1] != keys[2]
    assert _network_key({**NETWORK, "init": "mini_xception"}) == _network_key()  # "default": the model's own
    assert _network_key({**NETWORK, "init": None}) != _network_key()
