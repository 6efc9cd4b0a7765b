"""`dormant sweep`: expand a grid of agents × tasks × seeds × hyperparameter values into
runs (``experiments/grid.py``), run the ones not finished (bounded concurrency, bounded
retries), and survive its own death: the run directories are the state, so running the
same command again continues the sweep.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from dormant.config import ConfigError, flatten, parse_overrides, resolve, with_defaults
from dormant.experiments.backends import AttemptResult, LocalBackend, RayBackend, RunSpec, kill_file_for
from dormant.config.schema import MAX_SEED
from dormant.experiments.grid import NOT_COMPARED, check_manifest, count_runs, expand, make_grid, split_values, write_manifest
from dormant.experiments.runs import MANIFEST, last_frame, read_json, run_state
from dormant.training.exit_codes import NO_RETRY
from dormant.training.memory import mem_available
from dormant.training.memory import run_memory_bytes as estimate_memory
from dormant.training.lock import EXIT_LOCKED, DirLock

SWEEP_OPTIONS = ("out", "seeds", "seed", "jobs", "backend", "retries", "address", "cpus_per_run", "gpus_per_run",
                 "max_runs")
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
        raise ConfigError(f"{' and '.join(given)} ask Ray for resources per run (backend=ray); "
                          "on this machine use jobs= (and threads=)")
    options.cpus_per_run = _float("cpus_per_run", raw.pop("cpus_per_run", "1"), positive=True)
    if "gpus_per_run" in raw:
        options.gpus_per_run = _float("gpus_per_run", raw.pop("gpus_per_run"))
        if options.gpus_per_run > 1 and not options.gpus_per_run.is_integer():
            raise ConfigError(f"gpus_per_run must be a fraction ≤ 1 (runs share a GPU) or a whole number, "
                              f"got {options.gpus_per_run:g}")


def check_sweep_out(out: Path) -> None:
    """A sweep's folder must not be a training run's directory, nor inside one (its runs
    would nest in the run's and a report would count that run twice)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} is a file, not a directory; choose another out=")
    for folder in (out, *out.absolute().parents):
        if (folder / "config.yaml").exists() and not (folder / MANIFEST).exists() and any(
                (folder / name).exists() for name in ("checkpoint.pt", "train.csv", "eval.csv", "status.json")):
            where = "is" if folder == out else f"is inside {folder}, which is"
            raise ConfigError(f"out={out} {where} a training run's directory (it has a config.yaml); a sweep needs a "
                              "folder of its own: choose another out=")


def parse_sweep(items: Sequence[str], *, yes: bool = False,
                say: Callable[[str], None] | None = None) -> tuple[list[RunSpec], SweepOptions, dict[str, str]]:
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
        seeds = [_seed(s) for s in split_values(raw.pop("seed"), "seed")]
    else:
        seeds = list(range(1, _int("seeds", raw.pop("seeds", "1"), 1) + 1))
        if seeds and seeds[-1] > MAX_SEED:
            raise ConfigError(f"seeds={seeds[-1]}: seeds run 1..N and a seed must be ≤ {MAX_SEED}")
    agents = split_values(raw.pop("agent.name", "drm"), "agent")
    tasks = split_values(raw.pop("task", "dmc/cartpole_swingup"), "task")
    grid = make_grid(raw, agents, tasks, seeds, read_json(options.out / MANIFEST) or {})
    options.notes = grid.notes
    total, how = count_runs(grid)
    if total > options.max_runs and not yes:
        bound = f"the {options.max_runs:,} runs of max_runs=" if options.max_runs != CONFIRM_ABOVE else \
            f"the {CONFIRM_ABOVE:,} runs a sweep starts without confirmation"
        raise ConfigError(f"this sweep holds {total:,} runs ({how}), above {bound}: check seeds= and the value "
                          f"lists, then add --yes (or max_runs={total}) to go ahead")
    if say is not None:
        say(f"sweep {options.out}: {total:,} runs ({how}); checking each configuration")
    return expand(grid, options.out), options, grid.shared


def _seed(text: str) -> int:
    seed = _int("seed", text, 0)
    if seed > MAX_SEED:
        raise ConfigError(f"seed={seed} is above {MAX_SEED} (2³² − 1)")
    return seed


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in flatten(config).items() if k not in NOT_COMPARED}


def check_conflicts(runs: list[RunSpec]) -> None:
    """A run directory trained with other settings is never continued or overwritten."""
    problems = []
    for spec in runs:
        state = run_state(spec.run_dir, spec.frames)
        if state.config is None:
            continue
        wanted = _comparable(_config(spec).to_dict())
        have = _comparable(with_defaults(flatten(state.config)))  # options it predates: what it ran with
        diff = [f"{k}: {have.get(k)!r} there, {wanted.get(k)!r} here" for k in sorted(set(wanted) | set(have))
                if have.get(k) != wanted.get(k)]
        if diff:
            problems.append(f"  {spec.run_dir}: " + "; ".join(diff[:4]) + (" ..." if len(diff) > 4 else ""))
    if problems:
        raise ConfigError("these run directories hold runs with other settings (use another out=, or the "
                          "settings they were started with):\n" + "\n".join(problems))


def _config(spec: RunSpec) -> Any:
    """The run's resolved Config (kept from the grid's expansion; resolved here otherwise)."""
    return spec.config if spec.config is not None else resolve(spec.overrides)


def run_memory_bytes(spec: RunSpec) -> int:
    return estimate_memory(_config(spec))


def plan_jobs(runs: list[RunSpec], jobs: int | None, *, cpus: int, gpus: int,
              mem_available: int | None) -> tuple[int, int, str]:
    """(concurrent runs, threads per run, why). Default: one run per GPU; on CPU one
    run per two cores; never more than memory holds or than there are runs."""
    if jobs is None:
        jobs, why = (gpus, f"one per GPU ({gpus})") if gpus else (max(1, cpus // 2), f"one per 2 of {cpus} CPU cores")
        if mem_available and runs:
            need = max(run_memory_bytes(r) for r in {_without_seed(r): r for r in runs}.values())
            fit = max(1, int(0.9 * mem_available // need))
            if fit < jobs:
                jobs, why = fit, f"memory holds {fit} ({mem_available / 2**30:.0f} GiB available)"
    else:
        why = f"jobs={jobs}"
    jobs = max(1, min(jobs, len(runs) or 1))
    return jobs, max(1, cpus // jobs), why


class SweepProgress:
    """Overall progress: a rich bar on a terminal, one line per event otherwise."""

    def __init__(self, runs: list[RunSpec], done_frames: dict[str, int]):
        from rich.console import Console

        self.console = Console(stderr=True, soft_wrap=True)
        self.total = sum(spec.frames for spec in runs)
        self.done_frames = done_frames
        self._bar = None
        if self.console.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]sweep"), BarColumn(), TextColumn("{task.fields[counts]}"),
                                 TextColumn("frames {task.completed:,.0f}/{task.total:,.0f}"), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
            self._bar.start()
            self._task = self._bar.add_task("sweep", total=self.total, completed=sum(done_frames.values()), counts="")

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def update(self, running: list[RunSpec], counts: str) -> None:
        if self._bar is None:
            return
        frames = dict(self.done_frames)
        for spec in running:
            frames[spec.run_id] = max(frames.get(spec.run_id, 0), last_frame(spec.run_dir))
        self._bar.update(self._task, completed=min(sum(frames.values()), self.total), counts=counts)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _summary(result: AttemptResult) -> str:
    from dormant.experiments.plot import read_csv

    score = ""
    try:
        evals = read_csv(Path(result.log).parent / "eval.csv")
    except (OSError, ConfigError) as err:  # a damaged log: the sweep goes on; `dormant report` names it
        return f"{result.frame} frames ({err}), {result.seconds / 60:.1f} min"
    if "success_rate" in evals and len(evals["success_rate"]):
        score = f", success {evals['success_rate'][-1]:.0%}"
    elif "episode_reward" in evals and len(evals["episode_reward"]):
        score = f", return {evals['episode_reward'][-1]:.1f}"
    return f"{result.frame} frames{score}, {result.seconds / 60:.1f} min"


def _without_seed(spec: RunSpec) -> tuple[tuple[str, str], ...]:
    """What makes runs differ in anything but their seed (memory, device, threads)."""
    return tuple(sorted((k, v) for k, v in spec.overrides.items() if k != "seed"))


def run_sweep(items: Sequence[str], *, poll_s: float = 1.0, yes: bool = False) -> int:
    """The `dormant sweep` command. Exit code 0: all finished; 1: some failed; 130: stopped.
    ``yes``: launch a grid above ``max_runs`` (``--yes``)."""
    runs, options, shared = parse_sweep(items, yes=yes, say=_say)
    options.out.mkdir(parents=True, exist_ok=True)
    with DirLock(options.out, what="sweep", name=".sweep.lock"):
        check_manifest(options.out, shared)
        check_conflicts(runs)
        states = {spec.run_id: run_state(spec.run_dir, spec.frames) for spec in runs}
        todo = [spec for spec in runs if states[spec.run_id].kind != "finished"]
        backend, threads, how = open_backend(todo, options)  # Ray: refused here if no node can hold a run
        try:
            write_manifest(options.out, runs, shared, items)
        except BaseException:
            backend.close()
            raise
        for spec in todo:
            spec.overrides.setdefault("threads", str(threads))
        how = how.format(threads=_threads_each(todo, threads))
        return _execute(runs, todo, {k: state.frame for k, state in states.items()}, options, backend, how, poll_s)


def _threads_each(todo: list[RunSpec], planned: int) -> str:
    """What the header says each run gets: the user's threads= where given, else the plan."""
    given = sorted({int(spec.overrides["threads"]) for spec in todo}) or [planned]
    names = "/".join(str(n) if n else "torch's default" for n in given)
    return f"{names} thread{'s' if given != [1] else ''} each" + ("" if given == [planned] else " (threads= given)")


def open_backend(todo: list[RunSpec], options: SweepOptions) -> tuple[Any, int, str]:
    """The backend, the threads each run gets, and a line saying how runs are placed."""
    stop_file = str(options.out.absolute() / ".stop")  # absolute: Ray workers need not share our cwd
    if options.backend == "ray":
        threads = max(1, int(options.cpus_per_run))
        backend = RayBackend(stop_file, address=options.address, cpus_per_run=options.cpus_per_run,
                             gpus_per_run=options.gpus_per_run, threads=threads)
        return backend, threads, (f"Ray, {options.cpus_per_run:g} CPU + {backend.gpus_per_run:g} GPU per run, "
                                  f"up to {backend.jobs} at once on this cluster, {{threads}}")
    gpus = _local_gpus(todo)
    jobs, threads, why = plan_jobs(todo, options.jobs, cpus=len(os.sched_getaffinity(0)), gpus=gpus,
                                   mem_available=mem_available())
    return (LocalBackend(jobs, stop_file, threads=threads, gpus=gpus), threads,
            f"{jobs} at a time ({why}), {{threads}}" + (f", {gpus} GPU(s)" if gpus else ""))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM (a scheduler, `kill`) stops the sweep as Ctrl-C does


def _execute(runs: list[RunSpec], todo: list[RunSpec], done_frames: dict[str, int], options: SweepOptions,
             backend: Any, how: str, poll_s: float) -> int:
    stop_file = Path(backend.stop_file)
    kill_file = Path(kill_file_for(str(stop_file)))
    stop_file.unlink(missing_ok=True)
    kill_file.unlink(missing_ok=True)
    try:
        previous_term = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: no signal handling
        previous_term = None
    try:
        return _execute_runs(runs, todo, done_frames, options, backend, how, poll_s)
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


def _execute_runs(runs: list[RunSpec], todo: list[RunSpec], done_frames: dict[str, int], options: SweepOptions,
                  backend: Any, how: str, poll_s: float) -> int:
    stop_file = Path(backend.stop_file)
    kill_file = Path(kill_file_for(str(stop_file)))
    counts: Counter[str] = Counter(finished=len(runs) - len(todo))
    progress = SweepProgress(runs, done_frames)
    progress.note(f"sweep {options.out}: {len(runs)} runs, {counts['finished']} already finished, "
                  f"{len(todo)} to run; {how}")
    for note in options.notes:
        progress.note(f"note: {note}")
    attempts: Counter[str] = Counter()
    failures: dict[str, AttemptResult] = {}
    queue = list(todo)
    stopping = False
    try:
        while (queue and not stopping) or backend.running:
            try:
                while queue and backend.free > 0 and not stopping:
                    spec = queue.pop(0)
                    attempts[spec.run_id] += 1
                    backend.submit(spec, attempts[spec.run_id])
                for spec, result in backend.wait(timeout=poll_s):
                    done_frames[spec.run_id] = max(done_frames[spec.run_id], result.frame)
                    outcome = _outcome(result, stopping)
                    label = spec.label
                    if outcome == "finished":
                        counts["finished"] += 1
                        failures.pop(spec.run_id, None)
                        progress.note(f"[{counts['finished']}/{len(runs)}] finished {label}: {_summary(result)}")
                    elif outcome == "retry" and attempts[spec.run_id] <= options.retries:
                        how_next = "resume from its checkpoint" if (spec.run_dir / "checkpoint.pt").exists() else "restart"
                        progress.note(f"attempt {attempts[spec.run_id]} of {label} failed "
                                      f"({_why(result)}); will {how_next}. Log: {result.log}")
                        queue.append(spec)
                    elif outcome in ("retry", "failed"):
                        counts["failed"] += 1
                        failures[spec.run_id] = result
                        progress.note(f"FAILED {label} after {attempts[spec.run_id]} attempt(s): {_why(result)}. "
                                      f"Log: {result.log}")
                    else:  # interrupted or busy
                        counts[outcome] += 1
                running = backend.running
                progress.update(running, f"{counts['finished']}/{len(runs)} done · {len(running)} running"
                                + (f" · {counts['failed']} failed" if counts["failed"] else ""))
            except KeyboardInterrupt:
                if not stopping:
                    stopping = True
                    dropped = len(queue)
                    queue.clear()  # nothing new starts; the same command runs them later
                    stop_file.touch()
                    progress.note(f"stopping: asking {len(backend.running)} running run(s) to checkpoint and stop"
                                  + (f"; {dropped} queued run(s) not started" if dropped else "")
                                  + " (Ctrl-C again: stop them at once, losing the work since their last checkpoint)")
                elif not kill_file.exists():
                    kill_file.touch()
                    progress.note("stopping the running runs at once; they resume from their last checkpoint")
    finally:
        progress.stop()
        backend.close()
        stop_file.unlink(missing_ok=True)
        kill_file.unlink(missing_ok=True)
    return _report_end(runs, counts, failures, stopping or counts["interrupted"] > 0, options)


def _outcome(result: AttemptResult, stopping: bool) -> str:
    if result.code == 0 and result.status == "finished":
        return "finished"
    if result.code == EXIT_LOCKED:
        return "busy"
    if stopping:
        return "interrupted"  # asked to stop: it checkpointed (or was killed); the same command continues it
    if result.code in NO_RETRY:
        return "failed"  # refused config, diverged, or a file it cannot write: trying again cannot help
    return "retry"  # a crash, a kill, non-finite losses, a lost Ray worker: bounded retries, resuming


def _why(result: AttemptResult) -> str:
    if result.error:
        return result.error
    last = next((line for line in reversed(result.tail) if not line.startswith("===")), "")
    return f"exit code {result.code}" + (f": {last.strip()[:300]}" if last else "")


def _report_end(runs: list[RunSpec], counts: Counter, failures: dict[str, AttemptResult], stopped: bool,
                options: SweepOptions) -> int:
    print(f"sweep {options.out}: {counts['finished']}/{len(runs)} finished"
          + (f", {counts['failed']} failed" if counts["failed"] else "")
          + (f", {counts['busy']} in use by another process (skipped)" if counts["busy"] else "")
          + (", stopped early: re-run the same command to continue" if stopped else ""))
    for run_id, result in failures.items():
        print(f"  failed {run_id} ({_why(result)}); last lines of {result.log}:")
        for line in result.tail:
            print(f"    {line}")
    print(f"report: dormant report {options.out}")
    if stopped:
        return 130
    return 1 if failures or counts["busy"] else 0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _local_gpus(runs: list[RunSpec]) -> int:
    if {_config(spec).device for spec in runs} <= {"cpu"}:
        return 0
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0
