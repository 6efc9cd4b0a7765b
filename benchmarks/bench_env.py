"""Section ``env_fps``: simulator frames per second of every suite.

Before the first update, and between updates, a visual-RL run waits on the simulator
and its renderer, so this section times ``make_env`` environments (the trainer's own
path) with uniform random actions: MuJoCo's reference rendering, the cheaper
``env.fast_render`` used by tests, and (DMC) states with no rendering, the physics-only
ceiling. An optional suite that is not installed is reported as skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from common import now

# One or two tasks per suite; the optional suites are skipped when not installed.
ENV_TASKS = ["dmc/cartpole_swingup", "dmc/walker_walk", "metaworld/assembly", "adroit/door", "adroit/pen"]


def bench_env(tasks: list[str], steps: int, warmup: int = 5) -> dict[str, Any]:
    """Simulator frames/s of every suite through the same `make_env` the trainer uses:
    the reference render, the fast test render and (DMC) states without rendering."""
    from dormant.config import resolve
    from dormant.envs import MissingSuiteError, make_env

    out: dict[str, Any] = {
        "setup": {
            "image_size": 84,
            "action_repeat": 2,
            "frame_stack": "the task preset's",
            "agent_steps": steps,
            "warmup_steps": warmup,
            "actions": "uniform random",
            "unit": "simulator frames per second (agent steps × action_repeat)",
        }
    }
    for task in tasks:
        row: dict[str, Any] = {}
        variants: list[tuple[str, dict[str, Any]]] = [("default", {}), ("fast_render", {"env.fast_render": True})]
        if task.startswith("dmc/"):
            variants.append(("states_no_render", {"obs": "states"}))
        for label, overrides in variants:
            try:
                env = make_env(resolve({"task": task, **overrides}), seed=1)
            except MissingSuiteError as err:
                row = {"skipped": str(err)}
                break
            rng = np.random.default_rng(0)
            ts = env.reset()
            for _ in range(warmup):
                ts = env.step(rng.uniform(-1, 1, env.action_dim).astype(np.float32))
            frames = 0
            t0 = now()
            for _ in range(steps):
                if ts.last:
                    ts = env.reset()
                ts = env.step(rng.uniform(-1, 1, env.action_dim).astype(np.float32))
                frames += 2
            row[label] = round(frames / (now() - t0), 1)
            if hasattr(env, "close"):
                env.close()
            del env
        if "skipped" not in row:
            row["fast_over_default"] = round(row["fast_render"] / row["default"], 3)
        out[task] = row
    return out
