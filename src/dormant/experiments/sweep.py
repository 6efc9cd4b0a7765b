"""`dormant sweep`: expand a grid of agents × tasks × seeds × hyperparameter values into
runs (``experiments/grid.py``), run the ones not finished (bounded concurrency, bounded
retries), and survive its own death: the run directories are the state, so running the
same command again continues the sweep.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dormant.config import ConfigError, flatten, resolve, with_defaults
from dormant.experiments.backends import AttemptResult, LocalBackend, RayBackend, RunSpec, kill_file_for
from dormant.experiments.grid import NOT_COMPARED, check_manifest, write_manifest
from dormant.experiments.runs import last_frame, run_state
from dormant.experiments.sweep_options import CONFIRM_ABOVE, SWEEP_OPTIONS, SweepOptions, check_sweep_out, parse_sweep
from dormant.training.exit_codes import NO_RETRY
from dormant.training.lock import EXIT_LOCKED, DirLock
from dormant.training.memory import mem_available
from dormant.training.memory import run_memory_bytes as estimate_memory
from dormant.training.threads import DEFAULT_THREADS, WHY_DEFAULT

__all__ = ["CONFIRM_ABOVE", "SWEEP_OPTIONS", "SweepOptions", "check_sweep_out", "parse_sweep", "plan_jobs", "run_sweep"]


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
        diff = [
            f"{k}: {have.get(k)!r} there, {wanted.get(k)!r} here"
            for k in sorted(set(wanted) | set(have))
            if have.get(k) != wanted.get(k)
        ]
        if diff:
            problems.append(f"  {spec.run_dir}: " + "; ".join(diff[:4]) + (" ..." if len(diff) > 4 else ""))
    if problems:
        raise ConfigError(
            "these run directories hold runs with other settings (use another out=, or the "
            "settings they were started with):\n" + "\n".join(problems)
        )


def _config(spec: RunSpec) -> Any:
    """The run's resolved Config (kept from the grid's expansion; resolved here otherwise)."""
    return spec.config if spec.config is not None else resolve(spec.overrides)


def run_memory_bytes(spec: RunSpec) -> int:
    return estimate_memory(_config(spec))


def plan_jobs(
    runs: list[RunSpec], jobs: int | None, *, cpus: int, gpus: int, mem_available: int | None
) -> tuple[int, int, str]:
    """(concurrent runs, threads per run, why). Default: one run per GPU; on CPU one
    run per two cores; never more than memory holds or than there are runs. Each run gets
    the measured default of torch threads (``training/threads.py``) unless threads= is given."""
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
    return jobs, DEFAULT_THREADS, why


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

            self._bar = Progress(
                TextColumn("[bold]sweep"),
                BarColumn(),
                TextColumn("{task.fields[counts]}"),
                TextColumn("frames {task.completed:,.0f}/{task.total:,.0f}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
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
        given = any("threads" in spec.overrides for spec in todo)
        if options.backend == "ray":  # Ray: the CPUs it reserves per run; locally each run's own default applies
            for spec in todo:
                spec.overrides.setdefault("threads", str(threads))
        how = how.format(threads=_threads_each(todo, threads, given, ray=options.backend == "ray"))
        return _execute(runs, todo, {k: state.frame for k, state in states.items()}, options, backend, how, poll_s)


def _threads_each(todo: list[RunSpec], planned: int, given: bool, *, ray: bool = False) -> str:
    """What the header says each run gets, and why: the user's threads= where given (0: the
    default), else the plan (Ray: cpus_per_run; locally the measured default)."""
    counts = sorted({int(spec.overrides.get("threads") or 0) or DEFAULT_THREADS for spec in todo}) or [planned]
    names = "/".join(str(n) for n in counts)
    why = "threads= given" if given else "Ray's cpus_per_run" if ray else WHY_DEFAULT
    return f"{names} torch thread{'s' if names != '1' else ''} each ({why})"


def open_backend(todo: list[RunSpec], options: SweepOptions) -> tuple[Any, int, str]:
    """The backend, the threads each run gets, and a line saying how runs are placed."""
    stop_file = str(options.out.absolute() / ".stop")  # absolute: Ray workers need not share our cwd
    if options.backend == "ray":
        threads = max(1, int(options.cpus_per_run))
        backend = RayBackend(
            stop_file,
            address=options.address,
            cpus_per_run=options.cpus_per_run,
            gpus_per_run=options.gpus_per_run,
            threads=threads,
        )
        return (
            backend,
            threads,
            (
                f"Ray, {options.cpus_per_run:g} CPU + {backend.gpus_per_run:g} GPU per run, "
                f"up to {backend.jobs} at once on this cluster, {{threads}}"
            ),
        )
    gpus = _local_gpus(todo)
    jobs, threads, why = plan_jobs(
        todo, options.jobs, cpus=len(os.sched_getaffinity(0)), gpus=gpus, mem_available=mem_available()
    )
    return (
        LocalBackend(jobs, stop_file, threads=threads, gpus=gpus),
        threads,
        f"{jobs} at a time ({why}), {{threads}}" + (f", {gpus} GPU(s)" if gpus else ""),
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM (a scheduler, `kill`) stops the sweep as Ctrl-C does


def _execute(
    runs: list[RunSpec],
    todo: list[RunSpec],
    done_frames: dict[str, int],
    options: SweepOptions,
    backend: Any,
    how: str,
    poll_s: float,
) -> int:
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


def _execute_runs(
    runs: list[RunSpec],
    todo: list[RunSpec],
    done_frames: dict[str, int],
    options: SweepOptions,
    backend: Any,
    how: str,
    poll_s: float,
) -> int:
    stop_file = Path(backend.stop_file)
    kill_file = Path(kill_file_for(str(stop_file)))
    counts: Counter[str] = Counter(finished=len(runs) - len(todo))
    progress = SweepProgress(runs, done_frames)
    progress.note(
        f"sweep {options.out}: {len(runs)} runs, {counts['finished']} already finished, {len(todo)} to run; {how}"
    )
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
                        resumable = (spec.run_dir / "checkpoint.pt").exists()
                        how_next = "resume from its checkpoint" if resumable else "restart"
                        progress.note(
                            f"attempt {attempts[spec.run_id]} of {label} failed "
                            f"({_why(result)}); will {how_next}. Log: {result.log}"
                        )
                        queue.append(spec)
                    elif outcome in ("retry", "failed"):
                        counts["failed"] += 1
                        failures[spec.run_id] = result
                        progress.note(
                            f"FAILED {label} after {attempts[spec.run_id]} attempt(s): {_why(result)}. "
                            f"Log: {result.log}"
                        )
                    else:  # interrupted or busy
                        counts[outcome] += 1
                running = backend.running
                progress.update(
                    running,
                    f"{counts['finished']}/{len(runs)} done · {len(running)} running"
                    + (f" · {counts['failed']} failed" if counts["failed"] else ""),
                )
            except KeyboardInterrupt:
                if not stopping:
                    stopping = True
                    dropped = len(queue)
                    queue.clear()  # nothing new starts; the same command runs them later
                    stop_file.touch()
                    progress.note(
                        f"stopping: asking {len(backend.running)} running run(s) to checkpoint and stop"
                        + (f"; {dropped} queued run(s) not started" if dropped else "")
                        + " (Ctrl-C again: stop them at once, losing the work since their last checkpoint)"
                    )
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


def _report_end(
    runs: list[RunSpec], counts: Counter, failures: dict[str, AttemptResult], stopped: bool, options: SweepOptions
) -> int:
    print(
        f"sweep {options.out}: {counts['finished']}/{len(runs)} finished"
        + (f", {counts['failed']} failed" if counts["failed"] else "")
        + (f", {counts['busy']} in use by another process (skipped)" if counts["busy"] else "")
        + (", stopped early: re-run the same command to continue" if stopped else "")
    )
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
