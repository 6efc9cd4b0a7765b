"""Sections ``update_ms``/``update_details`` and ``drm_overhead``: the cost of one update.

The gradient update is where a pixel agent spends its time, so this module times it
directly: DrQ-v2's ``DrQV2Agent.update`` (fp32 and bf16) on real replay batches, the
sampling and ``to_batch`` that feed it, and the trainer's per-update ``StateGuard``
snapshot, each as a fraction of the update. Then DrM's update against DrQ-v2's on the
same batches, interleaved so that drift hits both alike; DrM must stay within 1.2×.
"""

from __future__ import annotations

from typing import Any

import torch

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig

from common import (BATCH_SIZE, PIXEL_OBS, filled_replay, median_ms, now, sync, time_interleaved,
                    time_once_ms)


def bench_update(device: torch.device, warmup: int, n: int, n_samples: int,
                 episodes: int, length: int) -> dict[str, Any]:
    obs_shape, action_dim, batch_size = PIXEL_OBS, 1, BATCH_SIZE
    replay = filled_replay(episodes, length, action_dim, seed=0)
    step = 100_000  # past the exploration phase; σ from the default schedule

    out: dict[str, Any] = {"setup": {
        "obs_shape": list(obs_shape), "action_dim": action_dim, "batch_size": batch_size,
        "hidden_dim": AgentConfig().hidden_dim, "feature_dim": AgentConfig().feature_dim,
        "warmup_updates": warmup, "timed_updates": n, "replay_transitions": len(replay),
        "statistic": "median",
    }}
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
    total = [a + b for a, b in zip(sample_s, to_batch_s)]
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


def bench_drm_overhead(device: torch.device, warmup: int, n: int, episodes: int,
                       length: int) -> dict[str, Any]:
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
    agents = {"drqv2": DrQV2Agent(obs_shape, action_dim, AgentConfig(), pixels=True, device=device),
              "drm": DrMAgent(obs_shape, action_dim, AgentConfig(), pixels=True, device=device,
                              drm=DrMConfig()),
              "alix": ALIXAgent(obs_shape, action_dim, AgentConfig(augment=False), pixels=True, device=device),
              "drqv2_rnd": DrQV2Agent(obs_shape, action_dim, AgentConfig(intrinsic="rnd"), pixels=True,
                                      device=device),
              "taco": TACOAgent(obs_shape, action_dim, AgentConfig(), pixels=True, device=device)}
    step = 100_000 + 2  # past exploration, not a perturbation step
    times = time_interleaved(agents, lambda i: agents["drqv2"].to_batch(replay.sample(batch_size)),
                             warmup + n, warmup, step, device)
    perturb_ms = time_once_ms(agents["drm"].perturb, device)  # once: it runs every 100k agent steps
    medians = {name: median_ms(t) for name, t in times.items()}
    big = 1024
    pair = {name: agents[name] for name in ("drqv2", "taco")}
    times_big = time_interleaved(pair, lambda i: agents["drqv2"].to_batch(replay.sample(big)),
                                 warmup + n, warmup, step, device)
    at_big = {name: median_ms(t) for name, t in times_big.items()}
    return {"update_ms": medians, "drm_over_drqv2": round(medians["drm"] / medians["drqv2"], 3),
            "alix_over_drqv2": round(medians["alix"] / medians["drqv2"], 3),
            "rnd_over_drqv2": round(medians["drqv2_rnd"] / medians["drqv2"], 3),
            "taco_over_drqv2": round(medians["taco"] / medians["drqv2"], 3),
            "update_ms_batch_1024": at_big,
            "taco_over_drqv2_batch_1024": round(at_big["taco"] / at_big["drqv2"], 3),
            "taco_1024_over_drqv2_256": round(at_big["taco"] / medians["drqv2"], 3),
            "update_ms_each": {k: [round(1000 * t, 1) for t in v] for k, v in times.items()},
            "update_ms_each_batch_1024": {k: [round(1000 * t, 1) for t in v] for k, v in times_big.items()},
            "perturb_ms_once": perturb_ms, "target_max_ratio": 1.2,
            "setup": {"obs_shape": list(obs_shape), "batch_size": batch_size, "hidden_dim": 1024,
                      "timed_updates_each": n, "warmup_updates_each": warmup,
                      "order": "interleaved, alternating which agent goes first"}}
