"""MetaWorld v3 MT1 tasks from pixels, as the DrM reference code runs them.

- Camera `corner4`: v3's name for the reference's `corner2` moved to (0.75, 0.075, 0.7).
  It renders upside down with a correct (top-row-first) renderer; the reference's
  mujoco-py returned bottom-row-first images, so one vertical flip gives exactly the
  picture the reference trained on (table below the gripper; tested).
- 500 simulator steps per episode (250 agent steps at action repeat 2), never
  terminal (discount 1 at the time limit), goal positions re-drawn every episode
  (`_freeze_rand_vec = False`) from the env's own seeded RNG (`seeded_rand_vec`), so
  runs are reproducible; the reference drew them from NumPy's global RNG.
- Dense v2 reward by default; `<task>-sparse`: 1 per simulator step with success
  (so up to 2 per agent step), else 0.
- Success: any simulator step with `info["success"]` in the episode.
"""

from __future__ import annotations

from typing import Any

from dormant.envs.gym_mujoco import SuiteSpec, make_gym_mujoco
from dormant.envs.registry import Suite

CAMERA = "corner4"
EPISODE_FRAMES = 500
SPARSE_SUFFIX = "-sparse"

# metaworld 3.1.1's ALL_V3_ENVIRONMENTS without the "-v3" suffix; static so that names
# are checked without importing metaworld (a test compares it with the installed list).
TASKS = (
    "assembly",
    "basketball",
    "bin-picking",
    "box-close",
    "button-press-topdown",
    "button-press-topdown-wall",
    "button-press",
    "button-press-wall",
    "coffee-button",
    "coffee-pull",
    "coffee-push",
    "dial-turn",
    "disassemble",
    "door-close",
    "door-lock",
    "door-open",
    "door-unlock",
    "hand-insert",
    "drawer-close",
    "drawer-open",
    "faucet-open",
    "faucet-close",
    "hammer",
    "handle-press-side",
    "handle-press",
    "handle-pull-side",
    "handle-pull",
    "lever-pull",
    "pick-place-wall",
    "pick-out-of-hole",
    "pick-place",
    "plate-slide",
    "plate-slide-side",
    "plate-slide-back",
    "plate-slide-back-side",
    "peg-insert-side",
    "peg-unplug-side",
    "soccer",
    "stick-push",
    "stick-pull",
    "push",
    "push-wall",
    "push-back",
    "reach",
    "reach-wall",
    "shelf-place",
    "sweep-into",
    "sweep",
    "window-open",
    "window-close",
)
# α_max 0.6 on these (DrM paper, Table 1).
DRM_LOW_ALPHA_MAX = {"coffee-push", "soccer"}


def task_names() -> list[str]:
    """The suite's task names (without `metaworld/`): every task, dense and sparse."""
    return [f"{task}{suffix}" for task in sorted(TASKS) for suffix in ("", SPARSE_SUFFIX)]


def split_name(name: str) -> tuple[str, bool]:
    """``"coffee-push-sparse"`` → ``("coffee-push", True)``."""
    if name.endswith(SPARSE_SUFFIX) and name[: -len(SPARSE_SUFFIX)] in TASKS:
        return name[: -len(SPARSE_SUFFIX)], True
    return name, False


def metaworld_preset(name: str, agent: str = "drqv2") -> dict[str, Any]:
    """Reference settings for every MetaWorld task (DrM's MetaWorld runs)."""
    task, _ = split_name(name)
    preset: dict[str, Any] = {
        "frames": 2_100_000,
        "agent.lr": 1e-4,
        "agent.stddev_schedule": "linear(1.0,0.1,500000)",
        "env.frame_stack": 3,
        "env.action_repeat": 2,
    }
    if agent == "drm" and task in DRM_LOW_ALPHA_MAX:
        preset["drm.alpha_max"] = 0.6
    return preset


def _make(task: str, seed: int) -> Any:
    import metaworld
    from gymnasium.utils import seeding

    env_name = f"{task}-v3"
    env = metaworld.env_dict.ALL_V3_ENVIRONMENTS[env_name](reward_function_version="v2")
    env.set_task(metaworld.MT1(env_name, seed=seed).train_tasks[0])  # sets _freeze_rand_vec
    env._freeze_rand_vec = False  # new goal each episode, as the reference
    env.seeded_rand_vec = True  # … drawn from env.np_random, not NumPy's global RNG
    env.np_random, _ = seeding.np_random(seed)
    return env


def metaworld_spec(name: str, camera: str = CAMERA) -> SuiteSpec:
    """The corner cameras render upside down (module docstring); the others do not."""
    task, sparse = split_name(name)
    return SuiteSpec(
        make=lambda seed: _make(task, seed),
        camera=camera,
        episode_frames=EPISODE_FRAMES,
        flip_vertical=camera.startswith("corner"),
        success_steps=1,
        sparse=sparse,
    )


def _make_env(name: str, cfg: Any, seed: int) -> Any:
    return make_gym_mujoco(name, metaworld_spec(name, camera=cfg.env.camera or CAMERA), cfg, seed)


SUITE = Suite(
    make=_make_env,
    tasks=task_names(),
    preset=metaworld_preset,
    requires="metaworld",
    episode_frames=EPISODE_FRAMES,
    note=lambda task: "sparse success reward" if task.endswith(SPARSE_SUFFIX) else "dense reward",
)
