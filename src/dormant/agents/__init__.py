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
from dormant.config.schema import AGENT_SECTIONS, DISCRETE_AGENTS, net_architectures, net_list
from dormant.errors import ConfigError
from dormant.interfaces import Env, PlasticAgent
from dormant.nets import NetArch
from dormant.plasticity.agent_methods import AgentMethods
from dormant.plasticity.kron import use_kron_

AGENT_CLASSES = {
    "drqv2": DrQV2Agent,
    "drm": DrMAgent,
    "alix": ALIXAgent,
    "taco": TACOAgent,
    "sac": SACAgent,
    "dqn": DQNAgent,
    "drq_eps": DrQEpsAgent,
}


def make_agent(
    cfg: Config,
    obs_shape: tuple[int, ...],
    action_dim: int,
    *,
    device: torch.device,
    proprio_dim: int = 0,
    num_actions: int = 0,
) -> PlasticAgent:
    """The agent a resolved config names, for an environment's observation/action shapes
    (``proprio_dim`` > 0: proprioception fused into every head; ``num_actions`` > 0: the
    env's actions are Discrete, which only the discrete agents take)."""
    if (cfg.agent.name in DISCRETE_AGENTS) != (num_actions > 0):
        continuous = ", ".join(name for name in AGENT_CLASSES if name not in DISCRETE_AGENTS)
        raise ConfigError(
            f"agent={cfg.agent.name} and task={cfg.task} disagree: the task has "
            + (f"{num_actions} discrete actions" if num_actions else "continuous actions")
            + f"; agents for {'them' if num_actions else 'discrete ones'}: "
            + (", ".join(DISCRETE_AGENTS) if num_actions else continuous)
        )
    arch = {net: NetArch(**fields) for net, fields in net_architectures(cfg).items()}
    if num_actions:
        agent = AGENT_CLASSES[cfg.agent.name](
            obs_shape, num_actions, cfg.agent, cfg.dqn, pixels=cfg.env.obs == "pixels", device=device, arch=arch
        )
    else:
        # An agent with a config section of its own gets it by the section's name (drm=cfg.drm …).
        kwargs = {
            section: getattr(cfg, section) for section, owner in AGENT_SECTIONS.items() if owner == cfg.agent.name
        }
        agent = AGENT_CLASSES[cfg.agent.name](
            obs_shape,
            action_dim,
            cfg.agent,
            pixels=cfg.env.obs == "pixels",
            device=device,
            action_repeat=cfg.env.action_repeat,
            proprio_dim=proprio_dim,
            arch=arch,
            **kwargs,
        )
    return attach_methods(agent, cfg)


def attach_methods(agent: PlasticAgent, cfg: Config) -> PlasticAgent:
    """The per-step plasticity methods of ``cfg.plasticity`` on ``agent``'s optimisers (KRON
    replaces them first); with none on, only θ₀ is recorded (diagnostics' weight difference)."""
    p = cfg.plasticity
    if p.optimizer == "kron":
        use_kron_(agent, lr=cfg.agent.lr, weight_decay=cfg.agent.weight_decay)
    every = [net for net in agent.networks() if any(True for _ in agent.networks()[net].parameters())]
    # every built-in agent is a ModuleAgent, which declares `methods`; the PlasticAgent seam does not ask for it
    agent.methods = AgentMethods(  # type: ignore[attr-defined]
        agent,
        l2_init=p.l2_init,
        l2_init_nets=net_list(p.l2_init_nets) or every,
        parseval=p.parseval,
        parseval_s=p.parseval_s,
        parseval_nets=net_list(p.parseval_nets) or [net for net in every if net != "encoder"],
        nap_nets=net_list(p.nap),
        trac=p.optimizer == "trac",
    )
    return agent


def agent_for_env(cfg: Config, env: Env, *, device: torch.device) -> PlasticAgent:
    """``make_agent`` for an environment's own shapes (observation, actions, proprioception)."""
    return make_agent(
        cfg,
        env.obs_shape,
        env.action_dim,
        device=device,
        proprio_dim=env.proprio_dim,
        num_actions=getattr(env, "num_actions", 0),
    )


__all__ = [
    "AGENT_CLASSES",
    "ALIXAgent",
    "DQNAgent",
    "DrMAgent",
    "DrQEpsAgent",
    "DrQV2Agent",
    "SACAgent",
    "TACOAgent",
    "agent_for_env",
    "make_agent",
]
