"""How many torch CPU threads a run uses, and why: the default is chosen from measurements
(``benchmarks/bench_threads.py``, recorded in ``benchmarks/results/`` and docs/benchmarks.md).

On the 2-core CPU machines measured, one thread per run was the fastest setting, or within
6 % of it, for state and pixel networks, idle and beside a busy process; a pool as wide as
the cores, with OpenMP's default wait policy (its threads spin while they wait), made each
update 2–26× slower as soon as anything else ran, and with ``OMP_WAIT_POLICY=PASSIVE`` it
still gained nothing (0.94–1.2×). A sweep runs several runs at once and a user runs other
work beside a run, so the default is one thread; ``threads=N`` sets another count, and
importing dormant before torch makes OpenMP's threads sleep instead of spin (``PASSIVE``).
"""

from __future__ import annotations

from typing import Any

DEFAULT_THREADS = 1
WHY_DEFAULT = "the default, measured fastest or within 6 % of it: docs/benchmarks.md#threads-per-run"


def run_threads(cfg: Any) -> tuple[int, str]:
    """(torch CPU threads for this run, why that many)."""
    if cfg.threads > 0:
        return cfg.threads, "threads= given"
    return DEFAULT_THREADS, WHY_DEFAULT


def describe_threads(threads: int, why: str) -> str:
    return f"{threads} torch thread{'s' if threads != 1 else ''} ({why})"
