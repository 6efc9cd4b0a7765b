"""`dormant sweep`'s command line: the grid it names (agents, tasks, seeds, option values)
and the sweep's own options (out=, jobs=, backend=, retries=, Ray's resources, max_runs=),
checked before anything runs. The size of the grid is said, and bounded, before any run's
configuration is resolved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dormant.config import ConfigError, parse_overrides
from dormant.config.schema import MAX_SEED
from dormant.experiments.backends import RunSpec
from dormant.experiments.grid import count_runs, expand, make_grid, split_values
from dormant.experiments.runs import MANIFEST, read_json

SWEEP_OPTIONS = (
    "out",
    "seeds",
    "seed",
    "jobs",
    "backend",
    "retries",
    "address",
    "cpus_per_run",
    "gpus_per_run",
    "max_runs",
)
SAY_ABOVE = 100  # a grid this big is announced before its configurations are resolved
CONFIRM_ABOVE = 1000  # a grid with more runs needs --yes or max_runs=N: a typo in seeds= must not launch 10⁵ runs


@dataclass
class SweepOptions:
    out: Path
    jobs: int | None = None  # None: as many as fit (see plan_jobs)
    backend: str = "local"
    retries: int = 2  # attempts after the first one fails
    address: str = ""  # Ray cluster address; "" starts a local Ray instance
    cpus_per_run: float = 1.0  # Ray resource request per run
    gpus_per_run: float | None = None  # Ray: None = 1 when the cluster has GPUs, else 0
    notes: list[str] = field(default_factory=list)  # said when the sweep starts
    max_runs: int = CONFIRM_ABOVE  # the most runs this command may own (--yes: no bound)


def _int(key: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{key} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{key} must be ≥ {minimum}, got {number}")
    return number


def _float(key: str, value: str, *, positive: bool = False) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ConfigError(f"{key} must be {'> 0' if positive else '≥ 0'}, got {value}")
    return number


def _resources(raw: dict[str, str], options: SweepOptions) -> None:
    """Ray's per-run requests: CPUs > 0; GPUs ≥ 0, a fraction ≤ 1 (runs share a GPU) or whole."""
    given = [key for key in ("cpus_per_run", "gpus_per_run") if key in raw]
    if given and options.backend != "ray":
        raise ConfigError(
            f"{' and '.join(given)} ask Ray for resources per run (backend=ray); "
            "on this machine use jobs= (and threads=)"
        )
    options.cpus_per_run = _float("cpus_per_run", raw.pop("cpus_per_run", "1"), positive=True)
    if "gpus_per_run" in raw:
        options.gpus_per_run = _float("gpus_per_run", raw.pop("gpus_per_run"))
        if options.gpus_per_run > 1 and not options.gpus_per_run.is_integer():
            raise ConfigError(
                f"gpus_per_run must be a fraction ≤ 1 (runs share a GPU) or a whole number, "
                f"got {options.gpus_per_run:g}"
            )


def check_sweep_out(out: Path) -> None:
    """A sweep's folder must not be a training run's directory, nor inside one (its runs
    would nest in the run's and a report would count that run twice)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} is a file, not a directory; choose another out=")
    for folder in (out, *out.absolute().parents):
        if (
            (folder / "config.yaml").exists()
            and not (folder / MANIFEST).exists()
            and any((folder / name).exists() for name in ("checkpoint.pt", "train.csv", "eval.csv", "status.json"))
        ):
            where = "is" if folder == out else f"is inside {folder}, which is"
            raise ConfigError(
                f"out={out} {where} a training run's directory (it has a config.yaml); a sweep needs a "
                "folder of its own: choose another out="
            )


def parse_sweep(
    items: Sequence[str], *, yes: bool = False, say: Callable[[str], None] | None = None
) -> tuple[list[RunSpec], SweepOptions, dict[str, str]]:
    """``agent=a,b task=x,y seeds=N`` (or ``seed=1,5,9``), options with one value or a
    list of them (``agent.lr=1e-4,3e-4``: an axis) → the runs, the sweep's own options,
    and the options shared by every run (see ``experiments/grid.py`` for how lists are
    written). Every run's configuration is resolved here, so a bad task, agent or value
    in any combination stops the sweep before anything runs. The number of runs is known
    (and said through ``say``) before that; above ``max_runs`` (default ``CONFIRM_ABOVE``)
    the sweep is refused unless ``yes``.
    """
    raw = parse_overrides(items)
    if "out" not in raw:
        raise ConfigError("sweep needs out=DIR (running the same command again continues the sweep there)")
    options = SweepOptions(out=Path(raw.pop("out")))
    check_sweep_out(options.out)
    if "jobs" in raw:
        options.jobs = _int("jobs", raw.pop("jobs"), 1)
    options.backend = raw.pop("backend", "local")
    if options.backend not in ("local", "ray"):
        raise ConfigError(f"backend must be local or ray, got {options.backend!r}")
    options.retries = _int("retries", raw.pop("retries", "2"), 0)
    options.address = raw.pop("address", "")
    if options.address and options.backend != "ray":
        raise ConfigError("address= is for backend=ray")
    _resources(raw, options)
    if "seeds" in raw and "seed" in raw:
        raise ConfigError("give seeds=N (seeds 1..N) or seed=a,b,c, not both")
    if "max_runs" in raw:
        options.max_runs = _int("max_runs", raw.pop("max_runs"), 1)
    if "seed" in raw:
        seeds: Sequence[int] = [_seed(s) for s in split_values(raw.pop("seed"), "seed")]
    else:
        count = _int("seeds", raw.pop("seeds", "1"), 1)
        if count > MAX_SEED:
            raise ConfigError(f"seeds={count}: seeds run 1..N and a seed must be ≤ {MAX_SEED}")
        seeds = range(1, count + 1)  # not a list: a huge seeds= is counted (and refused) without building it
    agents = split_values(raw.pop("agent.name", "drm"), "agent")
    tasks = split_values(raw.pop("task", "dmc/cartpole_swingup"), "task")
    grid = make_grid(raw, agents, tasks, seeds, read_json(options.out / MANIFEST) or {})
    options.notes = grid.notes
    total, how = count_runs(grid)
    if total > options.max_runs and not yes:
        bound = (
            f"the {options.max_runs:,} runs of max_runs="
            if options.max_runs != CONFIRM_ABOVE
            else f"the {CONFIRM_ABOVE:,} runs a sweep starts without confirmation"
        )
        raise ConfigError(
            f"this sweep holds {total:,} runs ({how}), above {bound}: check seeds= and the value "
            f"lists, then add --yes (or max_runs={total}) to go ahead"
        )
    if say is not None and total >= SAY_ABOVE:  # smaller grids resolve at once: the sweep's header says it
        say(f"sweep {options.out}: {total:,} runs ({how}); checking each configuration")
    return expand(grid, options.out), options, grid.shared


def _seed(text: str) -> int:
    seed = _int("seed", text, 0)
    if seed > MAX_SEED:
        raise ConfigError(f"seed={seed} is above {MAX_SEED} (2³² − 1)")
    return seed
