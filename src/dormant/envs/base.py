"""The time-step type every suite wrapper produces, the frame stack and action scaling they
share, and `GymnasiumTask`: what every wrapper of a Gymnasium env shares (MetaWorld, Adroit
and any `gym:` task)."""

from __future__ import annotations

import atexit
import math
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

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


_LIVE: weakref.WeakSet = weakref.WeakSet()
_exit_hook_registered = False


def _close_all() -> None:
    for env in list(_LIVE):
        env.close()


def close_at_exit(env: Any) -> None:
    """Close ``env`` at interpreter exit, before MuJoCo's own exit hook terminates EGL (else
    noisy ``__del__`` errors). Call it once the env has rendered: the hook registered then
    runs before MuJoCo's, registered earlier."""
    global _exit_hook_registered
    _LIVE.add(env)
    if not _exit_hook_registered:
        atexit.register(_close_all)
        _exit_hook_registered = True


class FrameStack:
    """Keeps the last ``k`` frames and concatenates them along the first axis.

    At reset the first frame is repeated ``k`` times, as in DrQ-v2; with ``zeros``, the stack
    starts from ``k − 1`` zero frames and the first frame instead, as Dopamine's agent state does.
    """

    def __init__(self, k: int, zeros: bool = False):
        self.k = k
        self.zeros = zeros
        self._frames: deque[np.ndarray] = deque(maxlen=k)

    def reset(self, frame: np.ndarray) -> np.ndarray:
        self._frames.clear()
        for _ in range(self.k - 1):
            self._frames.append(np.zeros_like(frame) if self.zeros else frame)
        self._frames.append(frame)
        return self.stacked()

    def push(self, frame: np.ndarray) -> np.ndarray:
        self._frames.append(frame)
        return self.stacked()

    def fill(self, frames: list[np.ndarray]) -> np.ndarray:
        """Restore from the newest frames of an episode (oldest first, ≥ 1 of them)."""
        self._frames.clear()
        pad = np.zeros_like(frames[0]) if self.zeros else frames[0]
        padded = [pad] * max(0, self.k - len(frames)) + list(frames[-self.k :])
        for frame in padded:
            self._frames.append(frame)
        return self.stacked()

    def stacked(self) -> np.ndarray:
        return np.concatenate(list(self._frames), axis=0)


class GymnasiumTask:
    """The part of a `TimeStep` wrapper that any Gymnasium env shares.

    - Actions in [−1, 1] are scaled linearly onto the Box bounds, then repeated
      ``action_repeat`` times: rewards summed, stopping at the episode's end. A ``Discrete(n)``
      space is reported as ``num_actions = n`` with ``action_dim = 1``: the agent's action is
      one float holding the index (what replay stores), rounded and offset by the space's
      ``start`` here. Continuous suites have ``num_actions = 0``.
    - Episode end: ``terminated`` gives discount 0 (no bootstrapping); ``truncated`` (a time
      limit) gives discount 1, the episode ends and bootstrapping continues, as DrQ-v2 treats
      time limits. So does ``episode_frames`` (a limit in simulator steps kept by the wrapper).
    - Seeds: the first reset is ``reset(seed=seed)`` unless the env arrives seeded; later
      resets draw from the env's own ``np_random``.
    - Exact resume: ``episode_start_state()`` is ``{"seed": s}`` for an episode that started
      with ``reset(seed=s)``, else the ``np_random`` bit-generator state before its reset;
      ``restore_episode`` resets from it and replays the episode's actions without rendering.

    A subclass sets up with ``_init_task`` and provides ``_frame()`` (the newest frame);
    it may override ``_reward`` (one simulator step's reward), ``_extras`` (``success``,
    ``proprio`` of a `TimeStep`) and ``_on_reset``.
    """

    has_success = False
    proprio_dim = 0
    num_actions = 0  # > 0: a Discrete action space of this many actions (action_dim is 1)

    def _init_task(
        self,
        env: Any,
        *,
        seed: int,
        frame_stack: int,
        action_repeat: int,
        seeded: bool,
        episode_frames: float = math.inf,
        action_dtype: Any = np.float64,
    ) -> None:
        self._env = env
        space = env.action_space
        self._action_start = 0
        if hasattr(space, "n") and not hasattr(space, "nvec"):  # gymnasium.spaces.Discrete
            self.num_actions, self._action_start = int(space.n), int(space.start)
            self.action_dim = 1
        else:
            self._action_low = np.asarray(space.low, np.float64).reshape(-1)
            self._action_high = np.asarray(space.high, np.float64).reshape(-1)
            self._action_shape = tuple(space.shape)
            self.action_dim = int(np.prod(space.shape))
        self._action_dtype = action_dtype
        self._stack = FrameStack(frame_stack)
        self._action_repeat = action_repeat
        self._episode_frames = episode_frames
        self._seed = seed
        self._seeded = seeded
        self._episode_start: dict[str, Any] | None = None
        self._frames_done = 0
        self._last_obs: Any = None

    # --- hooks -----------------------------------------------------------
    def _frame(self) -> np.ndarray:
        raise NotImplementedError

    def _reward(self, reward: float, info: dict[str, Any]) -> float:
        return reward

    def _extras(self) -> dict[str, Any]:
        return {}

    def _on_reset(self) -> None:
        pass

    # --- dynamics --------------------------------------------------------
    def _reset_sim(self) -> None:
        if self._seeded:
            self._last_obs, _ = self._env.reset()
        else:
            self._last_obs, _ = self._env.reset(seed=self._seed)
            self._seeded = True
        self._frames_done = 0
        self._on_reset()

    def _repeat(self, action: np.ndarray) -> tuple[float, float, bool]:
        """Up to ``action_repeat`` simulator steps; (reward, discount, episode over)."""
        reward, discount, over = 0.0, 1.0, False
        scaled = self._env_action(action)
        for _ in range(self._action_repeat):
            self._last_obs, step_reward, terminated, truncated, info = self._env.step(scaled)
            self._frames_done += 1
            reward += self._reward(float(step_reward), info)
            if terminated:
                discount = 0.0
            over = bool(terminated or truncated) or self._frames_done >= self._episode_frames
            if over:
                break
        return reward, discount, over

    def _env_action(self, action: np.ndarray) -> Any:
        """The agent's action as the env takes it: an int index, or [−1, 1] scaled onto the Box."""
        if self.num_actions:
            index = int(np.rint(np.asarray(action, np.float64).reshape(-1)[0]))
            if not 0 <= index < self.num_actions:
                raise ValueError(f"discrete action {index} outside [0, {self.num_actions})")
            return self._action_start + index
        scaled = scale_action(action, self._action_low, self._action_high)
        return scaled.astype(self._action_dtype, copy=False).reshape(self._action_shape)

    def reset(self) -> TimeStep:
        self._episode_start = self.rng_state()
        self._reset_sim()
        frame = self._frame()
        return TimeStep(
            observation=self._stack.reset(frame),
            frame=frame,
            action=np.zeros(self.action_dim, np.float32),
            reward=0.0,
            discount=1.0,
            first=True,
            last=False,
            **self._extras(),
        )

    def step(self, action: np.ndarray) -> TimeStep:
        reward, discount, over = self._repeat(action)
        frame = self._frame()
        return TimeStep(
            observation=self._stack.push(frame),
            frame=frame,
            action=np.asarray(action, np.float32),
            reward=reward,
            discount=discount,
            first=False,
            last=over,
            **self._extras(),
        )

    # --- exact resume ----------------------------------------------------
    def rng_state(self) -> dict[str, Any]:
        """What the next reset starts from: the seed it will use, or the env's RNG state."""
        return dict(self._env.np_random.bit_generator.state) if self._seeded else {"seed": self._seed}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        if "seed" in state:
            self._seed, self._seeded = int(state["seed"]), False
        else:
            self._env.np_random.bit_generator.state = state
            self._seeded = True

    def episode_start_state(self) -> dict[str, Any] | None:
        return self._episode_start

    def restore_episode(self, start_state: dict[str, Any], actions: np.ndarray, frames: list[np.ndarray]) -> TimeStep:
        """Re-run an episode's first steps without rendering to reach the checkpointed state.

        ``actions`` are the actions taken so far; ``frames`` the episode's stored frames
        (newest last), which rebuild the frame stack. Returns the time step to continue from
        (its reward is not needed)."""
        self.set_rng_state(start_state)
        self._episode_start = start_state
        self._reset_sim()
        for action in actions:
            self._repeat(action)
        return TimeStep(
            observation=self._stack.fill(frames),
            frame=frames[-1],
            action=actions[-1] if len(actions) else np.zeros(self.action_dim, np.float32),
            reward=0.0,
            discount=1.0,
            first=len(actions) == 0,
            last=False,
            **self._extras(),
        )
