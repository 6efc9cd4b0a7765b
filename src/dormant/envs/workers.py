"""Training environments as a group the trainer steps together: `SingleEnv` (the env in the
training process, today's path, bit for bit) or `EnvWorkers` (``env.workers`` = N > 1 copies,
each in its own spawned process with its own renderer, stepped in parallel).

Both give the trainer the same calls: ``reset_many(indices)``, ``step(actions)`` (one action per env,
all envs at once), ``episode_start_state(i)``, ``restore_episode(i, …)``, ``close()``, and for a
continual run ``set_phase(k)`` (every env to phase k: ``envs/continual.py``).

Worker ``i`` is seeded ``worker_seed(seed, i)``: worker 0 keeps the run's seed, so its
stream is the single env's. Frames and observations come back through shared memory (one
block per worker, created and removed by the trainer, written by the worker, copied out by the
trainer); the rest of a time step
(reward, discount, flags, action, proprio) through the worker's pipe. Workers ignore Ctrl-C
and SIGTERM: the trainer decides when to stop, saves (episode start states are kept here, so
a save needs no worker), then closes them; a worker whose trainer died exits on the closed
pipe (and, on Linux, on the parent-death signal).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing as mp
import signal
import sys
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from dormant.envs.base import TimeStep

SEED_STRIDE = 1_000_003  # worker i runs seed + i·stride (a prime; mod 2³²), far from neighbouring run seeds
SPEC_KEYS = ("obs_shape", "frame_shape", "frame_dtype", "action_dim", "num_actions", "proprio_dim", "has_success")


def worker_seed(seed: int, index: int) -> int:
    return (int(seed) + index * SEED_STRIDE) % 2**32


class SingleEnv:
    """One env in this process, behind the group interface (``env.workers=1``)."""

    def __init__(self, env: Any):
        self.env = env
        self.num_envs = 1
        for key in SPEC_KEYS:
            setattr(self, key, getattr(env, key, 0))

    def reset_many(self, indices: Sequence[int]) -> list[TimeStep]:
        return [self.env.reset() for _ in indices]

    def step(self, actions: Sequence[np.ndarray]) -> list[TimeStep]:
        return [self.env.step(actions[0])]

    def episode_start_state(self, index: int) -> dict[str, Any] | None:
        return self.env.episode_start_state()

    def restore_episode(
        self, index: int, start_state: dict[str, Any], actions: np.ndarray, frames: list[np.ndarray]
    ) -> TimeStep:
        return self.env.restore_episode(start_state, actions, frames)

    def set_phase(self, phase: int) -> None:
        self.env.set_phase(phase)

    def close(self) -> None:
        self.env.close()


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):  # without it, the closed pipe still ends the worker
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _views(shm: SharedMemory, spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    dtype = np.dtype(spec["frame_dtype"])
    obs_bytes = int(np.prod(spec["obs_shape"])) * dtype.itemsize
    obs = np.ndarray(spec["obs_shape"], dtype, buffer=shm.buf)
    frame = np.ndarray(spec["frame_shape"], dtype, buffer=shm.buf, offset=obs_bytes)
    return obs, frame


def _block_bytes(spec: dict[str, Any]) -> int:
    dtype = np.dtype(spec["frame_dtype"])
    return (int(np.prod(spec["obs_shape"])) + int(np.prod(spec["frame_shape"]))) * dtype.itemsize


def _worker(conn: Connection, cfg: Any, seed: int) -> None:
    """A worker's life: build the env, report its shapes, then serve commands until ``close``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    env = shm = obs_view = frame_view = None
    try:
        from dormant.envs.continual import TaskSequenceEnv
        from dormant.envs.registry import make_env, needs_gl
        from dormant.envs.rendering import configure_rendering

        configure_rendering(needs_gl(cfg))
        env = make_env(cfg, seed=seed)
        spec: dict[str, Any] = {key: getattr(env, key, 0) for key in SPEC_KEYS}
        spec["frame_dtype"] = np.dtype(spec["frame_dtype"]).str
        conn.send(("ok", spec))
        shm = SharedMemory(name=conn.recv())  # created (and later unlinked) by the trainer
        obs_view, frame_view = _views(shm, spec)

        def reply(ts: TimeStep) -> None:
            assert obs_view is not None and frame_view is not None  # set above; cleared only on the way out
            if ts.observation.dtype != obs_view.dtype:
                raise TypeError(f"observation dtype {ts.observation.dtype} differs from the frames' {obs_view.dtype}")
            obs_view[...] = ts.observation
            frame_view[...] = ts.frame
            conn.send(
                (
                    "ok",
                    (
                        ts.action,
                        ts.reward,
                        ts.discount,
                        ts.first,
                        ts.last,
                        ts.success,
                        ts.proprio,
                        env.episode_start_state() if ts.first else None,
                    ),
                )
            )

        while True:
            command, args = conn.recv()
            if command == "close":
                break
            if command == "reset":
                reply(env.reset())
            elif command == "step":
                reply(env.step(args))
            elif command == "restore":
                reply(env.restore_episode(*args))
            elif command == "phase":
                if not isinstance(env, TaskSequenceEnv):
                    raise TypeError(f"a phase switch sent to the env of a run without phases ({type(env).__name__})")
                env.set_phase(args)
                conn.send(("ok", None))
            else:
                raise ValueError(f"unknown worker command {command!r}")
    except (EOFError, KeyboardInterrupt):
        pass  # the trainer is gone
    except BaseException:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("error", traceback.format_exc()))
    finally:
        if env is not None:
            env.close()
        obs_view = frame_view = None  # views into the block must go before it closes
        if shm is not None:
            shm.close()
        conn.close()


class WorkerError(RuntimeError):
    """An environment worker failed; the message carries its traceback."""


class EnvWorkers:
    """``len(seeds)`` copies of the configured env, one spawned process each (see module doc)."""

    def __init__(self, cfg: Any, seeds: Sequence[int]):
        context = mp.get_context("spawn")  # a fresh interpreter: no inherited GL context or torch threads
        self.num_envs = len(seeds)
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._shms: list[SharedMemory] = []
        self._views: list[tuple[np.ndarray, np.ndarray]] = []
        self._starts: list[dict[str, Any] | None] = [None] * self.num_envs
        self._closed = False
        # Before multiprocessing's own exit hook (atexit runs last-registered first), which would
        # SIGTERM the workers (ignored) and wait for them forever.
        atexit.register(self.close)
        try:
            for seed in seeds:
                parent, child = context.Pipe()
                proc = context.Process(target=_worker, args=(child, cfg, seed), daemon=True)
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
            for conn in self._conns:
                spec = self._receive(conn)
                shm = SharedMemory(create=True, size=_block_bytes(spec))
                self._shms.append(shm)
                self._views.append(_views(shm, spec))
                conn.send(shm.name)
        except BaseException:
            self.close()
            raise
        for key in SPEC_KEYS:
            setattr(self, key, spec[key])
        self.frame_dtype = np.dtype(spec["frame_dtype"])

    def _receive(self, conn: Connection) -> Any:
        try:
            status, payload = conn.recv()
        except EOFError:
            raise WorkerError("an environment worker exited unexpectedly") from None
        if status == "error":
            raise WorkerError(f"an environment worker failed:\n{payload}")
        return payload

    def _time_step(self, index: int, payload: tuple) -> TimeStep:
        action, reward, discount, first, last, success, proprio, start = payload
        if first:
            self._starts[index] = start
        obs, frame = self._views[index]
        return TimeStep(
            observation=obs.copy(),
            frame=frame.copy(),
            action=action,
            reward=reward,
            discount=discount,
            first=first,
            last=last,
            success=success,
            proprio=proprio,
        )

    def _call(self, requests: Sequence[tuple[int, str, Any]]) -> list[TimeStep]:
        for index, command, args in requests:  # all workers start before any is waited for
            self._conns[index].send((command, args))
        return [self._time_step(index, self._receive(self._conns[index])) for index, _, _ in requests]

    def reset_many(self, indices: Sequence[int]) -> list[TimeStep]:
        """Reset several workers in parallel."""
        return self._call([(i, "reset", None) for i in indices])

    def step(self, actions: Sequence[np.ndarray]) -> list[TimeStep]:
        if len(actions) != self.num_envs:
            raise ValueError(f"{len(actions)} actions for {self.num_envs} environment workers")
        return self._call([(i, "step", np.asarray(a)) for i, a in enumerate(actions)])

    def episode_start_state(self, index: int) -> dict[str, Any] | None:
        return self._starts[index]

    def restore_episode(
        self, index: int, start_state: dict[str, Any], actions: np.ndarray, frames: list[np.ndarray]
    ) -> TimeStep:
        ts = self._call([(index, "restore", (start_state, actions, frames))])[0]
        self._starts[index] = start_state
        return ts

    def set_phase(self, phase: int) -> None:
        """Every worker's env to ``phase`` (in parallel); its open episode is left to the caller."""
        for conn in self._conns:
            conn.send(("phase", phase))
        for conn in self._conns:
            self._receive(conn)

    def close(self) -> None:
        """Stop every worker (safe to call twice, and after a worker died)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        for conn in self._conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("close", None))
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        self._views.clear()  # views into the blocks must go before they close
        for shm in self._shms:
            shm.close()
            shm.unlink()
        for conn in self._conns:
            conn.close()


def make_env_group(cfg: Any) -> tuple[Any, SingleEnv | EnvWorkers]:
    """The training env and its group: one env in this process (``env.workers=1``), or the
    workers, which then stand for the env too (they carry its shapes)."""
    from dormant.envs.registry import make_env

    if cfg.env.workers == 1:
        env = make_env(cfg, seed=cfg.seed)
        return env, SingleEnv(env)
    workers = EnvWorkers(cfg, [worker_seed(cfg.seed, i) for i in range(cfg.env.workers)])
    return workers, workers
