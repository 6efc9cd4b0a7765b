"""How much memory a run needs, estimated from its configuration before anything is
allocated, and a check against what this machine has free (RAM, and the GPU's memory
when ``replay.device=agent`` puts the replay there)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

BASE_BYTES = int(1.5 * 2**30)  # Python, torch, the simulator and the networks on the CPU
# Left on the GPU beside a device replay: networks, optimisers and a batch's activations (an
# allowance, not a measurement; DrQ-v2's networks at batch 256 are far smaller).
GPU_RESERVE_BYTES = 2 * 2**30
# Each environment worker process (env.workers > 1): an interpreter with the simulator and its
# renderer (≈ 160 MB measured for a DMC worker from states; rendering adds its GL buffers).
WORKER_BYTES = 300 * 2**20


def replay_transitions(cfg: Any) -> int:
    """Transitions the replay holds at the end of the run: its capacity, or the budget if smaller."""
    return min(cfg.replay.capacity, math.ceil(cfg.frames / cfg.env.action_repeat))


def replay_bytes(cfg: Any) -> int:
    """The replay's memory: one uint8 RGB frame per transition for pixels (a few hundred
    bytes for states) plus 64 bytes of action, reward and discount."""
    per_step = 3 * cfg.env.image_size**2 if cfg.env.obs == "pixels" else 512
    return replay_transitions(cfg) * (per_step + 64)


def run_memory_bytes(cfg: Any) -> int:
    """Peak RAM of one run: the replay plus ``BASE_BYTES``, plus ``WORKER_BYTES`` for each
    environment worker process. A device replay counts too: a checkpoint copies the replay
    into RAM."""
    workers = cfg.env.workers if cfg.env.workers > 1 else 0
    return replay_bytes(cfg) + BASE_BYTES + workers * WORKER_BYTES


def mem_available() -> int | None:
    """Bytes this machine can still give (Linux's MemAvailable), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_problem(cfg: Any, available: int | None = None) -> str:
    """A message when the run cannot fit in this machine's free memory, else ""."""
    available = mem_available() if available is None else available
    need = run_memory_bytes(cfg)
    if available is None or need <= available:
        return ""
    transitions = replay_transitions(cfg)
    fixed = need - replay_bytes(cfg)
    per_step = replay_bytes(cfg) / max(transitions, 1)
    fit = max(0, int((available - fixed) / per_step))
    return (
        f"this run needs ≈ {need / 2**30:.1f} GiB ({transitions:,} replay transitions × "
        f"{per_step / 1e3:.1f} kB + {fixed / 2**30:.1f} GiB), but only {available / 2**30:.1f} GiB is "
        f"available; lower replay.capacity (≤ {fit:,} fits) or frames"
    )


def device_free(cfg: Any) -> int | None:
    """Free bytes on the CUDA device that ``replay.device=agent`` puts the replay on, or None
    when the replay stays in RAM (``host``, or an agent on the CPU)."""
    if cfg.replay.device != "agent":
        return None
    import torch

    from dormant.training.device import resolve_device

    device = resolve_device(cfg.device)
    if device.type != "cuda":
        return None
    return int(torch.cuda.mem_get_info(device)[0])


def device_memory_problem(cfg: Any, free: int | None = None) -> str:
    """A message when a device replay cannot fit in the GPU's free memory beside
    ``GPU_RESERVE_BYTES``, else "". ``free``: the GPU's free bytes (looked up when None)."""
    if cfg.replay.device != "agent":
        return ""
    free = device_free(cfg) if free is None else free
    if free is None:
        return ""
    from dormant.replay import slots_for

    # CUDA allocates the whole buffer at once, reset slots included (ReplayBuffer's rule).
    transitions = replay_transitions(cfg)
    slots_per_step = slots_for(cfg.replay.capacity, math.ceil(cfg.frames / cfg.env.action_repeat)) / transitions
    need = math.ceil(replay_bytes(cfg) * slots_per_step) + GPU_RESERVE_BYTES
    if need <= free:
        return ""
    per_step = replay_bytes(cfg) * slots_per_step / max(transitions, 1)
    fit = max(0, int((free - GPU_RESERVE_BYTES) / per_step))
    return (
        f"replay.device=agent puts ≈ {(need - GPU_RESERVE_BYTES) / 2**30:.1f} GiB of replay on the GPU "
        f"(plus {GPU_RESERVE_BYTES / 2**30:.0f} GiB for the networks), but only {free / 2**30:.1f} GiB is free "
        f"there; use replay.device=host, or lower replay.capacity (≤ {fit:,} fits) or frames"
    )
