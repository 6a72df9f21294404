"""Deep features from named layers: values, hooks cleaned up, errors, and the feature registry entry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectlab.errors import AffectLabError, ConfigError, ModelError
from affectlab.features import create_feature, list_features
from affectlab.models import create_model
from affectlab.models.features import LayerRecorder, extract_features, prepare_images
from affectlab.models.train import predict_proba


def test_features_equal_the_networks_own_maps():
    torch.manual_seed(0)
    model = create_model("resnet_fer").eval()
    images = np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8)
    feats = extract_features(model, images, ["stages", "pool"], batch_size=3)
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    with torch.no_grad():
        maps = model.forward_features(model.normalize(x))
    assert np.allclose(feats["stages"], maps.flatten(1).numpy(), atol=1e-5)
    assert np.allclose(feats["pool"], maps.mean(dim=(2, 3)).numpy(), atol=1e-5)
    pooled = extract_features(model, images, "stages", spatial="avg")["stages"]
    assert np.allclose(pooled, feats["pool"], atol=1e-5)
    assert np.allclose(extract_features(model, images, "stages", spatial="max")["stages"],
                       maps.amax(dim=(2, 3)).numpy(), atol=1e-5)


def test_hooks_are_removed_even_when_the_forward_fails():
    model = create_model("mini_xception")
    with pytest.raises(RuntimeError), LayerRecorder(model, ["blocks"]):
        model(torch.rand(1, 3, 48, 48))  # wrong channel count
    assert not any(m._forward_hooks for m in model.modules())


def test_unknown_layer_names_the_layer():
    with pytest.raises(ModelError, match="layer 'nope' is not a module"):
        extract_features(create_model("mini_xception"), np.zeros((1, 48, 48), np.uint8), ["nope"])


def test_prepare_images_resizes_and_converts_channels():
    model = create_model("vgg_face128")
    x = prepare_images(np.full((2, 48, 48, 3), 255, np.uint8), model)
    assert x.shape == (2, 1, 128, 128) and torch.allclose(x, torch.ones_like(x))


def test_model_mode_is_restored():
    model = create_model("mini_xception").train()
    extract_features(model, np.zeros((1, 48, 48), np.uint8))
    assert model.training


def test_deep_feature_is_registered_and_configurable():
    assert "deep" in list_features()
    feature = create_feature("deep", model="resnet_fer", layer="pool", pretrained=False)
    out = feature.fit_transform(np.zeros((2, 48, 48), np.uint8))
    assert out.shape == (2, 256) and out.dtype == np.float32
    bundled = create_feature("deep", model="mini_xception").fit_transform(np.zeros((1, 60, 60), np.uint8))
    assert bundled.shape == (1, 128)  # default layer: the pooled vector; images resized to 48x48


def test_deep_feature_errors_are_config_errors():
    with pytest.raises(ConfigError, match="layer 'nope'"):
        create_feature("deep", model="mini_xception", layer="nope").fit_transform(np.zeros((1, 48, 48), np.uint8))
    with pytest.raises(ConfigError, match="unknown model"):
        create_feature("deep", model="nope").fit(np.zeros((1, 48, 48), np.uint8))


def test_deep_feature_cache_token_follows_the_weights(tmp_path):
    from affectlab.models import save_weights

    path = save_weights(create_model("mini_xception"), tmp_path / "a.pt")
    first = create_feature("deep", weights=str(path)).cache_token()
    save_weights(create_model("mini_xception", num_classes=3), path)
    assert create_feature("deep", weights=str(path)).cache_token() != first
    assert create_feature("deep", pretrained=False).cache_token() == "random-init|mini_xception@1"


RNG = np.random.default_rng(0)
FACES = RNG.integers(0, 256, (3, 32, 32), dtype=np.uint8)


def test_deep_refuses_float_images_outside_unit_range():
    deep = create_feature("deep", pretrained=False)
    with pytest.raises(ValueError, match=r"deep: float images must hold gray levels in \[0, 1\],"
                                         r" found values in \[0, 255\]"):
        deep.fit_transform(FACES.astype(np.float32))
    with pytest.raises(ValueError, match="deep: integer images must hold gray levels in 0..255"):
        deep.fit_transform(FACES.astype(np.uint16) * 257)
    a = deep.fit_transform(FACES)
    b = deep.fit_transform(FACES / 255.0)  # the same gray levels as floats in [0, 1]
    assert np.allclose(a, b, atol=1e-5)


def test_deep_batch_size_is_checked():
    with pytest.raises(ValueError, match="deep: batch_size must be a positive integer, got 0"):
        create_feature("deep", pretrained=False, batch_size=0).fit_transform(FACES)


def test_sixteen_bit_images_are_scaled_like_eight_bit_ones():
    net = create_model("mini_xception", pretrained=True)
    x8 = np.random.default_rng(0).integers(0, 256, (2, 48, 48)).astype(np.uint8)
    x16 = x8.astype(np.uint16) * 257
    assert np.allclose(predict_proba(net, x16, device="cpu"), predict_proba(net, x8, device="cpu"), atol=1e-5)
    f8, f16 = extract_features(net, x8, device="cpu"), extract_features(net, x16, device="cpu")
    for name in f8:
        assert np.allclose(f8[name], f16[name], atol=1e-4)


def test_extract_features_refuses_0_255_floats_and_drops_alpha():
    net = create_model("mini_xception", pretrained=True)
    x = np.random.default_rng(0).integers(0, 256, (2, 48, 48, 3)).astype(np.uint8)
    with pytest.raises(ModelError, match=r"\[0, 1\]"):
        extract_features(net, x.astype(np.float32), device="cpu")
    rgba = np.concatenate([x, np.full((2, 48, 48, 1), 255, np.uint8)], axis=-1)
    plain, with_alpha = extract_features(net, x, device="cpu"), extract_features(net, rgba, device="cpu")
    for name in plain:
        assert np.allclose(plain[name], with_alpha[name], atol=1e-5)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_batch_size_below_one_is_refused(batch_size):
    net = create_model("mini_xception")
    x = np.zeros((3, 48, 48), np.uint8)
    with pytest.raises(AffectLabError, match="batch_size"):
        extract_features(net, x, batch_size=batch_size, device="cpu")
    with pytest.raises(AffectLabError, match="batch_size"):
        predict_proba(net, x, batch_size=batch_size, device="cpu")


def test_no_images_give_arrays_of_the_right_width():
    net = create_model("mini_xception")
    some = extract_features(net, np.zeros((2, 48, 48), np.uint8), ["blocks", "pool"], spatial="avg", device="cpu")
    none = extract_features(net, np.zeros((0, 48, 48), np.uint8), ["blocks", "pool"], spatial="avg", device="cpu")
    assert {k: v.shape for k, v in none.items()} == {k: (0, v.shape[1]) for k, v in some.items()}
