from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from affectlab.explain import (
    ActivationMaps,
    GradCAM,
    GuidedBackprop,
    GuidedGradCAM,
    activation_maps,
    explain_all,
    first_layer_filters,
)
from affectlab.models import AffectNet, ModelConfig, create_model
from tests.explain.explain_nets import hook_count


class TwoLayer(AffectNet):
    """flatten -> W1 -> ReLU -> W2: guided backprop is W1^T [(W1 x > 0)(r > 0) r] with r = W2[c]."""

    def __init__(self) -> None:
        super().__init__(ModelConfig(name="two", input_size=(2, 2), mean=(0.0,), std=(1.0,),
                                     class_names=("a", "b"), cam_layer="relu"))
        self.fc1 = nn.Linear(4, 5, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(5, 2, bias=False)

    def forward_features(self, x):
        return self.relu(self.fc1(x.flatten(1)))[:, :, None, None]

    def forward_head(self, f):
        return self.fc2(f.flatten(1))


def test_guided_backprop_equals_hand_computed_rule():
    torch.manual_seed(3)
    model = TwoLayer()
    x = torch.rand(3, 1, 2, 2)
    out = GuidedBackprop(model)(x, target=1)
    W1, r = model.fc1.weight.detach().numpy(), model.fc2.weight.detach().numpy()[1]
    pre = x.flatten(1).numpy() @ W1.T
    expected = ((pre > 0) * (r > 0) * r) @ W1
    np.testing.assert_allclose(out.raw.reshape(3, 4), expected, rtol=1e-5, atol=1e-7)
    plain = (pre > 0) * r @ W1  # ordinary gradient differs where r < 0
    assert not np.allclose(expected, plain)
    assert hook_count(model) == 0


def test_guided_gradcam_is_the_product_and_targets_agree():
    model = create_model("mini_xception", pretrained=True)
    x = torch.rand(2, 1, 48, 48, generator=torch.Generator().manual_seed(4))
    with GuidedGradCAM(model) as ggc:
        out = ggc(x)
    gb = GuidedBackprop(model)(x, out.targets)
    cam = GradCAM(model)(x, out.targets)
    heat = torch.nn.functional.interpolate(torch.from_numpy(cam.raw)[:, None], size=(48, 48), mode="bilinear",
                                           align_corners=False)
    np.testing.assert_allclose(out.raw, gb.raw * heat.numpy(), rtol=1e-4, atol=1e-7)
    assert out.maps.shape == (2, 48, 48) and 0 <= out.maps.min() and out.maps.max() <= 1
    assert hook_count(model) == 0
    both = explain_all(model, x)
    assert both["gradcam"].targets.tolist() == out.targets.tolist()
    np.testing.assert_allclose(both["guided_gradcam"].raw, out.raw, rtol=1e-4, atol=1e-7)


def test_first_layer_filters_and_activation_maps():
    model = create_model("mini_xception", pretrained=True)
    filters = first_layer_filters(model)
    assert np.array_equal(filters, model.stem[0].weight.detach().numpy())
    x = torch.rand(2, 1, 48, 48)
    with ActivationMaps(model, ["blocks", "stem"]) as grab:
        assert hook_count(model) == 2
        maps = grab(x)
    assert hook_count(model) == 0
    with torch.no_grad():
        np.testing.assert_allclose(maps["blocks"], model.eval().forward_features(model.normalize(x)).numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert activation_maps(model, x, "stem").shape == (2, 8, 44, 44)


def test_activation_maps_refuse_a_vector_layer():
    from affectlab.errors import ModelError

    model = TwoLayer()
    with pytest.raises(ModelError, match="layer 'fc1' does not output"):
        ActivationMaps(model, "fc1")(torch.rand(1, 1, 2, 2))
    assert hook_count(model) == 0
