"""Measurement helpers shared by every section of the benchmark.

Timers (``now``, ``sync``, ``median_ms``, ``time_once_ms``, ``time_interleaved``), memory
(``rss_bytes``), contention (``CpuMeter``, ``wait_quiet``) and replay filling
(``filled_replay``, ``write_episodes``). They live in one place so that every section
times, syncs and fills the same way, and their figures can be compared.

Importing this module chooses MuJoCo's GL backend (``GL_BACKEND``): MuJoCo reads
``MUJOCO_GL`` once, when dm_control is imported, so import this module before anything
that may import dm_control.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# MuJoCo reads MUJOCO_GL once, when dm_control is imported: choose it first.
from dormant.envs.rendering import configure_rendering

GL_BACKEND = configure_rendering(True)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dormant.replay import ReplayBuffer  # noqa: E402

FRAME = (3, 84, 84)  # one rendered frame, uint8 C×H×W
PIXEL_OBS = (9, 84, 84)  # the agent's pixel observation: three stacked frames
BATCH_SIZE = 256  # the default batch of every timed update


# --- timing ------------------------------------------------------------------
def now() -> float:
    return time.perf_counter()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(seconds: list[float]) -> float:
    return round(1000.0 * statistics.median(seconds), 3)


def time_once_ms(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    t0 = now()
    fn()
    sync(device)
    return round(1000 * (now() - t0), 1)


def time_interleaved(
    agents: Mapping[str, Any],
    next_batch: Callable[[int], dict],
    rounds: int,
    warmup: int,
    step: int,
    device: torch.device,
) -> dict[str, list[float]]:
    """Seconds per update of each agent on the same batches, interleaved with the order
    alternating (A B, B A, ...) so that drift hits all alike; the first ``warmup``
    rounds are not kept. ``next_batch(i)`` gives round i's batch."""
    times: dict[str, list[float]] = {name: [] for name in agents}
    for i in range(rounds):
        batch = next_batch(i)
        order = list(agents.items()) if i % 2 == 0 else list(agents.items())[::-1]
        for name, agent in order:
            sync(device)
            t0 = now()
            agent.update(batch, step).cpu()
            sync(device)
            if i >= warmup:
                times[name].append(now() - t0)
    return times


# --- memory and contention ---------------------------------------------------
def rss_bytes() -> int:
    """Resident set size of this process (VmRSS in /proc/self/status)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class CpuMeter:
    """CPU seconds used on the whole machine by *other* processes during a section.

    On a small shared CPU another process's load slows torch's threaded ops far more
    than its share (each parallel region waits for a descheduled thread), so every
    section reports how busy the rest of the machine was while it ran.
    """

    HZ = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _busy_s() -> float | None:
        try:
            with open("/proc/stat") as handle:
                fields = [int(v) for v in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal ...: busy = all but idle, iowait
        return (sum(fields[:8]) - fields[3] - fields[4]) / CpuMeter.HZ

    @staticmethod
    def _own_s() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __init__(self, name: str, sink: dict[str, dict]):
        self.name, self.sink = name, sink

    def __enter__(self) -> CpuMeter:
        self.t0, self.busy0, self.own0 = now(), self._busy_s(), self._own_s()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = now() - self.t0
        busy1, own1 = self._busy_s(), self._own_s()
        self.report: dict[str, Any] = {"wall_s": round(self.wall, 1), "own_cpu_s": round(own1 - self.own0, 1)}
        if self.busy0 is not None and busy1 is not None:
            other = max(busy1 - self.busy0 - (own1 - self.own0), 0.0)
            self.report["other_processes_cpu_s"] = round(other, 1)
            self.report["other_processes_cores"] = round(other / max(self.wall, 1e-9), 2)
        try:
            with open("/proc/loadavg") as handle:
                self.report["loadavg_1min_after"] = float(handle.read().split()[0])
        except (OSError, ValueError):
            pass
        self.report.update(getattr(self, "waited", {}))
        self.sink[self.name] = self.report


def wait_quiet(max_s: float, window_s: float = 3.0, threshold_cores: float = 0.25) -> dict[str, Any]:
    """Wait (up to ``max_s``) for a ``window_s`` window in which other processes use
    fewer than ``threshold_cores`` cores; returns how long it waited and the last load."""
    t0 = now()
    other = None
    while True:
        busy0, own0 = CpuMeter._busy_s(), CpuMeter._own_s()
        time.sleep(window_s)
        busy1, own1 = CpuMeter._busy_s(), CpuMeter._own_s()
        if busy0 is None or busy1 is None:
            break
        other = max(busy1 - busy0 - (own1 - own0), 0.0) / window_s
        if other < threshold_cores or now() - t0 >= max_s:
            break
    return {
        "waited_s": round(now() - t0, 1),
        "other_processes_cores_at_start": None if other is None else round(other, 2),
    }


# --- replay ------------------------------------------------------------------
def random_episode_data(rng: np.random.Generator, length: int, action_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A pool of 64 random uint8 frames to cycle through, and one episode's actions."""
    pool = rng.integers(0, 256, size=(64, *FRAME), dtype=np.uint8)
    actions = rng.uniform(-1, 1, size=(length, action_dim)).astype(np.float32)
    return pool, actions


def write_episodes(
    buffer: ReplayBuffer, pool: np.ndarray, actions: np.ndarray, rewards: Sequence[Sequence[float]]
) -> None:
    """One complete episode per row of ``rewards`` (a reset then ``len(actions)``
    transitions), frames cycling through ``pool``, the same actions every episode."""
    zero = np.zeros(actions.shape[1], np.float32)
    length = len(actions)
    k = 0
    for episode_rewards in rewards:
        buffer.add(pool[k % 64], zero, 0.0, 1.0, first=True, last=False)
        k += 1
        for t in range(length):
            buffer.add(pool[k % 64], actions[t], float(episode_rewards[t]), 1.0, first=False, last=t == length - 1)
            k += 1


def filled_replay(
    episodes: int, length: int, action_dim: int, seed: int, horizon: int = 0, device: torch.device | None = None
) -> ReplayBuffer:
    """A pixel replay buffer (frame stack 3, 3-step returns, discount 0.99, sampling
    ``seed``) holding ``episodes`` complete episodes of ``length`` random transitions;
    ``horizon`` K adds TACO's K-step extras (K ≤ 3 draws the same batches); ``device``
    stores the steps there (``replay.device=agent``) instead of in host numpy arrays."""
    buffer = ReplayBuffer(
        FRAME,
        np.uint8,
        action_dim,
        capacity=episodes * length,
        frame_stack=3,
        nstep=3,
        discount=0.99,
        seed=seed,
        horizon=horizon,
        device=device,
    )
    rng = np.random.default_rng(0)
    pool, actions = random_episode_data(rng, length, action_dim)
    write_episodes(buffer, pool, actions, rng.random((episodes, length)))
    return buffer
