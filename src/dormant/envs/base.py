"""The time-step type every suite wrapper produces, and the frame stack they share."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class TimeStep:
    """One agent step as the trainer sees it.

    ``observation`` is what the agent acts on (stacked frames for pixels);
    ``frame`` is only the newest frame, which is all the replay buffer stores.
    ``action`` is the action that led here (zeros at reset), DrQ-v2's
    "extended time step". ``success`` (suites with a success signal) is 1.0 once the
    episode counts as a success; ``proprio`` is the proprioceptive vector that pixel
    agents may fuse in (Adroit), stored beside the frame in replay.
    """

    observation: np.ndarray
    frame: np.ndarray
    action: np.ndarray
    reward: float
    discount: float
    first: bool
    last: bool
    success: float | None = None
    proprio: np.ndarray | None = None

    def is_last(self) -> bool:
        return self.last


def scale_action(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """An agent's action in [−1, 1] mapped linearly onto the task's bounds (float64)."""
    action = np.asarray(action, dtype=np.float32).astype(np.float64)
    return low + (high - low) * (action + 1.0) / 2.0


def make_render_fast(model) -> None:
    """No MSAA, no shadows, no reflections on a MuJoCo model: several times cheaper
    renders, visibly different images, so for tests only (NOT benchmark-faithful)."""
    model.vis.quality.offsamples = 0
    model.light_castshadow[:] = 0
    model.mat_reflectance[:] = 0


class FrameStack:
    """Keeps the last ``k`` frames and concatenates them along the first axis.

    At reset the first frame is repeated ``k`` times, as in DrQ-v2.
    """

    def __init__(self, k: int):
        self.k = k
        self._frames: deque[np.ndarray] = deque(maxlen=k)

    def reset(self, frame: np.ndarray) -> np.ndarray:
        self._frames.clear()
        for _ in range(self.k):
            self._frames.append(frame)
        return self.stacked()

    def push(self, frame: np.ndarray) -> np.ndarray:
        self._frames.append(frame)
        return self.stacked()

    def fill(self, frames: list[np.ndarray]) -> np.ndarray:
        """Restore from the newest frames of an episode (oldest first, ≥ 1 of them)."""
        self._frames.clear()
        padded = [frames[0]] * max(0, self.k - len(frames)) + list(frames[-self.k :])
        for frame in padded:
            self._frames.append(frame)
        return self.stacked()

    def stacked(self) -> np.ndarray:
        return np.concatenate(list(self._frames), axis=0)
