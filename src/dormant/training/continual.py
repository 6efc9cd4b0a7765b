"""The trainer's side of a continual run (``envs/continual.py`` has the env's): where a phase
ends, what a switch does, and what an evaluation covers.

- The step that reaches a switch frame ends every open episode there: a truncation, as at a
  time limit (the last transition keeps its discount, so its value is still bootstrapped).
- The next episodes start in the new phase: every env switches (``set_phase``), the replay is
  kept or replaced by an empty one (``continual.replay``), and events.csv gets a
  ``task_switch`` row (count: the new phase; detail: its task).
- An evaluation at frame f covers the phase that led to f (the phase of frame f − 1): its task,
  as it is trained then (``episode_reward``, as in a single-task run), and every other task
  trained so far, as it was last trained (the observation permutation of that phase). Every
  such task's return also goes to its own column, ``episode_reward@<task>``.
- The training phase is the step counter's (frame // switch_every_frames): a resumed run
  switches its envs to it before rebuilding the open episode, and a checkpoint needs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dormant.envs.base import TimeStep
from dormant.envs.continual import eval_column, eval_phases, phase_of, task_sequence

EVENT = "task_switch"  # events.csv's name of a switch


class TaskSwitches:
    """Phases of a run with ``continual.switch_every_frames`` > 0; ``phase`` is the training envs'."""

    def __init__(self, cfg: Any):
        self.tasks = task_sequence(cfg.task)
        self.every = cfg.continual.switch_every_frames
        self.reset_replay = cfg.continual.replay == "reset"
        self.phase = 0

    def task(self, phase: int) -> str:
        return self.tasks[phase % len(self.tasks)]

    def eval_columns(self) -> list[str]:
        """eval.csv's columns beyond a single-task run's."""
        return ["phase", *(eval_column(task) for task in self.tasks)]

    def follow(self, envs: Any, frame: int) -> None:
        """A resumed run: the envs to the phase of ``frame``, before the open episode is rebuilt."""
        self.phase = phase_of(frame, self.every)
        envs.set_phase(self.phase)

    def truncate(self, steps: Sequence[TimeStep], frame: int) -> None:
        """End these time steps' episodes if the step that brought them reached ``frame`` of a new phase."""
        if phase_of(frame, self.every) != self.phase:
            for ts in steps:
                ts.last = True

    def switch(self, trainer: Any) -> None:
        """Before new episodes start: move to the phase of ``trainer.frame`` if it is a new one."""
        phase = phase_of(trainer.frame, self.every)
        if phase == self.phase:
            return
        self.phase = phase
        trainer.envs.set_phase(phase)
        if self.reset_replay:
            trainer.new_replay()
        trainer._log_event(
            {
                "event": EVENT,
                "count": phase,
                "detail": f"phase {phase}: {self.task(phase)}" + (" (replay emptied)" if self.reset_replay else ""),
            }
        )

    def evaluate(
        self, eval_env: Any, frame: int, run: Callable[[bool], dict[str, float] | None], video: bool
    ) -> dict[str, Any] | None:
        """``run(video)`` (one evaluation of the env as it is) on each phase an evaluation at
        ``frame`` covers, the current one first (its video, if asked); None if one was cut short."""
        result: dict[str, Any] = {}
        for i, phase in enumerate(eval_phases(phase_of(max(frame - 1, 0), self.every), len(self.tasks))):
            eval_env.set_phase(phase)
            one = run(video and i == 0)
            if one is None:
                return None
            if i == 0:
                result = {**one, "phase": phase}
            result[eval_column(self.task(phase))] = one["episode_reward"]
        return result
