"""One typed configuration tree, resolved as defaults → task preset → named preset →
obs preset → user.

Field names carry their unit: ``frames`` are simulator steps, ``steps`` are agent
steps (one step = ``env.action_repeat`` frames), ``updates`` are gradient updates.
Overrides are ``key=value`` strings with dotted keys for nested fields; unknown keys
and bad values fail before any work starts, naming the closest valid choice.
"""

from __future__ import annotations

import dataclasses
import decimal
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from dormant.schedules import parse_schedule


class ConfigError(ValueError):
    """A configuration problem the user can fix; the message says how."""


@dataclass
class EnvConfig:
    obs: str = "pixels"  # "pixels" (84×84 renders) or "states" (proprioceptive vector)
    image_size: int = 84  # pixels per side
    frame_stack: int = 3  # frames concatenated along channels (states: 1)
    action_repeat: int = 2  # frames per agent step
    camera_id: int = 0  # DMC camera index
    camera: str = ""  # MetaWorld/Adroit camera name; empty: the suite's reference camera
    fast_render: bool = False  # no MSAA/shadows/reflections: for tests, NOT benchmark-faithful
    proprio: bool = False  # fuse the suite's proprioception into actor, critic and V (Adroit)
    reward_scale: float = 1.0  # MetaWorld/Adroit: multiplies the suite's reward scale (Adroit's is already 1/20 … 1/100)
    reward_fix: bool = True  # Adroit: undo Gymnasium-Robotics 1.4.2's flipped hand-to-object term


@dataclass
class AgentConfig:
    name: str = "drqv2"
    lr: float = 1e-4
    feature_dim: int = 50
    hidden_dim: int = 1024
    critic_target_tau: float = 0.01
    update_every_steps: int = 2  # one update per this many agent steps
    num_expl_steps: int = 2000  # agent steps of uniform random actions
    stddev_schedule: str = "linear(1.0,0.1,500000)"  # durations in agent steps
    stddev_clip: float = 0.3
    batch_size: int = 256
    nstep: int = 3
    discount: float = 0.99
    critic_dropout: float = 0.0  # Dropout after each hidden Linear of Q1/Q2 (reference MetaWorld: 0.01)
    critic_layernorm: bool = False  # LayerNorm after each hidden Linear of Q1/Q2 (reference MetaWorld)
    bf16: bool = False  # autocast the networks to bfloat16 (off until shown harmless)
    compile: bool = False  # torch.compile the networks (off until shown harmless)


@dataclass
class DrMConfig:
    """DrM (SPEC.md §3); used only by ``agent=drm``. Switches give the paper's ablations."""

    dormant_tau: float = 0.025  # τ of DrM's dormant ratio β (actor, every nn.Linear)
    dormant_scoring: str = "post_activation"  # post_activation: a Linear feeding an activation is scored after it (DrM's code) | pre_activation: raw Linear outputs
    threshold: float = 0.2  # β̂
    perturb: bool = True  # dormant-ratio-guided shrink-and-perturb
    perturb_every_frames: int = 200_000
    perturb_rate: float = 2.0  # k in α = clip(1 − kβ, α_min, α_max)
    alpha_min: float = 0.2
    alpha_max: float = 0.9
    fixed_alpha: float = -1.0  # ≥ 0: perturb with this α instead of α(β) (ablation)
    perturb_target: str = "fresh"  # fresh | initial (shrink towards initial parameters, App. J)
    perturb_scope: str = "linear"  # linear (reference: Linear layers only) | all (paper's text)
    awaken: bool = True  # awaken exploration; false: the plain agent.stddev_schedule
    awaken_after_exploration: bool = True  # awaken only at steps > agent.num_expl_steps (DMC/Adroit code; MetaWorld's has no such condition)
    awaken_temperature: float = 0.1  # T
    before_awaken: str = "dormant"  # dormant: σ(β) | max: σ = 1 until awake (App. H)
    exploit: bool = True  # dormant-ratio-guided exploitation (V net, λ-mixed target)
    lambda_max: float = 0.6  # λ̄
    exploit_temperature: float = 0.02  # T'
    fixed_lambda: float = -1.0  # ≥ 0: constant λ instead of λ(β) (ablation)
    expectile: float = 0.9


@dataclass
class PlasticityConfig:
    """Replay ratio and plasticity interventions, for any agent (SPEC.md §5–§6)."""

    replay_ratio: str = "auto"  # updates per agent step: auto (1/agent.update_every_steps), 0.25, 1/4, 2 … or adaptive
    rr_low: float = 0.5  # adaptive: the ratio until the critic's FAU settles
    rr_high: float = 2.0  # adaptive: the ratio after the switch
    rr_check_every_episodes: int = 50  # adaptive: compare mean critic FAU this often
    rr_fau_tolerance: float = 0.001  # adaptive: switch once |ΔFAU| ≤ this
    redo: bool = False  # ReDo: recycle τ-dormant neurons periodically
    redo_every_updates: int = 1000
    redo_tau: float = 0.1
    redo_nets: str = "critic"  # comma-separated: critic, actor, encoder (pixels), value (drm)
    redo_reset_step: bool = False  # also restart Adam's step count of the touched tensors
    reset_every_frames: int = 0  # periodic re-initialisation (Nikishin et al. 2022); 0: off
    reset_scope: str = "heads"  # heads: the MLPs after the trunks | all: every network, encoder included
    shrink_perturb_every_frames: int = 0  # periodic θ ← αθ + (1−α)φ (Ash & Adams 2020); 0: off
    shrink_perturb_alpha: float = 0.8
    shrink_perturb_scope: str = "all"  # all: every parameter, encoder included | linear: Linear layers


@dataclass
class ReplayConfig:
    capacity: int = 1_000_000  # transitions (FIFO, whole episodes evicted)


@dataclass
class EvalConfig:
    every_frames: int = 10_000
    episodes: int = 10
    video: bool = False  # write an mp4 of the first evaluation episode


@dataclass
class LogConfig:
    tensorboard: bool = True
    progress: bool = True  # progress bar with frames/s and ETA (a plain line when output is not a terminal)
    progress_every_s: float = 30.0  # seconds between plain progress lines (output not a terminal)
    diagnostics_every_updates: int = 1000  # per-layer dormant ratios and FAU of every network; 0: off
    redo_tau: float = 0.025  # τ of the ReDo-kind dormant ratio in diagnostics (measuring, not recycling)


@dataclass
class Config:
    task: str = "dmc/cartpole_swingup"
    preset: str = ""  # a named bundle of overrides (see PRESETS), applied after the task's
    frames: int = 1_100_000  # training budget in simulator frames
    seed: int = 1
    out: str = ""  # run directory; empty → runs/<task>-<agent>-s<seed>
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    num_seed_frames: int = 4000  # frames before the first update
    checkpoint_every_frames: int = 100_000  # plus at the end, on Ctrl-C and on errors
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)
    drm: DrMConfig = field(default_factory=DrMConfig)
    plasticity: PlasticityConfig = field(default_factory=PlasticityConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


AGENTS = ("drqv2", "drm")
MAX_SEED = 2**32 - 1
MIN_IMAGE_SIZE = 15  # the encoder's output side, (n − 3) // 2 + 1 − 6, must be ≥ 1
MAX_IMAGE_SIZE = 512
MAX_FRAME_STACK = 16
MAX_ACTION_REPEAT = 100
OBS_KINDS = ("pixels", "states")
# Short top-level spellings accepted on the command line.
SHORTHANDS = {"agent": "agent.name", "obs": "env.obs", "replay_ratio": "plasticity.replay_ratio"}
REDO_NETS = ("critic", "actor", "encoder", "value")
# Presets applied when observations are states (after the task's, before the user's).
STATE_PRESET: dict[str, Any] = {"env.frame_stack": 1}
# Named presets (`preset=NAME`), applied after the task preset and before the user's
# overrides. They reproduce code paths of the reference repositories that differ from
# the paper and from our defaults; each entry says why it is not the default.
PRESETS: dict[str, dict[str, Any]] = {
    # The DrM reference's MetaWorld trainer (train_mw.py + agents/drm_mw.py): its
    # buffer is built with n-step ⌊3 + 7⌋ = 10 and γ = 0.997 − 0.02 − 0.007 = 0.97 (the
    # schedules that would change them are never called), λ is the constant 0.5, α_max
    # 0.95, Q1/Q2 have Dropout(0.01) + LayerNorm after each hidden Linear, and the agent
    # awakens the first time β < β̂ whatever the step. The paper
    # describes none of this, so it is a preset, not the MetaWorld default.
    "drm-reference-metaworld": {
        "agent.nstep": 10, "agent.discount": 0.97, "agent.critic_dropout": 0.01,
        "agent.critic_layernorm": True, "drm.fixed_lambda": 0.5, "drm.alpha_max": 0.95,
        "drm.awaken_after_exploration": False,  # drm_mw.py awakens on β alone, with no step condition
    },
}


def field_paths(node: Any = None, prefix: str = "") -> dict[str, type]:
    """Every settable dotted key and its type."""
    node = Config() if node is None else node
    hints = typing.get_type_hints(type(node))
    paths: dict[str, type] = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if dataclasses.is_dataclass(value):
            paths.update(field_paths(value, f"{prefix}{f.name}."))
        else:
            paths[f"{prefix}{f.name}"] = hints[f.name]
    return paths


def closest(name: str, choices: typing.Iterable[str]) -> str:
    """" (did you mean 'x'?)" or an empty string."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _convert(key: str, raw: Any, kind: type) -> Any:
    if not isinstance(raw, str):
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
            return raw
        raw = str(raw)
    text = raw.strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            # Exact: "9007199254740993" stays itself (a float would round it); "1e6" is 10⁶.
            number = decimal.Decimal(text.replace("_", ""))
            if not number.is_finite() or number != number.to_integral_value():
                raise ValueError
            if abs(number) > 2**63 - 1:
                raise ConfigError(f"{key}={raw!r}: out of range (at most 2⁶³ − 1 in size)")
            return int(number)
        if kind is float:
            number = float(text.replace("_", ""))
            if not math.isfinite(number):
                raise ValueError
            return number
        return text
    except ConfigError:
        raise
    except (ValueError, decimal.InvalidOperation):
        raise ConfigError(f"{key}={raw!r}: expected {kind.__name__}") from None


def set_field(cfg: Config, key: str, raw: Any) -> None:
    """Set one dotted field from a string (or value), converting and type-checking it."""
    key = SHORTHANDS.get(key, key)
    paths = field_paths(cfg)
    if key not in paths:
        raise ConfigError(f"unknown option {key!r}{closest(key, list(paths) + list(SHORTHANDS))}")
    *parents, leaf = key.split(".")
    node: Any = cfg
    for part in parents:
        node = getattr(node, part)
    setattr(node, leaf, _convert(key, raw, paths[key]))


def parse_overrides(items: typing.Sequence[str]) -> dict[str, str]:
    """``["a.b=1", "task=dmc/x"]`` → ``{"a.b": "1", "task": "dmc/x"}`` (shorthands expanded)."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        key = SHORTHANDS.get(key.strip(), key.strip())
        if key in out:
            raise ConfigError(f"option {key!r} given twice")
        out[key] = value
    return out


def _check_choice(what: str, value: str, choices: typing.Sequence[str]) -> None:
    if value not in choices:
        shown = ", ".join(choices) if len(choices) <= 12 else f"{len(choices)} choices; see `dormant tasks`"
        raise ConfigError(f"unknown {what} {value!r}{closest(value, choices)}; valid: {shown}")


def resolve(overrides: typing.Mapping[str, Any]) -> Config:
    """Build and validate the full configuration for ``key=value`` overrides."""
    from dormant.envs import MissingSuiteError, require_suite, task_names, task_preset

    overrides = {SHORTHANDS.get(k, k): v for k, v in overrides.items()}
    cfg = Config()
    paths = field_paths(cfg)
    for key in overrides:  # report unknown keys before anything else
        if key not in paths:
            raise ConfigError(f"unknown option {key!r}{closest(key, list(paths) + list(SHORTHANDS))}")
    task = str(overrides.get("task", cfg.task))
    _check_choice("task", task, task_names())
    try:
        require_suite(task)
    except MissingSuiteError as err:
        raise ConfigError(str(err)) from None
    _check_choice("agent", str(overrides.get("agent.name", cfg.agent.name)), AGENTS)
    obs = str(overrides.get("env.obs", cfg.env.obs))
    _check_choice("observation kind (obs)", obs, OBS_KINDS)
    agent = str(overrides.get("agent.name", cfg.agent.name))
    if agent != "drm" and any(key.startswith("drm.") for key in overrides):
        raise ConfigError(f"drm.* options apply to agent=drm only (agent is {agent!r})")
    preset = str(overrides.get("preset", cfg.preset))
    if preset:
        _check_choice("preset", preset, list(PRESETS))
    suite = task.split("/", 1)[0]
    if obs == "states" and suite != "dmc":
        raise ConfigError(f"obs=states is available for dmc/ tasks only; {task} is pixels (+ proprioception)")
    layers: list[typing.Mapping[str, Any]] = [task_preset(task, agent)]
    if preset:
        if agent != "drm" and any(key.startswith("drm.") for key in PRESETS[preset]):
            raise ConfigError(f"preset={preset} sets drm.* options: it needs agent=drm (agent is {agent!r})")
        layers.append(PRESETS[preset])
    if obs == "states":
        layers.append(STATE_PRESET)
    layers.append(overrides)
    for layer in layers:
        for key, value in layer.items():
            set_field(cfg, key, value)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Range checks that a type alone cannot express."""
    positive = {
        "frames": cfg.frames, "env.image_size": cfg.env.image_size,
        "env.frame_stack": cfg.env.frame_stack, "env.action_repeat": cfg.env.action_repeat,
        "agent.lr": cfg.agent.lr, "agent.feature_dim": cfg.agent.feature_dim,
        "agent.hidden_dim": cfg.agent.hidden_dim, "agent.update_every_steps": cfg.agent.update_every_steps,
        "agent.batch_size": cfg.agent.batch_size, "agent.nstep": cfg.agent.nstep,
        "replay.capacity": cfg.replay.capacity, "eval.every_frames": cfg.eval.every_frames,
        "checkpoint_every_frames": cfg.checkpoint_every_frames,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    non_negative = {
        "seed": cfg.seed, "threads": cfg.threads, "num_seed_frames": cfg.num_seed_frames,
        "agent.num_expl_steps": cfg.agent.num_expl_steps, "eval.episodes": cfg.eval.episodes,
        "log.diagnostics_every_updates": cfg.log.diagnostics_every_updates,
        "agent.stddev_clip": cfg.agent.stddev_clip,
    }
    for key, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"{key} must be ≥ 0, got {value}")
    if cfg.seed > MAX_SEED:  # the simulators seed NumPy's legacy RandomState, which takes 32 bits
        raise ConfigError(f"seed must be ≤ {MAX_SEED} (2³² − 1), got {cfg.seed}")
    d = cfg.drm
    for key, value in {"drm.dormant_tau": d.dormant_tau, "drm.threshold": d.threshold,
                       "drm.alpha_min": d.alpha_min, "drm.alpha_max": d.alpha_max,
                       "drm.expectile": d.expectile, "drm.lambda_max": d.lambda_max}.items():
        if not 0.0 < value <= 1.0 and not (key == "drm.alpha_min" and value == 0.0):
            raise ConfigError(f"{key} must be in (0, 1], got {value}")
    if d.alpha_min > d.alpha_max:
        raise ConfigError(f"drm.alpha_min={d.alpha_min} exceeds drm.alpha_max={d.alpha_max}")
    for key, value in {"drm.fixed_alpha": d.fixed_alpha, "drm.fixed_lambda": d.fixed_lambda}.items():
        if value > 1.0 or (value < 0.0 and value != -1.0):
            raise ConfigError(f"{key} must be -1 (guided by β) or in [0, 1], got {value}")
    for key, value in {"drm.perturb_every_frames": d.perturb_every_frames, "drm.awaken_temperature": d.awaken_temperature,
                       "drm.exploit_temperature": d.exploit_temperature, "drm.perturb_rate": d.perturb_rate}.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    for key, value, choices in (("drm.perturb_target", d.perturb_target, ("fresh", "initial")),
                                ("drm.perturb_scope", d.perturb_scope, ("linear", "all")),
                                ("drm.before_awaken", d.before_awaken, ("dormant", "max")),
                                ("drm.dormant_scoring", d.dormant_scoring, ("post_activation", "pre_activation"))):
        if value not in choices:
            raise ConfigError(f"{key}={value!r}{closest(value, choices)}; valid: {', '.join(choices)}")
    if not 0.0 <= cfg.agent.critic_dropout < 1.0:
        raise ConfigError(f"agent.critic_dropout must be in [0, 1), got {cfg.agent.critic_dropout}")
    if cfg.env.reward_scale <= 0 or not math.isfinite(cfg.env.reward_scale):
        raise ConfigError(f"env.reward_scale must be > 0, got {cfg.env.reward_scale}")
    if cfg.env.reward_scale != 1.0 and cfg.task.startswith("dmc/"):
        raise ConfigError("env.reward_scale applies to MetaWorld/Adroit tasks; DMC rewards stay in the suite's "
                          "units (0–1 per frame), so that returns compare with published curves")
    if cfg.env.obs == "pixels" and cfg.env.image_size < MIN_IMAGE_SIZE:
        raise ConfigError(f"env.image_size={cfg.env.image_size} is too small for the conv encoder "
                          f"(4 unpadded 3×3 convs, the first with stride 2); use ≥ {MIN_IMAGE_SIZE} (default 84)")
    if cfg.env.image_size > MAX_IMAGE_SIZE:
        raise ConfigError(f"env.image_size={cfg.env.image_size} is above {MAX_IMAGE_SIZE}; the paper's setting is 84")
    if cfg.env.frame_stack > MAX_FRAME_STACK:
        raise ConfigError(f"env.frame_stack={cfg.env.frame_stack} is above {MAX_FRAME_STACK}; "
                          "DrQ-v2 and DrM stack 3 (Adroit 1)")
    if cfg.env.action_repeat > MAX_ACTION_REPEAT:
        raise ConfigError(f"env.action_repeat={cfg.env.action_repeat} is above {MAX_ACTION_REPEAT}; the papers use 2")
    if cfg.env.camera and cfg.task.startswith("dmc/"):
        raise ConfigError("env.camera names a MetaWorld/Adroit camera; DMC tasks take env.camera_id")
    if cfg.env.proprio and not cfg.task.startswith("adroit/"):
        raise ConfigError(f"env.proprio=true needs a suite with proprioception (adroit/); {cfg.task} has none")
    if not 0.0 < cfg.agent.discount <= 1.0:
        raise ConfigError(f"agent.discount must be in (0, 1], got {cfg.agent.discount}")
    if not 0.0 < cfg.agent.critic_target_tau <= 1.0:
        raise ConfigError(f"agent.critic_target_tau must be in (0, 1], got {cfg.agent.critic_target_tau}")
    try:
        parse_schedule(cfg.agent.stddev_schedule)
    except ValueError as err:
        raise ConfigError(f"agent.stddev_schedule: {err}") from None
    if cfg.frames <= cfg.num_seed_frames:
        raise ConfigError(
            f"impossible budget: frames={cfg.frames} ends before the first update "
            f"(num_seed_frames={cfg.num_seed_frames}); raise frames or lower num_seed_frames"
        )
    if cfg.replay.capacity < cfg.agent.batch_size:
        raise ConfigError(
            f"replay.capacity={cfg.replay.capacity} transitions is smaller than one batch "
            f"(agent.batch_size={cfg.agent.batch_size})"
        )
    _validate_plasticity(cfg)
    device = cfg.device
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise ConfigError(f"device={device!r}: expected auto, cpu, cuda or cuda:N")


def redo_nets(cfg: Config) -> list[str]:
    return [name.strip() for name in cfg.plasticity.redo_nets.split(",") if name.strip()]


def _validate_plasticity(cfg: Config) -> None:
    from dormant.plasticity.replay_ratio import parse_replay_ratio

    p = cfg.plasticity
    if p.replay_ratio not in ("auto", "adaptive"):
        try:
            parse_replay_ratio(p.replay_ratio)
        except ValueError as err:
            raise ConfigError(f"plasticity.replay_ratio: {err}, 'auto' or 'adaptive'") from None
    for key, value in {"plasticity.rr_low": p.rr_low, "plasticity.rr_high": p.rr_high,
                       "plasticity.rr_check_every_episodes": p.rr_check_every_episodes,
                       "plasticity.redo_every_updates": p.redo_every_updates}.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    for key, value in {"plasticity.rr_fau_tolerance": p.rr_fau_tolerance,
                       "plasticity.reset_every_frames": p.reset_every_frames,
                       "plasticity.shrink_perturb_every_frames": p.shrink_perturb_every_frames}.items():
        if value < 0:
            raise ConfigError(f"{key} must be ≥ 0, got {value}")
    if not 0.0 <= p.redo_tau < 1.0:
        raise ConfigError(f"plasticity.redo_tau must be in [0, 1), got {p.redo_tau}")
    if not cfg.log.progress_every_s > 0:
        raise ConfigError(f"log.progress_every_s must be > 0, got {cfg.log.progress_every_s}")
    if not 0.0 < cfg.log.redo_tau <= 1.0:
        raise ConfigError(f"log.redo_tau must be in (0, 1], got {cfg.log.redo_tau}")
    if not 0.0 <= p.shrink_perturb_alpha <= 1.0:
        raise ConfigError(f"plasticity.shrink_perturb_alpha must be in [0, 1], got {p.shrink_perturb_alpha}")
    for key, value, choices in (("plasticity.reset_scope", p.reset_scope, ("heads", "all")),
                                ("plasticity.shrink_perturb_scope", p.shrink_perturb_scope, ("all", "linear"))):
        if value not in choices:
            raise ConfigError(f"{key}={value!r}{closest(value, choices)}; valid: {', '.join(choices)}")
    nets = redo_nets(cfg)
    if p.redo and not nets:
        raise ConfigError("plasticity.redo_nets is empty; name at least one of " + ", ".join(REDO_NETS))
    for net in nets:
        if net not in REDO_NETS:
            raise ConfigError(f"plasticity.redo_nets: unknown network {net!r}{closest(net, REDO_NETS)}; "
                              f"valid: {', '.join(REDO_NETS)}")
    if p.redo and "encoder" in nets and cfg.env.obs != "pixels":
        raise ConfigError("plasticity.redo_nets=encoder needs obs=pixels (the state encoder is the identity)")
    if p.redo and "encoder" in nets and cfg.env.proprio:
        raise ConfigError("plasticity.redo_nets=encoder cannot trace encoder channels through the "
                          "proprioception concatenation (env.proprio=true); recycle the heads only")
    if p.redo and "critic" in nets and (cfg.agent.critic_dropout or cfg.agent.critic_layernorm):
        raise ConfigError("plasticity.redo_nets=critic: ReDo cannot trace through the critic's Dropout/LayerNorm "
                          "(agent.critic_dropout / agent.critic_layernorm); drop them or recycle other networks")
    if p.redo and "value" in nets and cfg.agent.name != "drm":
        raise ConfigError(f"plasticity.redo_nets=value needs agent=drm (agent is {cfg.agent.name!r})")


def flatten(data: typing.Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as dotted ``key: value`` pairs."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, typing.Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# Options added after runs had been saved without them, whose default changed what such a
# run did: a saved config that lacks the key ran with this value, not today's default.
LEGACY_VALUES: dict[str, Any] = {
    "drm.dormant_scoring": "pre_activation",  # β scored every Linear on its raw output before this option
}


def with_defaults(flat: typing.Mapping[str, Any]) -> dict[str, Any]:
    """A saved, flattened config completed with what its run used for options it predates:
    ``LEGACY_VALUES`` where the behaviour changed, else today's default."""
    defaults = {**flatten(Config().to_dict()), **LEGACY_VALUES}
    return {**{k: v for k, v in defaults.items() if k not in flat}, **flat}


def from_dict(data: typing.Mapping[str, Any]) -> Config:
    """Rebuild a Config saved with ``to_dict`` (e.g. from a run's config.yaml)."""
    cfg = Config()
    for key, value in flatten(data).items():
        set_field(cfg, key, value)
    validate(cfg)
    return cfg


def default_out(cfg: Config) -> str:
    return f"runs/{cfg.task.replace('/', '-')}-{cfg.agent.name}-s{cfg.seed}"
