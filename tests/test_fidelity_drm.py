"""DrM against the authors' code (github.com/XuGW-Kevin/DrM @ 317116a0), without it.

``scripts/fidelity/drm.py --reference PATH`` compares our update with the reference's on the
same weights, batches and draws, perturbations and the awakening included
(docs/fidelity.md#drm). This test keeps golden values recorded from that run.
"""

import pytest
import torch

from dormant.agents.drm import DrMAgent
from dormant.config import AgentConfig, DrMConfig
from helpers import GOLDEN_REL
from test_fidelity_drqv2 import checksum, fidelity_run

# Recorded with: scripts/fidelity/drm.py --reference PATH --updates 10 --batch 16 --hidden-dim 64
#   --perturb-every 4 --awaken-after 0 (seed 1, updates at agent steps 2100, 2102, …): a
#   perturbation at updates 0, 2, 4, 6, 8 (the first with β = 1, α = 0.2) and the awakening at
#   update 0. The reference gave the same β and the same losses to ≤ 1e-5 relative.
GOLDEN_CRITIC_LOSS = [6.52457237, 3.01627493, 6.9030304]
GOLDEN_V_LOSS = [0.00451031793, 0.0587309413, 0.0019880766]
GOLDEN_BETA_0 = 28 / 184  # 28 dormant of the actor's 50 + 64 + 64 + 6 Linear outputs
GOLDEN_CHECKSUM_10 = 155.3412097  # Σ of every encoder, actor, critic and V tensor after 10 updates


def seed_fresh_draws(monkeypatch, agent):
    """The script's alignment of a perturbation's fresh draws: the generator is seeded
    before each network's draw (per network) and after the last one (V)."""
    import dormant.plasticity.surgery as surgery

    offset = {id(agent.actor): 1, id(agent.critic): 2, id(agent.critic_target): 3, id(agent.value): 5}
    original, state = surgery.fresh_copy, {"seed": 0}

    def fresh_copy(model, init_fn=None):
        torch.manual_seed(state["seed"] + offset[id(model)])
        copy = original(model, init_fn)
        if model is agent.value:
            torch.manual_seed(state["seed"] + 99)
        return copy

    monkeypatch.setattr(surgery, "fresh_copy", fresh_copy)
    return lambda update_seed: state.update(seed=update_seed * 1000)


def test_golden_values_of_the_side_by_side_run(monkeypatch):
    cfg = AgentConfig(feature_dim=50, hidden_dim=64, num_expl_steps=2099, stddev_schedule="linear(1.0,0.1,200)")
    torch.manual_seed(1)
    agent = DrMAgent(
        (9, 84, 84),
        6,
        cfg,
        pixels=True,
        device=torch.device("cpu"),
        action_repeat=2,
        drm=DrMConfig(perturb_every_frames=8),
    )
    metrics = fidelity_run(agent, 10, before_update=seed_fresh_draws(monkeypatch, agent), probe=False)
    assert [m["critic_loss"] for m in metrics[:3]] == pytest.approx(GOLDEN_CRITIC_LOSS, rel=GOLDEN_REL)
    assert [m["v_loss"] for m in metrics[:3]] == pytest.approx(GOLDEN_V_LOSS, rel=GOLDEN_REL)
    assert metrics[0]["dormant_ratio"] == pytest.approx(GOLDEN_BETA_0, rel=GOLDEN_REL)
    assert metrics[0]["perturb_alpha"] == pytest.approx(0.2)  # β = 1 before the first update
    assert agent.awaken_step.item() == 2100 and agent.perturbs_done == 5
    assert checksum(agent, ("encoder", "actor", "critic", "value")) == pytest.approx(GOLDEN_CHECKSUM_10, rel=GOLDEN_REL)
