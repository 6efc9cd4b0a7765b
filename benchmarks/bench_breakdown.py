"""Section ``breakdown``: where the time of one training frame goes, phase by phase.

A pixel run spends each simulator frame on: stepping the physics, rendering, choosing
the action, writing replay, and, once every ``update_every_steps × action_repeat``
frames, one update: sampling, the host→device transfer, random shift, encoding, DrM's
extras (β, the V network), the critic, the actor, the Polyak target and the host sync
that reads the metrics. This section times each phase on its own with the library's
own calls, in the order an update makes them (the phases of ``DrQV2Agent.update``,
called one by one with a device sync between them), and divides each by the frames it
serves, so the table adds up to the cost of one frame. ``encode`` is the forward pass of
both observations; the encoder's backward pass is in ``critic`` (its loss trains the
encoder). DrM's own cost is the ``drm_extras`` row (β, the V network's update) plus the
critic's difference (its target mixes in V).

The figures of one phase measured alone are a little lower than inside a real run
(caches warm, no interleaving); ``end_to_end_fps`` measures the whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from common import BATCH_SIZE, PIXEL_OBS, filled_replay, median_ms, now, sync

from dormant.nets import random_shift

TASK = "dmc/cartpole_swingup"
# an agent step past the exploration phase (the networks act, σ from the schedule) and before DrM's first perturbation
STEP = 60_000


def _median_of(fn, n: int, warmup: int, device: torch.device) -> float:
    """Median milliseconds of ``fn()`` over ``n`` calls after ``warmup`` untimed ones."""
    times = []
    for i in range(warmup + n):
        sync(device)
        t0 = now()
        fn()
        sync(device)
        if i >= warmup:
            times.append(now() - t0)
    return median_ms(times)


def env_phases(steps: int, fast_render: bool) -> dict[str, float]:
    """Milliseconds per agent step: the whole ``env.step`` (physics × action repeat, then one
    render) and a render alone; simulate = step − render."""
    from dormant.config import resolve
    from dormant.envs import make_env

    env = make_env(resolve({"task": TASK, "env.fast_render": fast_render}), seed=1)
    rng = np.random.default_rng(0)
    ts = env.reset()
    step_s, render_s = [], []
    for _ in range(steps):
        action = rng.uniform(-1, 1, env.action_dim).astype(np.float32)
        if ts.last:
            ts = env.reset()
        t0 = now()
        ts = env.step(action)
        t1 = now()
        env.render()
        t2 = now()
        step_s.append(t1 - t0)
        render_s.append(t2 - t1)
    if hasattr(env, "close"):
        env.close()
    step_ms, render_ms = median_ms(step_s), median_ms(render_s)
    return {"env_step": step_ms, "simulate": round(step_ms - render_ms, 3), "render": render_ms}


def update_phases(agent: Any, batch_np: dict[str, np.ndarray], device: torch.device) -> dict[str, float]:
    """Seconds of each phase of one update, in ``DrQV2Agent.update``'s order."""
    out: dict[str, float] = {}

    def timed(name: str, fn):
        sync(device)
        t0 = now()
        value = fn()
        sync(device)
        out[name] = now() - t0
        return value

    batch = timed("transfer", lambda: agent.to_batch(batch_np))
    shifted = timed(
        "augment", lambda: {**batch, "obs": random_shift(batch["obs"]), "next_obs": random_shift(batch["next_obs"])}
    )
    h, next_h = timed("encode", lambda: agent.augment_and_encode(shifted, False))
    metrics = timed("drm_extras", lambda: agent.before_learning(h, batch, STEP))
    std = agent.stddev(STEP)
    metrics.update(
        timed(
            "critic", lambda: agent.update_critic(h, batch["action"], batch["reward"], batch["discount"], next_h, std)
        )
    )
    metrics.update(timed("actor", lambda: agent.update_actor(h.detach(), std)))
    timed("target", agent.update_target)
    timed("metrics_sync", lambda: torch.stack([v.float().reshape(()) for v in metrics.values()]).cpu())
    return out


def bench_breakdown(
    device: torch.device,
    warmup: int,
    updates: int,
    env_steps: int,
    agents: tuple[str, ...] = ("drqv2", "drm"),
    fast_render: bool = False,
) -> dict[str, Any]:
    """Per-frame milliseconds of every phase, for each agent at DrQ-v2's pixel settings."""
    from dormant.agents import AGENT_CLASSES
    from dormant.config import AgentConfig, DrMConfig
    from dormant.replay import ReplayBuffer

    cfg = AgentConfig()
    action_repeat, action_dim = 2, 1
    frames_per_update = cfg.update_every_steps * action_repeat
    env = env_phases(env_steps, fast_render)
    replay = filled_replay(20, 500, action_dim, seed=0)
    sample_ms = _median_of(lambda: replay.sample(BATCH_SIZE), updates, warmup, device)
    writer = ReplayBuffer((3, 84, 84), np.uint8, action_dim, capacity=10_000, frame_stack=3, nstep=3, discount=0.99)
    frame = np.zeros((3, 84, 84), np.uint8)
    writer.add(frame, np.zeros(action_dim, np.float32), 0.0, 1.0, first=True, last=False)
    add_ms = _median_of(
        lambda: writer.add(frame, np.zeros(action_dim, np.float32), 1.0, 1.0, first=False, last=False), 200, 10, device
    )
    out: dict[str, Any] = {
        "setup": {
            "task": TASK,
            "render": "fast (no MSAA/shadows)" if fast_render else "reference",
            "obs_shape": list(PIXEL_OBS),
            "batch_size": BATCH_SIZE,
            "action_repeat": action_repeat,
            "update_every_steps": cfg.update_every_steps,
            "frames_per_update": frames_per_update,
            "env_steps": env_steps,
            "timed_updates": updates,
            "warmup_updates": warmup,
            "unit": "milliseconds per simulator frame (median of each phase, divided by the frames it serves)",
        }
    }
    for name in agents:
        torch.manual_seed(0)
        extra = {"drm": DrMConfig()} if name == "drm" else {}
        agent = AGENT_CLASSES[name](
            PIXEL_OBS, action_dim, cfg, pixels=True, device=device, action_repeat=action_repeat, **extra
        )
        obs = np.zeros(PIXEL_OBS, np.uint8)
        act_ms = _median_of(lambda agent=agent, obs=obs: agent.act(obs, STEP, eval_mode=False), 20, 3, device)
        runs = [update_phases(agent, replay.sample(BATCH_SIZE), device) for _ in range(warmup + updates)]
        upd = {phase: median_ms([r[phase] for r in runs[warmup:]]) for phase in runs[0]}
        per_frame = {
            "simulate": env["simulate"] / action_repeat,
            "render": env["render"] / action_repeat,
            "act": act_ms / action_repeat,
            "replay_add": add_ms / action_repeat,
            "sample": sample_ms / frames_per_update,
            **{phase: ms / frames_per_update for phase, ms in upd.items()},
        }
        total = sum(per_frame.values())
        out[name] = {
            "per_frame_ms": {k: round(v, 3) for k, v in per_frame.items()},
            "share": {k: round(v / total, 3) for k, v in per_frame.items()},
            "total_ms_per_frame": round(total, 3),
            "implied_fps": round(1000 / total, 1),
            "update_ms": round(sum(upd.values()), 1),
        }
    return out


def breakdown_markdown(result: dict[str, Any], device_name: str) -> str:
    """The breakdown as one Markdown table (phases × agents: ms per frame and share)."""
    setup = result["setup"]
    agents = [k for k in result if k != "setup"]
    lines = [
        f"# Where a training frame's time goes ({device_name})",
        "",
        f"{setup['task']}, pixels {setup['obs_shape']}, batch {setup['batch_size']}, "
        f"{setup['render']} rendering, one update per {setup['frames_per_update']} frames. "
        f"{setup['unit']}.",
        "",
        "| phase | " + " | ".join(f"{a} ms | {a} share" for a in agents) + " |",
        "|---|" + "---|---|" * len(agents),
    ]
    for phase in result[agents[0]]["per_frame_ms"]:
        cells = [f"{result[a]['per_frame_ms'][phase]:.3f} | {100 * result[a]['share'][phase]:.1f} %" for a in agents]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines.append(
        "| **total** | "
        + " | ".join(f"**{result[a]['total_ms_per_frame']:.2f}** | {result[a]['implied_fps']} frames/s" for a in agents)
        + " |"
    )
    return "\n".join(lines) + "\n"
