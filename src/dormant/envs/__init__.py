"""Task registry: `suite/task` names → environment constructors and reference presets."""

from __future__ import annotations

from typing import Any

from dormant.envs.base import FrameStack, TimeStep
from dormant.envs.dmc import DMC_TASKS, dmc_preset

SUITES = ("dmc",)


def task_names() -> list[str]:
    """Every task the registry knows, as `suite/task`."""
    return [f"dmc/{name}" for name in sorted(DMC_TASKS)]


def task_preset(task: str, agent: str = "drqv2") -> dict[str, Any]:
    """Dotted-key overrides that carry the reference settings of one task (for an agent)."""
    suite, name = task.split("/", 1)
    if suite == "dmc":
        return dmc_preset(name, agent)
    raise KeyError(task)


def make_env(cfg: Any, *, seed: int):
    """Build the environment a resolved config describes (`cfg` is `dormant.config.Config`)."""
    suite, name = cfg.task.split("/", 1)
    if suite == "dmc":
        from dormant.envs.dmc import DMCEnv

        return DMCEnv(
            name,
            obs=cfg.env.obs,
            seed=seed,
            image_size=cfg.env.image_size,
            camera_id=cfg.env.camera_id,
            frame_stack=cfg.env.frame_stack,
            action_repeat=cfg.env.action_repeat,
            fast_render=cfg.env.fast_render,
        )
    raise KeyError(cfg.task)


__all__ = ["FrameStack", "TimeStep", "make_env", "task_names", "task_preset", "SUITES"]
