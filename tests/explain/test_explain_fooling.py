from __future__ import annotations

import numpy as np
import pytest
import torch

from affectlab.errors import ConfigError
from affectlab.explain import DIFFERENCE_BANDS, GradCAM, difference_gray, difference_map, fool
from affectlab.models import create_model


@pytest.fixture(scope="module")
def model():
    return create_model("mini_xception", pretrained=True)


@pytest.fixture(scope="module")
def faces():
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 48 * 48).reshape(48, 48)
    return np.clip(base[None] + rng.normal(0, 30, (6, 48, 48)), 0, 255).astype(np.uint8)


def _probs(model, x):
    with torch.no_grad():
        return torch.softmax(model.eval()(torch.from_numpy(x)), 1).numpy()


@pytest.mark.parametrize("method", ["sign", "scaled"])
def test_every_pixel_within_bound_and_success_means_probability(model, faces, method):
    result = fool(model, faces, bound=0.05, max_steps=40, method=method)
    original = faces[:, None].astype(np.float32) / 255
    np.testing.assert_allclose(result.original, original, atol=1e-7)
    assert np.abs(result.delta).max() <= 0.05 + 1e-6
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    p = _probs(model, result.adversarial)[np.arange(len(faces)), result.targets]
    assert np.array_equal(result.success, p >= 0.9)  # success is judged on the returned images
    np.testing.assert_allclose(result.target_probability(), p, rtol=1e-4, atol=1e-6)
    assert result.success.any()
    assert np.all(result.targets != result.original_classes)
    assert np.all(result.steps <= 40)
    for i in range(len(faces)):
        history = result.probability_history(i)
        assert len(history) == result.steps[i] + 1
        assert history[-1] == pytest.approx(p[i], abs=1e-4)


def test_step_limit_and_tight_bound_can_fail(model, faces):
    result = fool(model, faces, bound=0.002, max_steps=3)
    assert np.abs(result.delta).max() <= 0.002 + 1e-6
    assert not result.success.all()
    failed = ~result.success
    assert np.all(result.steps[failed] == 3)
    assert np.all(result.target_probability()[failed] < 0.9)


def test_given_target_and_model_left_unchanged(model, faces):
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = fool(model, faces[:2], target=1, bound=0.15)
    assert result.targets.tolist() == [1, 1]
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()


def test_records_are_json_ready(model, faces):
    import json

    result = fool(model, faces[:2], max_steps=5)
    records = result.to_records(model.config.class_names)
    json.dumps(records)
    assert records[0]["original_class"] in model.config.class_names


def test_bad_arguments_are_clear(model, faces):
    with pytest.raises(ConfigError, match="bound"):
        fool(model, faces, bound=0)
    with pytest.raises(ConfigError, match="max_steps"):
        fool(model, faces, max_steps=-1)
    with pytest.raises(ConfigError, match="value range"):
        fool(model, faces.astype(np.float32))  # 0..255 floats are not [0, 1] pixels
    with pytest.raises(ConfigError, match="method"):
        fool(model, faces, method="fgsm")


def test_difference_bands_by_hand():
    # a 1 x 11 strip: gray values are diff / max * 255
    values = np.array([150, 151, 180, 181, 200, 201, 225, 226, 255, 0, 0], float)
    gray = difference_gray(np.zeros((1, 11)), values[None] / 255.0, scale="max")
    assert gray[0].tolist() == values.astype(int).tolist()
    # isolate each value with zeros around it so neighbours do not mix
    cases = {150: "black", 151: "gray", 180: "gray", 181: "yellow", 200: "yellow", 201: "orange",
             225: "orange", 226: "red", 255: "red"}
    colours = {name: colour for _, _, colour, name in DIFFERENCE_BANDS}
    for value, name in cases.items():
        img = np.zeros((5, 5))
        img[2, 2] = value
        img[0, 0] = 255  # fixes the scale (max = 255); its own red spreads to (0..1, 0..1) only
        rgb = difference_map(np.zeros((5, 5)), img, scale="max")
        assert tuple(rgb[2, 2]) == colours[name], value
        neighbour = tuple(rgb[3, 3])
        assert neighbour == (colours[name] if value > 150 else (0, 0, 0)), value
        assert tuple(rgb[4, 4]) == (0, 0, 0)  # two pixels away: untouched


def test_difference_map_higher_band_wins_where_neighbourhoods_meet():
    img = np.zeros((1, 5))
    img[0, 0], img[0, 2] = 255, 170  # red at 0, gray at 2: pixel 1 neighbours both
    rgb = difference_map(np.zeros((1, 5)), img / 255, scale="max")
    assert [tuple(int(v) for v in c) for c in rgb[0]] == [(255, 0, 0), (255, 0, 0), (128, 128, 128),
                                                          (128, 128, 128), (0, 0, 0)]


def test_difference_map_fixed_scale_and_errors():
    a = np.zeros((3, 3))
    b = np.full((3, 3), 0.075)
    assert difference_gray(a, b, scale=0.15).max() == 128  # half the bound
    assert difference_gray(a, a).max() == 0 and difference_map(a, a).sum() == 0
    with pytest.raises(ConfigError, match="one shape"):
        difference_map(np.zeros((3, 3)), np.zeros((3, 4)))


@pytest.mark.shared_data
def test_fooling_real_fer2013_faces(dataset_path, model):
    from affectlab.data.fer2013 import fer2013_arrays, load_fer2013
    from affectlab.models.train import predict_proba

    data = load_fer2013(dataset_path("fer2013/fer2013.csv.gz"), usage="PublicTest", limit=60)
    X, y = fer2013_arrays(data)
    correct = np.flatnonzero(predict_proba(model, X).argmax(1) == y)[:20]
    result = fool(model, X[correct])
    assert result.success.mean() >= 0.95
    assert np.abs(result.delta).max() <= 0.15 + 1e-6


def test_difference_gray_reads_channels_first_and_last_alike():
    rng = np.random.default_rng(0)
    a, b = rng.random((6, 5, 3)), rng.random((6, 5, 3))
    last = difference_gray(a, b)
    assert last.shape == (6, 5)
    assert np.array_equal(difference_gray(np.moveaxis(a, 2, 0), np.moveaxis(b, 2, 0)), last)
    assert difference_gray(a[None, :, :, 0], b[None, :, :, 0]).shape == (6, 5)  # (1, H, W), as result.original[i]
    with pytest.raises(ConfigError, match="channel axis"):
        difference_gray(np.zeros((6, 5, 7)), np.zeros((6, 5, 7)))


class TestEdgeCasesOnTwoFaces:
    """An untrained mini_xception and two random faces: these fixtures replace the module's for this class."""

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls):
        torch.manual_seed(0)
        return create_model("mini_xception").eval()

    @pytest.fixture(scope="class")
    @classmethod
    def faces(cls):
        return np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)

    def test_fool_target_equal_to_the_predicted_class_is_no_success(self, model, faces):
        predicted = GradCAM(model)(faces).targets
        result = fool(model, faces, target=predicted, max_steps=20)
        # before: reported success after pushing the face further into the class it already had
        assert not result.success.any()
        assert result.steps.tolist() == [0, 0]
        assert np.array_equal(result.adversarial, result.original)
        assert all(r["success"] is False and r["original_class"] == r["target"] for r in result.to_records())

    def test_fool_mixed_batch_attacks_only_the_images_with_a_wrong_target(self, model, faces):
        predicted = GradCAM(model)(faces).targets
        other = (int(predicted[1]) + 1) % 7
        result = fool(model, faces, target=[int(predicted[0]), other], max_steps=3)
        assert result.steps[0] == 0 and not result.success[0]
        assert result.steps[1] >= 1

    def test_fool_bound_zero_max_steps_zero_and_bad_types(self, model, faces):
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
