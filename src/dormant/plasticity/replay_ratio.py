"""Replay ratio (gradient updates per agent step): static, or adaptive on the critic's FAU.

A static ratio ``r`` (any positive rational: 1/4, 1/2, 1, 2, 3/2 …) performs
``ceil((s+1)·r) − ceil(s·r)`` updates at agent step ``s``: exactly ``r`` per step on
average, with no drift, and for ``r = 1/k`` an update when ``s % k == 0`` — DrQ-v2's
``update_every_steps = k``.

The adaptive ratio (Ma et al., ICLR 2024) starts at ``low`` (0.5) and
every ``check_every_episodes`` (50) training episodes compares the critic's mean FAU
over the updates since the last check with the previous check's mean; the first time
the change is ≤ ``tolerance`` (0.001) it switches, for good, to ``high`` (2).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any


def parse_replay_ratio(text: str | float | Fraction) -> Fraction:
    """``"0.5"``, ``"1/4"``, ``2`` → an exact positive Fraction (ValueError otherwise)."""
    try:
        ratio = Fraction(str(text).strip()).limit_denominator(1000)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"replay ratio must be a positive number such as 0.5, 1/4 or 2, got {text!r}") from None
    if ratio <= 0:
        raise ValueError(f"replay ratio must be > 0, got {text!r}")
    return ratio


class ReplayRatio:
    """A fixed number of updates per agent step on average."""

    def __init__(self, ratio: Fraction | str | float):
        self.ratio = parse_replay_ratio(ratio)
        self.switch_frame = -1  # frame at which an adaptive ratio switched; -1: never

    @property
    def current(self) -> float:
        return float(self.ratio)

    def updates_due(self, step: int) -> int:
        return math.ceil((step + 1) * self.ratio) - math.ceil(step * self.ratio)

    def observe(self, critic_fau: float) -> None:
        """One update's critic FAU (ignored by a static ratio)."""

    def on_episode_end(self, episode: int, frame: int) -> bool:
        """Called after each finished training episode; True when the ratio just changed."""
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"ratio": str(self.ratio), "switch_frame": self.switch_frame}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A static ratio is configuration, not state: only the switch record is restored."""
        self.switch_frame = int(state["switch_frame"])


class AdaptiveReplayRatio(ReplayRatio):
    """Low ratio while the critic's FAU still moves; high once it has settled."""

    def __init__(
        self,
        low: Fraction | str | float = Fraction(1, 2),
        high: Fraction | str | float = 2,
        check_every_episodes: int = 50,
        tolerance: float = 0.001,
    ):
        super().__init__(low)
        self.high = parse_replay_ratio(high)
        if check_every_episodes <= 0:
            raise ValueError(f"check_every_episodes must be > 0, got {check_every_episodes}")
        if tolerance < 0:
            raise ValueError(f"tolerance must be ≥ 0, got {tolerance}")
        self.check_every_episodes = check_every_episodes
        self.tolerance = tolerance
        self.fau_sum = 0.0
        self.fau_count = 0
        self.previous_mean: float | None = None
        self.checks: list[tuple[int, float]] = []  # (frame, mean FAU) at every check, for logs

    @property
    def switched(self) -> bool:
        return self.switch_frame >= 0

    def observe(self, critic_fau: float) -> None:
        if not self.switched:
            self.fau_sum += critic_fau
            self.fau_count += 1

    def on_episode_end(self, episode: int, frame: int) -> bool:
        if self.switched or episode % self.check_every_episodes != 0 or self.fau_count == 0:
            return False  # a check with no update since the last one has nothing to compare
        mean = self.fau_sum / self.fau_count
        self.fau_sum, self.fau_count = 0.0, 0
        self.checks.append((frame, mean))
        previous, self.previous_mean = self.previous_mean, mean
        if previous is not None and abs(mean - previous) <= self.tolerance:
            self.ratio = self.high
            self.switch_frame = frame
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "fau_sum": self.fau_sum,
            "fau_count": self.fau_count,
            "previous_mean": self.previous_mean,
            "checks": [list(c) for c in self.checks],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.ratio = parse_replay_ratio(state["ratio"])
        self.fau_sum = float(state["fau_sum"])
        self.fau_count = int(state["fau_count"])
        self.previous_mean = None if state["previous_mean"] is None else float(state["previous_mean"])
        self.checks = [(int(f), float(m)) for f, m in state["checks"]]
