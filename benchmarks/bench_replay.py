"""Section ``replay_bytes_per_transition``: the replay buffer's memory per transition.

Pixel replay memory is what limits a visual-RL run's capacity, and dormant stores one
3×84×84 frame per step where DrQ-v2's reference stores the 9×84×84 stacked observation.
This section reports the buffer's own account (``ReplayBuffer.bytes_per_transition``),
the growth of this process's resident memory while a buffer is filled with random
frames, the reference's figure computed the same way, and whether both stay under the
21,500-bytes requirement. Run it first: the RSS reading is cleanest before torch allocates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dormant.replay import ReplayBuffer

from common import FRAME, random_episode_data, rss_bytes, write_episodes

REQUIREMENT_BYTES = 21_500  # replay storage per transition, at most


def bench_replay_memory(episodes: int, length: int) -> dict[str, Any]:
    action_dim = 6
    kwargs: dict[str, Any] = dict(frame_stack=3, nstep=3, discount=0.99)
    computed = ReplayBuffer(FRAME, np.uint8, action_dim, capacity=1000, **kwargs).bytes_per_transition(length)
    reference = ReplayBuffer((9, 84, 84), np.uint8, action_dim, capacity=1000,
                             **kwargs).bytes_per_transition(length)
    per_step_reference = 9 * 84 * 84 + 4 * action_dim + 4 + 4

    capacity = episodes * length
    # Build the frame pool and the RNG state before the baseline reading.
    rng = np.random.default_rng(0)
    pool, actions = random_episode_data(rng, length, action_dim)
    rewards = [rng.random(length).tolist()] * episodes  # the same rewards every episode
    before = rss_bytes()
    buffer = ReplayBuffer(FRAME, np.uint8, action_dim, capacity=capacity, **kwargs)
    after_alloc = rss_bytes()
    write_episodes(buffer, pool, actions, rewards)
    after = rss_bytes()
    stored = len(buffer)
    measured = (after - before) / stored
    result = {
        "computed": round(computed, 1),
        "measured": round(measured, 1),
        "requirement_max": REQUIREMENT_BYTES,
        "meets_requirement": bool(computed <= REQUIREMENT_BYTES and measured <= REQUIREMENT_BYTES),
        "reference_drqv2_computed": round(reference, 1),
        "reference_drqv2_per_step": per_step_reference,
        "reference_over_computed": round(reference / computed, 3),
        "setup": {
            "frame": list(FRAME), "frame_dtype": "uint8", "action_dim": action_dim,
            "episode_length": length, "episodes": episodes, "capacity": capacity,
            "transitions_stored": stored, "episodes_stored": buffer.num_episodes,
            "rss_increase_bytes": after - before, "rss_on_allocation_bytes": after_alloc - before,
            "reference": "DrQ-v2 stores the 9×84×84 uint8 stacked observation per step "
                         "(plus float32 action, reward, discount); computed the same way",
        },
    }
    del buffer
    return result
