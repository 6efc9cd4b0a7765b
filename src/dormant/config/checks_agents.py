"""Checks of the options of one agent's own section (``sac.*``, ``taco.*``, ``dqn.*``) and of
what those agents can be given; ``checks.py`` runs them with the rest.
"""

from __future__ import annotations

import math

from dormant.config.schema import DISCRETE_AGENTS, Config, net_list
from dormant.errors import ConfigError, check_choice, closest


def validate_sac(cfg: Config) -> None:
    s = cfg.sac
    if cfg.env.obs != "states":
        raise ConfigError(
            "agent=sac learns from state vectors: use obs=states (it has no image encoder; "
            "drqv2, drm, alix and taco learn from pixels)"
        )
    unsupported = [
        key
        for key, on in (
            ("agent.intrinsic", cfg.agent.intrinsic != "none"),
            ("agent.bf16", cfg.agent.bf16),
            ("agent.compile", cfg.agent.compile),
            ("agent.critic_dropout", cfg.agent.critic_dropout > 0),
            ("agent.critic_layernorm", cfg.agent.critic_layernorm),
        )
        if on
    ]
    if unsupported:
        raise ConfigError(f"agent=sac does not implement {', '.join(unsupported)}; leave them at their defaults")
    if not s.init_temperature > 0 or not math.isfinite(s.init_temperature):
        raise ConfigError(f"sac.init_temperature must be > 0, got {s.init_temperature}")
    if not s.alpha_lr > 0:
        raise ConfigError(f"sac.alpha_lr must be > 0, got {s.alpha_lr}")
    if not s.log_std_min < s.log_std_max:
        raise ConfigError(f"sac.log_std_min={s.log_std_min} must be below sac.log_std_max={s.log_std_max}")
    if not (s.reward_scale > 0 and math.isfinite(s.reward_scale)):
        raise ConfigError(
            f"sac.reward_scale must be a finite number > 0 (ReDo's 0.1, the SAC paper's 1), got {s.reward_scale}"
        )
    check_choice("sac.init", s.init, ("glorot_uniform", "orthogonal"))
    check_choice("sac.alpha_sample", s.alpha_sample, ("fresh", "actor"))
    if s.target_entropy not in ("auto", "half"):
        try:
            value = float(s.target_entropy)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ConfigError(
                f"sac.target_entropy={s.target_entropy!r}{closest(s.target_entropy, ['auto', 'half'])}: "
                "expected half (−|A|/2), auto (−|A|) or a finite number"
            )


def validate_taco(cfg: Config) -> None:
    t = cfg.taco
    if cfg.agent.name == "taco" and cfg.env.obs != "pixels":
        raise ConfigError(
            "agent=taco shapes the conv encoder's representation (the authors' code is pixel-only): it needs obs=pixels"
        )
    if t.horizon < 1:
        raise ConfigError(f"taco.horizon must be ≥ 1 (K steps ahead), got {t.horizon}")
    if t.latent_action_dim < 0 or t.action_hidden_dim <= 0:
        raise ConfigError(
            f"taco.latent_action_dim must be ≥ 0 (0: ⌊1.25·action_dim⌋ + 1) and taco.action_hidden_dim "
            f"> 0, got {t.latent_action_dim} and {t.action_hidden_dim}"
        )
    for key in ("taco_weight", "curl_weight", "reward_weight"):
        value = getattr(t, key)
        if value < 0 or not math.isfinite(value):
            raise ConfigError(f"taco.{key} must be ≥ 0, got {value}")


CONTINUOUS_SUITES = ("dmc/", "metaworld/", "adroit/")


def validate_dqn(cfg: Config) -> None:
    """DQN/DrQ(ε): their options, and what a Q-network over discrete actions can be given."""
    q = cfg.dqn
    check_choice("dqn.loss", q.loss, ("huber", "mse"))
    for key, value in {"dqn.epsilon_train": q.epsilon_train, "dqn.epsilon_eval": q.epsilon_eval}.items():
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{key} must be in [0, 1], got {value}")
    for key, value in {
        "dqn.epsilon_decay_steps": q.epsilon_decay_steps,
        "dqn.target_update_updates": q.target_update_updates,
        "dqn.adam_eps": q.adam_eps,
    }.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    for key, value in {"dqn.reward_clip": q.reward_clip, "dqn.intensity": q.intensity}.items():
        if value < 0 or not math.isfinite(value):
            raise ConfigError(f"{key} must be ≥ 0, got {value}")
    if cfg.agent.name not in DISCRETE_AGENTS:
        return
    if cfg.task.startswith(CONTINUOUS_SUITES):
        raise ConfigError(
            f"agent={cfg.agent.name} acts on a Discrete action space; {cfg.task} has continuous "
            "actions (use atari/<Game> or a gym: task with Discrete actions, or a continuous agent)"
        )
    if cfg.env.proprio:
        raise ConfigError(f"env.proprio: agent={cfg.agent.name} does not fuse proprioception")
    p = cfg.plasticity
    for key in ("plasticity.redo_nets", "plasticity.reset_nets", "plasticity.shrink_perturb_nets"):
        others = [net for net in net_list(getattr(p, key.split(".")[1])) if net != "critic"]
        if others:
            raise ConfigError(
                f"{key}={','.join(others)}: agent={cfg.agent.name} has one network, its Q-network "
                "`critic` (convolutions included); name critic"
            )
