"""How long `dormant sweep` takes to check a grid before it launches anything.

Expands ``agent=drqv2,drm task=dmc/walker_walk,dmc/cheetah_run agent.lr=1e-4,3e-4,1e-3
obs=states seeds=N`` (12·N runs) through ``run_sweep`` with the launch replaced by a no-op,
and prints the seconds and milliseconds per run. Runs on any commit (before ``--yes``
existed too), so a before/after pair can be taken from two checkouts:

    PYTHONPATH=src python benchmarks/bench_sweep_plan.py 100     # 1,200 runs
    PYTHONPATH=src python benchmarks/bench_sweep_plan.py 1000    # 12,000 runs
"""

from __future__ import annotations

import sys
import tempfile
import time

import dormant.experiments.sweep as sweep


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    sweep._execute = lambda *args, **kwargs: 0  # check and plan only: launch nothing
    out = tempfile.mkdtemp()
    items = [
        "agent=drqv2,drm",
        "task=dmc/walker_walk,dmc/cheetah_run",
        f"seeds={seeds}",
        "agent.lr=1e-4,3e-4,1e-3",
        "obs=states",
        f"out={out}/s",
    ]
    t0 = time.perf_counter()
    try:
        sweep.run_sweep(items, yes=True)
    except TypeError:  # a commit before --yes
        sweep.run_sweep(items)
    seconds = time.perf_counter() - t0
    print(f"{12 * seeds:,} runs: {seconds:.2f} s, {1000 * seconds / (12 * seeds):.3f} ms per run")


if __name__ == "__main__":
    main()
