"""Gymnasium MuJoCo tasks (MetaWorld, Adroit) as `TimeStep` environments.

One class does what both suites share, so that they differ by configuration: 84×84
renders from a named camera with our own `mujoco.Renderer` (so the fast test mode and
the orientation are decided here, once), optional proprioception, the suite's reward
transform and success signal. Action repeat, [−1, 1] actions scaled to the task's
bounds, the frame stack and exact resume from the episode's start RNG state are
`GymnasiumTask`'s (envs/base.py), which `gym:` tasks share.

What a suite supplies is a `SuiteSpec`: how to build the unwrapped env, its camera,
whether frames need a vertical flip, episode length in simulator steps, how to read
proprioception, how many successful simulator steps make an episode a success, and
the reward transform (scale, sparse, correction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dormant.envs.base import GymnasiumTask, close_at_exit, make_render_fast
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


class GymMujocoEnv(GymnasiumTask):
    """A Gymnasium MuJoCo task with the same interface as `DMCEnv` (pixels only).

    Stepping, seeding and exact resume are `GymnasiumTask`'s (the env arrives seeded, so
    every episode starts from its RNG state). ``TimeStep.success`` is 1.0 from the step
    at which the episode became a success (e.g. MetaWorld: any simulator step with
    success; Adroit: more than 25 of them) and stays 1.0, so the last step says whether
    the episode succeeded.
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
        self._init_task(
            spec.make(seed),
            seed=seed,
            frame_stack=frame_stack,
            action_repeat=action_repeat,
            seeded=True,
            episode_frames=spec.episode_frames,
        )
        self._image_size = image_size
        model = self._env.model
        self._camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, spec.camera)
        if self._camera_id < 0:
            cameras = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(model.ncam)]
            raise ConfigError(
                f"env.camera={spec.camera!r}: {name} has no such camera{closest(spec.camera, cameras)}; "
                f"it has {', '.join(cameras)}"
            )
        if fast_render:
            make_render_fast(model)
        self._renderers: dict[int, Any] = {}
        if proprio and spec.proprio_qpos is None:
            raise ValueError(f"{name}: this suite has no proprioception to fuse (env.proprio=true)")
        # Looked up once: reading the proprioception is then one indexing per step.
        self._proprio_qpos = spec.proprio_qpos(model) if proprio and spec.proprio_qpos else None
        self.proprio_dim = 0 if self._proprio_qpos is None else len(self._proprio_qpos)
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
            close_at_exit(self)
        renderer.update_scene(self._env.data, camera=self._camera_id)
        image = renderer.render()
        return image[::-1] if self.spec.flip_vertical else image

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def _frame(self) -> np.ndarray:
        return np.ascontiguousarray(self.render(self._image_size).transpose(2, 0, 1))

    # --- the suite's reward, success and proprioception -----------------
    def _reward(self, reward: float, info: dict[str, Any]) -> float:
        succeeded = bool(info.get("success", False))
        self._success_steps += succeeded
        if self.spec.sparse:
            reward = float(succeeded)
        elif self.spec.reward_correction is not None:
            reward += self.spec.reward_correction(self._env)
        return reward * self.spec.reward_scale

    def _on_reset(self) -> None:
        self._success_steps = 0

    def _extras(self) -> dict[str, Any]:
        proprio = None if self._proprio_qpos is None else self._env.data.qpos[self._proprio_qpos].astype(np.float32)
        return {"success": float(self._success_steps >= self.spec.success_steps), "proprio": proprio}


def make_gym_mujoco(name: str, spec: SuiteSpec, cfg: Any, seed: int) -> GymMujocoEnv:
    """A MetaWorld/Adroit env as a resolved configuration describes it (``env.reward_scale``
    multiplies the suite's own scale)."""
    e = cfg.env
    if e.reward_scale != 1.0:
        spec = dataclasses.replace(spec, reward_scale=spec.reward_scale * e.reward_scale)
    return GymMujocoEnv(
        name,
        spec,
        seed=seed,
        image_size=e.image_size,
        frame_stack=e.frame_stack,
        action_repeat=e.action_repeat,
        fast_render=e.fast_render,
        proprio=e.proprio,
    )
