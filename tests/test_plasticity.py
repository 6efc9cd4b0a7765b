"""dormant.plasticity (and DrM's formulas of β) against hand-worked values."""

import math
import re

import pytest
import torch
from torch import nn

from dormant.agents.drm import awaken_stddev, expectile_loss, exploit_lambda, perturb_factor
from dormant.plasticity import dormant_ratio, fau, fresh_copy, shrink_perturb_


def test_drm_schedules_by_hand():
    assert awaken_stddev(0.2) == 0.5  # 1/(1+e^0)
    assert exploit_lambda(0.2) == pytest.approx(0.3)  # 0.6/(1+e^0)
    assert perturb_factor(0.1) == pytest.approx(0.8)  # 1 − 2·0.1
    assert awaken_stddev(0.3) == pytest.approx(1 / (1 + math.exp(-1.0)))  # (0.3−0.2)/0.1 = 1 → 0.7310586
    assert exploit_lambda(0.22) == pytest.approx(0.6 / (1 + math.exp(1.0)))  # (0.22−0.2)/0.02 = 1 → 0.1613518
    assert perturb_factor(0.5) == 0.2 and perturb_factor(0.0) == 0.9  # clipped to [α_min, α_max]
    beta = torch.tensor([0.2, 0.3])
    assert torch.allclose(awaken_stddev(beta), torch.tensor([0.5, 0.7310586]))
    assert torch.allclose(perturb_factor(torch.tensor(0.1)), torch.tensor(0.8))


def test_expectile_loss_by_hand():
    # diff = Q − V: positive where V < Q (weight 0.9), negative otherwise (weight 0.1).
    assert expectile_loss(torch.tensor([1.0, -1.0]), 0.9).item() == pytest.approx((0.9 + 0.1) / 2)
    assert expectile_loss(torch.tensor([2.0, -1.0]), 0.9).item() == pytest.approx((0.9 * 4 + 0.1 * 1) / 2)
    assert expectile_loss(torch.tensor([2.0, -1.0]), 0.7).item() == pytest.approx((0.7 * 4 + 0.3 * 1) / 2)


def planted_net() -> nn.Sequential:
    """Linear(2,4) whose outputs on x = (1, 1) are [1, 1, 0, 2], ReLU, Linear(4,1)."""
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 1.0]]))
        net[0].bias.zero_()
        net[2].weight.fill_(1.0)
        net[2].bias.zero_()
    return net


def test_drm_dormant_ratio_on_planted_neurons():
    x = torch.ones(8, 2)
    result = dormant_ratio(planted_net(), x, tau=0.025, kind="drm")
    # Layer 0 scores [1,1,0,2], mean 1: only the zeroed row is below 0.025·1.
    # The output layer's single neuron scores its own mean: not dormant. 1 of 5 neurons.
    assert result.per_layer == {"0": 0.25, "2": 0.0}
    assert result.ratio == pytest.approx(1 / 5)


def test_drm_huge_bias_makes_the_others_dormant():
    net = nn.Sequential(nn.Linear(2, 4))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
        net[0].bias.copy_(torch.tensor([1000.0, 0.0, 0.0, 0.0]))
    # scores [1000, 1, 1, 1], mean 250.75; threshold 0.025·250.75 = 6.27 → three dormant.
    assert dormant_ratio(net, torch.ones(4, 2)).ratio == pytest.approx(0.75)


def test_redo_kind_is_post_activation_hidden_only_with_conv_channels():
    x = torch.ones(8, 2)
    net = planted_net()
    with torch.no_grad():
        net[0].weight[2] = torch.tensor([-1.0, -1.0])  # pre-activation −2 → ReLU 0
    # Post-ReLU scores [1,1,0,2] normalised by their mean 1: neuron 2 ≤ 0.1; output layer excluded.
    assert dormant_ratio(net, x, tau=0.1, kind="redo").ratio == pytest.approx(0.25)
    # DrM's kind scores a Linear that feeds a ReLU after it: the −2 neuron is dead there,
    # alive (|−2|) in the literal pre-activation reading.
    assert dormant_ratio(net, x, tau=0.025, kind="drm").per_layer["0"] == 0.25
    assert dormant_ratio(net, x, tau=0.025, kind="drm", scoring="pre_activation").per_layer["0"] == 0.0
    conv = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU())
    with torch.no_grad():
        conv[0].weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        conv[0].bias.zero_()
    result = dormant_ratio(conv, torch.rand(3, 1, 5, 5) + 0.1, tau=0.1, kind="redo")
    assert result.per_layer == {"1": 0.5}  # two channels (neurons), one dead


def test_hooks_removed_and_mode_preserved_even_on_error():
    net = planted_net()
    for training in (True, False):
        net.train(training)
        dormant_ratio(net, torch.ones(2, 2))
        fau(net, torch.ones(2, 2))
        assert net.training is training
    with pytest.raises(ValueError, match="rejected the inputs"):
        dormant_ratio(net, torch.ones(2, 3))
    assert all(not m._forward_hooks for m in net.modules())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tau": 0.0}, "tau"),
        ({"tau": 1.5}, "tau"),
        ({"kind": "other"}, "kind"),
        ({"scoring": "post_activaton"}, "did you mean 'post_activation'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dormant_ratio(planted_net(), torch.ones(2, 2), **kwargs)


def test_models_without_measured_layers_are_refused():
    with pytest.raises(ValueError, match=re.escape("no nn.Linear")):
        dormant_ratio(nn.Sequential(nn.Tanh()), torch.ones(2, 2))
    with pytest.raises(ValueError, match=re.escape("no nn.ReLU")):
        fau(nn.Sequential(nn.Linear(2, 2)), torch.ones(2, 2))


def test_fau_by_hand():
    net = planted_net()
    with torch.no_grad():
        net[0].weight[2] = torch.tensor([-1.0, -1.0])
    # 4 ReLU outputs per sample, 3 positive.
    result = fau(net, torch.ones(5, 2))
    assert result.fraction == pytest.approx(0.75) and result.per_layer == {"1": 0.75}


def ln_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 3), nn.LayerNorm(3), nn.Linear(3, 1))


def test_shrink_perturb_alpha_one_is_identity_and_zero_is_the_fresh_draw():
    net = ln_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    shrink_perturb_(net, 1.0)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    torch.manual_seed(123)
    expected = fresh_copy(net).state_dict()
    torch.manual_seed(123)
    shrink_perturb_(net, 0.0)
    for key, value in net.state_dict().items():
        if key.startswith(("2.", "4.")):  # the Linear layers: exactly the fresh draw
            assert torch.equal(value, expected[key]), key
        else:  # conv and LayerNorm untouched in the reference scope
            assert torch.equal(value, before[key]), key


def test_shrink_perturb_towards_initial_and_all_scope_and_optimizer_reset():
    net = ln_net()
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 1, 3, 3)).sum().backward()
    opt.step()
    trained = {k: v.clone() for k, v in net.state_dict().items()}
    names = shrink_perturb_(net, 0.25, target="initial", initial_state=initial, scope="all", optimizers=[opt])
    assert "0.weight" in names and "3.weight" in names  # conv and LayerNorm included in scope="all"
    for key, value in net.state_dict().items():
        assert torch.allclose(value, 0.25 * trained[key] + 0.75 * initial[key]), key
    assert len(opt.state) == 0
    with pytest.raises(ValueError, match="alpha"):
        shrink_perturb_(net, 1.5)
    with pytest.raises(ValueError, match="initial_state"):
        shrink_perturb_(net, 0.5, target="initial")
