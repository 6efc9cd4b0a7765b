"""srank, feature/weight/gradient norms, and the diagnostics row that carries them."""

import copy

import pytest
import torch
import torch.nn.functional as F

from dormant.agents.drm import DrMAgent
from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig, DrMConfig
from dormant.plasticity import agent_diagnostics
from dormant.plasticity.representation import feature_norm, singular_values, srank, total_norm, weight_norm


def matrix_with_singular_values(values, n=40, d=30, seed=0):
    """U diag(values) Vᵀ with orthonormal U (n × k) and V (d × k)."""
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(n, len(values), generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(d, len(values), generator=g, dtype=torch.float64))
    return (u * torch.tensor(values, dtype=torch.float64)) @ v.T


def test_srank_of_a_matrix_with_known_singular_values():
    # σ = 10, 5, 1, 0.01 (sum 16.01): the top 1, 2, 3 carry 62.5 %, 93.7 %, 99.94 %.
    phi = matrix_with_singular_values([10.0, 5.0, 1.0, 0.01])
    assert srank(phi).item() == 3  # δ = 0.01: 99 % needs three
    assert srank(phi, delta=0.1).item() == 2  # 90 %: two
    assert srank(phi, delta=0.5).item() == 1
    assert srank(phi.T).item() == 3  # the same matrix transposed: the same spectrum
    assert srank(matrix_with_singular_values([1.0] * 10)).item() == 10  # a flat spectrum: full rank
    assert srank(torch.zeros(8, 5)).item() == 0


def test_singular_values_from_the_gram_matrix_match_an_svd():
    for shape in ((16, 300), (300, 16)):
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(singular_values(x).float(), torch.linalg.svdvals(x), rtol=1e-4, atol=1e-4)


def test_feature_weight_and_gradient_norms_by_hand():
    assert feature_norm(torch.tensor([[3.0, 4.0], [0.0, 0.0]])).item() == 2.5  # mean of 5 and 0
    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0]]))
        layer.bias.fill_(2.0)
    assert weight_norm(layer).item() == 3.0  # √(1 + 4 + 4)
    assert total_norm([torch.tensor([3.0]), None, torch.tensor([4.0])]).item() == 5.0
    assert weight_norm(torch.nn.Identity()).item() == 0.0


def state_agent(**agent) -> DrMAgent:
    torch.manual_seed(0)
    cfg = AgentConfig(hidden_dim=32, feature_dim=8, **agent)
    return DrMAgent((5,), 2, cfg, pixels=False, device=torch.device("cpu"), drm=DrMConfig())


def batch(n=32, obs=(5,), seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = (
        (lambda: torch.randint(0, 256, (n, *obs), generator=g, dtype=torch.uint8))
        if len(obs) > 1
        else (lambda: torch.randn(n, *obs, generator=g))
    )
    return {
        "obs": frames(),
        "next_obs": frames(),
        "action": torch.rand(n, 2, generator=g) * 2 - 1,
        "reward": torch.rand(n, 1, generator=g),
        "discount": torch.full((n, 1), 0.99),
    }


def test_diagnostics_add_srank_and_norms_computed_as_defined():
    agent, b = state_agent(), batch()
    diag = agent_diagnostics(agent, b)
    h = agent.probe_features(b)
    x = torch.cat([agent.critic.trunk(h), b["action"]], dim=-1)
    with torch.no_grad():
        heads = {name: getattr(agent.critic, name)[:-1](x) for name in ("q1", "q2")}  # penultimate features
    for name, features in heads.items():
        assert diag[f"critic_srank/{name}"] == srank(features).item()
        assert diag[f"critic_feature_norm/{name}"] == pytest.approx(feature_norm(features).item())
    assert diag["critic_srank"] == pytest.approx((diag["critic_srank/q1"] + diag["critic_srank/q2"]) / 2)
    for net in ("actor", "critic", "value"):
        assert diag[f"{net}_weight_norm"] == pytest.approx(weight_norm(getattr(agent, net)).item())
    # The critic's gradient norm is that of DrQ-v2's critic loss with the target critic at
    # the actor's mean action, recomputed here by ordinary backward on a copy.
    critic = copy.deepcopy(agent.critic)
    with torch.no_grad():
        next_h = agent.probe_features({"obs": b["next_obs"]})
        target = b["reward"] + b["discount"] * torch.min(*agent.critic_target(next_h, agent.actor(next_h)))
    q1, q2 = critic(h, b["action"])
    (F.mse_loss(q1, target) + F.mse_loss(q2, target)).backward()
    expected = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in critic.parameters()]))
    assert diag["critic_grad_norm"] == pytest.approx(expected.item(), rel=1e-5)
    assert diag["actor_grad_norm"] > 0
    assert "encoder_srank" not in diag and "encoder_grad_norm" not in diag  # states: no encoder


def test_diagnostics_leave_training_untouched():
    """No .grad is written, no RNG draw is consumed (the critic has dropout, so its
    forward draws masks), and training after a diagnostics row is identical to training
    without one."""
    runs = []
    for with_diagnostics in (False, True):
        agent = state_agent(critic_dropout=0.1)
        torch.manual_seed(5)
        agent.update(batch(seed=1), step=3000)
        if with_diagnostics:
            state = torch.get_rng_state()
            grads = [p.grad.clone() for p in agent.critic.parameters()]  # left by the update
            agent_diagnostics(agent, batch(seed=2))
            assert torch.equal(state, torch.get_rng_state())
            assert all(torch.equal(g, p.grad) for g, p in zip(grads, agent.critic.parameters(), strict=True))
        agent.update(batch(seed=3), step=3002)
        runs.append([p.detach().clone() for p in agent.critic.parameters()])
    for a, b in zip(*runs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_pixel_diagnostics_measure_the_encoder_too():
    torch.manual_seed(0)
    agent = DrQV2Agent(
        (3, 32, 32), 2, AgentConfig(hidden_dim=32, feature_dim=8), pixels=True, device=torch.device("cpu")
    )
    diag = agent_diagnostics(agent, batch(16, obs=(3, 32, 32)))
    assert 1 <= diag["encoder_srank"] <= 16  # at most the batch size
    assert diag["encoder_grad_norm"] > 0 and diag["encoder_weight_norm"] > 0 and diag["encoder_feature_norm"] > 0
    short = {k: v for k, v in batch(16, obs=(3, 32, 32)).items() if k in ("obs", "action")}
    assert "critic_grad_norm" not in agent_diagnostics(agent, short)  # no reward/next_obs: no loss, no gradient
