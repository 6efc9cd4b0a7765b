"""Range and consistency checks that a field's type alone cannot express.

Each failure is a ``ConfigError`` naming the option, the bad value and what is valid.
"""

from __future__ import annotations

import math
import os

from dormant.config.checks_agents import validate_dqn, validate_sac, validate_taco
from dormant.config.checks_methods import check_net_owner, validate_continual, validate_plasticity_methods
from dormant.config.schema import (
    MAX_ACTION_REPEAT,
    MAX_FRAME_STACK,
    MAX_IMAGE_SIZE,
    MAX_SEED,
    MAX_WORKERS,
    MIN_IMAGE_SIZE,
    REDO_NETS,
    Config,
    diagnostics_taus,
    frame_list,
    net_list,
    redo_nets,
)
from dormant.envs.background import scan
from dormant.errors import ConfigError, check_choice, closest
from dormant.exploration import parse_schedule
from dormant.plasticity.replay_ratio import parse_replay_ratio

__all__ = ["check_choice", "validate"]  # check_choice lives in errors.py (the task registry uses it too)


def validate(cfg: Config) -> None:
    """Range checks that a type alone cannot express."""
    positive = {
        "frames": cfg.frames,
        "env.image_size": cfg.env.image_size,
        "env.frame_stack": cfg.env.frame_stack,
        "env.action_repeat": cfg.env.action_repeat,
        "env.workers": cfg.env.workers,
        "agent.lr": cfg.agent.lr,
        "agent.feature_dim": cfg.agent.feature_dim,
        "agent.hidden_dim": cfg.agent.hidden_dim,
        "agent.update_every_steps": cfg.agent.update_every_steps,
        "agent.batch_size": cfg.agent.batch_size,
        "agent.nstep": cfg.agent.nstep,
        "replay.capacity": cfg.replay.capacity,
        "eval.every_frames": cfg.eval.every_frames,
        "checkpoint_every_frames": cfg.checkpoint_every_frames,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    non_negative = {
        "seed": cfg.seed,
        "threads": cfg.threads,
        "num_seed_frames": cfg.num_seed_frames,
        "agent.num_expl_steps": cfg.agent.num_expl_steps,
        "eval.episodes": cfg.eval.episodes,
        "log.diagnostics_every_updates": cfg.log.diagnostics_every_updates,
        "agent.stddev_clip": cfg.agent.stddev_clip,
    }
    for key, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"{key} must be ≥ 0, got {value}")
    if cfg.seed > MAX_SEED:  # the simulators seed NumPy's legacy RandomState, which takes 32 bits
        raise ConfigError(f"seed must be ≤ {MAX_SEED} (2³² − 1), got {cfg.seed}")
    d = cfg.drm
    for key, value in {
        "drm.dormant_tau": d.dormant_tau,
        "drm.threshold": d.threshold,
        "drm.alpha_min": d.alpha_min,
        "drm.alpha_max": d.alpha_max,
        "drm.expectile": d.expectile,
        "drm.lambda_max": d.lambda_max,
    }.items():
        if not 0.0 < value <= 1.0 and not (key == "drm.alpha_min" and value == 0.0):
            raise ConfigError(f"{key} must be in (0, 1], got {value}")
    if d.alpha_min > d.alpha_max:
        raise ConfigError(f"drm.alpha_min={d.alpha_min} exceeds drm.alpha_max={d.alpha_max}")
    for key, value in {"drm.fixed_alpha": d.fixed_alpha, "drm.fixed_lambda": d.fixed_lambda}.items():
        if value > 1.0 or (value < 0.0 and value != -1.0):
            raise ConfigError(f"{key} must be -1 (guided by β) or in [0, 1], got {value}")
    for key, value in {
        "drm.perturb_every_frames": d.perturb_every_frames,
        "drm.awaken_temperature": d.awaken_temperature,
        "drm.exploit_temperature": d.exploit_temperature,
        "drm.perturb_rate": d.perturb_rate,
    }.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    for key, choice, choices in (
        ("drm.perturb_target", d.perturb_target, ("fresh", "initial")),
        ("drm.perturb_scope", d.perturb_scope, ("linear", "all")),
        ("drm.before_awaken", d.before_awaken, ("dormant", "max")),
        ("drm.dormant_scoring", d.dormant_scoring, ("post_activation", "pre_activation")),
    ):
        if choice not in choices:
            raise ConfigError(f"{key}={choice!r}{closest(choice, choices)}; valid: {', '.join(choices)}")
    if not 0.0 <= cfg.agent.critic_dropout < 1.0:
        raise ConfigError(f"agent.critic_dropout must be in [0, 1), got {cfg.agent.critic_dropout}")
    if cfg.env.reward_scale <= 0 or not math.isfinite(cfg.env.reward_scale):
        raise ConfigError(f"env.reward_scale must be > 0, got {cfg.env.reward_scale}")
    if cfg.env.reward_scale != 1.0 and cfg.task.startswith("dmc/"):
        raise ConfigError(
            "env.reward_scale applies to MetaWorld/Adroit and gym: tasks; DMC rewards stay in the "
            "suite's units (0–1 per frame), so that returns compare with published curves"
        )
    if cfg.env.obs == "pixels" and cfg.env.image_size < MIN_IMAGE_SIZE:
        raise ConfigError(
            f"env.image_size={cfg.env.image_size} is too small for the conv encoder "
            f"(4 unpadded 3×3 convs, the first with stride 2); use ≥ {MIN_IMAGE_SIZE} (default 84)"
        )
    if cfg.env.image_size > MAX_IMAGE_SIZE:
        raise ConfigError(f"env.image_size={cfg.env.image_size} is above {MAX_IMAGE_SIZE}; the paper's setting is 84")
    if cfg.env.frame_stack > MAX_FRAME_STACK:
        raise ConfigError(
            f"env.frame_stack={cfg.env.frame_stack} is above {MAX_FRAME_STACK}; DrQ-v2 and DrM stack 3 (Adroit 1)"
        )
    if cfg.env.action_repeat > MAX_ACTION_REPEAT:
        raise ConfigError(f"env.action_repeat={cfg.env.action_repeat} is above {MAX_ACTION_REPEAT}; the papers use 2")
    if cfg.env.workers > MAX_WORKERS:
        raise ConfigError(
            f"env.workers={cfg.env.workers} is above {MAX_WORKERS}; one worker per CPU core is "
            f"the useful most (this machine has {os.cpu_count()})"
        )
    if cfg.env.camera and cfg.task.startswith("dmc/"):
        raise ConfigError("env.camera names a MetaWorld/Adroit camera; DMC tasks take env.camera_id")
    _validate_background(cfg)
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
    a = cfg.alix
    if cfg.agent.name == "alix" and cfg.env.obs != "pixels":
        raise ConfigError("agent=alix smooths convolutional feature maps: it needs obs=pixels")
    if not 0.0 <= a.s_init <= 1.0 or a.max_shift <= 0 or a.s_lr <= 0 or not 0.0 <= a.s_beta1 < 1.0:
        raise ConfigError("alix: s_init must be in [0, 1], max_shift and s_lr > 0, s_beta1 in [0, 1)")
    if a.nd_kernel < 3 or a.nd_kernel % 2 == 0:
        raise ConfigError(f"alix.nd_kernel must be odd and ≥ 3, got {a.nd_kernel}")
    if not (a.critic_head_gain > 0 and math.isfinite(a.critic_head_gain)):
        raise ConfigError(f"alix.critic_head_gain must be a finite number > 0, got {a.critic_head_gain}")
    validate_taco(cfg)
    check_choice("agent.intrinsic", cfg.agent.intrinsic, ("none", "rnd", "frame_diff"))
    if cfg.agent.intrinsic_weight < 0 or not math.isfinite(cfg.agent.intrinsic_weight):
        raise ConfigError(f"agent.intrinsic_weight must be ≥ 0, got {cfg.agent.intrinsic_weight}")
    if cfg.agent.intrinsic == "frame_diff" and (cfg.env.obs != "pixels" or cfg.env.frame_stack < 2):
        raise ConfigError(
            "agent.intrinsic=frame_diff compares the first and last stacked frames: it needs "
            f"obs=pixels and env.frame_stack ≥ 2 (have obs={cfg.env.obs}, "
            f"frame_stack={cfg.env.frame_stack})"
        )
    if cfg.agent.augment_switch_frame < 0:
        raise ConfigError(f"agent.augment_switch_frame must be ≥ 0, got {cfg.agent.augment_switch_frame}")
    if cfg.agent.augment_switch_frame and cfg.env.obs != "pixels":
        raise ConfigError(
            "agent.augment_switch_frame applies to pixel observations (obs=pixels); states are never shifted"
        )
    if cfg.agent.weight_decay < 0 or not math.isfinite(cfg.agent.weight_decay):
        raise ConfigError(f"agent.weight_decay must be ≥ 0, got {cfg.agent.weight_decay}")
    if cfg.agent.name == "sac":
        validate_sac(cfg)
    _validate_plasticity(cfg)
    validate_plasticity_methods(cfg)
    validate_dqn(cfg)
    validate_continual(cfg)
    check_choice("replay.device", cfg.replay.device, ("host", "agent"))
    device = cfg.device
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise ConfigError(f"device={device!r}: expected auto, cpu, cuda or cuda:N")


def _validate_background(cfg: Config) -> None:
    e = cfg.env
    if not e.background:
        if e.background_floor:
            raise ConfigError("env.background_floor=true needs env.background (a folder of videos or images)")
        return
    if not cfg.task.startswith("dmc/"):
        raise ConfigError(
            f"env.background applies to DMC tasks (dmc/…), whose sky and floor it replaces; {cfg.task} is not one"
        )
    if e.obs != "pixels":
        raise ConfigError(f"env.background replaces background pixels: it needs obs=pixels (have obs={e.obs})")
    scan(e.background)


def _validate_plasticity(cfg: Config) -> None:
    p = cfg.plasticity
    if p.replay_ratio not in ("auto", "adaptive"):
        try:
            parse_replay_ratio(p.replay_ratio)
        except ValueError as err:
            raise ConfigError(f"plasticity.replay_ratio: {err}, 'auto' or 'adaptive'") from None
    for key, value in {
        "plasticity.rr_low": p.rr_low,
        "plasticity.rr_high": p.rr_high,
        "plasticity.rr_check_every_episodes": p.rr_check_every_episodes,
        "plasticity.redo_every_updates": p.redo_every_updates,
    }.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    for key, value in {
        "plasticity.rr_fau_tolerance": p.rr_fau_tolerance,
        "plasticity.reset_every_frames": p.reset_every_frames,
        "plasticity.shrink_perturb_every_frames": p.shrink_perturb_every_frames,
    }.items():
        if value < 0:
            raise ConfigError(f"{key} must be ≥ 0, got {value}")
    if p.redo_batch_size < 0:
        raise ConfigError(f"plasticity.redo_batch_size must be ≥ 0 (0: the update's batch), got {p.redo_batch_size}")
    if p.redo_batch_augment and cfg.agent.name not in ("dqn", "drq_eps"):
        raise ConfigError(
            "plasticity.redo_batch_augment=true is implemented for agent=dqn and agent=drq_eps only "
            f"(agent={cfg.agent.name}); the other agents score ReDo on un-augmented frames"
        )
    if not 0.0 <= p.redo_tau < 1.0:
        raise ConfigError(f"plasticity.redo_tau must be in [0, 1), got {p.redo_tau}")
    if not cfg.log.progress_every_s > 0:
        raise ConfigError(f"log.progress_every_s must be > 0, got {cfg.log.progress_every_s}")
    if not 0.0 < cfg.log.redo_tau <= 1.0:
        raise ConfigError(f"log.redo_tau must be in (0, 1], got {cfg.log.redo_tau}")
    try:
        extra = diagnostics_taus(cfg)["extra_redo_taus"]
    except ValueError:
        extra = [math.nan]
    if not all(0.0 <= tau <= 1.0 for tau in extra):
        raise ConfigError(
            f"log.redo_taus_extra={cfg.log.redo_taus_extra!r}: expected comma-separated τ in [0, 1], e.g. 0,0.1"
        )
    if not 0.0 <= p.shrink_perturb_alpha <= 1.0:
        raise ConfigError(f"plasticity.shrink_perturb_alpha must be in [0, 1], got {p.shrink_perturb_alpha}")
    for key, choice, choices in (
        ("plasticity.reset_scope", p.reset_scope, ("heads", "all")),
        ("plasticity.shrink_perturb_scope", p.shrink_perturb_scope, ("all", "linear")),
    ):
        if choice not in choices:
            raise ConfigError(f"{key}={choice!r}{closest(choice, choices)}; valid: {', '.join(choices)}")
    frames = {}
    for key in ("plasticity.redo_at_frames", "plasticity.reset_at_frames", "plasticity.shrink_perturb_at_frames"):
        text = getattr(p, key.split(".")[1])
        try:
            frames[key] = frame_list(text)
        except ValueError as err:
            raise ConfigError(f"{key}={text!r}: {err}; expected frames like 100000,500000") from None
        if frames[key] != sorted(set(frames[key])):
            raise ConfigError(f"{key}={text!r}: list each frame once, in increasing order")
    for key in ("plasticity.reset_nets", "plasticity.shrink_perturb_nets"):
        for net in net_list(getattr(p, key.split(".")[1])):
            if net not in REDO_NETS:
                raise ConfigError(
                    f"{key}: unknown network {net!r}{closest(net, REDO_NETS)}; valid: {', '.join(REDO_NETS)}"
                )
            check_net_owner(key, net, cfg.agent.name)
    nets = redo_nets(cfg)
    redo = p.redo or bool(frames["plasticity.redo_at_frames"])
    if redo and not nets:
        raise ConfigError("plasticity.redo_nets is empty; name at least one of " + ", ".join(REDO_NETS))
    for net in nets:
        if net not in REDO_NETS:
            raise ConfigError(
                f"plasticity.redo_nets: unknown network {net!r}{closest(net, REDO_NETS)}; valid: {', '.join(REDO_NETS)}"
            )
    if redo and "encoder" in nets and cfg.env.obs != "pixels":
        raise ConfigError("plasticity.redo_nets=encoder needs obs=pixels (the state encoder is the identity)")
    if redo and "encoder" in nets and cfg.env.proprio:
        raise ConfigError(
            "plasticity.redo_nets=encoder cannot trace encoder channels through the "
            "proprioception concatenation (env.proprio=true); recycle the heads only"
        )
    if redo and "critic" in nets and (cfg.agent.critic_dropout or cfg.agent.critic_layernorm):
        raise ConfigError(
            "plasticity.redo_nets=critic: ReDo cannot trace through the critic's Dropout/LayerNorm "
            "(agent.critic_dropout / agent.critic_layernorm); drop them or recycle other networks"
        )
    if redo and "encoder" in nets and cfg.agent.name == "alix":
        raise ConfigError(
            "plasticity.redo_nets=encoder: ReDo cannot trace channels through ALIX's smoothing layers; "
            "recycle the heads only"
        )
    if redo:
        for net in nets:
            check_net_owner("plasticity.redo_nets", net, cfg.agent.name)
