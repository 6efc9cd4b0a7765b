"""Where sweep runs execute: local subprocesses (default) or Ray tasks.

Each attempt of a run is one ``dormant train`` subprocess, so a crash, an OOM kill or
a segfault in a run never takes the sweep down. ``run_attempt`` is the whole unit of
work and runs unchanged in a local worker thread or in a Ray worker; it decides from
the run directory whether to start, restart or resume.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dormant.errors import ConfigError, MissingExtraError
from dormant.experiments.runs import clear_run_dir, log_tail, run_state, status_or_none


@dataclass
class RunSpec:
    """One cell of the grid: a `dormant train` command and its run directory."""

    run_id: str  # e.g. "dmc_cartpole_swingup/drm/seed1", "dmc_cartpole_swingup/drm/agent.lr=0.0003/seed1"
    task: str
    agent: str
    seed: int
    run_dir: Path
    frames: int
    overrides: dict[str, str] = field(default_factory=dict)  # `dormant train` key=value, without out=
    params: dict[str, str] = field(default_factory=dict)  # its values of the sweep's hyperparameter axes
    config: Any = field(default=None, repr=False, compare=False)  # its resolved Config (read-only; shared sections)

    @property
    def label(self) -> str:
        """``dmc/cartpole_balance drqv2 agent.lr=0.0003 seed 1``"""
        return " ".join([self.task, self.agent, *(f"{k}={v}" for k, v in self.params.items()), f"seed {self.seed}"])


@dataclass
class AttemptResult:
    run_id: str
    attempt: int
    code: int  # the subprocess's exit code; -1 if it never ran (e.g. a Ray worker died)
    status: str  # status.json's word after the attempt ("" if none)
    frame: int
    action: str  # started, restarted, resumed, already finished
    log: str
    tail: list[str]
    host: str
    seconds: float
    error: str = ""


def train_command(spec: RunSpec, action: str, trained_budget: int = 0) -> list[str]:
    """``trained_budget``: the frames the existing run was configured for (resume only)."""
    base = [sys.executable, "-m", "dormant.cli", "train"]
    if action == "resumed":
        extra = [f"frames={spec.frames}"] if spec.frames > trained_budget else []
        return [*base, "--resume", str(spec.run_dir), *extra]
    return [*base, *(f"{k}={v}" for k, v in spec.overrides.items()), f"out={spec.run_dir}"]


def kill_file_for(stop_file: str) -> str:
    """The file that asks every attempt to end at once (a second Ctrl-C of the sweep)."""
    return stop_file + "-now"


def run_attempt(
    spec: RunSpec, attempt: int, stop_file: str, env: dict[str, str] | None = None, poll_s: float = 1.0
) -> AttemptResult:
    """Run one attempt of ``spec`` to its end; creating ``stop_file`` asks it to checkpoint
    and stop (SIGTERM, which the trainer treats as a first Ctrl-C), creating its kill file
    (``kill_file_for``) ends it at once (SIGKILL; it resumes from its last checkpoint). An
    attempt that would start after the stop file exists does not start."""
    t0 = time.perf_counter()
    state = run_state(spec.run_dir, spec.frames)
    log = spec.run_dir / "sweep.log"
    if state.kind == "finished":
        return AttemptResult(
            spec.run_id,
            attempt,
            0,
            state.status,
            state.frame,
            "already finished",
            str(log),
            [],
            socket.gethostname(),
            0.0,
        )
    if os.path.exists(stop_file):
        return AttemptResult(
            spec.run_id,
            attempt,
            130,
            "interrupted",
            state.frame,
            "not started",
            str(log),
            [],
            socket.gethostname(),
            0.0,
        )
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    action = {"new": "started", "restart": "restarted", "resume": "resumed"}[state.kind]
    if state.kind == "restart":
        clear_run_dir(spec.run_dir)  # it died before its first checkpoint: start again from nothing
    command = train_command(spec, action, int((state.config or {}).get("frames", 0)))
    child_env = {**os.environ, **(env or {}), "DORMANT_PARENT_PID": str(os.getpid())}
    with open(log, "a") as handle:
        handle.write(
            f"\n=== attempt {attempt} ({action}) on {socket.gethostname()} at "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command[1:])}\n"
        )
        handle.flush()
        # Own session: a terminal's Ctrl-C reaches the sweep only, which passes it on as SIGTERM.
        proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=child_env, start_new_session=True)
        interrupted = False
        kill_file = kill_file_for(stop_file)
        while True:
            try:
                code = proc.wait(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                if os.path.exists(kill_file):
                    _kill_group(proc)
                elif not interrupted and os.path.exists(stop_file):
                    proc.send_signal(signal.SIGTERM)
                    interrupted = True
            except KeyboardInterrupt:  # e.g. a Ray task cancelled
                proc.send_signal(signal.SIGTERM)
                interrupted = True
    status = status_or_none(spec.run_dir)
    return AttemptResult(
        spec.run_id,
        attempt,
        code,
        str(status.get("status", "")),
        int(status.get("frame", 0)),
        action,
        str(log),
        log_tail(log),
        socket.gethostname(),
        time.perf_counter() - t0,
    )


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the attempt and anything it started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class LocalBackend:
    """A bounded pool of subprocesses on this machine; GPUs are handed out one per
    slot (CUDA_VISIBLE_DEVICES), round robin when there are more slots than GPUs."""

    def __init__(self, jobs: int, stop_file: str, *, threads: int, gpus: int = 0):
        self.jobs = jobs
        self.stop_file = stop_file
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="sweep-run")
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(jobs):
            self._slots.put(slot)
        self.gpus = gpus
        self._futures: dict[Future, RunSpec] = {}

    @property
    def free(self) -> int:
        return self.jobs - len(self._futures)

    def _run(self, spec: RunSpec, attempt: int) -> AttemptResult:
        slot = self._slots.get()
        try:
            env = {"OMP_NUM_THREADS": str(self.threads)}
            if self.gpus:
                env["CUDA_VISIBLE_DEVICES"] = str(slot % self.gpus)
            return run_attempt(spec, attempt, self.stop_file, env)
        finally:
            self._slots.put(slot)

    def submit(self, spec: RunSpec, attempt: int) -> None:
        self._futures[self._pool.submit(self._run, spec, attempt)] = spec

    def wait(self, timeout: float) -> list[tuple[RunSpec, AttemptResult]]:
        if not self._futures:
            time.sleep(min(timeout, 0.05))
            return []
        done, _ = wait_futures(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            spec = self._futures.pop(future)
            try:
                out.append((spec, future.result()))
            except Exception as err:  # a bug or OSError in the attempt itself, not in the run
                out.append((spec, _error_result(spec, err)))
        return out

    @property
    def running(self) -> list[RunSpec]:
        return list(self._futures.values())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _error_result(spec: RunSpec, err: BaseException, attempt: int = 0) -> AttemptResult:
    log = spec.run_dir / "sweep.log"
    return AttemptResult(
        spec.run_id,
        attempt,
        -1,
        "",
        0,
        "not run",
        str(log),
        log_tail(log),
        socket.gethostname(),
        0.0,
        error=f"{type(err).__name__}: {err}",
    )


class RayBackend:
    """One Ray task per attempt with per-run CPU/GPU requests. Run directories must be
    on storage that every node sees (the same path), as results are written there."""

    def __init__(self, stop_file: str, *, address: str, cpus_per_run: float, gpus_per_run: float | None, threads: int):
        try:
            import ray
        except ImportError as err:
            raise MissingExtraError("backend=ray", "ray", err) from None
        self.ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:  # no address: a Ray instance of our own, even if this machine runs another one
                ray.init(address=address or "local", include_dashboard=False, log_to_driver=False)
            except (ConnectionError, ray.exceptions.RayError) as err:
                raise ConfigError(
                    f"cannot connect to the Ray cluster at {address or 'this machine'}: {err}. Is it "
                    "running (`ray status` on its head)? If it uses token authentication, give the "
                    "sweep the same RAY_AUTH_MODE and token"
                ) from None
        if gpus_per_run is None:
            gpus_per_run = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        self.cpus_per_run, self.gpus_per_run = cpus_per_run, gpus_per_run
        try:
            check_fits(cpus_per_run, gpus_per_run, [n["Resources"] for n in ray.nodes() if n.get("Alive")])
        except ConfigError:
            self.close()
            raise
        self.threads = threads
        self.stop_file = stop_file
        self._remote = ray.remote(run_attempt).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)
        self._refs: dict[Any, tuple[RunSpec, int]] = {}
        self.jobs = max(1, int(ray.cluster_resources().get("CPU", 1) // max(cpus_per_run, 1e-9)))
        if gpus_per_run:
            self.jobs = min(self.jobs, max(1, int(ray.cluster_resources().get("GPU", 0) // gpus_per_run)))

    @property
    def free(self) -> int:
        return 1 << 30  # Ray queues tasks until their resources are free

    def submit(self, spec: RunSpec, attempt: int) -> None:
        env = {"OMP_NUM_THREADS": str(self.threads)}
        # An absolute run directory: a worker's working directory is not the sweep's.
        remote_spec = replace(spec, run_dir=spec.run_dir.absolute(), config=None)  # the worker needs only the overrides
        # ray's typed overloads of remote() stop at the parameters without defaults (spec, attempt, stop_file)
        ref = self._remote.remote(remote_spec, attempt, self.stop_file, env)  # type: ignore[call-arg]
        self._refs[ref] = (spec, attempt)

    def wait(self, timeout: float) -> list[tuple[RunSpec, AttemptResult]]:
        if not self._refs:
            time.sleep(min(timeout, 0.05))
            return []
        ready, _ = self.ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            spec, attempt = self._refs.pop(ref)
            try:
                out.append((spec, self.ray.get(ref)))
            except self.ray.exceptions.RayError as err:  # the worker or its node died
                out.append((spec, _error_result(spec, err, attempt)))
        return out

    @property
    def running(self) -> list[RunSpec]:
        return [spec for spec, _ in self._refs.values()]

    def close(self) -> None:
        if self._owns_ray:
            self.ray.shutdown()


def check_fits(cpus: float, gpus: float, nodes: list[dict[str, float]]) -> None:
    """A run needs its CPUs and GPUs on one node; Ray would queue one that fits no node
    forever, so refuse it now, saying what the nodes have."""
    if any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
        return
    have = ", ".join(f"{n.get('CPU', 0):g} CPU + {n.get('GPU', 0):g} GPU" for n in nodes) or "no nodes"
    if gpus and not any(n.get("GPU", 0) for n in nodes):
        raise ConfigError(
            f"gpus_per_run={gpus:g} but the Ray cluster has no GPUs (its nodes: {have}); "
            "give gpus_per_run=0 to train on CPUs, or add GPU nodes"
        )
    raise ConfigError(
        f"no node of the Ray cluster has {cpus:g} CPU + {gpus:g} GPU for one run (its nodes: {have}); "
        "lower cpus_per_run / gpus_per_run"
    )
