"""Sections ``update_ms``/``update_details``, ``drm_overhead`` and ``sac``: the cost of one update.

The gradient update is where a pixel agent spends its time, so this module times it
directly: DrQ-v2's ``DrQV2Agent.update`` (fp32 and bf16) on real replay batches, the
sampling and ``to_batch`` that feed it, and the trainer's per-update ``StateGuard``
snapshot, each as a fraction of the update. Then DrM's update against DrQ-v2's on the
same batches, interleaved so that drift hits both alike; DrM must stay within 1.2×. Then SAC
from states beside DrQ-v2 from states, and SAC's agent steps per second on HalfCheetah-v5.
"""

from __future__ import annotations

from typing import Any

import torch
from common import BATCH_SIZE, PIXEL_OBS, filled_replay, median_ms, now, sync, time_interleaved, time_once_ms

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig


def bench_update(
    device: torch.device, warmup: int, n: int, n_samples: int, episodes: int, length: int
) -> dict[str, Any]:
    obs_shape, action_dim, batch_size = PIXEL_OBS, 1, BATCH_SIZE
    replay = filled_replay(episodes, length, action_dim, seed=0)
    step = 100_000  # past the exploration phase; σ from the default schedule

    out: dict[str, Any] = {
        "setup": {
            "obs_shape": list(obs_shape),
            "action_dim": action_dim,
            "batch_size": batch_size,
            "hidden_dim": AgentConfig().hidden_dim,
            "feature_dim": AgentConfig().feature_dim,
            "warmup_updates": warmup,
            "timed_updates": n,
            "replay_transitions": len(replay),
            "statistic": "median",
        }
    }
    sample_s: list[float] = []
    to_batch_s: list[float] = []
    update_ms: dict[str, float] = {}
    update_all: dict[str, list[float]] = {}
    guard_s: list[float] = []
    for label, cfg in (("fp32", AgentConfig()), ("bf16", AgentConfig(bf16=True))):
        torch.manual_seed(0)
        agent = DrQV2Agent(obs_shape, action_dim, cfg, pixels=True, device=device)
        times = []
        for i in range(warmup + n):
            t0 = now()
            raw = replay.sample(batch_size)
            t1 = now()
            batch = agent.to_batch(raw)
            sync(device)
            t2 = now()
            agent.update(batch, step).cpu()  # .cpu(): the trainer's one host sync
            sync(device)
            t3 = now()
            if i >= warmup:
                times.append(t3 - t2)
                sample_s.append(t1 - t0)
                to_batch_s.append(t2 - t1)
        update_ms[label] = median_ms(times)
        update_all[label] = [round(1000 * t, 1) for t in times]
        if label == "fp32":
            from dormant.training.guard import StateGuard

            guard = StateGuard()
            live = agent.live_tensors()
            guard.snapshot(live)  # first call allocates the copy
            for _ in range(max(n, 3)):
                sync(device)
                t0 = now()
                guard.snapshot(live)
                sync(device)
                guard_s.append(now() - t0)
            out["setup"]["agent_state_floats"] = int(sum(t.numel() for t in live))
            del guard, live
            # Extra sampling-only repetitions (cheap) for a steadier median.
            for _ in range(n_samples):
                t0 = now()
                raw = replay.sample(batch_size)
                t1 = now()
                agent.to_batch(raw)
                sync(device)
                t2 = now()
                sample_s.append(t1 - t0)
                to_batch_s.append(t2 - t1)
        del agent
    total = [a + b for a, b in zip(sample_s, to_batch_s, strict=True)]
    sample_ms = median_ms(total)
    out["update_ms"] = update_ms
    out["update_ms_each"] = update_all
    out["bf16_over_fp32"] = round(update_ms["bf16"] / update_ms["fp32"], 3)
    out["sample_ms"] = sample_ms
    out["sample_only_ms"] = median_ms(sample_s)
    out["to_batch_ms"] = median_ms(to_batch_s)
    out["sample_repetitions"] = len(total)
    out["samples_per_s"] = round(batch_size / (sample_ms / 1000.0), 1)
    out["sample_over_update"] = round(sample_ms / update_ms["fp32"], 4)
    out["guard_snapshot_ms"] = median_ms(guard_s)
    out["guard_over_update"] = round(median_ms(guard_s) / update_ms["fp32"], 4)
    return out


def bench_drm_overhead(device: torch.device, warmup: int, n: int, episodes: int, length: int) -> dict[str, Any]:
    """DrM's update (and ALIX's, TACO's and DrQ-v2 + RND's) against DrQ-v2's on the same
    batches, interleaved (A B, B A, ...) so that drift and order effects hit all alike; the
    ratios of medians are the figures. TACO is timed again, beside DrQ-v2, at its own
    batch of 1024 (the authors' DMC setting, the ``taco`` agent preset)."""
    from dormant.agents.alix import ALIXAgent
    from dormant.agents.drm import DrMAgent
    from dormant.agents.taco import TACOAgent
    from dormant.config import DrMConfig

    obs_shape, action_dim, batch_size = PIXEL_OBS, 1, BATCH_SIZE
    replay = filled_replay(episodes, length, action_dim, seed=1, horizon=3)  # K = n = 3: the same draws
    torch.manual_seed(0)
    agents = {
        "drqv2": DrQV2Agent(obs_shape, action_dim, AgentConfig(), pixels=True, device=device),
        "drm": DrMAgent(obs_shape, action_dim, AgentConfig(), pixels=True, device=device, drm=DrMConfig()),
        "alix": ALIXAgent(obs_shape, action_dim, AgentConfig(augment=False), pixels=True, device=device),
        "drqv2_rnd": DrQV2Agent(obs_shape, action_dim, AgentConfig(intrinsic="rnd"), pixels=True, device=device),
        "taco": TACOAgent(obs_shape, action_dim, AgentConfig(), pixels=True, device=device),
    }
    step = 100_000 + 2  # past exploration, not a perturbation step
    times = time_interleaved(
        agents, lambda i: agents["drqv2"].to_batch(replay.sample(batch_size)), warmup + n, warmup, step, device
    )
    perturb_ms = time_once_ms(agents["drm"].perturb, device)  # once: it runs every 100k agent steps
    medians = {name: median_ms(t) for name, t in times.items()}
    big = 1024
    pair = {name: agents[name] for name in ("drqv2", "taco")}
    times_big = time_interleaved(
        pair, lambda i: agents["drqv2"].to_batch(replay.sample(big)), warmup + n, warmup, step, device
    )
    at_big = {name: median_ms(t) for name, t in times_big.items()}
    return {
        "update_ms": medians,
        "drm_over_drqv2": round(medians["drm"] / medians["drqv2"], 3),
        "alix_over_drqv2": round(medians["alix"] / medians["drqv2"], 3),
        "rnd_over_drqv2": round(medians["drqv2_rnd"] / medians["drqv2"], 3),
        "taco_over_drqv2": round(medians["taco"] / medians["drqv2"], 3),
        "update_ms_batch_1024": at_big,
        "taco_over_drqv2_batch_1024": round(at_big["taco"] / at_big["drqv2"], 3),
        "taco_1024_over_drqv2_256": round(at_big["taco"] / medians["drqv2"], 3),
        "update_ms_each": {k: [round(1000 * t, 1) for t in v] for k, v in times.items()},
        "update_ms_each_batch_1024": {k: [round(1000 * t, 1) for t in v] for k, v in times_big.items()},
        "perturb_ms_once": perturb_ms,
        "target_max_ratio": 1.2,
        "setup": {
            "obs_shape": list(obs_shape),
            "batch_size": batch_size,
            "hidden_dim": 1024,
            "timed_updates_each": n,
            "warmup_updates_each": warmup,
            "order": "interleaved, alternating which agent goes first",
        },
    }


def bench_sac(device: torch.device, warmup: int, n: int, env_steps: int) -> dict[str, Any]:
    """SAC's update (its preset: 2×256 MLPs, batch 256) beside DrQ-v2's from states (defaults:
    hidden 1024, feature 50, batch 256) on the same state batches of HalfCheetah-v5's shapes
    (17-d state, 6-d action), interleaved; then SAC's act and one HalfCheetah-v5 step, timed
    together, so agent steps/s at one update per step = 1000 / (act + env + update ms)."""
    from dormant.agents.sac import SACAgent
    from dormant.envs.gym import GymEnv

    env = GymEnv("HalfCheetah-v5", obs="states", seed=0, frame_stack=1, action_repeat=1)
    obs_dim, action_dim, batch_size = env.obs_shape[0], env.action_dim, BATCH_SIZE
    sac_cfg = AgentConfig(name="sac", lr=3e-4, hidden_dim=256, critic_target_tau=0.005, num_expl_steps=0)
    torch.manual_seed(0)
    agents = {
        "sac": SACAgent((obs_dim,), action_dim, sac_cfg, pixels=False, device=device),
        "drqv2_states": DrQV2Agent((obs_dim,), action_dim, AgentConfig(), pixels=False, device=device),
    }
    gen = torch.Generator().manual_seed(0)

    def batch(_: int) -> dict[str, torch.Tensor]:
        raw = {
            "obs": torch.randn(batch_size, obs_dim, generator=gen),
            "next_obs": torch.randn(batch_size, obs_dim, generator=gen),
            "action": torch.rand(batch_size, action_dim, generator=gen) * 2 - 1,
            "reward": torch.rand(batch_size, 1, generator=gen),
            "discount": torch.full((batch_size, 1), 0.99),
        }
        return {k: v.to(device) for k, v in raw.items()}

    times = time_interleaved(agents, batch, warmup + n, warmup, 100_000, device)
    medians = {name: median_ms(t) for name, t in times.items()}
    agent, ts = agents["sac"], env.reset()
    act_env_s = []
    for _ in range(env_steps):
        t0 = now()
        action = agent.act(ts.observation, 100_000, eval_mode=False)
        ts = env.step(action)
        act_env_s.append(now() - t0)
        if ts.last:
            ts = env.reset()
    env.close()
    act_env_ms = median_ms(act_env_s)
    return {
        "update_ms": medians,
        "sac_over_drqv2_states": round(medians["sac"] / medians["drqv2_states"], 3),
        "update_ms_each": {k: [round(1000 * t, 2) for t in v] for k, v in times.items()},
        "sac_act_and_env_step_ms": act_env_ms,
        "sac_agent_steps_per_s": round(1000.0 / (act_env_ms + medians["sac"]), 1),
        "setup": {
            "task": "gym:HalfCheetah-v5",
            "obs_dim": obs_dim,
            "action_dim": action_dim,
            "batch_size": batch_size,
            "sac_hidden_dim": 256,
            "drqv2_hidden_dim": AgentConfig().hidden_dim,
            "timed_updates_each": n,
            "warmup_updates_each": warmup,
            "act_env_steps": env_steps,
            "steps_per_s": "1000 / (median act + env step ms + median update ms): one update per step",
        },
    }
