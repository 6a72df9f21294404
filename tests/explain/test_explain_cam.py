from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from affectlab.errors import ConfigError, ModelError
from affectlab.explain import (
    CAM,
    ActivationMaps,
    GradCAM,
    GuidedBackprop,
    explain_all,
    gradcam_maps,
    resolve_targets,
)
from affectlab.models import AffectNet, ModelConfig, create_model
from tests.explain.explain_nets import LeftHalfNet, TinyGAPNet, hook_count


@pytest.fixture
def tiny_gap() -> TinyGAPNet:
    torch.manual_seed(0)
    return TinyGAPNet()


@pytest.fixture
def left_net() -> LeftHalfNet:
    return LeftHalfNet()


def test_cam_equals_hand_computed_weighted_sum(tiny_gap):
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    out = CAM(tiny_gap)(x, target=1)
    # by hand: F_k = relu(w_k x + b_k), CAM = sum_k fc.weight[1, k] F_k
    w, b = tiny_gap.conv.weight.detach().numpy().reshape(3), tiny_gap.conv.bias.detach().numpy()
    feats = np.maximum(w[None, :, None, None] * x.numpy() + b[None, :, None, None], 0)  # (3, 3, 4, 4)
    expected = np.einsum("k,nkhw->nhw", tiny_gap.fc.weight.detach().numpy()[1], feats)
    np.testing.assert_allclose(out.raw, expected, rtol=1e-5, atol=1e-6)
    assert out.targets.tolist() == [1, 1, 1]
    assert out.maps.shape == (3, 4, 4) and out.maps.min() >= 0 and out.maps.max() <= 1
    lo, hi = expected.min(axis=(1, 2), keepdims=True), expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out.maps, (expected - lo) / (hi - lo), atol=1e-5)


def test_cam_default_target_is_prediction_and_matches_probabilities(tiny_gap):
    x = torch.rand(2, 1, 4, 4)
    out = CAM(tiny_gap)(x)
    with torch.no_grad():
        logits = tiny_gap(x)
    assert out.targets.tolist() == logits.argmax(1).tolist()
    np.testing.assert_allclose(out.probabilities, torch.softmax(logits, 1).numpy(), rtol=1e-5)


def test_cam_on_mini_xception_class_convolution_head():
    model = create_model("mini_xception", pretrained=True).eval()
    x = torch.rand(2, 1, 48, 48)
    out = CAM(model)(x, target=3)
    with torch.no_grad():
        expected = model.classifier(model.forward_features(model.normalize(x)))[:, 3] - model.classifier.bias[3]
    np.testing.assert_allclose(out.raw, expected.numpy(), rtol=1e-4, atol=1e-5)
    assert out.maps.shape == (2, 48, 48)


def test_cam_refuses_a_head_that_is_not_gap(left_net):
    class NoHead(AffectNet):
        def __init__(self):
            super().__init__(ModelConfig(name="x", class_names=("a", "b")))
            self.fc = nn.Linear(4, 2)

        def forward_features(self, x):
            return x.repeat(1, 4, 1, 1)

        def forward_head(self, f):  # max pooling, not average
            return self.fc(f.amax(dim=(2, 3)))

    with pytest.raises(ModelError, match="not global average pooling"):
        CAM(NoHead())(torch.rand(1, 1, 48, 48))
    with pytest.raises(ModelError, match="CAM needs a global-average-pooling head"):
        CAM(left_net)


def test_gradcam_of_left_half_model_highlights_left_half(left_net):
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) + 0.1
    with GradCAM(left_net) as gradcam:
        out = gradcam(x, target=0)
    assert out.layer == "conv"
    assert np.all(out.raw[..., 4:] == 0) and np.all(out.raw[..., :4] > 0)
    assert np.all(out.maps[..., :3].mean(axis=(1, 2)) > 0.2)
    assert np.all(out.maps[..., 5:] == 0)
    # the other logit is constant: nothing to highlight anywhere
    assert np.all(gradcam(x, target=1).raw == 0)


def test_gradcam_hooks_gone_and_model_unchanged():
    model = create_model("mini_xception", pretrained=True).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hooks = hook_count(model)
    gradcam = GradCAM(model)
    with gradcam:
        assert hook_count(model) == hooks + 1
        assert not model.training
        gradcam(np.zeros((2, 48, 48), np.uint8))
    assert hook_count(model) == hooks
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    gradcam(torch.rand(1, 1, 48, 48))  # outside `with`: hooks for that call only
    assert hook_count(model) == hooks and model.training


def test_gradcam_hooks_removed_when_the_forward_fails():
    model = create_model("mini_xception")
    with pytest.raises(ConfigError, match="channel"):
        GradCAM(model)(torch.rand(1, 3, 48, 48))
    assert hook_count(model) == 0


def test_gradcam_matches_captum_layer_gradcam():
    captum = pytest.importorskip("captum.attr")
    model = create_model("mini_xception", pretrained=True).eval()
    x = torch.rand(3, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    ours = GradCAM(model, "blocks.2")(x, target=[0, 3, 6])
    theirs = captum.LayerGradCam(model, model.blocks[2]).attribute(x, target=torch.tensor([0, 3, 6]),
                                                                    relu_attributions=True)
    np.testing.assert_allclose(ours.raw, theirs[:, 0].detach().numpy(), rtol=1e-4, atol=1e-6)


def test_gradcam_batch_equals_single_images():
    model = create_model("mini_xception", pretrained=True)
    x = torch.rand(3, 1, 48, 48)
    with GradCAM(model) as gradcam:
        batch = gradcam(x).raw
        single = np.concatenate([gradcam(x[i: i + 1]).raw for i in range(3)])
    np.testing.assert_allclose(batch, single, rtol=1e-4, atol=1e-6)


def test_gradcam_maps_hand_case_and_bad_layer():
    A = torch.tensor([[[[2.0, 1.0]], [[1.0, 1.0]]]])
    G = torch.tensor([[[[1.0, 0.0]], [[-2.0, -2.0]]]])  # weights 0.5 and -2
    assert gradcam_maps(A, G).tolist() == [[[0.0, 0.0]]]
    assert gradcam_maps(A, -G).tolist() == [[[1.0, 1.5]]]
    with pytest.raises(ConfigError, match="layer 'nope' is not a module"):
        GradCAM(create_model("mini_xception"), "nope")


def test_target_errors_name_the_problem(tiny_gap):
    with pytest.raises(ConfigError, match="out of range"):
        CAM(tiny_gap)(torch.rand(1, 1, 4, 4), target=5)
    with pytest.raises(ConfigError, match="2 classes given for 1 images"):
        CAM(tiny_gap)(torch.rand(1, 1, 4, 4), target=[0, 1])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("mini_xception").eval()


@pytest.fixture(scope="module")
def faces():
    return np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)


@pytest.mark.parametrize("target, match", [(2.7, "whole numbers"), (True, "integers"), ("happy", "integers"),
                                           ([0.5, 1.0], "whole numbers")])
def test_target_that_is_not_a_class_index_is_refused(target, match):
    logits = torch.zeros(1, 3)
    with pytest.raises(ConfigError, match=match):   # before: 2.7 -> class 2, True -> class 1, "happy" -> TypeError
        resolve_targets(target, logits)


def test_whole_number_targets_still_work():
    logits = torch.zeros(2, 3)
    assert resolve_targets(np.int64(2), logits).tolist() == [2, 2]
    assert resolve_targets(np.array(1), logits).tolist() == [1, 1]        # a 0-d array is one class for all
    assert resolve_targets([2.0, 0.0], logits).tolist() == [2, 0]
    assert resolve_targets(torch.tensor([1, 2]), logits).tolist() == [1, 2]


def test_float_images_outside_unit_range_are_refused(model, faces):
    for explainer in (GradCAM(model), GuidedBackprop(model), CAM(model)):
        with pytest.raises(ConfigError, match=r"\[0, 1\].*divide"):   # before: silently explained as nonsense
            explainer(faces.astype(np.float32))
    with pytest.raises(ConfigError, match="finite"):
        GradCAM(model)(np.full((1, 48, 48), np.nan, np.float32))
    with pytest.raises(ConfigError, match="int64"):
        explain_all(model, faces.astype(np.int64))
    out = GradCAM(model)(faces.astype(np.float32) / 255.0)       # the documented float input still works
    assert out.maps.shape == (2, 48, 48)


def test_empty_batch_is_one_clear_error(model):
    empty = np.zeros((0, 48, 48), np.uint8)
    for call in (lambda: GradCAM(model)(empty), lambda: explain_all(model, empty),
                 lambda: ActivationMaps(model, "stem")(empty)):
        with pytest.raises(ConfigError, match="empty"):       # before: RuntimeError from a reshape
            call()


def test_explainers_on_a_model_in_train_mode_batch_of_one_and_bad_layer(model, faces):
    tiny = TinyGAPNet().train()
    x = torch.rand(1, 1, 4, 4)
    assert CAM(tiny)(x).maps.shape == (1, 4, 4) and tiny.training
    with pytest.raises(ConfigError, match="class index out of range 0..1"):
        GradCAM(tiny)(x, target=2)
    with pytest.raises(ConfigError, match="'nope' is not a module"):
        explain_all(model, faces, layer="nope")
