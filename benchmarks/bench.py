#!/usr/bin/env python
"""Throughput benchmark for dormant's DrQ-v2: update, sampling, rendering, replay memory, end to end.

Run from the repository root with the project's environment active:

    python benchmarks/bench.py                 # full run (≈5 min on a quiet 2-core CPU)
    python benchmarks/bench.py --quick         # smoke version (≈30 s on a quiet 2-core CPU)
    python benchmarks/bench.py --out benchmarks/results/NAME.json

Prints one JSON object (and writes it to ``--out``). Every figure is measured
through the library's own classes (``DrQV2Agent``, ``ReplayBuffer``, ``DMCEnv``,
``Trainer``); see benchmarks/README.md for what each one means.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# MuJoCo reads MUJOCO_GL once, when dm_control is imported: choose it first.
from dormant.envs.rendering import configure_rendering

GL_BACKEND = configure_rendering(True)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dormant.agents.drqv2 import DrQV2Agent  # noqa: E402
from dormant.config import AgentConfig, resolve  # noqa: E402
from dormant.replay import ReplayBuffer  # noqa: E402

FRAME = (3, 84, 84)  # one rendered frame, uint8 C×H×W
REQUIREMENT_BYTES = 21_500  # replay storage per transition, at most


# --- helpers ---------------------------------------------------------------
def now() -> float:
    return time.perf_counter()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(seconds: list[float]) -> float:
    return round(1000.0 * statistics.median(seconds), 3)


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

    def __init__(self, name: str, sink: dict):
        self.name, self.sink = name, sink

    def __enter__(self) -> "CpuMeter":
        self.t0, self.busy0, self.own0 = now(), self._busy_s(), self._own_s()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = now() - self.t0
        busy1, own1 = self._busy_s(), self._own_s()
        self.report = {"wall_s": round(self.wall, 1), "own_cpu_s": round(own1 - self.own0, 1)}
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


def wait_quiet(max_s: float, window_s: float = 3.0, threshold_cores: float = 0.25) -> dict:
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
    return {"waited_s": round(now() - t0, 1),
            "other_processes_cores_at_start": None if other is None else round(other, 2)}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[1]
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                               text=True, timeout=10)
        if head.returncode != 0:
            return None
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine(device: torch.device) -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "memory_gib": mem_total_gib(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "mujoco_gl": GL_BACKEND,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }
    try:
        import mujoco

        info["mujoco"] = mujoco.__version__
    except ImportError:
        pass
    return info


def fill_replay(buffer: ReplayBuffer, episodes: int, length: int, action_dim: int,
                seed: int = 0) -> None:
    """Write ``episodes`` complete episodes of ``length`` transitions of random uint8 frames."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, size=(64, *FRAME), dtype=np.uint8)  # frames to cycle through
    actions = rng.uniform(-1, 1, size=(length, action_dim)).astype(np.float32)
    zero = np.zeros(action_dim, np.float32)
    k = 0
    for _ in range(episodes):
        buffer.add(pool[k % 64], zero, 0.0, 1.0, first=True, last=False)
        k += 1
        for t in range(length):
            buffer.add(pool[k % 64], actions[t], float(rng.random()), 1.0,
                       first=False, last=t == length - 1)
            k += 1


# --- 3. replay memory --------------------------------------------------------
def bench_replay_memory(episodes: int, length: int) -> dict:
    action_dim = 6
    kwargs = dict(frame_stack=3, nstep=3, discount=0.99)
    computed = ReplayBuffer(FRAME, np.uint8, action_dim, capacity=1000, **kwargs).bytes_per_transition(length)
    reference = ReplayBuffer((9, 84, 84), np.uint8, action_dim, capacity=1000,
                             **kwargs).bytes_per_transition(length)
    per_step_reference = 9 * 84 * 84 + 4 * action_dim + 4 + 4

    capacity = episodes * length
    # Build the frame pool and the RNG state before the baseline reading.
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, size=(64, *FRAME), dtype=np.uint8)
    actions = rng.uniform(-1, 1, size=(length, action_dim)).astype(np.float32)
    rewards = rng.random(length).tolist()
    zero = np.zeros(action_dim, np.float32)
    before = rss_bytes()
    buffer = ReplayBuffer(FRAME, np.uint8, action_dim, capacity=capacity, **kwargs)
    after_alloc = rss_bytes()
    k = 0
    for _ in range(episodes):
        buffer.add(pool[k % 64], zero, 0.0, 1.0, first=True, last=False)
        k += 1
        for t in range(length):
            buffer.add(pool[k % 64], actions[t], rewards[t], 1.0, first=False, last=t == length - 1)
            k += 1
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


# --- 1. update and sampling --------------------------------------------------
def bench_update(device: torch.device, warmup: int, n: int, n_samples: int,
                 episodes: int, length: int) -> dict:
    obs_shape, action_dim, batch_size = (9, 84, 84), 1, 256
    replay = ReplayBuffer(FRAME, np.uint8, action_dim, capacity=episodes * length,
                          frame_stack=3, nstep=3, discount=0.99, seed=0)
    fill_replay(replay, episodes, length, action_dim)
    step = 100_000  # past the exploration phase; σ from the default schedule

    out: dict = {"setup": {
        "obs_shape": list(obs_shape), "action_dim": action_dim, "batch_size": batch_size,
        "hidden_dim": AgentConfig().hidden_dim, "feature_dim": AgentConfig().feature_dim,
        "warmup_updates": warmup, "timed_updates": n, "replay_transitions": len(replay),
        "statistic": "median",
    }}
    sample_s, to_batch_s = [], []
    update_ms, update_all = {}, {}
    guard_s: list[float] = []
    for label, cfg in (("fp32", AgentConfig()), ("bf16", AgentConfig(bf16=True))):
        torch.manual_seed(0)
        agent = DrQV2Agent(obs_shape, action_dim, cfg, pixels=True, device=device)
        times = []
        for i in range(warmup + n):
            t0 = now()
            raw = replay.sample(batch_size)
            t1 = now()
            batch = agent.to_batch(raw)
            sync(device)
            t2 = now()
            agent.update(batch, step).cpu()  # .cpu(): the trainer's one host sync
            sync(device)
            t3 = now()
            if i >= warmup:
                times.append(t3 - t2)
                sample_s.append(t1 - t0)
                to_batch_s.append(t2 - t1)
        update_ms[label] = median_ms(times)
        update_all[label] = [round(1000 * t, 1) for t in times]
        if label == "fp32":
            from dormant.training.guard import StateGuard

            guard = StateGuard()
            live = agent.live_tensors()
            guard.snapshot(live)  # first call allocates the copy
            for _ in range(max(n, 3)):
                sync(device)
                t0 = now()
                guard.snapshot(live)
                sync(device)
                guard_s.append(now() - t0)
            out["setup"]["agent_state_floats"] = int(sum(t.numel() for t in live))
            del guard, live
            # Extra sampling-only repetitions (cheap) for a steadier median.
            for _ in range(n_samples):
                t0 = now()
                raw = replay.sample(batch_size)
                t1 = now()
                agent.to_batch(raw)
                sync(device)
                t2 = now()
                sample_s.append(t1 - t0)
                to_batch_s.append(t2 - t1)
        del agent
    total = [a + b for a, b in zip(sample_s, to_batch_s)]
    sample_ms = median_ms(total)
    out["update_ms"] = update_ms
    out["update_ms_each"] = update_all
    out["bf16_over_fp32"] = round(update_ms["bf16"] / update_ms["fp32"], 3)
    out["sample_ms"] = sample_ms
    out["sample_only_ms"] = median_ms(sample_s)
    out["to_batch_ms"] = median_ms(to_batch_s)
    out["sample_repetitions"] = len(total)
    out["samples_per_s"] = round(batch_size / (sample_ms / 1000.0), 1)
    out["sample_over_update"] = round(sample_ms / update_ms["fp32"], 4)
    out["guard_snapshot_ms"] = median_ms(guard_s)
    out["guard_over_update"] = round(median_ms(guard_s) / update_ms["fp32"], 4)
    return out


def time_interleaved(agents: dict, next_batch, rounds: int, warmup: int, step: int,
                     device: torch.device) -> dict[str, list[float]]:
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


def time_once_ms(fn, device: torch.device) -> float:
    sync(device)
    t0 = now()
    fn()
    sync(device)
    return round(1000 * (now() - t0), 1)


def bench_drm_overhead(device: torch.device, warmup: int, n: int, episodes: int, length: int) -> dict:
    """DrM's update against DrQ-v2's on the same batches, interleaved (A B, B A, ...) so
    that drift and order effects hit both alike; the ratio of medians is the figure."""
    from dormant.agents.drm import DrMAgent
    from dormant.config import DrMConfig

    obs_shape, action_dim, batch_size = (9, 84, 84), 1, 256
    replay = ReplayBuffer(FRAME, np.uint8, action_dim, capacity=episodes * length,
                          frame_stack=3, nstep=3, discount=0.99, seed=1)
    fill_replay(replay, episodes, length, action_dim)
    torch.manual_seed(0)
    agents = {"drqv2": DrQV2Agent(obs_shape, action_dim, AgentConfig(), pixels=True, device=device),
              "drm": DrMAgent(obs_shape, action_dim, AgentConfig(), pixels=True, device=device,
                              drm=DrMConfig())}
    step = 100_000 + 2  # past exploration, not a perturbation step
    times = time_interleaved(agents, lambda i: agents["drqv2"].to_batch(replay.sample(batch_size)),
                             warmup + n, warmup, step, device)
    perturb_ms = time_once_ms(agents["drm"].perturb, device)  # once: it runs every 100k agent steps
    medians = {name: median_ms(t) for name, t in times.items()}
    return {"update_ms": medians, "drm_over_drqv2": round(medians["drm"] / medians["drqv2"], 3),
            "update_ms_each": {k: [round(1000 * t, 1) for t in v] for k, v in times.items()},
            "perturb_ms_once": perturb_ms, "target_max_ratio": 1.2,
            "setup": {"obs_shape": list(obs_shape), "batch_size": batch_size, "hidden_dim": 1024,
                      "timed_updates_each": n, "warmup_updates_each": warmup,
                      "order": "interleaved, alternating which agent goes first"}}


class _NoCount:
    """Stands in for the agent's critic ActiveUnitCounter: the baseline without FAU hooks."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def fraction(self) -> torch.Tensor:
        return torch.zeros(())


def bench_plasticity(device: torch.device, warmup: int, n: int, episodes: int, length: int) -> dict:
    """What the plasticity machinery costs: the per-update critic-FAU hooks (interleaved
    A/B against the same agent without them, pixels and states), and one ReDo event, one
    diagnostics row, one reset and one shrink-and-perturb on the full pixel network
    (each runs every ~1000 updates or rarer: reported next to an update's time)."""
    out: dict = {}
    replay = ReplayBuffer(FRAME, np.uint8, 1, capacity=episodes * length, frame_stack=3, nstep=3,
                          discount=0.99, seed=1)
    fill_replay(replay, episodes, length, 1)
    step = 100_000 + 2
    for kind, obs_shape, pixels in (("pixels", (9, 84, 84), True), ("states_hidden1024", (24,), False)):
        torch.manual_seed(0)
        agents = {"with_fau": DrQV2Agent(obs_shape, 1, AgentConfig(), pixels=pixels, device=device),
                  "without_fau": DrQV2Agent(obs_shape, 1, AgentConfig(), pixels=pixels, device=device)}
        agents["without_fau"]._critic_units = _NoCount()

        def next_batch(i: int, pixels: bool = pixels, agent: DrQV2Agent = agents["with_fau"]) -> dict:
            if pixels:
                return agent.to_batch(replay.sample(256))
            g = torch.Generator().manual_seed(i)
            batch = {"obs": torch.randn(256, 24, generator=g), "next_obs": torch.randn(256, 24, generator=g),
                     "action": torch.rand(256, 1, generator=g) * 2 - 1, "reward": torch.rand(256, 1, generator=g),
                     "discount": torch.full((256, 1), 0.99)}
            return {k: v.to(device) for k, v in batch.items()}

        times = time_interleaved(agents, next_batch, warmup + (n if pixels else 20 * n), warmup, step, device)
        medians = {name: median_ms(t) for name, t in times.items()}
        out[f"fau_hooks_{kind}"] = {"update_ms": medians,
                                   "with_over_without": round(medians["with_fau"] / medians["without_fau"], 3),
                                   "timed_updates_each": len(times["with_fau"])}
        if pixels:
            agent = agents["with_fau"]
            batch = next_batch(0)
            once = {}
            for name, fn in (("redo_critic", lambda: agent.recycle_dormant(batch, ["critic"])),
                             ("redo_critic_actor_encoder", lambda: agent.recycle_dormant(batch, ["critic", "actor", "encoder"])),
                             ("diagnostics", lambda: agent.diagnostics(batch)),
                             ("reset_heads", lambda: agent.reinitialise("heads")),
                             ("shrink_perturb_all", lambda: agent.shrink_perturb(0.8, scope="all"))):
                once[name] = time_once_ms(fn, device)
            out["once_ms_pixels"] = once
            out["redo_every_1000_updates_over_update"] = round(
                once["redo_critic_actor_encoder"] / (1000 * medians["with_fau"]), 5)
    return out


# --- 2. environment frames/s --------------------------------------------------
def bench_env(tasks: list[str], steps: int, warmup: int = 5) -> dict:
    """Simulator frames/s of every suite through the same `make_env` the trainer uses:
    the reference render, the fast test render and (DMC) states without rendering."""
    from dormant.config import resolve
    from dormant.envs import MissingSuiteError, make_env

    out: dict = {"setup": {"image_size": 84, "action_repeat": 2, "frame_stack": "the task preset's",
                           "agent_steps": steps, "warmup_steps": warmup, "actions": "uniform random",
                           "unit": "simulator frames per second (agent steps × action_repeat)"}}
    for task in tasks:
        row = {}
        variants = [("default", {}), ("fast_render", {"env.fast_render": True})]
        if task.startswith("dmc/"):
            variants.append(("states_no_render", {"obs": "states"}))
        for label, overrides in variants:
            try:
                env = make_env(resolve({"task": task, **overrides}), seed=1)
            except MissingSuiteError as err:
                row = {"skipped": str(err)}
                break
            rng = np.random.default_rng(0)
            ts = env.reset()
            for _ in range(warmup):
                ts = env.step(rng.uniform(-1, 1, env.action_dim).astype(np.float32))
            frames = 0
            t0 = now()
            for _ in range(steps):
                if ts.last:
                    ts = env.reset()
                ts = env.step(rng.uniform(-1, 1, env.action_dim).astype(np.float32))
                frames += 2
            row[label] = round(frames / (now() - t0), 1)
            if hasattr(env, "close"):
                env.close()
            del env
        if "skipped" not in row:
            row["fast_over_default"] = round(row["fast_render"] / row["default"], 3)
        out[task] = row
    return out


# --- 4. end to end -------------------------------------------------------------
def bench_end_to_end(overrides: dict, device: str, budget_s: float) -> dict:
    """A real training run; the update phase stops early after ``budget_s`` seconds."""
    import csv

    from dormant.training.trainer import Trainer

    class TimedTrainer(Trainer):
        """Trainer that notes when the update phase starts and times each update."""

        marks: dict
        update_s: list

        def _act_and_learn(self) -> None:
            step = self.counters.step
            if step == 0 and "start" not in self.marks:
                self.marks["start"] = now()
            if step == self.seed_steps:
                self.marks["seed_end"] = now()
            super()._act_and_learn()
            if self.counters.step >= self.total_steps:
                self.marks["end"] = now()
            elif "seed_end" in self.marks and now() - self.marks["seed_end"] > budget_s:
                # Out of time: stop at the next safe point, as Ctrl-C would.
                self.stop_requested = True
                self.marks["end"] = now()
                self.marks["end_step"] = self.counters.step

        def _update(self, step: int) -> None:
            t0 = now()
            super()._update(step)
            self.update_s.append(now() - t0)

    with tempfile.TemporaryDirectory(prefix="dormant-bench-") as tmp:
        cfg = resolve({**overrides, "eval.episodes": 0, "log.progress": False,
                       "log.tensorboard": False, "out": tmp, "device": device})
        t0 = now()
        trainer = TimedTrainer(cfg, Path(tmp))
        trainer.marks, trainer.update_s = {}, []
        t1 = now()
        status = trainer.train()
        t2 = now()
        rows = []
        if (Path(tmp) / "train.csv").exists():
            with open(Path(tmp) / "train.csv", newline="") as handle:
                rows = list(csv.DictReader(handle))
        repeat = cfg.env.action_repeat
        marks = trainer.marks
        seed_frames = trainer.seed_steps * repeat
        end_step = marks.get("end_step", trainer.total_steps)
        update_frames = (end_step - trainer.seed_steps) * repeat
        result = {
            "config": {k: v for k, v in overrides.items()},
            "status": status,
            "frames": trainer.frame,
            "updates": len(trainer.update_s),
            "stopped_early": "end_step" in marks,
            "update_phase_budget_s": budget_s,
            "setup_s": round(t1 - t0, 2),
            "train_wall_s": round(t2 - t1, 2),
        }
        if {"start", "seed_end", "end"} <= marks.keys():
            seed_s = marks["seed_end"] - marks["start"]
            upd_s = marks["end"] - marks["seed_end"]
            result["seed_phase"] = {"frames": seed_frames, "seconds": round(seed_s, 2),
                                    "fps": round(seed_frames / seed_s, 1)}
            result["update_phase"] = {"frames": update_frames, "seconds": round(upd_s, 2),
                                      "fps": round(update_frames / upd_s, 1)}
            if trainer.update_s:
                result["update_phase"]["trainer_update_ms_median"] = median_ms(trainer.update_s)
                result["update_phase"]["share_in_updates"] = round(sum(trainer.update_s) / upd_s, 3)
        else:  # the trainer's internals changed; fall back to its own logs
            result["note"] = "phase marks unavailable; fps from train.csv only"
        seed_rows = [float(r["fps"]) for r in rows if int(float(r["step"])) <= trainer.seed_steps]
        result["train_csv_fps_seed_episodes"] = [round(v, 1) for v in seed_rows]
        del trainer
    return result


# --- main ---------------------------------------------------------------------
# One or two tasks per suite; the optional suites are skipped when not installed.
ENV_TASKS = ["dmc/cartpole_swingup", "dmc/walker_walk", "metaworld/assembly", "adroit/door", "adroit/pen"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke version (≈30 s on a quiet 2-core CPU)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--updates", type=int, help="timed updates per precision (default 5, quick 2)")
    parser.add_argument("--warmup", type=int, help="untimed updates first (default 2, quick 1)")
    parser.add_argument("--env-steps", type=int, help="agent steps per env measurement (default 200)")
    parser.add_argument("--env-tasks", nargs="+", default=ENV_TASKS, help="tasks of the env section")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                        help="before each section, wait up to S seconds for other processes "
                             "to use < 0.25 cores (shared machines; default 0: no wait)")
    parser.add_argument("--e2e-budget-s", type=float,
                        help="stop each end-to-end run's update phase after this many seconds "
                             "(default 300 pixels / 120 states; quick 60 / 30)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["update", "drm", "plasticity", "env", "replay", "e2e"],
                        help="sections to leave out")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    quick = args.quick
    updates = args.updates or (2 if quick else 5)
    warmup = args.warmup if args.warmup is not None else (1 if quick else 2)
    env_steps = args.env_steps or (50 if quick else 200)
    mem_episodes = 10 if quick else 40
    if quick:
        # One complete 1000-frame episode must be stored before the first update;
        # quick mode renders it the cheap way (labelled in the output).
        pixels_e2e = {"task": "dmc/cartpole_swingup", "frames": 1020, "num_seed_frames": 1000,
                      "env.fast_render": True}
        states_e2e = {"task": "dmc/cartpole_swingup", "obs": "states", "agent.hidden_dim": 256,
                      "frames": 1400, "num_seed_frames": 1000}
    else:
        pixels_e2e = {"task": "dmc/cartpole_swingup", "frames": 4400, "num_seed_frames": 4000}
        states_e2e = {"task": "dmc/cartpole_swingup", "obs": "states", "agent.hidden_dim": 256,
                      "frames": 12000, "num_seed_frames": 4000}

    t_start = now()
    result: dict = {"benchmark": "dormant DrQ-v2 / DrM / plasticity throughput", "quick": quick,
                    "machine": machine(device)}

    def log(msg: str) -> None:
        print(f"[bench {now() - t_start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    sections: dict = {}
    result["contention"] = sections

    def section(name: str) -> CpuMeter:
        log(name)
        meter = CpuMeter(name, sections)
        if args.wait_quiet > 0:
            meter.waited = wait_quiet(args.wait_quiet)
        return meter

    if "replay" not in args.skip:  # first: the RSS reading is cleanest before torch allocates
        with section("replay_memory"):
            result["replay_bytes_per_transition"] = bench_replay_memory(mem_episodes, 500)
    if "update" not in args.skip:
        with section("update_and_sampling"):
            upd = bench_update(device, warmup, updates, 20 if quick else 50, mem_episodes, 500)
        for key in ("update_ms", "sample_ms", "samples_per_s", "sample_over_update"):
            result[key] = upd.pop(key)
        result["update_details"] = upd
    if "drm" not in args.skip:
        with section("drm_overhead"):
            result["drm_overhead"] = bench_drm_overhead(device, warmup, updates, mem_episodes, 500)
    if "plasticity" not in args.skip:
        with section("plasticity"):
            result["plasticity"] = bench_plasticity(device, warmup, updates, mem_episodes, 500)
    if "env" not in args.skip:
        with section("env_fps"):
            result["env_fps"] = bench_env(args.env_tasks, env_steps)
    if "e2e" not in args.skip:
        with section("end_to_end_pixels"):
            pixels = bench_end_to_end(pixels_e2e, str(device),
                                      args.e2e_budget_s or (60 if quick else 300))
        with section("end_to_end_states"):
            states = bench_end_to_end(states_e2e, str(device),
                                      args.e2e_budget_s or (30 if quick else 120))
        result["end_to_end_fps"] = {
            "pixels": {"seed_phase": pixels.get("seed_phase", {}).get("fps"),
                       "update_phase": pixels.get("update_phase", {}).get("fps")},
            "states_hidden256": {"seed_phase": states.get("seed_phase", {}).get("fps"),
                                 "update_phase": states.get("update_phase", {}).get("fps")},
            "pixels_render": "fast_render" if pixels_e2e.get("env.fast_render") else "default",
            "details": {"pixels": pixels, "states_hidden256": states},
        }
        trainer_ms = pixels.get("update_phase", {}).get("trainer_update_ms_median")
        if trainer_ms and "update_ms" in result:
            # The trainer's update (sample + to_batch + guard + update) over the bare update.
            result["end_to_end_fps"]["trainer_update_over_bench_update"] = round(
                trainer_ms / result["update_ms"]["fp32"], 3)
    result["wall_s"] = round(now() - t_start, 1)
    log("done")
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
