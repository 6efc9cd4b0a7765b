"""Continual scenarios: one run, one agent and one replay over a sequence of *phases*.

A run is cut into phases of ``continual.switch_every_frames`` frames. Phase k trains on
task k mod K of the sequence (``task=dmc/walker_stand,dmc/walker_walk`` or a named scenario
such as ``continual/walker``): the list starts again from its first task when the frames
allow more phases than it has tasks. With ``continual.permute_obs`` the observation of
every phase k ≥ 1 goes through a fixed permutation drawn from (seed, k): the entries of a
state vector, or the colour channels of a pixel frame, a change of the input distribution
that leaves the task itself as it was. Phase 0 is always the first task, unpermuted, so a
continual run is the plain run of that task up to its first switch.

This module is the environment's side: names, phase arithmetic, permutations and
`TaskSequenceEnv`. It imports no registry (the registry builds the env through it); the
trainer's side (switches, evaluation of earlier tasks) is ``training/continual.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dormant.envs.base import TimeStep
from dormant.errors import ConfigError, closest

# Named scenarios (``task=continual/<name>``): tasks of one body, whose observation and action
# spaces agree, from the easiest on.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "continual/walker": ("dmc/walker_stand", "dmc/walker_walk", "dmc/walker_run"),
    "continual/cartpole": ("dmc/cartpole_balance", "dmc/cartpole_swingup"),
    "continual/hopper": ("dmc/hopper_stand", "dmc/hopper_hop"),
    "continual/quadruped": ("dmc/quadruped_walk", "dmc/quadruped_run"),
}
SCENARIO_PREFIX = "continual/"
PHASE_STRIDE = 104_729  # the training env of phase k ≥ 1 runs seed + k·stride (a prime; mod 2³²)
COLUMN_PREFIX = "episode_reward@"  # eval.csv's per-task return columns: episode_reward@<task>


def task_sequence(task: str) -> list[str]:
    """``"a,b"`` → ``["a", "b"]``; a named scenario → its tasks; one task → ``[task]``.
    Refuses (ConfigError) an unknown scenario name, an empty item and a task listed twice."""
    task = task.strip()
    if task.startswith(SCENARIO_PREFIX):
        if task not in SCENARIOS:
            raise ConfigError(
                f"unknown continual scenario {task!r}{closest(task, SCENARIOS)}; named scenarios: "
                f"{', '.join(SCENARIOS)} (or list the tasks: task=suite/a,suite/b)"
            )
        return list(SCENARIOS[task])
    tasks = [item.strip() for item in task.split(",")]
    if len(tasks) > 1:
        if not all(tasks):
            raise ConfigError(f"task={task!r}: an empty item in the task sequence (two commas, or one at an end)")
        if any(t.startswith(SCENARIO_PREFIX) for t in tasks):
            raise ConfigError(f"task={task!r}: a named scenario stands alone; list its tasks instead")
        twice = sorted({t for t in tasks if tasks.count(t) > 1})
        if twice:
            raise ConfigError(
                f"task={task!r} lists {', '.join(twice)} twice; list each task once (the sequence "
                "starts again from its first task by itself when frames allow more phases)"
            )
    return tasks


def canonical_task(task: str) -> str:
    """The task as a run stores it: a named scenario spelled out as its task list, a list without spaces."""
    return ",".join(task_sequence(task))


def is_continual(cfg: Any) -> bool:
    """Whether a configuration switches phases (``continual.switch_every_frames`` > 0)."""
    section = getattr(cfg, "continual", None)
    return bool(section is not None and section.switch_every_frames > 0)


def phases_needed(cfg: Any) -> int:
    """The fewest phases a continual run must reach: every task once, or (one task, permuted
    observations) one switch."""
    return max(len(task_sequence(cfg.task)), 2)


def phase_of(frame: int, every: int) -> int:
    return frame // every


def eval_phases(phase: int, num_tasks: int) -> list[int]:
    """The phases an evaluation during ``phase`` runs: ``phase`` itself first, then for every
    other task trained so far the last phase it was trained in (in the sequence's order)."""
    earlier = [phase - (phase - j) % num_tasks for j in range(num_tasks) if j != phase % num_tasks]
    return [phase, *(p for p in earlier if p >= 0)]


def switch_frames(frames: int, every: int) -> list[int]:
    """The frames where a new phase starts before the budget ends."""
    return list(range(every, frames, every)) if every > 0 else []


def eval_column(task: str) -> str:
    """eval.csv's column of one task's return (a ``gym:`` task's ``:`` written ``-``)."""
    return COLUMN_PREFIX + task.replace(":", "-")


def phase_seed(seed: int, phase: int) -> int:
    return (int(seed) + phase * PHASE_STRIDE) % 2**32


def permutation(seed: int, phase: int, size: int) -> np.ndarray | None:
    """Phase ``phase``'s permutation of ``size`` entries (None in phase 0: the input as it is);
    never the identity, so every phase ≥ 1 sees its input changed."""
    if phase == 0:
        return None
    if size < 2:
        raise ConfigError(f"continual.permute_obs: a frame has {size} entry along its first axis; nothing to permute")
    rng = np.random.default_rng([int(seed) % 2**32, phase])
    while True:
        order = rng.permutation(size)
        if (order != np.arange(size)).any():
            return order


class TaskSequenceEnv:
    """The env of a continual run: one task's env at a time, chosen by ``set_phase``.

    ``keep=False`` (training): each phase gets a new env of its task, seeded
    ``phase_seed(seed, phase)`` (phase 0: ``seed``), so a resumed run rebuilds the phase it
    stopped in from the step counter alone. ``keep=True`` (evaluation): one env per task,
    seeded ``seed`` and kept, whose random streams go on from one evaluation to the next;
    ``rng_state`` holds all of them. Frames and observations come out permuted (``permute``);
    ``render`` shows the scene as it is.
    """

    obs_shape: tuple[int, ...]  # these six: phase 0's env's, copied in __init__
    frame_shape: tuple[int, ...]
    frame_dtype: np.dtype
    action_dim: int
    proprio_dim: int
    has_success: bool

    def __init__(
        self,
        tasks: Sequence[str],
        make_one: Callable[[str, int], Any],
        *,
        seed: int,
        permute: bool = False,
        keep: bool = False,
    ):
        self.tasks = list(tasks)
        self._make_one = make_one
        self._seed = int(seed)
        self._permute = permute
        self._keep = keep
        self._envs: dict[str, Any] = {}
        self._env: Any = None
        self._order: np.ndarray | None = None
        self.phase = -1
        self.set_phase(0)
        for key in ("obs_shape", "frame_shape", "frame_dtype", "action_dim", "proprio_dim", "has_success"):
            setattr(self, key, getattr(self._env, key))
        self.num_actions = getattr(self._env, "num_actions", 0)

    @property
    def task(self) -> str:
        return self.tasks[self.phase % len(self.tasks)]

    def set_phase(self, phase: int) -> None:
        """Act in ``phase`` from now on (its task's env, its permutation)."""
        if phase == self.phase:
            return
        task = self.tasks[phase % len(self.tasks)]
        if self._keep:
            if task not in self._envs:
                self._envs[task] = self._make_one(task, self._seed)
            self._env = self._envs[task]
        else:
            if self._env is not None:
                self._env.close()
            self._env = self._make_one(task, phase_seed(self._seed, phase))
        self.phase = phase
        size = self._env.frame_shape[0]
        self._order = permutation(self._seed, phase, size) if self._permute else None

    # --- permuted time steps ---------------------------------------------
    def _apply(self, array: np.ndarray, order: np.ndarray) -> np.ndarray:
        size = len(order)
        stacked = array.reshape(array.shape[0] // size, size, *array.shape[1:])
        return np.ascontiguousarray(stacked[:, order].reshape(array.shape))

    def _out(self, ts: TimeStep) -> TimeStep:
        if self._order is None:
            return ts
        return dataclasses.replace(
            ts, observation=self._apply(ts.observation, self._order), frame=self._apply(ts.frame, self._order)
        )

    def reset(self) -> TimeStep:
        return self._out(self._env.reset())

    def step(self, action: np.ndarray) -> TimeStep:
        return self._out(self._env.step(action))

    def render(self, size: int = 84) -> np.ndarray:
        return self._env.render(size)

    # --- exact resume ----------------------------------------------------
    def rng_state(self) -> dict[str, Any]:
        """Training: the current env's. Evaluation: every task env's, by task."""
        if not self._keep:
            return self._env.rng_state()
        return {"continual_tasks": {task: env.rng_state() for task, env in self._envs.items()}}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Evaluation: task envs absent from ``state`` (built since) are dropped, to be rebuilt
        fresh, as they were when the state was taken."""
        if not self._keep:
            self._env.set_rng_state(state)
            return
        saved = state.get("continual_tasks", {})
        for task in [t for t in self._envs if t not in saved]:
            self._envs.pop(task).close()
        for task in {*saved, self.task}:
            if task not in self._envs:
                self._envs[task] = self._make_one(task, self._seed)
        for task, task_state in saved.items():
            self._envs[task].set_rng_state(task_state)
        self._env = self._envs[self.task]

    def episode_start_state(self) -> dict[str, Any] | None:
        return self._env.episode_start_state()

    def restore_episode(self, start_state: dict[str, Any], actions: np.ndarray, frames: list[np.ndarray]) -> TimeStep:
        """As the task env's; the stored frames are permuted, so they go back to the task's order first."""
        if self._order is not None:
            inverse = np.argsort(self._order)
            frames = [self._apply(frame, inverse) for frame in frames]
        return self._out(self._env.restore_episode(start_state, actions, frames))

    def close(self) -> None:
        for env in {id(e): e for e in [*self._envs.values(), self._env] if e is not None}.values():
            env.close()
        self._envs.clear()
        self._env = None
        self.phase = -1
