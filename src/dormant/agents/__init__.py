"""Agents by name. New agents compose DrQ-v2's pieces; they are not forks of it."""

from __future__ import annotations

import torch

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig

AGENT_CLASSES = {"drqv2": DrQV2Agent}


def make_agent(cfg: AgentConfig, obs_shape: tuple[int, ...], action_dim: int, *,
               pixels: bool, device: torch.device) -> DrQV2Agent:
    return AGENT_CLASSES[cfg.name](obs_shape, action_dim, cfg, pixels=pixels, device=device)


__all__ = ["AGENT_CLASSES", "DrQV2Agent", "make_agent"]
