"""Replay for ``env.workers`` = N > 1: one `ReplayBuffer` shard per environment worker.

Each worker's episodes are written to its own shard, so every episode still occupies
consecutive slots and each frame is stored once. Sampling keeps the single buffer's
distribution: the batch is split over the shards by a multinomial draw weighted by what each
shard can offer (its eligible episodes under DrQ-v2's sampling, its transitions under
per-transition sampling), and each shard then samples its share as a single buffer would.
An episode (or transition) is therefore equally likely wherever it is stored. The batch comes
back grouped by shard, which no update depends on.

Capacity is split evenly (⌈capacity / N⌉ transitions per shard, oldest episodes evicted per
shard); workers step in lockstep, so each shard evicts what a single buffer would, up to
episode boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from dormant.replay.buffer import ReplayBuffer


def _concat(parts: Sequence[Any]) -> Any:
    return torch.cat(list(parts)) if isinstance(parts[0], torch.Tensor) else np.concatenate(parts)


class ShardedReplay:
    def __init__(self, shards: Sequence[ReplayBuffer], *, seed: int):
        if len(shards) < 2:
            raise ValueError("ShardedReplay needs at least two shards; use a ReplayBuffer for one stream")
        self.shards = list(shards)
        self.rng = np.random.default_rng(seed)

    @classmethod
    def build(
        cls,
        make: Callable[[int, int, int], ReplayBuffer],
        streams: int,
        *,
        capacity: int,
        allocate_transitions: int,
        seed: int,
    ) -> ShardedReplay:
        """``make(shard, capacity, allocate_transitions)`` builds one shard."""
        per_capacity = math.ceil(capacity / streams)
        per_allocation = math.ceil(allocate_transitions / streams)
        return cls([make(i, per_capacity, per_allocation) for i in range(streams)], seed=seed)

    @property
    def num_transitions(self) -> int:
        return sum(shard.num_transitions for shard in self.shards)

    def __len__(self) -> int:
        return self.num_transitions

    def can_sample(self) -> bool:
        return any(shard.can_sample() for shard in self.shards)

    def sample(self, batch_size: int) -> dict[str, Any]:
        weights = np.array([shard.sample_weight() for shard in self.shards], dtype=np.float64)
        if not weights.any():
            raise ValueError("replay: no shard holds a sampleable episode yet")
        counts = self.rng.multinomial(batch_size, weights / weights.sum())
        parts = [shard.sample(int(n)) for shard, n in zip(self.shards, counts, strict=True) if n > 0]
        return {key: _concat([part[key] for part in parts]) for key in parts[0]}

    def state_dict(self) -> dict[str, Any]:
        return {"shards": [shard.state_dict() for shard in self.shards], "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "shards" not in state or len(state["shards"]) != len(self.shards):
            found = len(state["shards"]) if "shards" in state else 1
            raise ValueError(
                f"replay checkpoint has {found} shard(s) (env.workers={found}); this run has {len(self.shards)}"
            )
        for shard, shard_state in zip(self.shards, state["shards"], strict=True):
            shard.load_state_dict(shard_state)
        self.rng.bit_generator.state = state["rng"]
