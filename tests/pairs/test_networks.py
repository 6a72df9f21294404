"""DiffCNN / CompCNN: weight sharing, comparison layer identities, shapes and names."""

from __future__ import annotations

import pytest
import torch

from affectlab.errors import ConfigError
from affectlab.pairs import (
    PAIR_MODELS,
    ComparisonLayer,
    CompCNN,
    DiffCNN,
    build_pair_network,
)

SMALL = {"channels": (3, 4, 5), "fc": (8, 6), "input_size": (16, 16)}


def _pairs(n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 2, 16, 16, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", PAIR_MODELS)
def test_every_model_shapes(name):
    net = build_pair_network(name, **SMALL).eval()
    x = _pairs()
    assert net(x).shape == (4, 2)
    assert net.second_fc(x).shape == (4, 6)
    assert (net.second_fc(x) >= 0).all()  # after ReLU
    assert net.config.class_names == ("posed", "spontaneous") and net.config.channels == 2
    assert dict(net.named_modules())[net.config.cam_layer].__class__ is torch.nn.Conv2d


@pytest.mark.parametrize("position", [1, 2, 3])
def test_paths_share_weights(position):
    net = CompCNN("sub", position, **SMALL).eval()
    convs_before = [m for m in net.shared.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs_before) == position  # one set of conv weights for both paths
    x = net.normalize(_pairs())
    apex_maps, onset_maps = net.paths(x)
    swapped_apex, swapped_onset = net.paths(x.flip(1))  # onset <-> apex
    torch.testing.assert_close(swapped_apex, onset_maps)
    torch.testing.assert_close(swapped_onset, apex_maps)
    # changing the one shared weight tensor changes both paths
    with torch.no_grad():
        convs_before[0].weight.add_(0.5)
    new_apex, new_onset = net.paths(x)
    assert not torch.allclose(new_apex, apex_maps) and not torch.allclose(new_onset, onset_maps)
    # both paths send gradients into the same parameters
    net.zero_grad()
    a, _ = net.paths(x)
    a.sum().backward()
    grad_apex_only = convs_before[0].weight.grad.clone()
    net.zero_grad()
    a, o = net.paths(x)
    (a.sum() + o.sum()).backward()
    assert not torch.allclose(convs_before[0].weight.grad, grad_apex_only)


@pytest.mark.parametrize("position", [1, 2, 3])
@pytest.mark.parametrize("training", [False, True])
def test_sub_with_identical_inputs_gives_zero_maps(position, training):
    net = CompCNN("sub", position, **SMALL).train(training)
    image = torch.rand(3, 1, 16, 16)
    z = net.comparison_maps(torch.cat([image, image], 1))
    assert z.shape[1] == SMALL["channels"][position - 1]
    assert torch.count_nonzero(z) == 0  # in training too: the paths share their dropout masks
    if training:  # ...but dropout is really active
        a1, _ = net.paths(net.normalize(torch.cat([image, image], 1)))
        a2, _ = net.paths(net.normalize(torch.cat([image, image], 1)))
        assert not torch.equal(a1, a2)


def test_comparison_layer_hand_computed():
    x = torch.tensor([[[[1.0]], [[2.0]]]])  # (1, 2, 1, 1)
    y = torch.tensor([[[[3.0]], [[-1.0]]]])
    sub = ComparisonLayer("sub", 2)
    assert sub(x, y).flatten().tolist() == [0.0, 3.0]  # relu([1 - 3, 2 + 1])
    comb = ComparisonLayer("comb", 2)
    with torch.no_grad():
        comb.weight_x.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, -1.0]]).view(2, 2, 1, 1))
        comb.weight_y.weight.copy_(torch.tensor([[0.5, 0.0], [2.0, 1.0]]).view(2, 2, 1, 1))
    # A x = [3, -2]; B y = [1.5, 5]; relu(sum) = [4.5, 3]
    assert comb(x, y).flatten().tolist() == [4.5, 3.0]
    assert sum(p.numel() for p in comb.parameters()) == 2 * 2 * 2  # C x C for each input
    with pytest.raises(ValueError):
        sub.init_as_subtraction()


@pytest.mark.parametrize("position", [1, 2, 3])
def test_comb_initialised_to_identity_minus_identity_equals_sub(position):
    torch.manual_seed(0)
    sub = CompCNN("sub", position, **SMALL).eval()
    comb = CompCNN("comb", position, comb_init="subtraction", **SMALL).eval()
    missing, unexpected = comb.load_state_dict(sub.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("compare.") for k in missing)
    x = _pairs(5, seed=1)
    torch.testing.assert_close(comb.comparison_maps(x), sub.comparison_maps(x))
    torch.testing.assert_close(comb(x), sub(x))
    random = CompCNN("comb", position, comb_init="random", **SMALL).eval()
    random.load_state_dict(sub.state_dict(), strict=False)
    assert not torch.allclose(random.comparison_maps(x), sub.comparison_maps(x))


def test_diffcnn_sees_only_the_difference():
    net = DiffCNN(**SMALL).eval()
    x = _pairs() * 0.5
    shifted = x + 0.3  # same difference, brighter images
    torch.testing.assert_close(net(shifted), net(x))
    assert not torch.allclose(net(x.flip(1)), net(x))


def test_dropout_rates_follow_the_method():
    net = CompCNN("comb", 2, **SMALL)
    rates = [m.p for part in (net.shared, net.rest, net.head) for m in part.modules()
             if isinstance(m, torch.nn.Dropout)]
    assert rates == [0.05, 0.15, 0.25, 0.5, 0.25]


def test_bad_names_and_sizes():
    with pytest.raises(ConfigError, match="unknown"):
        build_pair_network("CompCNN-Sub@4")
    with pytest.raises(ConfigError, match="channels"):
        build_pair_network("DiffCNN", channels=(4, 4))
    assert build_pair_network("compcnn-comb@1", **SMALL).config.name == "CompCNN-Comb@1"
