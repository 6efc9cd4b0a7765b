"""Agents by name. New agents compose DrQ-v2's pieces; they are not forks of it.

An agent is a plain class with ``act`` and ``update`` (``dormant.interfaces.Agent``);
exposing its networks (``PlasticAgent``) gives it every plasticity diagnostic and
intervention by configuration.
"""

from __future__ import annotations

import torch

from dormant.agents.alix import ALIXAgent
from dormant.agents.dqn import DQNAgent, DrQEpsAgent
from dormant.agents.drm import DrMAgent
from dormant.agents.drqv2 import DrQV2Agent
from dormant.agents.sac import SACAgent
from dormant.agents.taco import TACOAgent
from dormant.config import Config
from dormant.config.schema import AGENT_SECTIONS, DISCRETE_AGENTS
from dormant.errors import ConfigError
from dormant.interfaces import Env, PlasticAgent

AGENT_CLASSES = {"drqv2": DrQV2Agent, "drm": DrMAgent, "alix": ALIXAgent, "taco": TACOAgent, "sac": SACAgent,
                 "dqn": DQNAgent, "drq_eps": DrQEpsAgent}


def make_agent(cfg: Config, obs_shape: tuple[int, ...], action_dim: int, *, device: torch.device,
               proprio_dim: int = 0, num_actions: int = 0) -> PlasticAgent:
    """The agent a resolved config names, for an environment's observation/action shapes
    (``proprio_dim`` > 0: proprioception fused into every head; ``num_actions`` > 0: the
    env's actions are Discrete, which only the discrete agents take)."""
    if (cfg.agent.name in DISCRETE_AGENTS) != (num_actions > 0):
        continuous = ", ".join(name for name in AGENT_CLASSES if name not in DISCRETE_AGENTS)
        raise ConfigError(f"agent={cfg.agent.name} and task={cfg.task} disagree: the task has "
                          + (f"{num_actions} discrete actions" if num_actions else "continuous actions")
                          + f"; agents for {'them' if num_actions else 'discrete ones'}: "
                          + (", ".join(DISCRETE_AGENTS) if num_actions else continuous))
    if num_actions:
        return AGENT_CLASSES[cfg.agent.name](obs_shape, num_actions, cfg.agent, cfg.dqn,
                                             pixels=cfg.env.obs == "pixels", device=device)
    # An agent with a config section of its own gets it by the section's name (drm=cfg.drm …).
    kwargs = {section: getattr(cfg, section) for section, owner in AGENT_SECTIONS.items() if owner == cfg.agent.name}
    return AGENT_CLASSES[cfg.agent.name](obs_shape, action_dim, cfg.agent, pixels=cfg.env.obs == "pixels",
                                         device=device, action_repeat=cfg.env.action_repeat,
                                         proprio_dim=proprio_dim, **kwargs)


def agent_for_env(cfg: Config, env: Env, *, device: torch.device) -> PlasticAgent:
    """``make_agent`` for an environment's own shapes (observation, actions, proprioception)."""
    return make_agent(cfg, env.obs_shape, env.action_dim, device=device, proprio_dim=env.proprio_dim,
                      num_actions=getattr(env, "num_actions", 0))


__all__ = ["AGENT_CLASSES", "ALIXAgent", "DQNAgent", "DrMAgent", "DrQEpsAgent", "DrQV2Agent", "SACAgent",
           "TACOAgent", "agent_for_env", "make_agent"]
