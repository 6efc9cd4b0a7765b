#!/usr/bin/env python
"""Throughput of the discrete-action agents (``agent=dqn``, ``agent=drq_eps``) and the Atari suite.

Run from the repository root with the project's environment active (needs the ``atari`` extra):

    python benchmarks/bench_dqn.py --out benchmarks/results/NAME.json   # ≈ 10 min on a busy 2-core CPU
    python benchmarks/bench_dqn.py --quick                              # ≈ 5 min there

Prints one JSON object (and writes it to ``--out``):

- ``update_ms``: one update of DQN and of DrQ(ε) (Nature CNN, batch 32, 4×84×84 uint8
  frames from a filled Atari-shaped replay), median of the timed updates; DrQ(ε)'s includes
  its augmentation of obs and next obs;
- ``atari_env_steps_per_s``: agent steps (4 frames each) of ``atari/Pong`` with random actions;
- ``end_to_end``: agent steps/s of ``Trainer`` runs: Pong with ``agent=dqn`` (replay ratio
  0.25) and ``agent=drq_eps`` (ratio 1), before learning starts (acting and storing) and with
  updates; and CartPole from states with DQN (ratio 1, hidden 512, batch 32);
- ``replay_bytes_per_transition``: an Atari transition as replay stores it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from machine import finish, machine  # noqa: E402

from dormant.agents.dqn import DQNAgent, DrQEpsAgent  # noqa: E402
from dormant.config import resolve  # noqa: E402
from dormant.config.dqn_presets import DQN_PRESETS  # noqa: E402
from dormant.config.schema import AgentConfig, DQNConfig  # noqa: E402
from dormant.replay import ReplayBuffer  # noqa: E402

OBS = (4, 84, 84)
ACTIONS = 6  # Pong's minimal action set


def _agent_configs(name: str) -> tuple[AgentConfig, DQNConfig]:
    agent, dqn = AgentConfig(), DQNConfig()
    for key, value in DQN_PRESETS[name].items():
        section, field = key.split(".")
        setattr(agent if section == "agent" else dqn, field, value)
    return agent, dqn


def _atari_replay(transitions: int, nstep: int) -> ReplayBuffer:
    rng = np.random.default_rng(0)
    replay = ReplayBuffer(
        (1, 84, 84),
        np.uint8,
        1,
        capacity=transitions,
        frame_stack=4,
        nstep=nstep,
        discount=0.99,
        reward_clip=1.0,
        per_transition=True,
    )
    frames = rng.integers(0, 256, (64, 1, 84, 84), dtype=np.uint8)
    length = 500
    for episode in range(transitions // length):
        replay.add(frames[0], np.zeros(1), 0.0, 1.0, first=True, last=False)
        for i in range(length):
            replay.add(
                frames[(episode + i) % 64],
                np.array([i % ACTIONS], np.float32),
                float(i % 3 == 0),
                1.0,
                first=False,
                last=i == length - 1,
            )
    return replay


def bench_updates(warmup: int, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cls in (("dqn", DQNAgent), ("drq_eps", DrQEpsAgent)):
        agent_cfg, dqn_cfg = _agent_configs(name)
        torch.manual_seed(0)
        agent = cls(OBS, ACTIONS, agent_cfg, dqn_cfg, pixels=True, device=torch.device("cpu"))
        replay = _atari_replay(5_000, agent_cfg.nstep)
        times, sample = [], []
        for i in range(warmup + n):
            t0 = time.perf_counter()
            batch = agent.to_batch(replay.sample(agent_cfg.batch_size))
            t1 = time.perf_counter()
            agent.update(batch, step=10**6).cpu()
            t2 = time.perf_counter()
            if i >= warmup:
                times.append(t2 - t1)
                sample.append(t1 - t0)
        out[name] = {
            "update_ms": round(1000 * float(np.median(times)), 2),
            "sample_ms": round(1000 * float(np.median(sample)), 3),
            "batch_size": agent_cfg.batch_size,
            "timed_updates": n,
            "parameters": sum(p.numel() for p in agent.critic.parameters()),
        }
    return out


def bench_atari_env(steps: int) -> dict[str, Any]:
    from dormant.envs.atari import AtariEnv

    env = AtariEnv("Pong", seed=0)
    rng = np.random.default_rng(0)
    try:
        env.reset()
        t0 = time.perf_counter()
        for _ in range(steps):
            if env.step(np.array([rng.integers(ACTIONS)], np.float32)).last:
                env.reset()
        seconds = time.perf_counter() - t0
    finally:
        env.close()
    return {
        "task": "atari/Pong",
        "agent_steps": steps,
        "agent_steps_per_s": round(steps / seconds, 1),
        "frames_per_s": round(4 * steps / seconds, 1),
    }


def _run(overrides: dict[str, str]) -> tuple[float, int]:
    from dormant.training.trainer import Trainer

    cfg = resolve(
        {
            "log.tensorboard": "false",
            "log.progress": "false",
            "eval.episodes": "0",
            "eval.every_frames": "100000000",
            "checkpoint_every_frames": "100000000",
            **overrides,
        }
    )
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(cfg, Path(out))
        try:
            t0 = time.perf_counter()
            trainer.train()
            return time.perf_counter() - t0, trainer.counters.step
        finally:
            trainer.close()


def bench_end_to_end(steps_before: int, steps_learning: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for agent in ("dqn", "drq_eps"):
        base = {"task": "atari/Pong", "agent": agent}
        seconds, steps = _run({**base, "frames": str(4 * steps_before), "num_seed_frames": str(4 * steps_before - 4)})
        before = steps / seconds
        seed = 4 * 1000  # learning from agent step 1,000; then steps_learning agent steps with updates
        seconds, steps = _run(
            {
                **base,
                "frames": str(seed + 4 * steps_learning),
                "num_seed_frames": str(seed),
                "agent.num_expl_steps": "1000",
            }
        )
        # the run's time includes its 1,000 learning-free steps: take them out at the measured rate
        learning = steps_learning / max(seconds - 1000 / before, 1e-9)
        rr = 1 / DQN_PRESETS[agent]["agent.update_every_steps"]
        out[f"atari/Pong {agent}"] = {
            "replay_ratio": rr,
            "agent_steps_per_s_before_learning": round(before, 1),
            "agent_steps_per_s_learning": round(learning, 2),
            "frames_per_s_learning": round(4 * learning, 2),
            "steps_learning": steps_learning,
        }
    seconds, steps = _run(
        {
            "task": "gym:CartPole-v1",
            "obs": "states",
            "agent": "dqn",
            "env.action_repeat": "1",
            "frames": str(500 + steps_learning * 10),
            "num_seed_frames": "500",
            "threads": "1",
            "agent.num_expl_steps": "500",
            "agent.update_every_steps": "1",
        }
    )
    out["gym:CartPole-v1 dqn states"] = {
        "replay_ratio": 1.0,
        "agent_steps_per_s_learning": round(steps / seconds, 1),
        "hidden_dim": 512,
        "batch_size": 32,
    }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    quick = args.quick
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "dormant DQN / DrQ(eps) / Atari throughput",
        "quick": quick,
        "threads": args.threads,
        "machine": machine(torch.device("cpu")),
        "load_average_1_5_15min_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    replay = _atari_replay(1_000, 1)
    result["replay_bytes_per_transition"] = {
        "atari 1x84x84 uint8, 500-step episodes": round(replay.bytes_per_transition(500), 1)
    }
    result["update"] = bench_updates(2, 5 if quick else 30)
    result["atari_env"] = bench_atari_env(300 if quick else 2000)
    result["end_to_end"] = bench_end_to_end(300 if quick else 1500, 100 if quick else 200)
    return finish(result, t0, args.out)


if __name__ == "__main__":
    main()
