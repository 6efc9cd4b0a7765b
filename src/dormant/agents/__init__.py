"""Agents by name. New agents compose DrQ-v2's pieces; they are not forks of it.

An agent is a plain class with ``act`` and ``update`` (``dormant.interfaces.Agent``);
exposing its networks (``PlasticAgent``) gives it every plasticity diagnostic and
intervention by configuration.
"""

from __future__ import annotations

import torch

from dormant.agents.alix import ALIXAgent
from dormant.agents.drm import DrMAgent
from dormant.agents.drqv2 import DrQV2Agent
from dormant.agents.sac import SACAgent
from dormant.agents.taco import TACOAgent
from dormant.config import Config
from dormant.interfaces import PlasticAgent

AGENT_CLASSES = {"drqv2": DrQV2Agent, "drm": DrMAgent, "alix": ALIXAgent, "sac": SACAgent, "taco": TACOAgent}


def make_agent(cfg: Config, obs_shape: tuple[int, ...], action_dim: int, *, device: torch.device,
               proprio_dim: int = 0) -> PlasticAgent:
    """The agent a resolved config names, for an environment's observation/action shapes
    (``proprio_dim`` > 0: proprioception fused into every head)."""
    kwargs = {name: getattr(cfg, name) for name in ("drm", "alix", "sac", "taco") if cfg.agent.name == name}
    return AGENT_CLASSES[cfg.agent.name](obs_shape, action_dim, cfg.agent, pixels=cfg.env.obs == "pixels",
                                         device=device, action_repeat=cfg.env.action_repeat,
                                         proprio_dim=proprio_dim, **kwargs)


from dormant.agents.sac import SACAgent
from dormant.agents.taco import TACOAgent
from dormant.config import Config
from dormant.interfaces import PlasticAgent

AGENT_CLASSES = {"drqv2": DrQV2Agent, "drm": DrMAgent, "alix": ALIXAgent, "sac": SACAgent, "taco": TACOAgent}
