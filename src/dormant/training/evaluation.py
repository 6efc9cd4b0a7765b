"""Evaluation episodes: the policy's mean action, no exploration noise, no learning."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from dormant.interfaces import Agent, Env


def evaluate(agent: Agent, env: Env, episodes: int, *, step: int, action_repeat: int,
             video_path: Path | None = None,
             should_stop: Callable[[], bool] = lambda: False) -> dict[str, float] | None:
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
    if images:
        from dormant.training.video import write_video

        write_video(video_path, images)
    seconds = max(time.perf_counter() - t0, 1e-9)
    result = {"episode_reward": float(np.mean(returns)), "episode_reward_std": float(np.std(returns)),
              "episode_length": float(np.mean(lengths)), "fps": float(np.sum(lengths) / seconds)}
    if successes:
        result["success_rate"] = float(np.mean(successes))
    return result
