#!/usr/bin/env python
"""What environment workers (``env.workers``) buy on this CPU: pixel ``dmc/cartpole_swingup``
(84×84, MuJoCo's reference renderer, not ``env.fast_render``), collection alone and end to end.

Run from the repository root with the project's environment active:

    python benchmarks/bench_workers.py --wait-quiet 120 --out benchmarks/results/NAME.json  # ≈ 8 min on 2 cores
    python benchmarks/bench_workers.py --quick                                              # ≈ 2 min there

Three sections, each in rounds whose order alternates (A B, B A, …) so that a change of load
hits the setups alike; each figure is the median over the rounds, and every ratio is taken
between figures of the same run:

1. ``collection``: environment steps/s with uniform random actions (an episode's end followed by
   its reset, as the trainer does) through ``SingleEnv(make_env(…))`` (the trainer's path for
   ``env.workers=1``), ``EnvWorkers`` with one worker (the same env in a spawned process: the
   cost of the pipe and the shared-memory copy), and ``EnvWorkers`` with 2 workers.
2. ``seed_phase``: end-to-end trainer frames/s with ``num_seed_frames`` = ``frames`` (random
   actions, no updates), ``env.workers`` 1 and 2.
3. ``update_phase``: DrQ-v2 end to end with updates (batch 32, so that a CPU run gets through
   a few hundred updates; ``agent.num_expl_steps`` = the seed steps, so the policy acts), the
   seed phase ending when every worker has finished an episode, then a fixed time of updates;
   ``env.workers`` 1 and 2.

The trainer runs with ``threads=1``; workers are separate processes, so a 2-worker run uses
up to three processes on 2 cores. ``MUJOCO_GL``: EGL if it works here, else OSMesa (an
explicit ``MUJOCO_GL`` is kept); the GL renderer string is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from common import GL_BACKEND, CpuMeter, wait_quiet  # noqa: E402  (chooses MUJOCO_GL first)
from machine import machine  # noqa: E402

TASK = "dmc/cartpole_swingup"
EPISODE_FRAMES = 1000  # cartpole's fixed episode length
SEED = 1


def gl_renderer() -> str:
    """Which GL implementation renders (llvmpipe: Mesa's software rasteriser on the CPU)."""
    try:
        from dm_control import mujoco
        from OpenGL import GL

        physics = mujoco.Physics.from_xml_string('<mujoco><worldbody><geom size="1"/></worldbody></mujoco>')
        physics.render(8, 8)
        with physics.contexts.gl.make_current() as ctx:
            return ctx.call(GL.glGetString, GL.GL_RENDERER).decode()
    except Exception as err:
        return f"unknown ({type(err).__name__})"


def config(**overrides: Any) -> Any:
    from dormant.config import resolve

    return resolve({"task": TASK, "threads": 1, **overrides})


# --- 1. collection ------------------------------------------------------------
def collection_setups() -> dict[str, Callable[[], Any]]:
    from dormant.envs import make_env
    from dormant.envs.workers import EnvWorkers, SingleEnv, worker_seed

    cfg = config()
    return {
        "single_env_in_process": lambda: SingleEnv(make_env(cfg, seed=SEED)),
        "workers_1_process": lambda: EnvWorkers(cfg, [worker_seed(SEED, 0)]),
        "workers_2_processes": lambda: EnvWorkers(cfg, [worker_seed(SEED, i) for i in range(2)]),
    }


def cpu_seconds(group: Any) -> float:
    """CPU seconds used so far by this process (all its threads: the renderer's too) and by
    the group's worker processes (read from /proc while they run)."""
    total = time.process_time()
    for proc in getattr(group, "_procs", []):
        try:
            with open(f"/proc/{proc.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def time_collection(group: Any, steps: int, seed: int) -> tuple[float, float]:
    """Environment steps/s (all envs together) for ``steps`` steps, and the CPU cores the
    setup used meanwhile: every env steps once per call, an ended episode is reset (in
    parallel with the others' resets) and timed with it."""
    rng = np.random.default_rng(seed)
    n = group.num_envs
    calls = max(1, steps // n)
    group.reset_many(range(n))
    t0, cpu0 = time.perf_counter(), cpu_seconds(group)
    for _ in range(calls):
        steps_ = group.step([rng.uniform(-1, 1, group.action_dim).astype(np.float32) for _ in range(n)])
        ended = [i for i, ts in enumerate(steps_) if ts.last]
        if ended:
            group.reset_many(ended)
    wall = time.perf_counter() - t0
    return calls * n / wall, (cpu_seconds(group) - cpu0) / wall


def bench_collection(steps: int, rounds: int, repeat: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    groups = {name: make() for name, make in collection_setups().items()}
    setup_s = round(time.perf_counter() - t0, 1)
    rates: dict[str, list[float]] = {name: [] for name in groups}
    cores: dict[str, list[float]] = {name: [] for name in groups}
    try:
        for group in groups.values():  # warm-up: first renders, caches
            time_collection(group, 50 * group.num_envs, seed=99)
        for r in range(rounds):
            order = list(groups) if r % 2 == 0 else list(groups)[::-1]
            for name in order:
                rate, used = time_collection(groups[name], steps, seed=r)
                rates[name].append(rate)
                cores[name].append(used)
    finally:
        for group in groups.values():
            group.close()
    base = statistics.median(rates["single_env_in_process"])
    out: dict[str, Any] = {
        "setup": {
            "env_steps_per_round": steps,
            "rounds": rounds,
            "setup_all_s": setup_s,
            "unit": f"environment (agent) steps per second, all envs together; frames/s = {repeat} × that",
        }
    }
    base_cpu = statistics.median(
        r / c for r, c in zip(rates["single_env_in_process"], cores["single_env_in_process"], strict=True)
    )
    for name, values in rates.items():
        med = statistics.median(values)
        per_cpu = statistics.median(r / c for r, c in zip(values, cores[name], strict=True))
        out[name] = {
            "env_steps_per_s": round(med, 1),
            "frames_per_s": round(repeat * med, 1),
            "over_single_env": round(med / base, 2),
            "rounds": [round(v, 1) for v in values],
            # cores this setup got (the trainer's process and its workers); under other
            # load a setup with more processes gets a larger share of the 2 cores
            "cores_used": round(statistics.median(cores[name]), 2),
            "env_steps_per_cpu_s": round(per_cpu, 1),
            "per_cpu_over_single_env": round(per_cpu / base_cpu, 2),
        }
    return out


# --- 2 and 3. end to end -------------------------------------------------------
def end_to_end(
    overrides_for: Callable[[int], dict[str, Any]],
    budget_s: float,
    rounds: int,
    phases: tuple[str, ...],
    counts: tuple[int, ...] = (1, 2),
) -> dict[str, Any]:
    """``bench_e2e``'s timed trainer for each worker count, interleaved over the rounds;
    the figures of ``phases`` (``seed_phase``, ``update_phase``) are kept."""
    from bench_e2e import bench_end_to_end

    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    for r in range(rounds):
        for n in counts if r % 2 == 0 else counts[::-1]:
            runs[n].append(bench_end_to_end(overrides_for(n), "cpu", budget_s))
    out: dict[str, Any] = {}
    for n, results in runs.items():
        row: dict[str, Any] = {"config": results[0]["config"], "setup_s": [r["setup_s"] for r in results]}
        for phase in phases:
            fps = [r[phase]["fps"] for r in results if phase in r]
            if fps:
                row[f"{phase}_fps"] = round(statistics.median(fps), 1)
                row[f"{phase}_rounds"] = fps
        upd = [r["update_phase"] for r in results if "update_phase" in r]
        if upd and "update_phase" in phases:
            row["updates"] = [r["updates"] for r in results]
            row["trainer_update_ms_median"] = round(statistics.median(u["trainer_update_ms_median"] for u in upd), 1)
            row["share_in_updates"] = round(statistics.median(u["share_in_updates"] for u in upd), 3)
        out[f"workers_{n}"] = row
    for phase in phases:
        one = out[f"workers_{counts[0]}"].get(f"{phase}_fps")
        for n in counts[1:]:
            other = out[f"workers_{n}"].get(f"{phase}_fps")
            if one and other:
                out[f"{phase}_workers_{n}_over_1"] = round(other / one, 2)
    return out


def seed_overrides(frames: int) -> Callable[[int], dict[str, Any]]:
    """A seed phase of ``frames`` frames; with an update budget of 0 the run stops at the first
    safe point after it (a run must reach an update: ``frames`` > ``num_seed_frames``)."""
    return lambda n: {
        "task": TASK,
        "frames": frames + 8,
        "num_seed_frames": frames,
        "env.workers": n,
        "agent.batch_size": 32,
        "threads": 1,
    }  # batch 32: the one untimed update is short


def update_overrides(batch: int) -> Callable[[int], dict[str, Any]]:
    def make(n: int) -> dict[str, Any]:
        seed_frames = 2 * EPISODE_FRAMES  # one episode per worker with 2, two with 1: updates can start
        return {
            "task": TASK,
            "agent.name": "drqv2",
            "frames": seed_frames + 100_000,
            "num_seed_frames": seed_frames,
            "agent.num_expl_steps": seed_frames // 2,
            "agent.batch_size": batch,
            "env.workers": n,
            "threads": 1,
        }

    return make


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round each, shorter runs")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, help="wait up to S seconds for a quiet machine before each section"
    )
    parser.add_argument("--sections", nargs="+", default=["collection", "seed_phase", "update_phase"])
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    quick = args.quick
    result: dict[str, Any] = {
        "benchmark": "dormant environment workers (env.workers): collection and end to end",
        "quick": quick,
        "task": TASK,
        "render": "MuJoCo reference renderer (env.fast_render=false), 84×84",
        "mujoco_gl": GL_BACKEND,
        "gl_renderer": gl_renderer(),
        "lp_num_threads": os.environ.get("LP_NUM_THREADS", "unset"),
        "nice": os.nice(0),  # below 0: run ahead of the machine's other (nice 0) processes
        "machine": machine(torch.device("cpu")),
        "load_average_1_5_15min_at_start": [round(x, 2) for x in os.getloadavg()],
        "contention": {},
    }
    plans = {
        "collection": lambda: bench_collection(300 if quick else 1000, 1 if quick else 3, repeat=2),
        "seed_phase": lambda: end_to_end(seed_overrides(2000), 0, 1 if quick else 3, ("seed_phase",)),
        "update_phase": lambda: end_to_end(
            update_overrides(32), 10 if quick else 40, 1 if quick else 2, ("seed_phase", "update_phase")
        ),
    }
    t0 = time.perf_counter()
    for name in args.sections:
        waited = wait_quiet(args.wait_quiet) if args.wait_quiet else {}
        with CpuMeter(name, result["contention"]) as meter:
            meter.waited = waited
            result[name] = plans[name]()
        print(f"[bench_workers] {name} done ({meter.report['wall_s']} s)", file=sys.stderr, flush=True)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["load_average_1_5_15min_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".md").write_text(markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    """The result's tables (every figure is also in the JSON)."""
    m = result["machine"]
    lines = [
        f"# Environment workers on {m.get('cpu_model')} ({m.get('cpu_cores')} cores)",
        "",
        f"Pixel `{TASK}`, 84×84, reference renderer, `MUJOCO_GL={result['mujoco_gl']}` "
        f"({result['gl_renderer']}); trainer `threads=1`; nice {result['nice']}. Load average at start "
        f"{result['load_average_1_5_15min_at_start']}, at end {result.get('load_average_1_5_15min_at_end')}.",
        "",
    ]
    if "collection" in result:
        c = result["collection"]
        lines += [
            "## Collection (random actions)",
            "",
            "| setup | env steps/s | frames/s | × single env | cores used | steps per CPU-second | × single env |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in ("single_env_in_process", "workers_1_process", "workers_2_processes"):
            row = c[name]
            lines.append(
                f"| {name} | {row['env_steps_per_s']} | {row['frames_per_s']} | {row['over_single_env']} "
                f"| {row['cores_used']} | {row['env_steps_per_cpu_s']} | {row['per_cpu_over_single_env']} |"
            )
        lines.append("")
    for section, title in (
        ("seed_phase", "Trainer, seed phase (no updates)"),
        ("update_phase", "Trainer, DrQ-v2 with updates (batch 32)"),
    ):
        if section not in result:
            continue
        s = result[section]
        lines += [
            f"## {title}",
            "",
            "| env.workers | seed phase frames/s | update phase frames/s | update ms |",
            "|---|---|---|---|",
        ]
        for n in (1, 2):
            row = s[f"workers_{n}"]
            lines.append(
                f"| {n} | {row.get('seed_phase_fps', '–')} | {row.get('update_phase_fps', '–')} "
                f"| {row.get('trainer_update_ms_median', '–')} |"
            )
        ratios = ", ".join(f"{k} {v}" for k, v in s.items() if k.endswith("_over_1"))
        lines += ["", f"Ratios (same run): {ratios}.", ""]
    busy = ", ".join(
        f"{name} {c.get('other_processes_cores')} ({c.get('wall_s')} s)"
        for name, c in result.get("contention", {}).items()
    )
    lines += [f"Other processes' CPU use while each section ran, in cores: {busy}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
