"""Intrinsic rewards (DrM's RND and frame-difference baselines) against hand-worked values,
wired into the update for any agent, checkpointed."""

import math

import pytest
import torch

from dormant.agents.drm import DrMAgent
from dormant.agents.drqv2 import DrQV2Agent
from dormant.agents.intrinsic import FrameDiffReward, RNDReward
from dormant.config import AgentConfig, ConfigError, resolve
from dormant.training.trainer import Trainer
from helpers import tiny_states
from test_training import rows


def stacked(first: float, last: float, n: int = 1) -> torch.Tensor:
    """n observations of 3 stacked 2×2 RGB frames: first frame = first, middle 0, last = last."""
    obs = torch.zeros(n, 9, 2, 2, dtype=torch.uint8)
    obs[:, :3], obs[:, 6:] = first, last
    return obs


def test_frame_difference_by_hand_and_its_running_standardisation():
    reward = FrameDiffReward()
    assert reward.raw(stacked(10, 40)).item() == 30.0  # mean |10 − 40| over every pixel of one RGB frame
    first = reward({"obs": torch.cat([stacked(10, 40), stacked(0, 0)])})  # raw 30 and 0: mean 15, std 21.213
    assert first.squeeze(1).tolist() == pytest.approx([15 / math.sqrt(450), -15 / math.sqrt(450)])
    second = reward({"obs": stacked(0, 60)})  # raw 60; running over 30, 0, 60: mean 30, std 30 (ddof 1)
    assert second.item() == pytest.approx(1.0)
    assert (reward.count.item(), reward.mean.item(), reward.m2.item()) == pytest.approx((3, 30.0, 1800.0))


def test_rnd_rewards_novelty_and_its_predictor_learns_the_frozen_target():
    torch.manual_seed(0)
    rnd = RNDReward((5,), pixels=False, lr=1e-2)
    target = [p.clone() for p in rnd.target.parameters()]
    batch = {"next_obs": torch.randn(32, 5)}
    first = rnd(batch)
    assert first.shape == (32, 1) and bool((first > 0).all()) and not first.requires_grad
    for _ in range(50):
        last = rnd(batch)
    assert last.mean() < 0.2 * first.mean()  # seen observations stop being novel
    assert rnd({"next_obs": torch.randn(32, 5) * 3}).mean() > last.mean()  # unseen ones still are
    assert all(torch.equal(a, b) for a, b in zip(target, rnd.target.parameters(), strict=True))  # f stays random
    pixels = RNDReward((9, 20, 20), pixels=True, lr=1e-4)  # DrQ-v2's encoder architecture
    assert pixels({"next_obs": torch.randint(0, 255, (4, 9, 20, 20), dtype=torch.uint8)}).shape == (4, 1)


def state_agent(cls=DrQV2Agent, **agent) -> DrQV2Agent:
    torch.manual_seed(0)
    cfg = AgentConfig(hidden_dim=16, feature_dim=8, num_expl_steps=0, **agent)
    return cls((5,), 1, cfg, pixels=False, device=torch.device("cpu"))


def batch(n=8):
    g = torch.Generator().manual_seed(3)
    return {
        "obs": torch.randn(n, 5, generator=g),
        "next_obs": torch.randn(n, 5, generator=g),
        "action": torch.rand(n, 1, generator=g) * 2 - 1,
        "reward": torch.rand(n, 1, generator=g),
        "discount": torch.full((n, 1), 0.99),
    }


def test_the_critic_target_gets_rho_times_the_intrinsic_reward():
    plain, boosted = state_agent(), state_agent(intrinsic="rnd", intrinsic_weight=0.5)
    boosted.intrinsic.forward = lambda b: torch.full_like(b["reward"], 2.0)  # a known bonus
    torch.manual_seed(7)
    base = dict(zip(plain.METRICS, plain.update(batch(), step=10).tolist(), strict=True))
    torch.manual_seed(7)
    more = dict(zip(boosted.METRICS, boosted.update(batch(), step=10).tolist(), strict=True))
    assert more["intrinsic_reward"] == 2.0 and more["batch_reward"] == base["batch_reward"]  # extrinsic logged apart
    assert more["critic_target_q"] == pytest.approx(base["critic_target_q"] + 0.5 * 2.0, abs=1e-6)
    assert "intrinsic_reward" not in plain.METRICS


def test_intrinsic_state_is_checkpointed_and_drm_keeps_both_metric_sets():
    agent = state_agent(intrinsic="rnd")
    agent.update(batch(), step=10)
    copy = state_agent(intrinsic="rnd")
    copy.load_state_dict(agent.state_dict())
    assert all(
        torch.equal(a, b)
        for a, b in zip(agent.intrinsic.predictor.parameters(), copy.intrinsic.predictor.parameters(), strict=True)
    )
    assert len(copy.intrinsic.optimizer.state) > 0  # Adam's moments came along
    drm = state_agent(DrMAgent, intrinsic="rnd")
    assert "intrinsic_reward" in drm.METRICS and any(m.startswith("dormant_ratio/") for m in drm.METRICS)
    assert drm.update(batch(), step=10).isfinite().all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"agent.intrinsic": "rdn"}, "did you mean 'rnd'"),
        ({"agent.intrinsic": "frame_diff", "obs": "states"}, "needs obs=pixels and env.frame_stack ≥ 2"),
        ({"agent.intrinsic": "frame_diff", "env.frame_stack": "1"}, "needs obs=pixels and env.frame_stack ≥ 2"),
        ({"agent.intrinsic_weight": "-1"}, "must be ≥ 0"),
    ],
)
def test_bad_intrinsic_options_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve({"task": "dmc/cartpole_balance", **overrides})


def test_a_run_with_rnd_logs_the_intrinsic_reward(tmp_path):
    Trainer(tiny_states(frames=3000, **{"agent.intrinsic": "rnd"}), tmp_path).train()
    logged = [float(r["intrinsic_reward"]) for r in rows(tmp_path / "train.csv") if r["intrinsic_reward"]]
    assert logged and all(math.isfinite(v) and v > 0 for v in logged)
