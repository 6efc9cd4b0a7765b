"""Task registry: `suite/task` names → environment constructors and reference presets.

Built-in suites: `dmc/` (DeepMind Control, always installed), `metaworld/`, `adroit/` and
`atari/` (optional extras) and `gym:` (any Gymnasium environment). A package adds its own with
``register_suite`` or the ``dormant.suites`` entry-point group (`registry.py`). Listed
task names are static, so that a name is checked (with the closest valid one
suggested) before any simulator or GL backend is imported.
"""

from __future__ import annotations

from dormant.envs import adroit, atari, dmc, gym, metaworld
from dormant.envs.base import FrameStack, GymnasiumTask, TimeStep
from dormant.envs.registry import (
    BUILT_IN,
    ENTRY_POINT_GROUP,
    Suite,
    check_obs,
    check_task,
    check_task_name,
    get_suite,
    make_env,
    register_suite,
    require_suite,
    split_task,
    suite_names,
    task_listing,
    task_names,
    task_preset,
    unregister_suite,
)
from dormant.errors import MissingSuiteError

for _module in (dmc, metaworld, adroit, gym, atari):
    register_suite(_module.__name__.rsplit(".", 1)[1], _module.SUITE)

SUITES = BUILT_IN

__all__ = [
    "ENTRY_POINT_GROUP",
    "SUITES",
    "FrameStack",
    "GymnasiumTask",
    "MissingSuiteError",
    "Suite",
    "TimeStep",
    "check_obs",
    "check_task",
    "check_task_name",
    "get_suite",
    "make_env",
    "register_suite",
    "require_suite",
    "split_task",
    "suite_names",
    "task_listing",
    "task_names",
    "task_preset",
    "unregister_suite",
]
