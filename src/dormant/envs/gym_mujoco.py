"""Gymnasium MuJoCo tasks (MetaWorld, Adroit) as `TimeStep` environments.

One class does what both suites share, so that they differ by configuration:
action repeat (rewards summed over the simulator steps, stopping at the episode's
end), [−1, 1] actions scaled to the task's bounds, 84×84 renders from a named camera
with our own `mujoco.Renderer` (so the fast test mode and the orientation are decided
here, once), frame stack, optional proprioception, the suite's success signal, and
exact resume from the episode's start RNG state.

What a suite supplies is a `SuiteSpec`: how to build the unwrapped env, its camera,
whether frames need a vertical flip, episode length in simulator steps, how to read
proprioception, how many successful simulator steps make an episode a success, and
the reward transform (scale, sparse, correction).
"""

from __future__ import annotations

import atexit
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from dormant.envs.base import FrameStack, TimeStep, make_render_fast, scale_action
from dormant.errors import ConfigError, closest


@dataclass
class SuiteSpec:
    """Everything that differs between Gymnasium MuJoCo suites (see module docstring)."""

    make: Callable[[int], Any]  # seed → unwrapped gymnasium MujocoEnv, RNG seeded
    camera: str
    episode_frames: int  # simulator steps per episode (agent steps × action repeat)
    flip_vertical: bool = False  # the camera renders upside down
    success_steps: int = 1  # an episode succeeds once this many simulator steps report success
    reward_scale: float = 1.0
    sparse: bool = False  # reward = 1 per simulator step with success, else 0
    proprio_qpos: Callable[[Any], np.ndarray] | None = None  # model → qpos addresses of the proprioception
    reward_correction: Callable[[Any], float] | None = None  # added to each simulator step's reward


_LIVE: weakref.WeakSet = weakref.WeakSet()
_exit_hook_registered = False


def _close_all() -> None:
    """Free GL contexts before MuJoCo's own exit hook terminates EGL (else noisy __del__
    errors); registered after the first renderer, so that it runs before that hook."""
    for env in list(_LIVE):
        env.close()


class GymMujocoEnv:
    """A Gymnasium MuJoCo task with the same interface as `DMCEnv` (pixels only).

    ``TimeStep.success`` is 1.0 from the step at which the episode became a success
    (e.g. MetaWorld: any simulator step with success; Adroit: more than 25 of them)
    and stays 1.0, so the last step says whether the episode succeeded.
    """

    has_success = True

    def __init__(
        self,
        name: str,
        spec: SuiteSpec,
        *,
        seed: int = 1,
        image_size: int = 84,
        frame_stack: int = 3,
        action_repeat: int = 2,
        fast_render: bool = False,
        proprio: bool = False,
    ):
        import mujoco

        self.name = name
        self.spec = spec
        self._env = spec.make(seed)
        self._image_size = image_size
        self._action_repeat = action_repeat
        self._stack = FrameStack(frame_stack)
        model = self._env.model
        self._camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, spec.camera)
        if self._camera_id < 0:
            cameras = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(model.ncam)]
            raise ConfigError(f"env.camera={spec.camera!r}: {name} has no such camera{closest(spec.camera, cameras)}; "
                              f"it has {', '.join(cameras)}")
        if fast_render:
            make_render_fast(model)
        self._renderers: dict[int, Any] = {}
        _LIVE.add(self)
        space = self._env.action_space
        self._action_low = np.asarray(space.low, np.float64)
        self._action_high = np.asarray(space.high, np.float64)
        self.action_dim = int(space.shape[0])
        if proprio and spec.proprio_qpos is None:
            raise ValueError(f"{name}: this suite has no proprioception to fuse (env.proprio=true)")
        # Looked up once: reading the proprioception is then one indexing per step.
        self._proprio_qpos = spec.proprio_qpos(model) if proprio else None
        self.proprio_dim = 0 if self._proprio_qpos is None else len(self._proprio_qpos)
        self._episode_start_rng: dict[str, Any] | None = None
        self._frames_done = 0
        self._success_steps = 0
        self.frame_shape = (3, image_size, image_size)
        self.frame_dtype = np.dtype(np.uint8)
        self.obs_shape = (3 * frame_stack, image_size, image_size)

    # --- rendering -------------------------------------------------------
    def render(self, size: int = 84) -> np.ndarray:
        """An H×W×3 uint8 image from the task's camera, upright."""
        renderer = self._renderers.get(size)
        if renderer is None:
            import mujoco

            renderer = self._renderers[size] = mujoco.Renderer(self._env.model, size, size)
            global _exit_hook_registered
            if not _exit_hook_registered:
                atexit.register(_close_all)
                _exit_hook_registered = True
        renderer.update_scene(self._env.data, camera=self._camera_id)
        image = renderer.render()
        return image[::-1] if self.spec.flip_vertical else image

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def _frame(self) -> np.ndarray:
        return np.ascontiguousarray(self.render(self._image_size).transpose(2, 0, 1))

    def _proprio(self) -> np.ndarray | None:
        if self._proprio_qpos is None:
            return None
        return self._env.data.qpos[self._proprio_qpos].astype(np.float32)

    # --- dynamics --------------------------------------------------------
    def _repeat(self, action: np.ndarray) -> tuple[float, float, bool]:
        """Up to ``action_repeat`` simulator steps; (reward, discount, episode over)."""
        reward, discount, over = 0.0, 1.0, False
        scaled = scale_action(action, self._action_low, self._action_high)
        for _ in range(self._action_repeat):
            _, step_reward, terminated, _, info = self._env.step(scaled)
            self._frames_done += 1
            succeeded = bool(info.get("success", False))
            self._success_steps += succeeded
            if self.spec.sparse:
                step_reward = float(succeeded)
            elif self.spec.reward_correction is not None:
                step_reward = float(step_reward) + self.spec.reward_correction(self._env)
            reward += float(step_reward) * self.spec.reward_scale
            if terminated:
                discount = 0.0
            over = terminated or self._frames_done >= self.spec.episode_frames
            if over:
                break
        return reward, discount, over

    def _success(self) -> float:
        return float(self._success_steps >= self.spec.success_steps)

    def reset(self) -> TimeStep:
        self._episode_start_rng = self.rng_state()
        self._reset_sim()
        frame = self._frame()
        return TimeStep(
            observation=self._stack.reset(frame), frame=frame,
            action=np.zeros(self.action_dim, np.float32), reward=0.0, discount=1.0,
            first=True, last=False, success=0.0, proprio=self._proprio(),
        )

    def _reset_sim(self) -> None:
        self._env.reset()
        self._frames_done = 0
        self._success_steps = 0

    def step(self, action: np.ndarray) -> TimeStep:
        reward, discount, over = self._repeat(action)
        frame = self._frame()
        return TimeStep(
            observation=self._stack.push(frame), frame=frame,
            action=np.asarray(action, np.float32), reward=reward, discount=discount,
            first=False, last=over, success=self._success(), proprio=self._proprio(),
        )

    # --- exact resume ----------------------------------------------------
    def rng_state(self) -> dict[str, Any]:
        return self._env.np_random.bit_generator.state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self._env.np_random.bit_generator.state = state

    def episode_start_state(self) -> dict[str, Any] | None:
        return self._episode_start_rng

    def restore_episode(self, start_state: dict[str, Any], actions: np.ndarray,
                        frames: list[np.ndarray]) -> TimeStep:
        """Re-run an episode's first steps without rendering (see `DMCEnv.restore_episode`)."""
        self.set_rng_state(start_state)
        self._episode_start_rng = start_state
        self._reset_sim()
        for action in actions:
            self._repeat(action)
        return TimeStep(
            observation=self._stack.fill(frames), frame=frames[-1],
            action=actions[-1] if len(actions) else np.zeros(self.action_dim, np.float32),
            reward=0.0, discount=1.0, first=len(actions) == 0, last=False,
            success=self._success(), proprio=self._proprio(),
        )
