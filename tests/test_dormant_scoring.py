"""DrM's dormant ratio β scored as DrM's code scores it: after the activation a Linear
feeds, raw otherwise; decided from the structure (worked by hand)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dormant.nets import Actor, Critic, ProprioFusionTrunk
from dormant.plasticity import dormant_ratio, linear_activations

X = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def two_layer(relu: nn.Module | None = None) -> nn.Sequential:
    """Linear(2,4) → ReLU → Linear(4,1); on X the hidden pre-activations are
    n0 (1, 1), n1 (2, −2), n2 (−3, −3), n3 (0.01, 0.01); the output sums the ReLUs."""
    net = nn.Sequential(nn.Linear(2, 4), relu or nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 1.0], [2.0, -2.0], [-3.0, -3.0], [0.01, 0.01]]))
        net[0].bias.zero_()
        net[2].weight.fill_(1.0)
        net[2].bias.zero_()
    return net


def test_post_and_pre_activation_scoring_by_hand():
    net = two_layer()
    # After ReLU: scores [1, 1, 0, 0.01], mean 0.5025, threshold 0.025·0.5025 = 0.01256:
    # n2 (0) and n3 (0.01) are dormant. Output layer (raw, one neuron, 2.01 vs 0.05): alive.
    post = dormant_ratio(net, X)
    assert post.per_layer == {"0": 0.5, "2": 0.0}
    assert post.ratio == pytest.approx(2 / 5)
    # Raw outputs: scores [1, 2, 3, 0.01], mean 1.5025, threshold 0.03756: only n3.
    pre = dormant_ratio(net, X, scoring="pre_activation")
    assert pre.per_layer == {"0": 0.25, "2": 0.0}
    assert pre.ratio == pytest.approx(1 / 5)
    # ReDo's kind on the same net: post-ReLU scores / mean = [1.99, 1.99, 0, 0.0199] ≤ 0.025.
    assert dormant_ratio(net, X, kind="redo").per_layer == {"1": 0.5}


def test_in_place_activation_neither_changes_the_score_nor_the_forward_pass():
    assert dormant_ratio(two_layer(nn.ReLU(inplace=True)), X).ratio == dormant_ratio(two_layer(), X).ratio
    # A non-idempotent in-place activation shows whether the probe touched the forward tensor.
    net = two_layer(nn.LeakyReLU(0.5, inplace=True))
    expected = net(X)
    result = dormant_ratio(net, X)
    assert torch.equal(net(X), expected)
    # Leaky(0.5) outputs: n1 (2, −1) → 1.5, n2 (−1.5, −1.5) → 1.5; scores [1, 1.5, 1.5, 0.01],
    # mean 1.0025, threshold 0.02506: n3 only.
    assert result.per_layer["0"] == 0.25


def test_structure_decides_what_each_linear_feeds():
    actor = Actor(10, 2, feature_dim=4, hidden_dim=8)
    kinds = {name: type(act).__name__ if act is not None else None for name, act in linear_activations(actor).items()}
    # The trunk Linear feeds a LayerNorm (raw); the policy's hidden Linears feed ReLUs; the
    # action layer is followed by a functional tanh outside any Sequential (raw).
    assert kinds == {"trunk.0": None, "policy.0": "ReLU", "policy.2": "ReLU", "policy.4": None}
    critic = Critic(10, 2, 4, 8, dropout=0.01, layernorm=True)
    assert all(act is None for act in linear_activations(critic).values())  # Dropout/LayerNorm in between
    fused = {n: a is not None for n, a in linear_activations(ProprioFusionTrunk(10, 3, 4, 8)).items()}
    assert fused == {"image.0": False, "state.0": True, "state.2": False, "fusion.0": True, "fusion.2": False}


class FunctionalNet(nn.Module):
    """A custom module whose activation is functional: invisible to the structure."""

    def __init__(self, declare: bool):
        super().__init__()
        self.fc1 = two_layer()[0]
        self.fc2 = two_layer()[2]
        if declare:
            self.dormant_activations = {"fc1": F.relu}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


def test_a_custom_module_declares_its_activations():
    assert dormant_ratio(FunctionalNet(declare=True), X).per_layer == {"fc1": 0.5, "fc2": 0.0}
    assert dormant_ratio(FunctionalNet(declare=False), X).per_layer == {"fc1": 0.25, "fc2": 0.0}
    # A declaration overrides the structure, e.g. to score a Sequential's Linear raw.
    net = two_layer()
    net.dormant_activations = {"0": None}
    assert dormant_ratio(net, X).per_layer["0"] == 0.25
    bad = FunctionalNet(declare=False)
    bad.dormant_activations = {"fc_1": F.relu}
    with pytest.raises(ValueError, match="did you mean 'fc1'"):
        dormant_ratio(bad, X)


def test_all_zero_layer_is_not_dormant_for_drm_but_is_for_redo():
    net = two_layer()
    with torch.no_grad():
        net[0].weight.fill_(-1.0)  # every hidden ReLU output is exactly 0
    # DrM's rule: score < τ·mean with mean 0 is never true. ReDo's: 0/(0+ε) ≤ τ, all dormant.
    assert dormant_ratio(net, X).per_layer["0"] == 0.0
    assert dormant_ratio(net, X, kind="redo").per_layer == {"1": 1.0}


def test_batch_of_one_and_bad_batches():
    # One sample (1, 0): post-ReLU scores [1, 2, 0, 0.01], mean 0.7525, threshold 0.0188.
    assert dormant_ratio(two_layer(), X[:1]).per_layer == {"0": 0.5, "2": 0.0}
    with pytest.raises(ValueError, match="empty"):
        dormant_ratio(two_layer(), X[:0])
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="non-finite"):
            dormant_ratio(two_layer(), torch.tensor([[bad, 0.0], [0.0, 1.0]]))
