"""The plasticity paper's experiments as configuration (Ma et al. 2024): augmentation on or
off, switched at a frame; one-shot interventions at chosen frames on chosen networks."""

import pytest
import torch

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig, ConfigError, resolve
from dormant.plasticity import reset_agent_, shrink_perturb_agent_
from dormant.training.clock import Milestones
from dormant.training.trainer import Trainer
from helpers import tiny_states
from test_training import rows


def pixel_agent(**agent) -> DrQV2Agent:
    torch.manual_seed(0)
    cfg = AgentConfig(hidden_dim=16, feature_dim=8, num_expl_steps=0, **agent)
    return DrQV2Agent((3, 20, 20), 2, cfg, pixels=True, device=torch.device("cpu"))


def frames(n=4):
    return {
        "obs": torch.randint(0, 255, (n, 3, 20, 20), dtype=torch.uint8),
        "next_obs": torch.randint(0, 255, (n, 3, 20, 20), dtype=torch.uint8),
    }


def test_augmentation_is_on_by_default_and_switches_at_the_frame():
    on = pixel_agent()
    assert on.augmenting(0) and on.augmenting(10**9)
    off_after = pixel_agent(augment_switch_frame=1000)  # action_repeat 2: frame 1000 = step 500
    assert off_after.augmenting(499) and not off_after.augmenting(500)
    on_after = pixel_agent(augment=False, augment_switch_frame=1000)
    assert not on_after.augmenting(499) and on_after.augmenting(500)


def test_without_augmentation_the_features_are_the_unshifted_frames():
    agent, batch = pixel_agent(), frames()
    torch.manual_seed(1)
    plain, _ = agent.augment_and_encode(batch, augment=False)
    assert torch.allclose(plain, agent.probe_features(batch))
    shifted, _ = agent.augment_and_encode(batch, augment=True)
    assert not torch.allclose(shifted, plain)  # the check can fail: the shift changes the features


def test_milestones_fire_once_per_point_reached_and_survive_a_checkpoint():
    clock = Milestones([100, 200, 300])
    assert [now for now in (50, 100, 150, 320, 400) if clock.due(now)] == [100, 320]  # 320 passes 200 and 300: once
    resumed = Milestones([100, 200, 300])
    resumed.load_state_dict(Milestones([100, 200, 300], done=1, count=1).state_dict())
    assert [now for now in (150, 250, 260) if resumed.due(now)] == [250]


def test_resets_and_shrink_perturb_on_chosen_networks_only():
    agent = pixel_agent()
    actor = [p.clone() for p in agent.actor.parameters()]
    encoder = [p.clone() for p in agent.encoder.parameters()]
    assert reset_agent_(agent, "all", nets=["critic"]) == ["critic"]
    assert all(torch.equal(a, b) for a, b in zip(actor, agent.actor.parameters(), strict=True))
    assert all(
        torch.equal(a, b) for a, b in zip(agent.critic.parameters(), agent.critic_target.parameters(), strict=True)
    )
    mixed = shrink_perturb_agent_(agent, 0.5, scope="all", nets=["critic", "encoder"])
    assert mixed == ["critic", "critic_target", "encoder"]
    assert all(torch.equal(a, b) for a, b in zip(actor, agent.actor.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(encoder, agent.encoder.parameters(), strict=True))
    with pytest.raises(ValueError, match="agent has no network \\['value'\\]"):
        reset_agent_(agent, "all", nets=["value"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"plasticity.reset_at_frames": "100000,50000"}, "in increasing order"),
        ({"plasticity.reset_at_frames": "1e5,abc"}, "expected frames like 100000,500000"),
        ({"plasticity.shrink_perturb_at_frames": "-5"}, "not a positive whole number"),
        ({"plasticity.reset_nets": "critc"}, "did you mean 'critic'"),
        ({"plasticity.shrink_perturb_nets": "value"}, "needs agent=drm"),
        ({"plasticity.redo_at_frames": "5000", "plasticity.redo_nets": "encoder", "obs": "states"}, "needs obs=pixels"),
        ({"agent.augment_switch_frame": "1000", "obs": "states"}, "applies to pixel observations"),
        ({"agent.augment_switch_frame": "-1"}, "must be ≥ 0"),
    ],
)
def test_bad_experiment_options_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve({"task": "dmc/cartpole_balance", **overrides})


def test_reset_only_the_critic_at_a_frame_is_one_command(tmp_path):
    cfg = tiny_states(
        frames=3000,
        **{"plasticity.reset_at_frames": "2500", "plasticity.reset_scope": "all", "plasticity.reset_nets": "critic"},
    )
    Trainer(cfg, tmp_path).train()
    events = rows(tmp_path / "events.csv")
    assert [(e["event"], e["frame"], e["detail"]) for e in events] == [("reset_all", "2500", "critic")]
