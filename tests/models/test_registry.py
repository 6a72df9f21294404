"""Contract tests over the whole model registry, plus checkpoint round trips."""

from __future__ import annotations

import pytest
import torch

from affectlab.errors import ModelError
from affectlab.models import AffectNet, create_model, list_models, load_weights, save_weights

ALL_MODELS = list_models()


def test_registry_lists_mini_xception():
    assert "mini_xception" in ALL_MODELS
    assert list_models("mini_*") == ["mini_xception"]
    assert list_models("nothing*") == []


@pytest.mark.parametrize("name", ALL_MODELS)
def test_model_contract(name):
    model = create_model(name).eval()
    assert isinstance(model, AffectNet)
    cfg = model.config
    h, w = cfg.input_size
    x = torch.rand(2, cfg.channels, h, w)
    with torch.no_grad():
        feats = model.forward_features(model.normalize(x))
        logits = model.forward_head(feats)
        assert feats.ndim == 4 and feats.shape[0] == 2
        assert logits.shape == (2, cfg.num_classes)
        assert torch.allclose(model(x), logits)
    modules = dict(model.named_modules())
    assert cfg.cam_layer in modules, f"cam_layer {cfg.cam_layer!r} is not a module of {name}"
    for layer in cfg.feature_layers:
        assert layer in modules


def test_mini_xception_has_about_57k_parameters():
    model = create_model("mini_xception")
    assert sum(p.numel() for p in model.parameters()) == 56_951  # the published Keras count


def test_num_classes_override_changes_head():
    model = create_model("mini_xception", num_classes=3)
    assert model.config.class_names == ("class_0", "class_1", "class_2")
    assert model(torch.rand(1, 1, 48, 48)).shape == (1, 3)
    named = create_model("mini_xception", class_names=("posed", "spontaneous"))
    assert named.config.num_classes == 2


def test_unknown_model_names_known_ones():
    with pytest.raises(ModelError, match="unknown model 'nope'.*mini_xception"):
        create_model("nope")


def test_missing_pretrained_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no pretrained weights"):
        create_model("mini_xception", pretrained=tmp_path / "absent.pt")


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    a = create_model("mini_xception").eval()
    path = save_weights(a, tmp_path / "w.pt", extra={"epoch": 3})
    b = create_model("mini_xception").eval()
    extra = load_weights(b, path)
    x = torch.rand(3, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(a(x), b(x))
    assert extra == {"epoch": 3}
    c = create_model("mini_xception", pretrained=path).eval()
    with torch.no_grad():
        assert torch.allclose(a(x), c(x))


def test_corrupt_or_mismatched_weights(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="bad.pt: not a readable weights file"):
        load_weights(create_model("mini_xception"), bad)
    other = save_weights(create_model("mini_xception", num_classes=3), tmp_path / "three.pt")
    with pytest.raises(ModelError, match="do not fit mini_xception"):
        load_weights(create_model("mini_xception"), other)
