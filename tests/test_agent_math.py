"""DrQ-v2 agent arithmetic on a tiny state-based agent."""

import numpy as np
import pytest
import torch

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig
from dormant.nets import StateEncoder

OBS_DIM, ACTION_DIM = 5, 2


def tiny_agent(**overrides):
    torch.manual_seed(0)
    cfg = AgentConfig(hidden_dim=32, feature_dim=8, **overrides)
    return DrQV2Agent((OBS_DIM,), ACTION_DIM, cfg, pixels=False, device=torch.device("cpu"))


def fill_(module, value):
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(value)


def set_actor_output_bias(agent, bias):
    """Zero the last policy layer's weights so the pre-tanh mean is exactly `bias`."""
    last = agent.actor.policy[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(bias))


def test_agent_uses_state_encoder_and_tau():
    agent = tiny_agent()
    assert isinstance(agent.encoder, StateEncoder)
    assert agent.encoder_opt is None  # identity encoder: nothing to optimise
    assert agent.cfg.critic_target_tau == 0.01
    assert all(not p.requires_grad for p in agent.critic_target.parameters())


def test_update_target_is_polyak():
    agent = tiny_agent()
    fill_(agent.critic, 1.0)
    fill_(agent.critic_target, 3.0)
    actor_before = [p.clone() for p in agent.actor.parameters()]
    agent.update_target()
    # 0.99·3 + 0.01·1 = 2.97 + 0.01 = 2.98
    for p in agent.critic_target.parameters():
        assert torch.allclose(p, torch.full_like(p, 2.98), atol=1e-6)
    agent.update_target()
    # 0.99·2.98 + 0.01·1 = 2.9502 + 0.01 = 2.9602
    for p in agent.critic_target.parameters():
        assert torch.allclose(p, torch.full_like(p, 2.9602), atol=1e-6)
    for p in agent.critic.parameters():  # the online critic is untouched
        assert torch.all(p == 1.0)
    for before, p in zip(actor_before, agent.actor.parameters(), strict=True):
        assert torch.equal(before, p)


def test_update_target_covers_every_critic_tensor():
    agent = tiny_agent(critic_target_tau=0.5)
    fill_(agent.critic, 2.0)
    fill_(agent.critic_target, 0.0)
    agent.update_target()
    # τ = 0.5: 0.5·0 + 0.5·2 = 1 for trunk (Linear, LayerNorm) and both heads
    names = [n for n, _ in agent.critic_target.named_parameters()]
    assert any(n.startswith("trunk.1") for n in names)  # LayerNorm included
    assert any(n.startswith("q1") for n in names) and any(n.startswith("q2") for n in names)
    for p in agent.critic_target.parameters():
        assert torch.all(p == 1.0)


def test_act_eval_returns_tanh_mean_deterministically():
    agent = tiny_agent(stddev_schedule="1.0")
    set_actor_output_bias(agent, [0.5, -2.0])
    # mean = tanh(0.5), tanh(−2) = 0.46211716, −0.96402758 whatever the observation
    want = np.array([0.46211716, -0.96402758], np.float32)
    rng = np.random.default_rng(0)
    outs = [
        agent.act(rng.normal(size=OBS_DIM).astype(np.float32), step, eval_mode=True) for step in (0, 10, 10**6)
    ]  # even inside the exploration period
    for out in outs:
        assert out.shape == (ACTION_DIM,) and out.dtype == np.float32
        assert np.allclose(out, want, atol=1e-6)
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[1], outs[2])


def test_act_explores_uniformly_then_samples_policy():
    agent = tiny_agent(num_expl_steps=100, stddev_schedule="0.0")
    set_actor_output_bias(agent, [0.5, -2.0])
    obs = np.zeros(OBS_DIM, np.float32)
    torch.manual_seed(1)
    early = np.stack([agent.act(obs, step % 100, eval_mode=False) for step in range(400)])
    # uniform on [−1, 1]: inside the box, spread across it, mean ≈ 0 (σ/√400 ≈ 0.03)
    assert np.all(early >= -1.0) and np.all(early <= 1.0)
    assert early.min() < -0.9 and early.max() > 0.9
    assert np.all(np.abs(early.mean(axis=0)) < 0.15)
    assert len(np.unique(early)) == early.size  # not the (deterministic) policy
    # from step num_expl_steps on, σ = 0 gives the policy mean tanh(b)
    late = agent.act(obs, 100, eval_mode=False)
    assert np.allclose(late, [0.46211716, -0.96402758], atol=1e-6)


def test_act_noise_is_not_clipped():
    agent = tiny_agent(num_expl_steps=0, stddev_schedule="1e6")
    set_actor_output_bias(agent, [0.0, 0.0])
    obs = np.zeros(OBS_DIM, np.float32)
    torch.manual_seed(0)
    outs = np.stack([agent.act(obs, 5, eval_mode=False) for _ in range(50)])
    # acting samples without the 0.3 noise clip: huge σ saturates at ±(1 − 1e−6)
    assert np.allclose(np.abs(outs), 1.0 - 1e-6)


def test_target_q_is_reward_plus_discount_times_min(monkeypatch):
    agent = tiny_agent()
    seen = {}

    def fake_target(next_h, next_action):
        seen["h"], seen["a"] = next_h, next_action
        n = next_h.shape[0]
        return torch.full((n, 1), 2.0), torch.full((n, 1), 5.0)

    monkeypatch.setattr(agent, "_target_fwd", fake_target)
    next_h = torch.randn(3, OBS_DIM)
    reward = torch.tensor([[1.0], [0.5], [-1.0]])
    discount = torch.tensor([[0.9], [0.0], [0.99]])
    target = agent.target_q(next_h, reward, discount, std=0.2)
    # min(2, 5) = 2:  1 + 0.9·2 = 2.8;  0.5 + 0·2 = 0.5;  −1 + 0.99·2 = 0.98
    assert torch.allclose(target, torch.tensor([[2.8], [0.5], [0.98]]))
    assert not target.requires_grad
    assert torch.equal(seen["h"], next_h)
    # a' ~ π(next_obs; σ, clip): within stddev_clip = 0.3 of the actor's mean
    with torch.no_grad():
        mean = agent.actor(next_h)
    assert seen["a"].shape == (3, ACTION_DIM)
    assert torch.all((seen["a"] - mean).abs() <= 0.3 + 1e-6)


def test_target_q_uses_clipped_noise(monkeypatch):
    agent = tiny_agent()
    set_actor_output_bias(agent, [0.0, 0.0])  # mean tanh(0) = 0
    seen = {}

    def fake_target(next_h, next_action):
        seen["a"] = next_action
        return torch.zeros(next_h.shape[0], 1), torch.zeros(next_h.shape[0], 1)

    monkeypatch.setattr(agent, "_target_fwd", fake_target)
    agent.target_q(torch.randn(64, OBS_DIM), torch.zeros(64, 1), torch.ones(64, 1), std=1e6)
    # huge σ: every component of a' is exactly ±clip = ±0.3
    assert torch.allclose(seen["a"].abs(), torch.full((64, ACTION_DIM), 0.3))


def random_batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": torch.randn(n, OBS_DIM, generator=g),
        "action": torch.rand(n, ACTION_DIM, generator=g) * 2 - 1,
        "reward": torch.rand(n, 1, generator=g),
        "discount": torch.full((n, 1), 0.99**3),
        "next_obs": torch.randn(n, OBS_DIM, generator=g),
    }


def test_update_returns_finite_metrics_and_changes_critic():
    agent = tiny_agent(stddev_schedule="linear(1.0,0.1,100)")
    critic_before = [p.clone() for p in agent.critic.parameters()]
    actor_before = [p.clone() for p in agent.actor.parameters()]
    target_before = [p.clone() for p in agent.critic_target.parameters()]
    batch = random_batch()
    metrics = agent.update(batch, step=50)
    assert metrics.shape == (len(DrQV2Agent.METRICS),)
    assert torch.all(torch.isfinite(metrics))
    m = dict(zip(DrQV2Agent.METRICS, metrics.tolist(), strict=True))
    # σ at step 50 of linear(1.0, 0.1, 100): 0.5·1.0 + 0.5·0.1 = 0.55
    assert m["stddev"] == pytest.approx(0.55)
    assert m["batch_reward"] == pytest.approx(batch["reward"].mean().item(), rel=1e-6)
    # entropy of N(·, 0.55) per dim: 0.5 + 0.5 ln 2π + ln 0.55 = 0.5 + 0.91893853 − 0.59783700
    # = 0.82110153; two dims: 1.64220306
    assert m["actor_ent"] == pytest.approx(1.64220306, abs=1e-5)
    assert m["critic_loss"] >= 0
    assert any(not torch.equal(b, p) for b, p in zip(critic_before, agent.critic.parameters(), strict=True))
    assert any(not torch.equal(b, p) for b, p in zip(actor_before, agent.actor.parameters(), strict=True))
    assert any(not torch.equal(b, p) for b, p in zip(target_before, agent.critic_target.parameters(), strict=True))


def test_critic_loss_is_sum_of_two_mses(monkeypatch):
    agent = tiny_agent()
    batch = random_batch(n=4, seed=1)
    monkeypatch.setattr(agent, "target_q", lambda *a, **k: torch.full((4, 1), 1.0))
    with torch.no_grad():
        q1, q2 = agent.critic(batch["obs"], batch["action"])
    out = agent.update_critic(batch["obs"], batch["action"], batch["reward"], batch["discount"], batch["next_obs"], 0.2)
    # loss = mean((Q1 − 1)²) + mean((Q2 − 1)²), evaluated before the optimiser step
    want = ((q1 - 1.0) ** 2).mean() + ((q2 - 1.0) ** 2).mean()
    assert out["critic_loss"].item() == pytest.approx(want.item(), rel=1e-5)
    assert out["critic_target_q"].item() == pytest.approx(1.0)
