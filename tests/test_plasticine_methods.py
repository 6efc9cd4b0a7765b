"""The Plasticine methods, each on numbers worked out by hand: injection, L2 Init, Parseval,
NaP, CReLU, deep Fourier features, TRAC, effective rank, weight difference; and how the
probes score CReLU/Fourier units."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dormant.plasticity.activations import CReLU, Fourier, hidden_units
from dormant.plasticity.injection import Injected, inject_
from dormant.plasticity.metrics import dormant_tensors, fau
from dormant.plasticity.nap import project_weight_norms_, weight_norms
from dormant.plasticity.rank import effective_rank, weight_difference
from dormant.plasticity.redo import recycle_dormant_
from dormant.plasticity.regularisers import (
    add_l2_init_grad_,
    add_parseval_grad_,
    l2_init_penalty,
    parseval_layers,
    parseval_penalty,
)
from dormant.plasticity.surgery import shrink_perturb_
from dormant.plasticity.trac import TRAC, erfi


# --- plasticity injection ---------------------------------------------------------------
def _head() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_injection_leaves_the_output_unchanged_and_the_frozen_parts_never_move():
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module("trunk", nn.Linear(3, 4))
    net.add_module("head", _head())
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(16, 3)
    before = net(x).detach()
    injected = inject_(net, "head", optimizers=[opt])
    assert isinstance(net.head, Injected)
    assert (net(x).detach() - before).abs().max() <= 1e-6
    frozen = [p.detach().clone() for p in (*injected.original.parameters(), *injected.fresh_copy.parameters())]
    fresh = [p.detach().clone() for p in injected.fresh.parameters()]
    for _ in range(5):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
    after = [p.detach() for p in (*injected.original.parameters(), *injected.fresh_copy.parameters())]
    assert all(torch.equal(a, b) for a, b in zip(frozen, after, strict=True))
    assert any(not torch.equal(a, b.detach()) for a, b in zip(fresh, injected.fresh.parameters(), strict=True))
    # an intervention on the whole network leaves the frozen parts alone too
    shrink_perturb_(net, 0.5, scope="all")
    assert all(
        torch.equal(a, b)
        for a, b in zip(frozen, (*injected.original.parameters(), *injected.fresh_copy.parameters()), strict=True)
    )


def test_injection_keeps_the_input_gradient_at_injection():
    torch.manual_seed(1)
    head = _head()
    x = torch.randn(5, 4, requires_grad=True)
    head(x).sum().backward()
    expected = x.grad.clone()
    holder = nn.Module()
    holder.head = head
    inject_(holder, "head")
    x.grad = None
    holder.head(x).sum().backward()
    assert torch.allclose(x.grad, expected, atol=1e-6)


# --- L2 Init ------------------------------------------------------------------------------
def test_l2_init_penalty_and_its_gradient_by_hand():
    theta = torch.tensor([1.0, 2.0, -1.0], requires_grad=True)
    theta0 = torch.tensor([0.5, 2.0, 1.0])
    # λ‖θ − θ₀‖² = 0.1 · (0.25 + 0 + 4) = 0.425; gradient 2λ(θ − θ₀) = (0.1, 0, −0.4)
    penalty = l2_init_penalty([theta], [theta0], 0.1)
    assert penalty.item() == pytest.approx(0.425)
    penalty.backward()
    assert torch.allclose(theta.grad, torch.tensor([0.1, 0.0, -0.4]))
    theta.grad = torch.tensor([1.0, 1.0, 1.0])
    add_l2_init_grad_([theta], [theta0], 0.1)  # the same gradient, added before a step
    assert torch.allclose(theta.grad, torch.tensor([1.1, 1.0, 0.6]))


# --- Parseval -----------------------------------------------------------------------------
def test_parseval_is_zero_for_an_orthogonal_layer_with_s_its_gain_squared():
    net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 1))
    nn.init.orthogonal_(net[0].weight, gain=2.0)  # 4 × 6: rows orthonormal × 2, so WWᵀ = 4I
    assert [id(m) for m in parseval_layers(net)] == [id(net[0])]  # the output layer is not regularised
    assert parseval_penalty(net, 1.0, s=4.0).item() == pytest.approx(0.0, abs=1e-9)
    # with s = 1: ‖4I − I‖² = 4 · 9 = 36
    assert parseval_penalty(net, 1.0, s=1.0).item() == pytest.approx(36.0, rel=1e-5)


def test_parseval_gradient_by_hand():
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
    # WWᵀ = [[1, 1], [1, 2]]; with s = 1, WWᵀ − I = [[0, 1], [1, 1]]; penalty = 0 + 1 + 1 + 1 = 3
    # gradient 4(WWᵀ − I)W = 4·[[1, 1], [2, 1]] = [[4, 4], [8, 4]]
    net = nn.Sequential(layer, nn.ReLU(), nn.Linear(2, 1))
    assert parseval_penalty(net, 1.0).item() == pytest.approx(3.0)
    add_parseval_grad_([layer], 1.0)
    assert torch.equal(layer.weight.grad, torch.tensor([[4.0, 4.0], [8.0, 4.0]]))


# --- Normalize-and-Project ------------------------------------------------------------------
def test_nap_projects_each_weight_back_to_its_initial_norm():
    net = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))  # norm 5
        net[3].weight.copy_(torch.tensor([[0.6, 0.8]]))  # norm 1
    projection = weight_norms(net)
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[3].weight.copy_(torch.tensor([[3.0, 4.0]]))
        bias = net[0].bias.clone()
    project_weight_norms_(projection)
    assert torch.allclose(net[0].weight, torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
    assert torch.allclose(net[3].weight, torch.tensor([[0.6, 0.8]]))
    assert torch.equal(net[0].bias, bias)  # biases are not projected


# --- CReLU and Fourier ------------------------------------------------------------------------
def test_crelu_doubles_the_features_and_passes_every_gradient():
    x = torch.tensor([[1.5, -2.0, 0.0]], requires_grad=True)
    y = CReLU()(x)
    assert torch.equal(y, torch.tensor([[1.5, 0.0, 0.0, 0.0, 2.0, 0.0]]))
    y.sum().backward()
    # d/dx [relu(x) + relu(−x)] = sign(x): no unit with x ≠ 0 loses its gradient (a ReLU's would be 0 at −2)
    assert torch.equal(x.grad, torch.tensor([[1.0, -1.0, 0.0]]))
    assert CReLU(dim=1)(torch.ones(2, 3, 4, 4)).shape == (2, 6, 4, 4)


def test_fourier_values_by_hand():
    x = torch.tensor([[0.0, math.pi / 2, math.pi]])
    y = Fourier()(x)
    expected = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, -1.0]])
    assert torch.allclose(y, expected, atol=1e-6)


def test_concatenating_widths():
    assert hidden_units("relu", 1024) == (1024, 1024)
    assert hidden_units("crelu", 1024, "half") == (512, 1024)
    assert hidden_units("fourier", 1024, "full") == (1024, 2048)


def test_crelu_and_fourier_units_are_scored_on_their_pre_activation():
    lin = nn.Linear(2, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        lin.bias.zero_()
    x = torch.tensor([[2.0, -1.0], [-2.0, 1.0]])  # pre-activations: unit 0 ±2, unit 1 ∓1, unit 2 always 0
    for act in (CReLU(), Fourier()):
        net = nn.Sequential(lin, act, nn.Linear(6, 1))
        _, names, counts, sizes = dormant_tensors(net, x, tau=0.1, kind="redo")
        # scores mean|x| = (2, 1, 0), layer mean 1: unit 2 is dormant (0 ≤ 0.1), 1 of 3 units
        assert names == ["1"] and sizes == [3] and counts.tolist() == [1.0]
        assert fau(net, x).fraction == pytest.approx(2 / 3)  # active: x ≠ 0


def test_redo_recycles_a_crelu_unit_and_zeroes_both_of_its_columns():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), CReLU(), nn.Linear(6, 1))
    with torch.no_grad():
        net[0].weight[2].zero_()
        net[0].bias[2] = 0.0  # unit 2 is dead: pre-activation 0
    x = torch.randn(32, 2)
    before = net(x).detach()
    counts = recycle_dormant_(net, None, x, tau=0.1)
    assert counts == {"0": 1}
    assert net[2].weight[0, 2].item() == 0.0 and net[2].weight[0, 5].item() == 0.0
    assert torch.allclose(net(x), before, atol=1e-6)  # the output is unchanged


# --- TRAC -------------------------------------------------------------------------------
def test_erfi_against_known_values():
    # erfi(x) = 2/√π Σ x^(2n+1) / (n!(2n+1)); erfi(1) = 1.6504257587975428…
    values = erfi(torch.tensor([0.0, 1.0, -1.0, 0.5], dtype=torch.float64))
    assert values[0].item() == 0.0
    assert values[1].item() == pytest.approx(1.6504257587975428, rel=1e-13)
    assert values[2].item() == pytest.approx(-1.6504257587975428, rel=1e-13)
    assert values[3].item() == pytest.approx(0.6149520946965110, rel=1e-13)


def test_trac_on_a_hand_worked_two_step_sequence():
    # One parameter θ = 1, SGD with lr 1, one β = 0.5, s₀ = erfi(1/√2) (so s₀/erfi(1/√2) = 1),
    # ε = 1e-8; the gradient is 1 at both steps.
    theta = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = torch.optim.SGD([theta], lr=1.0)
    trac = TRAC(opt, betas=(0.5,), s_prev=0.9534382692512609, eps=1e-8)
    theta.grad = torch.ones(1, dtype=torch.float64)
    opt.step()
    # step 1: θ_ref = 1, x = 0, h = 0; x ← 0 + (0 − 1) = −1; v = 0; σ = 0.5·10⁻⁸ − 0;
    # s = erfi(σ / (√2·0 + 10⁻⁸)) = erfi(½) = 0.61495…; θ = 1 − s
    assert trac.scale().item() == pytest.approx(0.6149520946965110, rel=1e-12)
    assert theta.item() == pytest.approx(1 - 0.6149520946965110, rel=1e-12)
    opt.step()
    # step 2: x = (θ − 1)/(s + ε) ≈ −1, h = x·1 ≈ −1; x ← x − 1 ≈ −2; v = h² ≈ 1; σ ≈ 1;
    # s = erfi(σ / (√2·1)) ≈ erfi(1/√2) = 0.95344; θ = 1 − 2s ≈ −0.90688
    assert trac.scale().item() == pytest.approx(0.9534382692512609, rel=1e-6)
    assert theta.item() == pytest.approx(1 - 2 * 0.9534382692512609, rel=1e-6)


def test_trac_scale_follows_the_formula_on_a_sequence_with_gradients():
    # θ₀ = 0 (so the first x is 0), SGD lr 0.1, betas (0.9,), s₀ = 1e-8, ε = 1e-8 (the authors').
    theta = torch.nn.Parameter(torch.tensor([0.0, 0.0], dtype=torch.float64))
    opt = torch.optim.SGD([theta], lr=0.1)
    trac = TRAC(opt, betas=(0.9,), s_prev=1e-8, eps=1e-8)
    grads = [torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.0]), torch.tensor([-1.0, 1.0])]
    ref = torch.zeros(2, dtype=torch.float64)
    x = torch.zeros(2, dtype=torch.float64)
    s = v = 0.0
    sigma = 1e-8
    first = 1e-8 / erfi(torch.tensor(1 / math.sqrt(2), dtype=torch.float64)).item()
    for g in grads:
        g = g.double()
        theta.grad = g.clone()
        before = theta.detach().clone()
        x = (before - ref) / (s + 1e-8)
        h = float(x @ g)
        x = x + (-0.1 * g)  # SGD's step
        v = 0.81 * v + h * h
        sigma = 0.9 * sigma - h
        s = first * erfi(torch.tensor(sigma / (math.sqrt(2) * math.sqrt(v) + 1e-8), dtype=torch.float64)).item()
        expected = ref + x * max(s, 0.0)
        opt.step()
        assert trac.scale().item() == pytest.approx(s, rel=1e-12, abs=1e-300)
        assert torch.allclose(theta.detach(), expected, rtol=1e-12, atol=1e-300)


# --- effective rank and weight difference ------------------------------------------------------
def test_effective_rank_of_a_known_spectrum():
    # singular values (2, 2, 0): p = (½, ½) → exp(ln 2) = 2; (3, 1): p = (¾, ¼) → exp(H)
    assert effective_rank(torch.diag(torch.tensor([2.0, 2.0, 0.0]))).item() == pytest.approx(2.0, rel=1e-6)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert effective_rank(torch.diag(torch.tensor([3.0, 1.0]))).item() == pytest.approx(math.exp(h), rel=1e-6)
    assert effective_rank(torch.zeros(3, 3)).item() == 0.0


def test_weight_difference_by_hand():
    params = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    reference = [torch.tensor([1.0, 0.0]), torch.tensor([[0.0]])]
    # differences (0, 2, 3): ‖·‖ = √13; rms = √(13/3)
    assert weight_difference(params, reference).item() == pytest.approx(math.sqrt(13))
    assert weight_difference(params, reference, "rms").item() == pytest.approx(math.sqrt(13 / 3))
