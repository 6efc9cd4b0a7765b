"""Threads per run: the default chosen from measurements, idle and beside a busy process.

A run's gradient updates use torch's intra-op thread pool (OpenMP). On a shared machine,
a pool as wide as the cores competes with every other busy process, and OpenMP's threads
spin while they wait for each other, so one busy neighbour can slow every update many
times. This benchmark times real updates, each configuration in a fresh process:

- networks: SAC from states (2×256 MLPs, batch 256, HalfCheetah's 17-d state and 6-d
  action) and DrQ-v2 from pixels (84×84, 3 stacked frames, batch 128);
- load: idle, and beside one busy process (a pure-Python spin loop on one core: another
  run, a second experiment, a CI job);
- threads: 1; all cores; all cores with ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep
  instead of spinning); on this 2-core machine, cores ÷ jobs for a sweep of two jobs is 1.

    python benchmarks/bench_threads.py [--updates N] [--out benchmarks/results/....json]

Figures are median milliseconds per update, the median over interleaved rounds (each variant
once per round, so drift in the machine's load hits all alike); what counts is each row's
ratio to 1 thread measured in the same load condition.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def worker(net: str, updates: int, warmup: int) -> dict[str, Any]:
    """Time ``updates`` updates of ``net`` in this process (its threads already set)."""
    import torch

    from dormant.agents.drqv2 import DrQV2Agent
    from dormant.agents.sac import SACAgent
    from dormant.config import AgentConfig

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    if net == "state":
        obs, act, batch = (17,), 6, 256
        agent = SACAgent(
            obs,
            act,
            AgentConfig(name="sac", lr=3e-4, hidden_dim=256, num_expl_steps=0),
            pixels=False,
            device=torch.device("cpu"),
        )
    else:
        obs, act, batch = (9, 84, 84), 1, 128
        agent = DrQV2Agent(obs, act, AgentConfig(batch_size=batch), pixels=True, device=torch.device("cpu"))

    def make() -> dict[str, torch.Tensor]:
        """Two observation batches: states as normal draws, pixels as integer frames."""
        if net == "state":
            return {"obs": torch.randn(batch, *obs, generator=gen), "next_obs": torch.randn(batch, *obs, generator=gen)}
        return {
            "obs": torch.randint(0, 255, (batch, *obs), generator=gen).float(),
            "next_obs": torch.randint(0, 255, (batch, *obs), generator=gen).float(),
        }

    times = []
    for i in range(warmup + updates):
        data = {
            **make(),
            "action": torch.rand(batch, act, generator=gen) * 2 - 1,
            "reward": torch.rand(batch, 1, generator=gen),
            "discount": torch.full((batch, 1), 0.99),
        }
        t0 = time.perf_counter()
        agent.update(data, 100_000).cpu()  # the trainer's one host sync per update
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return {
        "median_ms": round(1000 * statistics.median(times), 2),
        "threads": torch.get_num_threads(),
        "updates": updates,
    }


def measure(net: str, threads: int, passive: bool, updates: int, warmup: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); from bench_threads import worker; "
        f"print(json.dumps(worker({net!r}, {updates}, {warmup})))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=0, help="timed updates per configuration (0: per network)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per configuration")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    variants = [
        ("1 thread", 1, False),
        (f"{cores} threads (all cores)", cores, False),
        (f"{cores} threads, OMP_WAIT_POLICY=PASSIVE", cores, True),
    ]
    rows = []
    t_start = time.time()
    for load in ("idle", "beside 1 busy process"):
        spinner = None
        if load != "idle":
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(1.0)
        try:
            for net in ("state", "pixel"):
                n = args.updates or (150 if net == "state" else 6)
                runs: dict[str, list[float]] = {label: [] for label, _, _ in variants}
                for _ in range(args.rounds):  # interleaved rounds: drift in the machine's load hits every variant
                    for label, threads, passive in variants:
                        runs[label].append(measure(net, threads, passive, n, warmup=max(2, n // 10))["median_ms"])
                base = statistics.median(runs[variants[0][0]])
                for label, threads, passive in variants:
                    ms = statistics.median(runs[label])
                    rows.append(
                        {
                            "load": load,
                            "net": net,
                            "setting": label,
                            "threads": threads,
                            "omp_wait_policy": "PASSIVE" if passive else "default",
                            "median_ms": round(ms, 2),
                            "rounds_ms": runs[label],
                            "updates_per_round": n,
                            "ratio_to_1_thread": round(ms / base, 2),
                        }
                    )
                    print(f"{load:>22} {net:>5} {label:<40} {ms:9.2f} ms  ×{rows[-1]['ratio_to_1_thread']}", flush=True)
        finally:
            if spinner is not None:
                spinner.kill()
    import torch

    result = {
        "benchmark": "threads per run",
        "cores": cores,
        "cpu": _cpu(),
        "torch": torch.__version__,
        "loadavg_at_end": os.getloadavg(),
        "seconds": round(time.time() - t_start, 1),
        "rows": rows,
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def _cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    main()
