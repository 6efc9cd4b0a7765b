"""Checks of the options added for the plasticity toolkit: the Plasticine methods
(``plasticity.layernorm`` … ``inject_nets``) and continual scenarios (``continual.*``),
and the network-owner rule they share with ReDo's options (``checks.py`` runs them all).
"""

from __future__ import annotations

import importlib.util

from dormant.config.schema import ARCH_NETS, DISCRETE_AGENTS, NET_OWNERS, REDO_NETS, Config, net_list, redo_nets
from dormant.envs.continual import phases_needed, task_sequence
from dormant.errors import ConfigError, check_choice, closest


def check_net_owner(key: str, net: str, agent: str) -> None:
    """A network only one agent has (DrM's V, TACO's heads) named for another agent."""
    owner = NET_OWNERS.get(net)
    if owner is not None and agent != owner:
        raise ConfigError(f"{key}={net} needs agent={owner} (agent is {agent!r})")


# --- continual scenarios (envs/continual.py, training/continual.py) ------------------------------


def validate_continual(cfg: Config) -> None:
    """A task sequence or permuted observations need phases: their length, how they divide into
    agent steps, and a budget that reaches every task once. The tasks' spaces are compared
    later, by the registry's ``check_task`` (it builds the envs)."""
    c = cfg.continual
    tasks = task_sequence(cfg.task)
    check_choice("continual.replay", c.replay, ("keep", "reset"))
    every = c.switch_every_frames
    if every < 0:
        raise ConfigError(f"continual.switch_every_frames must be ≥ 0 (0: no switches), got {every}")
    if every == 0:
        if len(tasks) > 1:
            raise ConfigError(
                f"task={cfg.task} is a sequence of {len(tasks)} tasks: give switch_every_frames=N "
                "(frames of each phase, > 0)"
            )
        for key, on in (("continual.permute_obs=true", c.permute_obs), ("continual.replay=reset", c.replay != "keep")):
            if on:
                raise ConfigError(f"{key} acts at task switches: give switch_every_frames=N (> 0)")
        return
    if len(tasks) == 1 and not c.permute_obs:
        raise ConfigError(
            f"switch_every_frames={every}: task={cfg.task} is one task and continual.permute_obs is "
            "off, so there is nothing to switch to; list tasks (task=suite/a,suite/b), name a "
            "scenario (task=continual/walker) or set continual.permute_obs=true"
        )
    unit = cfg.env.action_repeat * cfg.env.workers
    if every % unit:
        raise ConfigError(
            f"switch_every_frames={every} must be a multiple of env.action_repeat × env.workers = {unit} "
            f"(the frames of one step of every env), so each switch falls on a step; e.g. "
            f"{max(unit, every - every % unit)}"
        )
    needed = phases_needed(cfg) * every
    if cfg.frames < needed:
        what = f"all {len(tasks)} tasks" if len(tasks) > 1 else "one switch (2 phases)"
        raise ConfigError(
            f"frames={cfg.frames} is too few for {what} at switch_every_frames={every}: "
            f"the smallest budget is frames={needed}"
        )


# --- the Plasticine methods (plasticity.layernorm … inject_nets) -------------------------------
def validate_plasticity_methods(cfg: Config) -> None:
    """The architecture, regulariser, optimiser and injection options: known networks the agent
    has, and the combinations that cannot work, refused before anything is built."""
    p, agent = cfg.plasticity, cfg.agent.name
    arch = {key: net_list(getattr(p, key)) for key in ("layernorm", "crelu", "fourier", "nap")}
    for key, nets in arch.items():
        for net in nets:
            if net not in ARCH_NETS:
                raise ConfigError(
                    f"plasticity.{key}: unknown network {net!r}{closest(net, ARCH_NETS)}; valid: {', '.join(ARCH_NETS)}"
                )
            check_net_owner(f"plasticity.{key}", net, agent)
            if net == "encoder" and cfg.env.obs != "pixels":
                raise ConfigError(f"plasticity.{key}=encoder needs obs=pixels (the state encoder is the identity)")
            if net == "encoder" and agent == "alix":
                raise ConfigError(
                    f"plasticity.{key}=encoder: ALIX's encoder applies its ReLUs between its smoothing "
                    "layers itself; change its heads only"
                )
            if net != "critic" and agent in DISCRETE_AGENTS:
                raise ConfigError(
                    f"plasticity.{key}={net}: agent={agent} has one network, its Q-network `critic` "
                    "(convolutions included); name critic"
                )
    both = sorted(set(arch["crelu"]) & set(arch["fourier"]))
    if both:
        raise ConfigError(
            f"plasticity.crelu and plasticity.fourier both name {', '.join(both)}: a network has one activation"
        )
    check_choice("plasticity.concat_width", p.concat_width, ("half", "full"))
    lists = {key: net_list(getattr(p, key)) for key in ("l2_init_nets", "parseval_nets", "inject_nets")}
    for key, nets in lists.items():
        for net in nets:
            if net not in REDO_NETS:
                raise ConfigError(
                    f"plasticity.{key}: unknown network {net!r}{closest(net, REDO_NETS)}; valid: {', '.join(REDO_NETS)}"
                )
            check_net_owner(f"plasticity.{key}", net, agent)
            if agent in DISCRETE_AGENTS and net != "critic":
                raise ConfigError(f"plasticity.{key}={net}: agent={agent} has one network, its Q-network `critic`")
    for key, value in {"plasticity.l2_init": p.l2_init, "plasticity.parseval": p.parseval}.items():
        if value < 0:
            raise ConfigError(f"{key} must be ≥ 0 (0: off), got {value}")
    if not p.parseval_s > 0:
        raise ConfigError(f"plasticity.parseval_s must be > 0, got {p.parseval_s}")
    if "encoder" in lists["parseval_nets"]:
        raise ConfigError("plasticity.parseval_nets=encoder: the conv encoder has no hidden Linear layer to regularise")
    check_choice("plasticity.optimizer", p.optimizer, ("adam", "trac", "kron"))
    if p.optimizer == "kron" and importlib.util.find_spec("kron_torch") is None:
        raise ConfigError("plasticity.optimizer=kron needs the kron-torch package: pip install kron-torch")
    if p.inject_at_frame < 0:
        raise ConfigError(f"plasticity.inject_at_frame must be ≥ 0 (0: never), got {p.inject_at_frame}")
    if p.inject_at_frame and "encoder" in lists["inject_nets"]:
        raise ConfigError("plasticity.inject_nets=encoder: injection replaces a network's head; the encoder has none")
    if p.inject_at_frame and agent == "drm" and cfg.drm.perturb_target == "initial":
        raise ConfigError(
            "plasticity.inject_at_frame with drm.perturb_target=initial: the initial parameters "
            "DrM shrinks towards have no counterpart for the injected heads; use perturb_target=fresh"
        )
    redo = p.redo or bool(p.redo_at_frames.strip())
    if redo:
        for net in redo_nets(cfg):
            if net in arch["fourier"]:
                raise ConfigError(
                    f"plasticity.redo_nets={net} with plasticity.fourier={net}: ReDo keeps the output "
                    "unchanged only for units whose output is ≈ 0, and a Fourier unit outputs (0, 1) "
                    "there"
                )
            if net in arch["layernorm"] or net in arch["nap"]:
                raise ConfigError(
                    f"plasticity.redo_nets={net}: ReDo cannot trace through the LayerNorm that "
                    f"plasticity.layernorm/nap put in {net}; recycle other networks"
                )
