"""Adroit hand tasks (Gymnasium-Robotics 1.4.2, `AdroitHand*-v1`) from pixels plus
the hand's 24 joint positions, as the DrM reference runs the older `mj_envs` suite.

- Camera `vil_camera` for every task (the reference's pen camera; the old suite's
  `top` camera of door/hammer does not exist here). 84×84, frame stack 1.
- Proprioception: qpos of the 24 hand joints (WRJ*, FFJ*, MFJ*, RFJ*, LFJ*, THJ*),
  the same slice the reference takes (`qpos[4:-2]` door, `[2:-7]` hammer, `[:-6]` pen).
- Episodes of the `mj_envs` horizons: 200 simulator steps (pen 100), i.e. 100 (50)
  agent steps at action repeat 2. Gymnasium-Robotics registers pen with 200.
- Reward: the dense reward scaled as the reference (door 1/20, hammer 1/100, pen 1/50,
  relocate 1/30). Gymnasium-Robotics 1.2.1–1.4.2 flipped the sign of the
  hand-to-object term of door, hammer and relocate (its PR #220, fixed only in the
  `-v2` envs of 1.4.3, which is not on PyPI here); ``reward_fix`` (default on) adds
  −0.2·‖palm − object‖ back, which restores the `mj_envs` reward exactly.
- Success: more than 25 simulator steps with `info["success"]` in the episode (pen:
  more than 20), the reference's thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dormant.envs.gym_mujoco import SuiteSpec, make_gym_mujoco
from dormant.envs.registry import Suite

CAMERA = "vil_camera"
TASKS: dict[str, dict[str, Any]] = {
    # env id, simulator steps per episode, reward scale, success steps (> threshold)
    "door": {"id": "AdroitHandDoor-v1", "frames": 200, "scale": 1 / 20, "success": 26},
    "hammer": {"id": "AdroitHandHammer-v1", "frames": 200, "scale": 1 / 100, "success": 26},
    "pen": {"id": "AdroitHandPen-v1", "frames": 100, "scale": 1 / 50, "success": 21},
    "relocate": {"id": "AdroitHandRelocate-v1", "frames": 200, "scale": 1 / 30, "success": 26},
}
HAND_JOINT_PREFIXES = ("WRJ", "FFJ", "MFJ", "RFJ", "LFJ", "THJ")


def adroit_preset(name: str, agent: str = "drqv2") -> dict[str, Any]:
    """Reference settings (DrM's Adroit runs): 6.1M frames, frame stack 1, proprioception."""
    preset: dict[str, Any] = {
        "frames": 6_100_000,
        "agent.stddev_schedule": "linear(1.0,0.1,500000)",
        "env.frame_stack": 1,
        "env.action_repeat": 2,
        "env.proprio": True,
    }
    if agent == "drm":
        preset["drm.expectile"] = 0.7
    return preset


def hand_joint_qpos(model: Any) -> np.ndarray:
    """qpos addresses of the 24 hand joints, found by joint name (robust to the arm
    joints around them)."""
    import mujoco

    return np.array(
        [
            model.jnt_qposadr[j]
            for j in range(model.njnt)
            if (mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or "").startswith(HAND_JOINT_PREFIXES)
        ]
    )


def _hand_to_object(env: Any, task: str) -> float:
    """‖palm − object‖, the term whose sign Gymnasium-Robotics 1.2.1–1.4.2 flipped."""
    data = env.data
    if task == "door":
        return float(np.linalg.norm(data.site_xpos[env.grasp_site_id] - data.site_xpos[env.handle_site_id]))
    return float(np.linalg.norm(data.site_xpos[env.S_grasp_site_id] - data.xpos[env.obj_body_id]))


def reward_correction(task: str) -> Callable[[Any], float] | None:
    """What to add to each simulator step's reward to restore the `mj_envs` reward."""
    if task == "pen":
        return None
    return lambda env: -0.2 * _hand_to_object(env, task)


def _make(env_id: str, seed: int) -> Any:
    import gymnasium as gym
    import gymnasium_robotics
    from gymnasium.utils import seeding

    gym.register_envs(gymnasium_robotics)
    env = gym.make(env_id).unwrapped  # our wrapper does the time limit and the checks
    env.np_random, _ = seeding.np_random(seed)
    return env


def adroit_spec(name: str, *, camera: str = CAMERA, reward_fix: bool = True) -> SuiteSpec:
    task = TASKS[name]
    return SuiteSpec(
        make=lambda seed: _make(task["id"], seed),
        camera=camera,
        episode_frames=task["frames"],
        success_steps=task["success"],
        reward_scale=task["scale"],
        proprio_qpos=hand_joint_qpos,
        reward_correction=reward_correction(name) if reward_fix else None,
    )


def _make_env(name: str, cfg: Any, seed: int) -> Any:
    spec = adroit_spec(name, camera=cfg.env.camera or CAMERA, reward_fix=cfg.env.reward_fix)
    return make_gym_mujoco(name, spec, cfg, seed)


SUITE = Suite(
    make=_make_env,
    tasks=sorted(TASKS),
    preset=adroit_preset,
    requires="gymnasium_robotics",
    episode_frames=lambda name, cfg: TASKS[name]["frames"],
    note=lambda task: "pixels + 24-d hand proprioception",
)
