"""Contract tests over the whole model registry, plus checkpoint round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectlab.errors import ModelError
from affectlab.models import (
    AffectNet,
    create_model,
    list_models,
    load_model,
    load_weights,
    save_weights,
)
from affectlab.models.features import extract_features

ALL_MODELS = list_models()


def test_registry_lists_the_issue_networks():
    for name in ("mini_xception", "tencrop_cnn", "vgg_face128", "resnet_fer"):
        assert name in ALL_MODELS
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
    assert cfg.feature_layers, f"{name} lists no feature layers"
    for layer in cfg.feature_layers:
        assert layer in modules
    if cfg.classifier:
        head = modules[cfg.classifier]
        out_dim = getattr(head, "out_features", getattr(head, "out_channels", None))
        assert out_dim == cfg.num_classes


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_feature_layer_can_be_extracted(name):
    model = create_model(name)
    h, w = model.config.input_size
    images = np.random.default_rng(0).integers(0, 255, (3, h, w), dtype=np.uint8)
    if model.config.channels != 1:
        images = np.repeat(images[..., None], model.config.channels, axis=-1)
    feats = extract_features(model, images)
    for layer in model.config.feature_layers:
        assert feats[layer].shape[0] == 3 and feats[layer].ndim == 2 and feats[layer].dtype == np.float32
    assert not any(m._forward_hooks for m in model.modules()), "hooks were left on the model"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_head_size_follows_class_names(name):
    model = create_model(name, class_names=("posed", "spontaneous")).eval()
    h, w = model.config.input_size
    assert model(torch.rand(1, model.config.channels, h, w)).shape == (1, 2)


def test_mini_xception_has_about_57k_parameters():
    model = create_model("mini_xception")
    assert sum(p.numel() for p in model.parameters()) == 56_951  # the published Keras count


@pytest.mark.parametrize("name, low, high", [("resnet_fer", 1.0e6, 1.5e6), ("tencrop_cnn", 4e6, 5e6),
                                             ("vgg_face128", 5.5e6, 6.5e6)])
def test_parameter_counts_match_their_docs(name, low, high):
    n = sum(p.numel() for p in create_model(name).parameters())
    assert low < n < high


def test_tencrop_cnn_layout():
    model = create_model("tencrop_cnn").eval()
    convs = [m for m in model.conv if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(64, (5, 5)), (64, (3, 3)), (128, (3, 3)),
                                                                 (128, (3, 3)), (128, (3, 3))]
    assert any(isinstance(m, torch.nn.LocalResponseNorm) for m in model.conv)
    names = [n for n, _ in model.conv.named_children()]
    assert "pool" not in "".join(names[names.index("conv3"):])  # no pooling between the last three convs
    assert model.fc1[0].out_features == 1024 and model.fc2[0].out_features == 1024
    assert model.config.input_size == (40, 40)


def test_vgg_face128_has_batchnorm_dense_layers_and_dropout():
    model = create_model("vgg_face128")
    for fc in (model.fc1, model.fc2):
        assert any(isinstance(m, torch.nn.BatchNorm1d) for m in fc)
        assert [m.p for m in fc if isinstance(m, torch.nn.Dropout)] == [0.3]
    assert all(m.kernel_size == (3, 3) for m in model.modules() if isinstance(m, torch.nn.Conv2d))


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


def test_weights_round_trip_and_load_model(tmp_path):
    model = create_model("resnet_fer", class_names=("a", "b", "c")).eval()
    path = save_weights(model, tmp_path / "w.pt", extra={"epoch": 3})
    rebuilt = load_model(path).eval()
    assert rebuilt.config.name == "resnet_fer" and rebuilt.config.class_names == ("a", "b", "c")
    x = torch.rand(2, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(model(x), rebuilt(x))
    other = create_model("resnet_fer", class_names=("a", "b", "c"))
    assert load_weights(other, path) == {"epoch": 3}


def test_load_model_resolves_default_and_names(tmp_path):
    from affectlab.analysis import DEFAULT_MODEL

    assert load_model("default").config.name == DEFAULT_MODEL
    assert load_model("mini_xception").config.name == "mini_xception"
    with pytest.raises(ModelError, match="neither a registered model"):
        load_model(tmp_path / "absent.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable weights file"):
        load_model(bad)
    bare = tmp_path / "bare.pt"
    torch.save({"w": torch.zeros(1)}, bare)
    with pytest.raises(ModelError, match="does not name a registered network"):
        load_model(bare)


def test_weights_of_another_network_are_a_clear_error(tmp_path):
    path = save_weights(create_model("mini_xception"), tmp_path / "mx.pt")
    with pytest.raises(ModelError, match="do not fit resnet_fer"):
        load_weights(create_model("resnet_fer"), path)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_parameter_gets_a_gradient(name):
    model = create_model(name).train()
    h, w = model.config.input_size
    x = torch.rand(2, model.config.channels, h, w)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1]))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: no gradient reaches {missing[:3]}"


def test_bundled_weights_are_small_and_have_cards():
    from pathlib import Path

    import affectlab

    weights = Path(affectlab.__file__).parent / "weights"
    for name in list_models(pretrained=True):
        pt = weights / f"{name}_fer2013.pt"
        assert pt.is_file() and pt.stat().st_size < 8_000_000
        card = (weights / f"{name}_fer2013.md").read_text()
        assert "PublicTest" in card and "wall time" in card and "Reproduce" in card
    assert {"mini_xception", "resnet_fer"} <= set(list_models(pretrained=True))


@pytest.mark.parametrize("kwargs", [
    {"num_classes": 0}, {"num_classes": -1}, {"class_names": ()}, {"class_names": ("a", "a")},
    {"class_names": "abc"}, {"num_classes": 3, "class_names": ("a", "b")},
])
def test_create_model_refuses_heads_that_cannot_work(kwargs):
    with pytest.raises(ModelError, match="class"):
        create_model("mini_xception", **kwargs)


def test_load_weights_says_what_does_not_fit(tmp_path):
    four = save_weights(create_model("mini_xception", class_names=("a", "b", "c", "d")), tmp_path / "four.pt")
    with pytest.raises(ModelError, match=r"4 classes \(a, b, c, d\).*7"):
        load_weights(create_model("mini_xception"), four)
    with pytest.raises(ModelError, match=r"4 classes"):
        create_model("mini_xception", pretrained=four)
    other = save_weights(create_model("resnet_fer"), tmp_path / "resnet.pt")
    with pytest.raises(ModelError, match="holds resnet_fer weights, not mini_xception"):
        load_weights(create_model("mini_xception"), other)
    torch.save(create_model("resnet_fer").state_dict(), tmp_path / "bare.pt")  # a bare state dict names nothing
    with pytest.raises(ModelError, match=r"missing|unexpected|shape"):
        load_weights(create_model("mini_xception"), tmp_path / "bare.pt")


def test_save_weights_to_a_folder_or_below_a_file_is_a_model_error(tmp_path):
    net = create_model("mini_xception")
    with pytest.raises(ModelError, match="is a folder"):
        save_weights(net, tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ModelError, match="f"):
        save_weights(net, tmp_path / "f" / "w.pt")
    path = save_weights(net, tmp_path / "sub" / "w.pt")
    assert sorted(p.name for p in path.parent.iterdir()) == ["w.pt"]  # no temporary file left behind


def test_a_checkpoint_rebuilds_the_input_size_it_was_trained_on(tmp_path):
    net = create_model("vgg_identity", input_size=(56, 46), class_names=("s1", "s2"))
    path = save_weights(net, tmp_path / "identity.pt")
    assert load_model(path).config.input_size == (56, 46)  # was (28, 24): faces silently resized smaller
