"""ReDo's recycle_dormant_ on networks with planted dormant neurons."""

import copy
import re

import pytest
import torch
from torch import nn

from dormant.plasticity import recycle_dormant_


def _trained_adam(net: nn.Module, x: torch.Tensor, steps: int = 3) -> torch.optim.Adam:
    """An Adam whose moments are non-zero everywhere a gradient flowed."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        net(x).pow(2).sum().backward()
        opt.step()
    return opt


def _snapshot(net: nn.Module, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    params = {n: p.detach().clone() for n, p in net.named_parameters()}
    moments = {n: {k: v.clone() for k, v in opt.state[p].items()} for n, p in net.named_parameters()}
    return params, moments


def planted_mlp() -> nn.Sequential:
    """Inputs are positive; hidden neurons 1 and 4 of layer 0 have zero weights and bias −1
    (pre-activation −1 → ReLU 0: dormant); every other hidden neuron is active."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    with torch.no_grad():
        net[0].weight.uniform_(0.5, 1.0)
        net[0].bias.fill_(0.1)
        net[0].weight[[1, 4]] = 0.0
        net[0].bias[[1, 4]] = -1.0
        net[2].weight.uniform_(0.5, 1.0)
        net[2].bias.fill_(0.1)
    return net


def test_exactly_the_planted_neurons_are_recycled_and_nothing_else_moves():
    net, x = planted_mlp(), torch.rand(32, 3) + 0.1
    opt = _trained_adam(net, x)
    before, moments_before = _snapshot(net, opt)
    out_before = net(x).detach()
    torch.manual_seed(123)
    expected_rows = copy.deepcopy(net[0])
    expected_rows.reset_parameters()  # the layer's own initialiser, same RNG draw
    torch.manual_seed(123)

    counts = recycle_dormant_(net, opt, x, tau=0.1)

    assert counts == {"0": 2, "2": 0}  # the output layer "4" is never a candidate
    dormant, live = [1, 4], [0, 2, 3, 5]
    w0, b0, w2 = net[0].weight.detach(), net[0].bias.detach(), net[2].weight.detach()
    assert torch.equal(w0[dormant], expected_rows.weight.detach()[dormant])  # re-drawn incoming rows
    assert torch.equal(w0[live], before["0.weight"][live])
    assert torch.equal(b0[dormant], torch.zeros(2)) and torch.equal(b0[live], before["0.bias"][live])
    assert torch.equal(w2[:, dormant], torch.zeros(5, 2))  # outgoing columns
    assert torch.equal(w2[:, live], before["2.weight"][:, live])
    for name in ("2.bias", "4.weight", "4.bias"):
        assert torch.equal(dict(net.named_parameters())[name].detach(), before[name]), name
    # Adam: exactly the touched entries are zero, every other moment bit-for-bit unchanged.
    state = {n: opt.state[p] for n, p in net.named_parameters()}
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(state["0.weight"][key][dormant], torch.zeros(2, 3))
        assert torch.equal(state["0.weight"][key][live], moments_before["0.weight"][key][live])
        assert torch.equal(state["0.bias"][key][dormant], torch.zeros(2))
        assert torch.equal(state["2.weight"][key][:, dormant], torch.zeros(5, 2))
        assert torch.equal(state["2.weight"][key][:, live], moments_before["2.weight"][key][:, live])
        for name in ("2.bias", "4.weight", "4.bias"):
            assert torch.equal(state[name][key], moments_before[name][key]), name
    assert all(torch.equal(state[n]["step"], moments_before[n]["step"]) for n in state)
    # The inputs only excite live neurons, so the function is unchanged, bit for bit.
    assert torch.equal(net(x), out_before)


def test_reset_step_restarts_the_count_of_touched_tensors_only():
    net, x = planted_mlp(), torch.rand(16, 3) + 0.1
    opt = _trained_adam(net, x)
    recycle_dormant_(net, [opt], x, reset_step=True)
    steps = {n: float(opt.state[p]["step"]) for n, p in net.named_parameters()}
    assert steps["0.weight"] == steps["0.bias"] == steps["2.weight"] == 0.0
    assert steps["2.bias"] == steps["4.weight"] == 3.0


def test_a_network_without_dormant_neurons_is_untouched():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].bias.fill_(0.0)
    before = copy.deepcopy(net.state_dict())
    assert recycle_dormant_(net, None, torch.rand(8, 3) + 0.1) == {"0": 0}
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


class ConvNet(nn.Module):
    """conv(2→3) → ReLU → conv(3→4) → ReLU → flatten → Linear → ReLU → Linear."""

    def __init__(self):
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Conv2d(3, 4, 3), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(4 * 3 * 3, 5), nn.ReLU(), nn.Linear(5, 1))

    def forward(self, x):
        return self.head(self.convs(x).flatten(1))


def planted_convnet() -> ConvNet:
    torch.manual_seed(1)
    net = ConvNet()
    with torch.no_grad():
        for conv in (net.convs[0], net.convs[2]):
            conv.weight.uniform_(0.0, 0.3)
            conv.bias.fill_(0.05)
        net.convs[0].weight[1] = 0.0  # channel 1 of the first conv: dormant
        net.convs[0].bias[1] = -1.0
        net.convs[2].weight[2] = 0.0  # channel 2 of the second conv: dormant (feeds the flatten)
        net.convs[2].bias[2] = -1.0
        net.head[0].weight.uniform_(0.1, 0.5)
        net.head[0].bias.fill_(0.1)
    return net


def test_conv_channels_map_to_next_conv_channels_and_flattened_columns():
    net, x = planted_convnet(), torch.rand(8, 2, 7, 7)
    opt = _trained_adam(net, x)
    before, moments_before = _snapshot(net, opt)
    out_before = net(x).detach()

    counts = recycle_dormant_(net, opt, x, tau=0.1)

    assert counts == {"convs.0": 1, "convs.2": 1, "head.0": 0}
    conv0, conv2, fc = net.convs[0].weight.detach(), net.convs[2].weight.detach(), net.head[0].weight.detach()
    assert not torch.equal(conv0[1], torch.zeros_like(conv0[1]))  # re-drawn
    assert torch.equal(conv0[[0, 2]], before["convs.0.weight"][[0, 2]])
    # conv → conv: input channel 1 is zeroed in every output channel but the recycled one,
    # whose whole incoming kernel (channel 1 included) is a fresh draw.
    assert torch.equal(conv2[[0, 1, 3], 1], torch.zeros(3, 3, 3))
    assert torch.equal(conv2[:, [0, 2]][[0, 1, 3]], before["convs.2.weight"][:, [0, 2]][[0, 1, 3]])
    # conv → flatten → Linear: channel 2 owns columns 2·9 … 3·9 − 1 (NCHW order).
    owned = list(range(18, 27))
    others = [i for i in range(36) if i not in owned]
    assert torch.equal(fc[:, owned], torch.zeros(5, 9))
    assert torch.equal(fc[:, others], before["head.0.weight"][:, others])
    state = opt.state[net.head[0].weight]
    assert torch.equal(state["exp_avg"][:, owned], torch.zeros(5, 9))
    assert torch.equal(state["exp_avg"][:, others], moments_before["head.0.weight"]["exp_avg"][:, others])
    assert torch.equal(net(x), out_before)


def test_the_models_output_activations_are_never_recycled():
    encoder = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU())
    with torch.no_grad():
        encoder[0].weight.fill_(1.0)
        encoder[2].weight.zero_()  # all of the last layer's neurons dead: still not recycled
    assert recycle_dormant_(encoder, None, torch.rand(4, 3)) == {"0": 0}
    assert torch.equal(encoder[2].weight, torch.zeros(4, 4))


class CatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        self.b = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU())
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return self.out(torch.cat([self.a(x), self.b(x)], dim=-1))


def test_untraceable_wiring_is_refused_not_guessed():
    net = CatNet()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError, match=re.escape("cannot trace where the activations of 'a.0' go")):
        recycle_dormant_(net, None, torch.rand(4, 3))
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # nothing changed
    assert set(recycle_dormant_(net, None, torch.rand(4, 3), layers=["b.0"])) == {"b.0"}
    with pytest.raises(ValueError, match="no recyclable layer named"):
        recycle_dormant_(net, None, torch.rand(4, 3), layers=["out"])
    with pytest.raises(ValueError, match="tau"):
        recycle_dormant_(net, None, torch.rand(4, 3), tau=1.5)


def test_incoming_rows_are_drawn_before_outgoing_columns_are_zeroed():
    """Both of ReDo's implementations re-draw every layer's incoming weights first, then zero
    every outgoing weight: a weight from a recycled neuron into a recycled neuron ends at 0
    (drawing layer by layer would leave it re-drawn)."""
    net = planted_mlp()
    with torch.no_grad():  # neuron 3 of the second hidden layer dormant too
        net[2].weight[3] = 0.0
        net[2].bias[3] = -1.0
    x = torch.rand(8, 3)
    opt = _trained_adam(net, x)
    counts = recycle_dormant_(net, opt, x, tau=0.1)
    assert counts == {"0": 2, "2": 1}
    assert net[2].weight[3].abs().sum() > 0  # re-drawn row …
    assert net[2].weight[3, [1, 4]].abs().sum() == 0  # … but its entries from recycled neurons are zero


def test_bias_moments_can_be_kept_as_dopamines_recycler_keeps_them():
    net = planted_mlp()
    x = torch.rand(8, 3)
    with torch.no_grad():
        net[0].bias[[1, 4]] = 0.2  # briefly active, so the dormant neurons' biases get Adam moments
    opt = _trained_adam(net, x)
    with torch.no_grad():
        net[0].bias[[1, 4]] = -1.0
    before = opt.state[net[0].bias]["exp_avg"].clone()
    assert before[[1, 4]].abs().min() > 0
    recycle_dormant_(net, opt, x, tau=0.1, reset_bias_moments=False)
    assert torch.equal(opt.state[net[0].bias]["exp_avg"], before)
    assert opt.state[net[0].weight]["exp_avg"][[1, 4]].abs().sum() == 0  # the kernel's still are
