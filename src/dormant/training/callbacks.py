"""Callbacks: observe or steer a run from your own code without forking the trainer.

Subclass ``Callback`` and override what you need; pass instances to ``dormant.train``
(or ``Trainer(..., callbacks=[...])``). Every hook gets the trainer, so it can read
``trainer.frame``, ``trainer.agent``, ``trainer.counters``, and call
``trainer.request_stop(reason)`` to end the run at the next safe point (a checkpoint is
saved and the run can be resumed, as after Ctrl-C).

Hooks run in the training process, between steps; they see numbers already on the
host (no extra synchronisation). An exception in a hook stops the run like any error
(the last checkpoint is kept).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dormant.training.trainer import Trainer


HOOKS = ("on_train_start", "on_episode_end", "on_eval", "on_intervention", "on_frames", "on_train_end")


class Callback:
    """No-op hooks; ``every_frames`` > 0 makes ``on_frames`` run every that many frames
    (at the first agent step at or after each multiple, the project's one rule for
    periodic work; it does not fire again for frames trained before a resume)."""

    every_frames: int = 0

    def on_train_start(self, trainer: Trainer) -> None:
        """Before the first step of this process (after a resume too)."""

    def on_episode_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """After a training episode; ``row`` is what train.csv got (return, length, metric means)."""

    def on_eval(self, trainer: Trainer, result: dict[str, Any]) -> None:
        """After an evaluation; ``result`` is what eval.csv got (frame, episode_reward, ...)."""

    def on_intervention(self, trainer: Trainer, event: dict[str, Any]) -> None:
        """After a plasticity intervention or DrM perturbation; ``event`` is its events.csv row."""

    def on_frames(self, trainer: Trainer) -> None:
        """Every ``every_frames`` frames."""

    def on_train_end(self, trainer: Trainer, status: str) -> None:
        """After the final checkpoint; ``status`` is finished, interrupted, or why it failed."""


class EarlyStopping(Callback):
    """Stop once an evaluation's mean return reaches ``target`` (a ready-made example).
    Evaluations before the first update (the untrained policy, which scores ≈ 750 on
    cartpole_balance) do not count unless ``from_start``."""

    def __init__(self, target: float, metric: str = "episode_reward", *, from_start: bool = False):
        self.target = target
        self.metric = metric
        self.from_start = from_start

    def on_eval(self, trainer: Trainer, result: dict[str, Any]) -> None:
        if not self.from_start and trainer.counters.updates == 0:
            return
        if result.get(self.metric, float("-inf")) >= self.target:
            trainer.request_stop(f"{self.metric} {result[self.metric]:.1f} ≥ {self.target}")
