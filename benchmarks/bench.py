#!/usr/bin/env python
"""Throughput benchmark for dormant's DrQ-v2: update, sampling, rendering, replay memory, end to end.

Run from the repository root with the project's environment active:

    python benchmarks/bench.py                 # full run (≈5 min on a quiet 2-core CPU)
    python benchmarks/bench.py --quick         # smoke version (≈30 s on a quiet 2-core CPU)
    python benchmarks/bench.py --out benchmarks/results/NAME.json

Prints one JSON object (and writes it to ``--out``). Every figure is measured
through the library's own classes (``DrQV2Agent``, ``ReplayBuffer``, ``DMCEnv``,
``Trainer``); see benchmarks/README.md for what each one means.

This file is the entry point: it parses the options, runs the selected sections (one
module each: bench_replay, bench_update, bench_plasticity, bench_env, bench_e2e,
bench_breakdown; shared
helpers in common and machine) under a ``CpuMeter`` and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# The sibling modules, however this file is started (python benchmarks/bench.py puts
# this folder first already; runpy or an import from elsewhere may not).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# MuJoCo reads MUJOCO_GL once, when dm_control is imported: common chooses it on import.
import torch  # noqa: E402
from bench_breakdown import bench_breakdown, breakdown_markdown  # noqa: E402
from bench_e2e import bench_end_to_end, e2e_runs, summarise_end_to_end  # noqa: E402
from bench_env import ENV_TASKS, bench_env  # noqa: E402
from bench_plasticity import bench_plasticity  # noqa: E402
from bench_replay import bench_replay_memory  # noqa: E402
from bench_update import bench_drm_overhead, bench_sac, bench_update  # noqa: E402
from common import CpuMeter, now, wait_quiet  # noqa: E402
from machine import machine  # noqa: E402

SECTIONS = ["update", "drm", "sac", "plasticity", "env", "replay", "e2e", "breakdown"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke version (≈30 s on a quiet 2-core CPU)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--updates", type=int, help="timed updates per precision (default 5, quick 2)")
    parser.add_argument("--warmup", type=int, help="untimed updates first (default 2, quick 1)")
    parser.add_argument("--env-steps", type=int, help="agent steps per env measurement (default 200)")
    parser.add_argument("--env-tasks", nargs="+", default=ENV_TASKS, help="tasks of the env section")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="S",
        help="before each section, wait up to S seconds for other processes "
        "to use < 0.25 cores (shared machines; default 0: no wait)",
    )
    parser.add_argument(
        "--e2e-budget-s",
        type=float,
        help="stop each end-to-end run's update phase after this many seconds "
        "(default 300 pixels / 120 states; quick 60 / 30)",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS, help="sections to leave out")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
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

    t_start = now()
    result: dict[str, Any] = {
        "benchmark": "dormant DrQ-v2 / DrM / plasticity throughput",
        "quick": quick,
        "machine": machine(device),
    }

    def log(msg: str) -> None:
        print(f"[bench {now() - t_start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    sections: dict[str, dict] = {}
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
    if "sac" not in args.skip:
        with section("sac"):
            result["sac"] = bench_sac(device, warmup, max(updates, 20), env_steps)
    if "plasticity" not in args.skip:
        with section("plasticity"):
            result["plasticity"] = bench_plasticity(device, warmup, updates, mem_episodes, 500)
    if "env" not in args.skip:
        with section("env_fps"):
            result["env_fps"] = bench_env(args.env_tasks, env_steps)
    if "e2e" not in args.skip:
        runs = e2e_runs(quick)
        done = {}
        for kind, (overrides, default_budget_s) in runs.items():
            with section(f"end_to_end_{kind}"):
                done[kind] = bench_end_to_end(overrides, str(device), args.e2e_budget_s or default_budget_s)
        result["end_to_end_fps"] = summarise_end_to_end(
            done["pixels"], done["states"], runs["pixels"][0], result.get("update_ms")
        )
    if "breakdown" not in args.skip:
        with section("breakdown"):
            result["breakdown"] = bench_breakdown(device, warmup, updates, env_steps)
    result["wall_s"] = round(now() - t_start, 1)
    log("done")
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        if "breakdown" in result:  # the table beside the JSON, named after the device
            name = result["machine"].get("gpu") or result["machine"].get("cpu_model", "cpu")
            args.out.with_suffix(".breakdown.md").write_text(breakdown_markdown(result["breakdown"], str(name)))
    return result


if __name__ == "__main__":
    main()
