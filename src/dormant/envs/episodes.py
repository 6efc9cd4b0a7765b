"""A replay buffer must hold one whole episode: the rule, and the smallest capacity that
meets it, known before any work from the task's time limit.

The buffer stores complete episodes and drops the oldest to make room, so an episode longer
than the buffer could never be stored: a run with such a ``replay.capacity`` would fail when
its first episode outgrew the buffer. With ``env.workers`` = N, each worker's buffer holds
⌈capacity / N⌉ transitions and must hold one episode by itself.

A leaf module (errors only): the task registry and the gym suite call it, and resolving
a configuration must not import torch.
"""

from __future__ import annotations

import math
from typing import Any

from dormant.errors import ConfigError


def episode_steps(episode_frames: int, action_repeat: int) -> int:
    """Transitions in the longest episode: its time limit in agent steps."""
    return math.ceil(episode_frames / action_repeat)


def smallest_capacity(steps: int, workers: int = 1) -> int:
    """The least ``replay.capacity`` whose per-worker buffer (⌈capacity / workers⌉) holds ``steps``."""
    return workers * (steps - 1) + 1


def check_replay_holds_an_episode(cfg: Any, episode_frames: int | None) -> None:
    """Refuse a ``replay.capacity`` below one episode of the task (``episode_frames``: its
    time limit in simulator steps; None: unknown, e.g. no time limit, and nothing is checked).
    A run shorter than one episode never completes one, so it needs no more than its budget."""
    if not episode_frames or not math.isfinite(episode_frames):
        return
    workers = cfg.env.workers
    repeat = cfg.env.action_repeat
    episode = episode_steps(int(episode_frames), repeat)
    budget = math.ceil(math.ceil(cfg.frames / repeat) / workers)  # steps each worker's buffer receives
    steps = min(episode, budget)
    least = smallest_capacity(steps, workers)
    if cfg.replay.capacity < least:
        what = (
            f"one episode of {cfg.task} ({int(episode_frames)} frames = {episode} transitions at "
            f"env.action_repeat={repeat})"
            if episode <= budget
            else f"the {steps} transitions of this run's frames={cfg.frames} (less than one episode of {cfg.task})"
        )
        per = f" in each worker's buffer (⌈capacity / env.workers={workers}⌉)" if workers > 1 else ""
        raise ConfigError(
            f"replay.capacity={cfg.replay.capacity} cannot hold {what}{per}; the buffer keeps whole "
            f"episodes, so the smallest valid value is replay.capacity={least}"
        )
