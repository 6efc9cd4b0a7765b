"""Evaluation episodes: the policy's mean action, no exploration noise, no learning."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dormant.interfaces import Agent, Env
from dormant.training.checkpoint import load_checkpoint


def evaluate(
    agent: Agent,
    env: Env,
    episodes: int,
    *,
    step: int,
    action_repeat: int,
    video_path: Path | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, float] | None:
    """Run ``episodes`` episodes acting with the policy mean; video of the first if asked.

    Returns mean/std return, mean length (frames), frames/s and, where the suite has a
    success signal, the success rate (fraction of episodes that succeeded), or None
    when ``should_stop()`` turned true part-way.
    """
    if episodes <= 0:
        return None
    returns, lengths, successes, images = [], [], [], []
    t0 = time.perf_counter()
    for episode in range(episodes):
        ts = env.reset()
        record = video_path is not None and episode == 0
        if record:
            images.append(env.render(256))
        total, length = 0.0, 0
        while not ts.last:
            if should_stop():
                return None
            ts = env.step(agent.act(ts.observation, step, eval_mode=True, proprio=ts.proprio))
            total += ts.reward
            length += 1
            if record:
                images.append(env.render(256))
        returns.append(total)
        lengths.append(length * action_repeat)
        if ts.success is not None:
            successes.append(ts.success)
    if images and video_path is not None:
        from dormant.training.video import write_video

        write_video(video_path, images)
    seconds = max(time.perf_counter() - t0, 1e-9)
    result = {
        "episode_reward": float(np.mean(returns)),
        "episode_reward_std": float(np.std(returns)),
        "episode_length": float(np.mean(lengths)),
        "fps": float(np.sum(lengths) / seconds),
    }
    if successes:
        result["success_rate"] = float(np.mean(successes))
    return result


def evaluate_checkpoint(
    run_dir: str | Path,
    *,
    episodes: int | str = 10,
    video: bool | str = False,
    device: str = "auto",
    seed: int | str | None = None,
) -> dict[str, Any] | None:
    """Evaluate a run's checkpoint on a fresh environment (``dormant eval``); the result of
    ``evaluate`` plus ``task``, ``frame``, ``episodes`` and ``video`` (the mp4, if asked).
    None when ``episodes`` is 0."""
    import torch

    from dormant.config import from_dict, set_field, validate
    from dormant.envs import make_env
    from dormant.envs.continual import TaskSequenceEnv, is_continual, phase_of
    from dormant.envs.registry import needs_gl
    from dormant.envs.rendering import configure_rendering

    run_dir = Path(run_dir)
    episodes = episodes_option(episodes)
    checkpoint = load_checkpoint(run_dir)
    cfg = from_dict(checkpoint["config"])
    for key, value in {
        "eval.episodes": episodes,
        "eval.video": video,
        "device": device,
        "seed": cfg.seed if seed is None else seed,
    }.items():
        set_field(cfg, key, value)
    validate(cfg)
    configure_rendering(needs_gl(cfg))
    env = make_env(cfg, seed=cfg.seed, evaluation=True)
    agent = agent_from_checkpoint(cfg, checkpoint, env, cfg.device)
    torch.manual_seed(cfg.seed)
    step = int(checkpoint["counters"]["step"])
    frame = step * cfg.env.action_repeat
    task = cfg.task
    if is_continual(cfg):  # the phase an evaluation at this frame covers first (training/continual.py)
        assert isinstance(env, TaskSequenceEnv)  # what make_env builds for a continual configuration
        env.set_phase(phase_of(max(frame - 1, 0), cfg.continual.switch_every_frames))
        task = env.task
    video_path = run_dir / "videos" / f"checkpoint_eval_{frame}.mp4"
    try:
        result = evaluate(
            agent,
            env,
            cfg.eval.episodes,
            step=step,
            action_repeat=cfg.env.action_repeat,
            video_path=video_path if cfg.eval.video else None,
        )
    finally:
        env.close()
    if result is None:
        return None
    extra: dict[str, Any] = {"task": task, "frame": frame, "episodes": cfg.eval.episodes}
    if cfg.eval.video:
        extra["video"] = video_path
    return {**result, **extra}


def episodes_option(value: Any) -> int:
    """``episodes=`` of ``dormant eval`` and ``dormant.evaluate``: a whole number ≥ 1 (one
    message for every bad value)."""
    from dormant.config import Config, set_field
    from dormant.errors import ConfigError

    probe = Config()
    set_field(probe, "eval.episodes", value)  # "eval.episodes='abc': expected int", as a training option would say
    if probe.eval.episodes < 1:
        raise ConfigError(f"episodes must be ≥ 1, got {probe.eval.episodes}")
    return probe.eval.episodes


def agent_from_checkpoint(cfg: Any, checkpoint: dict[str, Any], env: Env, device: str) -> Agent:
    """The agent a checkpoint holds, built for ``env``'s shapes on ``device`` (a config name)."""
    from dormant.agents import agent_for_env
    from dormant.training.device import resolve_device

    agent = agent_for_env(cfg, env, device=resolve_device(device))
    agent.load_state_dict(checkpoint["agent"])
    return agent
