"""Section ``replay_bytes_per_transition``: the replay buffer's memory per transition.

Pixel replay memory is what limits a visual-RL run's capacity, and dormant stores one
3×84×84 frame per step where DrQ-v2's reference stores the 9×84×84 stacked observation.
This section reports the buffer's own account (``ReplayBuffer.bytes_per_transition``),
the growth of this process's resident memory while a buffer is filled with random
frames, the reference's figure computed the same way, and whether both stay under the
21,500-bytes requirement. Run it first: the RSS reading is cleanest before torch allocates.

``bench_replay_device`` (run alone: ``python benchmarks/bench_replay.py --out FILE``)
times batch-256 sampling under ``replay.device=host`` and ``replay.device=agent``.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

if str(Path(__file__).resolve().parent) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BATCH_SIZE,
    FRAME,
    CpuMeter,
    filled_replay,
    median_ms,
    now,
    random_episode_data,
    rss_bytes,
    sync,
    write_episodes,
)

from dormant.replay import ReplayBuffer

REQUIREMENT_BYTES = 21_500  # replay storage per transition, at most


def bench_replay_memory(episodes: int, length: int) -> dict[str, Any]:
    action_dim = 6
    kwargs: dict[str, Any] = dict(frame_stack=3, nstep=3, discount=0.99)
    computed = ReplayBuffer(FRAME, np.uint8, action_dim, capacity=1000, **kwargs).bytes_per_transition(length)
    reference = ReplayBuffer((9, 84, 84), np.uint8, action_dim, capacity=1000, **kwargs).bytes_per_transition(length)
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
            "frame": list(FRAME),
            "frame_dtype": "uint8",
            "action_dim": action_dim,
            "episode_length": length,
            "episodes": episodes,
            "capacity": capacity,
            "transitions_stored": stored,
            "episodes_stored": buffer.num_episodes,
            "rss_increase_bytes": after - before,
            "rss_on_allocation_bytes": after_alloc - before,
            "reference": "DrQ-v2 stores the 9×84×84 uint8 stacked observation per step "
            "(plus float32 action, reward, discount); computed the same way",
        },
    }
    del buffer
    return result


# --- sampling: host replay vs replay on the agent's device ---------------------------------
def bench_replay_device(
    device: torch.device, episodes: int, length: int, rounds: int, warmup: int = 3
) -> dict[str, Any]:
    """Batch-256 sampling (3×84×84 uint8 frames, frame stack 3, 3-step returns) from the same
    data under ``replay.device=host`` (``sample`` then the agent's ``to_batch``) and
    ``replay.device=agent`` (``sample`` already returns tensors on ``device``), interleaved in
    one process with the order alternating; plus one ``add`` of each (the write path)."""
    from dormant.agents.module_agent import ModuleAgent

    mover = ModuleAgent()
    mover.device = device
    action_dim = 6
    buffers = {
        "host": filled_replay(episodes, length, action_dim, seed=1),
        "agent": filled_replay(episodes, length, action_dim, seed=1, device=device),
    }
    host_batch, agent_batch = buffers["host"].sample(BATCH_SIZE), buffers["agent"].sample(BATCH_SIZE)
    same = {k: bool(np.array_equal(v, agent_batch[k].cpu().numpy())) for k, v in host_batch.items()}
    times: dict[str, list[float]] = {"host_sample": [], "host_to_batch": [], "agent_sample": [], "agent_to_batch": []}
    for i in range(warmup + rounds):
        for name in ("host", "agent") if i % 2 == 0 else ("agent", "host"):
            sync(device)
            t0 = now()
            batch = buffers[name].sample(BATCH_SIZE)
            sync(device)
            t1 = now()
            mover.to_batch(batch)
            sync(device)
            if i >= warmup:
                times[f"{name}_sample"].append(t1 - t0)
                times[f"{name}_to_batch"].append(now() - t1)
    totals = {
        name: [s + b for s, b in zip(times[f"{name}_sample"], times[f"{name}_to_batch"], strict=True)]
        for name in ("host", "agent")
    }
    adds = {name: _add_seconds(buf, action_dim, device) for name, buf in buffers.items()}
    ms = {key: median_ms(v) for key, v in times.items()}
    total_ms = {name: median_ms(v) for name, v in totals.items()}
    return {
        "host": {
            "sample_ms": ms["host_sample"],
            "to_batch_ms": ms["host_to_batch"],
            "sample_plus_to_batch_ms": total_ms["host"],
            "add_us": adds["host"],
        },
        "agent": {
            "sample_ms": ms["agent_sample"],
            "to_batch_ms": ms["agent_to_batch"],
            "sample_plus_to_batch_ms": total_ms["agent"],
            "add_us": adds["agent"],
        },
        "agent_over_host_sample_plus_to_batch": round(total_ms["agent"] / total_ms["host"], 3),
        "agent_over_host_sample": round(ms["agent_sample"] / ms["host_sample"], 3),
        "agent_over_host_add": round(adds["agent"] / adds["host"], 3),
        "batches_equal": same,
        "setup": {
            "device": str(device),
            "batch_size": BATCH_SIZE,
            "frame": list(FRAME),
            "frame_stack": 3,
            "nstep": 3,
            "action_dim": action_dim,
            "episodes": episodes,
            "episode_length": length,
            "timed_rounds": rounds,
            "warmup_rounds": warmup,
            "torch_threads": torch.get_num_threads(),
            "timing": "medians; host and agent interleaved, order alternating; device synchronised "
            "around each call (a no-op on the CPU)",
        },
    }


def _add_seconds(buffer: ReplayBuffer, action_dim: int, device: torch.device, steps: int = 400) -> float:
    """Median microseconds of one ``add`` (a random 3×84×84 frame, mid-episode)."""
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, size=(16, *FRAME), dtype=np.uint8)
    action = np.zeros(action_dim, np.float32)
    buffer.add(frames[0], action, 0.0, 1.0, first=True, last=False)
    seconds = []
    for t in range(steps):
        sync(device)
        t0 = now()
        buffer.add(frames[t % 16], action, 1.0, 1.0, first=False, last=t == steps - 1)
        sync(device)
        seconds.append(now() - t0)
    return round(1e6 * statistics.median(seconds), 2)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python benchmarks/bench_replay.py --out FILE``: the device-sampling comparison alone."""
    import argparse
    import json
    from pathlib import Path

    from machine import machine

    parser = argparse.ArgumentParser(description="replay sampling: host numpy vs the agent's device")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--rounds", type=int, default=60, help="timed sampling rounds (default 60)")
    parser.add_argument("--episodes", type=int, default=40, help="500-step episodes in each buffer (default 40)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = now()
    result: dict[str, Any] = {
        "benchmark": "replay sampling: replay.device=host vs replay.device=agent",
        "machine": machine(device),
        "contention": {},
    }
    with CpuMeter("replay_device_sampling", result["contention"]):
        result["replay_device_sampling"] = bench_replay_device(device, args.episodes, 500, args.rounds)
    result["wall_s"] = round(now() - t0, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
