"""Audit regressions for the explanation Python API: targets, input ranges, empty batches, fooling edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectlab.errors import ConfigError
from affectlab.explain import (
    CAM,
    ActivationMaps,
    GradCAM,
    GuidedBackprop,
    explain_all,
    fool,
    resolve_targets,
)
from affectlab.identity import pair_heatmaps
from affectlab.models import create_model
from affectlab.models.siamese import siamese_vgg
from tests.explain.explain_nets import TinyGAPNet


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


def test_fool_target_equal_to_the_predicted_class_is_no_success(model, faces):
    predicted = GradCAM(model)(faces).targets
    result = fool(model, faces, target=predicted, max_steps=20)
    # before: reported success after pushing the face further into the class it already had
    assert not result.success.any()
    assert result.steps.tolist() == [0, 0]
    assert np.array_equal(result.adversarial, result.original)
    assert all(r["success"] is False and r["original_class"] == r["target"] for r in result.to_records())


def test_fool_mixed_batch_attacks_only_the_images_with_a_wrong_target(model, faces):
    predicted = GradCAM(model)(faces).targets
    other = (int(predicted[1]) + 1) % 7
    result = fool(model, faces, target=[int(predicted[0]), other], max_steps=3)
    assert result.steps[0] == 0 and not result.success[0]
    assert result.steps[1] >= 1


def test_fool_bound_zero_max_steps_zero_and_bad_types(model, faces):
    with pytest.raises(ConfigError, match="bound must lie in"):
        fool(model, faces, bound=0)
    with pytest.raises(ConfigError, match="bound must lie in"):
        fool(model, faces, bound="0.1")                     # before: TypeError
    with pytest.raises(ConfigError, match="threshold"):
        fool(model, faces, threshold="0.9")
    with pytest.raises(ConfigError, match="step_size"):
        fool(model, faces, step_size="1")
    with pytest.raises(ConfigError, match="not finite"):
        fool(model, np.full((1, 48, 48), np.nan, np.float32))
    result = fool(model, faces, max_steps=0)
    assert result.steps.tolist() == [0, 0] and result.history.shape == (2, 1)
    assert np.array_equal(result.adversarial, result.original)


def test_pair_heatmaps_refuse_mismatched_or_out_of_range_faces():
    net = siamese_vgg(hidden=8)
    a = np.zeros((2, 28, 24), np.uint8)
    with pytest.raises(ConfigError, match="one shape"):     # before: RuntimeError (count) or silent maps (size)
        pair_heatmaps(net, a, np.zeros((3, 28, 24), np.uint8))
    with pytest.raises(ConfigError, match="one shape"):
        pair_heatmaps(net, a, np.zeros((2, 30, 30), np.uint8))
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        pair_heatmaps(net, a.astype(np.float32) + 200, a.astype(np.float32))
