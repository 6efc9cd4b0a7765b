"""Replay: one stored frame per transition, sampled as DrQ-v2 (per episode) or Dopamine (per
transition) does.

- ``buffer.py``: `ReplayBuffer`, the ring of slots and its n-step sampling;
- ``storage.py``: where the slots' frames, actions and proprioception live (host numpy, or
  torch tensors on a device);
- ``shards.py``: `ShardedReplay`, one buffer per environment worker sampled as one;
- ``build.py``: `replay_for`, the replay a run's configuration calls for.
"""

from __future__ import annotations

from dormant.replay.buffer import ReplayBuffer, slots_for
from dormant.replay.build import replay_for
from dormant.replay.shards import ShardedReplay

__all__ = ["ReplayBuffer", "ShardedReplay", "replay_for", "slots_for"]
