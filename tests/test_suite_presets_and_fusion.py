"""Reference presets of every suite, the named MetaWorld preset, proprioception fusion
(networks and replay) and the reference MetaWorld critic."""

import numpy as np
import pytest
import torch
from torch import nn

from dormant.agents import make_agent
from dormant.config import PRESETS, ConfigError, resolve
from dormant.envs import task_names
from dormant.nets import Critic, ProprioFusionTrunk, weight_init
from dormant.replay import ReplayBuffer


def test_every_suite_is_listed_with_sparse_metaworld_variants():
    names = task_names()
    for name in (
        "dmc/dog_run",
        "metaworld/assembly",
        "metaworld/coffee-push-sparse",
        "adroit/door",
        "adroit/hammer",
        "adroit/pen",
        "adroit/relocate",
    ):
        assert name in names
    assert len([n for n in names if n.startswith("metaworld/")]) == 100  # 50 MT1 tasks, dense and sparse


@pytest.mark.parametrize(
    "task, agent, expected",
    [
        (
            "metaworld/assembly",
            "drm",
            {
                "frames": 2_100_000,
                "env.frame_stack": 3,
                "env.action_repeat": 2,
                "agent.lr": 1e-4,
                "agent.stddev_schedule": "linear(1.0,0.1,500000)",
                "drm.alpha_max": 0.9,
                "agent.nstep": 3,
                "agent.discount": 0.99,
            },
        ),
        ("metaworld/coffee-push-sparse", "drm", {"drm.alpha_max": 0.6}),
        ("metaworld/soccer", "drm", {"drm.alpha_max": 0.6}),
        ("adroit/door", "drm", {"frames": 6_100_000, "env.frame_stack": 1, "env.proprio": True, "drm.expectile": 0.7}),
        ("adroit/pen", "drqv2", {"env.frame_stack": 1, "env.proprio": True}),
        (
            "dmc/dog_run",
            "drm",
            {
                "frames": 30_100_000,
                "agent.lr": 8e-5,
                "agent.feature_dim": 100,
                "agent.stddev_schedule": "linear(1.0,0.1,2000000)",
                "drm.alpha_max": 0.6,
            },
        ),
        ("dmc/dog_trot", "drm", {"frames": 30_100_000, "drm.alpha_max": 0.9}),
        ("dmc/humanoid_stand", "drm", {"frames": 30_100_000, "agent.lr": 8e-5, "drm.alpha_max": 0.9}),
        ("dmc/humanoid_run", "drm", {"drm.alpha_max": 0.6}),
        ("dmc/manipulator_bring_ball", "drm", {"frames": 30_100_000, "agent.lr": 8e-5, "agent.feature_dim": 50}),
        (
            "dmc/acrobot_swingup_sparse",
            "drm",
            {"frames": 6_100_000, "agent.stddev_schedule": "linear(1.0,0.1,2000000)"},
        ),
    ],
)
def test_reference_presets(task, agent, expected):
    cfg = resolve({"task": task, "agent": agent})
    flat = {
        f"{section}.{k}": v
        for section, values in cfg.to_dict().items()
        if isinstance(values, dict)
        for k, v in values.items()
    } | {k: v for k, v in cfg.to_dict().items() if not isinstance(v, dict)}
    assert {key: flat[key] for key in expected} == expected


def test_named_metaworld_reference_preset_and_its_limits():
    cfg = resolve({"task": "metaworld/assembly", "agent": "drm", "preset": "drm-reference-metaworld"})
    assert (cfg.agent.nstep, cfg.agent.discount, cfg.drm.fixed_lambda, cfg.drm.alpha_max) == (10, 0.97, 0.5, 0.95)
    assert cfg.agent.critic_dropout == 0.01 and cfg.agent.critic_layernorm and cfg.preset == "drm-reference-metaworld"
    assert (
        resolve(
            {"task": "metaworld/assembly", "agent": "drm", "preset": "drm-reference-metaworld", "agent.nstep": 5}
        ).agent.nstep
        == 5
    )  # the user still wins
    assert set(PRESETS) == {"drm-reference-metaworld", "sac-paper"}
    with pytest.raises(ConfigError, match="did you mean 'drm-reference-metaworld'"):
        resolve({"task": "metaworld/assembly", "agent": "drm", "preset": "drm-reference-metaworl"})
    with pytest.raises(ConfigError, match="needs agent=drm"):
        resolve({"task": "metaworld/assembly", "preset": "drm-reference-metaworld"})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"task": "metaworld/assembli"}, "did you mean 'metaworld/assembly'"),
        ({"task": "adroit/dor"}, "did you mean 'adroit/door'"),
        ({"task": "metaworld/assembly", "obs": "states"}, "dmc/, gym: tasks only"),
        ({"task": "dmc/walker_walk", "env.proprio": "true"}, "needs a suite with proprioception"),
        ({"task": "adroit/door", "plasticity.redo": "true", "plasticity.redo_nets": "encoder"}, "proprioception"),
        (
            {
                "task": "metaworld/assembly",
                "agent": "drm",
                "preset": "drm-reference-metaworld",
                "plasticity.redo": "true",
            },
            "Dropout/LayerNorm",
        ),
        ({"task": "adroit/door", "env.reward_scale": "0"}, "env.reward_scale must be > 0"),
    ],
)
def test_suite_specific_bad_input(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve(overrides)


def test_reference_metaworld_critic_has_dropout_then_layernorm_after_each_hidden_linear():
    critic = Critic(40, 4, 8, 16, dropout=0.01, layernorm=True)
    kinds = [type(m).__name__ for m in critic.q1]
    assert kinds == ["Linear", "Dropout", "LayerNorm", "ReLU", "Linear", "Dropout", "LayerNorm", "ReLU", "Linear"]
    assert critic.q1[1].p == 0.01
    plain = [type(m).__name__ for m in Critic(40, 4, 8, 16).q1]
    assert plain == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_proprio_fusion_trunk_adds_state_features_to_image_features():
    torch.manual_seed(0)
    fused = ProprioFusionTrunk(30 + 6, 6, feature_dim=8, hidden_dim=16)
    fused.apply(weight_init)
    image, proprio = torch.randn(5, 30), torch.randn(5, 6)
    out = fused(torch.cat([image, proprio], 1))
    by_hand = fused.fusion(
        torch.tanh(nn.functional.layer_norm(fused.image[0](image), (8,), fused.image[1].weight, fused.image[1].bias))
        + fused.state[2](torch.relu(fused.state[0](proprio)))
    )
    torch.testing.assert_close(out, by_hand)
    assert not torch.allclose(fused(torch.cat([image, proprio + 1], 1)), out)  # the proprioception matters


@pytest.mark.parametrize("agent", ["drqv2", "drm"])
def test_agents_fuse_proprioception_into_every_head(agent):
    cfg = resolve({"task": "adroit/door", "agent": agent, "agent.hidden_dim": 32, "agent.batch_size": 4})
    model = make_agent(cfg, (3, 84, 84), 28, device=torch.device("cpu"), proprio_dim=24)
    heads = {"actor": model.actor, "critic": model.critic} | ({"value": model.value} if agent == "drm" else {})
    for net in heads.values():
        assert isinstance(net.trunk, ProprioFusionTrunk) and net.trunk.image_dim == model.encoder.repr_dim
    obs = np.random.default_rng(0).integers(0, 255, (3, 84, 84), dtype=np.uint8)
    a = model.act(obs, step=10**6, eval_mode=True, proprio=np.zeros(24, np.float32))
    b = model.act(obs, step=10**6, eval_mode=True, proprio=np.ones(24, np.float32))
    assert a.shape == (28,) and not np.allclose(a, b)
    with pytest.raises(ValueError, match="pass proprio"):
        model.act(obs, step=10**6, eval_mode=True)
    batch = {
        "obs": torch.zeros(4, 3, 84, 84, dtype=torch.uint8),
        "next_obs": torch.zeros(4, 3, 84, 84, dtype=torch.uint8),
        "action": torch.zeros(4, 28),
        "reward": torch.zeros(4, 1),
        "discount": torch.ones(4, 1),
        "proprio": torch.randn(4, 24),
        "next_proprio": torch.randn(4, 24),
    }
    metrics = model.update(batch, step=10**6)
    assert torch.isfinite(metrics).all()


def test_replay_stores_proprioception_beside_the_frame_and_samples_it_at_obs_and_next_obs():
    buffer = ReplayBuffer((3, 4, 4), np.uint8, 2, capacity=100, frame_stack=1, nstep=2, discount=0.9, proprio_dim=3)
    for t in range(6):
        buffer.add(
            np.full((3, 4, 4), t, np.uint8),
            np.zeros(2, np.float32),
            1.0,
            1.0,
            first=t == 0,
            last=t == 5,
            proprio=np.full(3, t, np.float32),
        )
    batch = buffer.sample(64)
    obs_t = batch["obs"][:, 0, 0, 0].astype(np.float32)
    np.testing.assert_array_equal(batch["proprio"][:, 0], obs_t)  # same step as obs
    np.testing.assert_array_equal(batch["next_proprio"][:, 0], obs_t + 2)  # n = 2 steps later
    with pytest.raises(ValueError, match="proprio"):
        buffer.add(np.zeros((3, 4, 4), np.uint8), np.zeros(2, np.float32), 0.0, 1.0, first=True, last=False)
    copy = ReplayBuffer((3, 4, 4), np.uint8, 2, capacity=100, frame_stack=1, nstep=2, discount=0.9, proprio_dim=3)
    copy.load_state_dict(buffer.state_dict())
    np.testing.assert_array_equal(copy.proprio[:6], buffer.proprio[:6])
    assert buffer.bytes_per_transition(5) == pytest.approx((48 + 8 + 4 + 4 + 12) * 6 / 5)
