"""How much memory a run needs, estimated from its configuration before anything is
allocated, and a check against what this machine has free."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

BASE_BYTES = int(1.5 * 2**30)  # Python, torch, the simulator and the networks on the CPU


def replay_transitions(cfg: Any) -> int:
    """Transitions the replay holds at the end of the run: its capacity, or the budget if smaller."""
    return min(cfg.replay.capacity, math.ceil(cfg.frames / cfg.env.action_repeat))


def run_memory_bytes(cfg: Any) -> int:
    """Peak memory of one run: the replay (one uint8 RGB frame per transition for
    pixels; a few hundred bytes for states) plus ``BASE_BYTES``."""
    per_step = 3 * cfg.env.image_size ** 2 if cfg.env.obs == "pixels" else 512
    return replay_transitions(cfg) * (per_step + 64) + BASE_BYTES


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
    per_step = (need - BASE_BYTES) / max(transitions, 1)
    fit = max(0, int((available - BASE_BYTES) / per_step))
    return (f"this run needs ≈ {need / 2**30:.1f} GiB ({transitions:,} replay transitions × "
            f"{per_step / 1e3:.1f} kB + {BASE_BYTES / 2**30:.1f} GiB), but only {available / 2**30:.1f} GiB is "
            f"available; lower replay.capacity (≤ {fit:,} fits) or frames")
