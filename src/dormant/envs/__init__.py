"""Task registry: `suite/task` names → environment constructors and reference presets.

Suites: `dmc/` (DeepMind Control, always installed), `metaworld/` and `adroit/`
(optional extras). Task names are static lists, so that a name is checked (with the
closest valid one suggested) before any simulator or GL backend is imported.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from dormant.envs import adroit, metaworld
from dormant.envs.base import FrameStack, TimeStep
from dormant.envs.dmc import DMC_TASKS, dmc_preset
from dormant.errors import MissingSuiteError

if TYPE_CHECKING:
    from dormant.interfaces import Env

SUITES = ("dmc", "metaworld", "adroit")
# The module each optional suite needs; the pip extra that installs it has the suite's name.
SUITE_MODULES = {"metaworld": "metaworld", "adroit": "gymnasium_robotics"}


def require_suite(task: str) -> None:
    """Raise `MissingSuiteError` now (before any work) if the task's optional suite is absent."""
    import importlib.util

    suite = suite_of(task)
    module = SUITE_MODULES.get(suite)
    if module is not None:
        try:
            found = importlib.util.find_spec(module) is not None
        except ValueError:  # a module set to None in sys.modules (tests do that)
            found = False
        if not found:
            raise MissingSuiteError(suite, ModuleNotFoundError(f"no module named {module!r}"))


def task_names() -> list[str]:
    """Every task the registry knows, as `suite/task`."""
    return [f"dmc/{name}" for name in sorted(DMC_TASKS)] + metaworld.task_names() + adroit.task_names()


def suite_of(task: str) -> str:
    return task.split("/", 1)[0]


def task_preset(task: str, agent: str = "drqv2") -> dict[str, Any]:
    """Dotted-key overrides that carry the reference settings of one task (for an agent)."""
    suite, name = task.split("/", 1)
    if suite == "dmc":
        return dmc_preset(name, agent)
    if suite == "metaworld":
        return metaworld.metaworld_preset(name, agent)
    if suite == "adroit":
        return adroit.adroit_preset(name, agent)
    raise KeyError(task)


def make_env(cfg: Any, *, seed: int) -> Env:
    """Build the environment a resolved ``dormant.config.Config`` describes (not imported
    here: the configuration imports this registry)."""
    suite, name = cfg.task.split("/", 1)
    e = cfg.env
    if suite == "dmc":
        from dormant.envs.dmc import DMCEnv

        return DMCEnv(name, obs=e.obs, seed=seed, image_size=e.image_size, camera_id=e.camera_id,
                      frame_stack=e.frame_stack, action_repeat=e.action_repeat, fast_render=e.fast_render)
    require_suite(cfg.task)
    if suite == "metaworld":
        spec = metaworld.metaworld_spec(name, camera=e.camera or metaworld.CAMERA)
    elif suite == "adroit":
        spec = adroit.adroit_spec(name, camera=e.camera or adroit.CAMERA, reward_fix=e.reward_fix)
    else:
        raise KeyError(cfg.task)
    if e.reward_scale != 1.0:
        spec = dataclasses.replace(spec, reward_scale=spec.reward_scale * e.reward_scale)
    from dormant.envs.gym_mujoco import GymMujocoEnv

    return GymMujocoEnv(name, spec, seed=seed, image_size=e.image_size, frame_stack=e.frame_stack,
                        action_repeat=e.action_repeat, fast_render=e.fast_render, proprio=e.proprio)


__all__ = ["FrameStack", "MissingSuiteError", "require_suite", "TimeStep", "make_env", "suite_of", "task_names", "task_preset",
           "SUITES"]
