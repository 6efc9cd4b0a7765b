"""The replay a run's configuration calls for: one `ReplayBuffer`, or a `ShardedReplay` of one
buffer per environment worker."""

from __future__ import annotations

from typing import Any

import torch

from dormant.replay.buffer import ReplayBuffer
from dormant.replay.shards import ShardedReplay


def replay_for(
    cfg: Any, env: Any, *, allocate_transitions: int, horizon: int = 0, device: torch.device | None = None
) -> Any:
    """The buffer a resolved config and its environment call for (one frame per step);
    ``horizon``: the K-step extras the agent asks for (TACO); ``device``: the agent's, where
    ``replay.device=agent`` keeps the stored steps. With ``env.workers`` = N > 1, a
    `ShardedReplay` of N buffers (one per worker; shard 0 seeded as the single buffer)."""
    # imported here so that `import dormant.replay` loads neither the config nor the environments
    from dormant.config.schema import DISCRETE_AGENTS
    from dormant.envs.workers import worker_seed

    clip = cfg.dqn.reward_clip if cfg.agent.name in DISCRETE_AGENTS else 0.0
    zero_pad = cfg.task.startswith("atari/") and cfg.atari.zero_stack  # stacks as the env builds them

    def make(shard: int, capacity: int, allocate: int) -> ReplayBuffer:
        return ReplayBuffer(
            env.frame_shape,
            env.frame_dtype,
            env.action_dim,
            capacity=capacity,
            frame_stack=cfg.env.frame_stack,
            nstep=cfg.agent.nstep,
            discount=cfg.agent.discount,
            seed=worker_seed(cfg.seed, shard),
            allocate_transitions=allocate,
            proprio_dim=env.proprio_dim,
            reward_clip=clip,
            per_transition=cfg.agent.name in DISCRETE_AGENTS,
            horizon=horizon,
            open_episode=cfg.replay.sample_open_episode,
            zero_pad=zero_pad,
            device=device if cfg.replay.device == "agent" else None,
        )

    workers = cfg.env.workers
    if workers == 1:
        return make(0, cfg.replay.capacity, allocate_transitions)
    return ShardedReplay.build(
        make,
        workers,
        capacity=cfg.replay.capacity,
        allocate_transitions=allocate_transitions,
        seed=worker_seed(cfg.seed, workers),
    )
