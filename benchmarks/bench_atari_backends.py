#!/usr/bin/env python
"""Atari stepping throughput of the two backends (``atari.backend``): ale-py, one game, against
EnvPool with 1, 2 and 8 games stepped together, on 1 and 2 EnvPool threads.

Run from the repository root with the project's environment active (needs the ``atari`` and
``envpool`` extras):

    python benchmarks/bench_atari_backends.py --out benchmarks/results/NAME.json   # ≈ 3 min on a 2-core CPU
    python benchmarks/bench_atari_backends.py --quick                              # ≈ 30 s there

Every figure is agent steps per second (4 frames each) with uniformly random actions, the DQN
protocol's settings (sticky actions 0.25, no no-ops, 84×84 grayscale, stack 4), an episode's end
followed by its restart as the trainer does. The setups run in rounds, in an order that alternates
each round, so that a change of load hits them alike; each figure is the median over the rounds.
``ale`` is ``AtariEnv`` (what the trainer steps today); ``envpool_timestep`` is ``EnvPoolAtariEnv``,
the same interface on EnvPool; ``envpool_batch_N_threads_T`` is ``EnvPoolAtari`` with N games, all
stepped at once on T threads (the interface a vectorised collector would use). ``over_ale`` is
each figure over ``ale``'s from the same run, the number to compare across machines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from common import CpuMeter, wait_quiet  # noqa: E402
from machine import finish, machine  # noqa: E402

SETTINGS = {"sticky_actions": 0.25, "noop_max": 0}


def time_timestep_env(env: Any, steps: int, seed: int) -> float:
    """Agent steps/s of a `TimeStep` env (one game), resetting after each episode's end."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(env.num_actions, size=steps).astype(np.float32)
    env.reset()
    t0 = time.perf_counter()
    for action in actions:
        if env.step(action[None]).last:
            env.reset()
    return steps / (time.perf_counter() - t0)


def time_batch_env(env: Any, steps: int, seed: int) -> float:
    """Agent steps/s of N games stepped together (``steps`` agent steps in all, N per call);
    a game restarts by itself on the call after its end."""
    rng = np.random.default_rng(seed)
    calls = max(1, steps // env.num_envs)
    actions = rng.integers(env.num_actions, size=(calls, env.num_envs))
    env.reset()
    t0 = time.perf_counter()
    for row in actions:
        env.step(row)
    return calls * env.num_envs / (time.perf_counter() - t0)


def setups(game: str) -> dict[str, Callable[[], tuple[Any, Callable[[Any, int, int], float]]]]:
    from dormant.envs.atari import AtariEnv
    from dormant.envs.atari.envpool import EnvPoolAtari, EnvPoolAtariEnv

    out: dict[str, Callable[[], tuple[Any, Callable[[Any, int, int], float]]]] = {
        "ale": lambda: (AtariEnv(game, seed=0, **SETTINGS), time_timestep_env),
        "envpool_timestep": lambda: (EnvPoolAtariEnv(game, seed=0, **SETTINGS), time_timestep_env),
    }
    for threads in (1, 2):
        for n in (1, 2, 8):
            out[f"envpool_batch_{n}_threads_{threads}"] = lambda n=n, threads=threads: (
                EnvPoolAtari(game, num_envs=n, seed=0, num_threads=threads, **SETTINGS),
                time_batch_env,
            )
    return out


def bench_game(game: str, steps: int, rounds: int) -> dict[str, Any]:
    built = {name: make() for name, make in setups(game).items()}
    rates: dict[str, list[float]] = {name: [] for name in built}
    try:
        for env, timer in built.values():  # warm-up: first resets, caches
            timer(env, 200, seed=99)
        for r in range(rounds):
            order = list(built) if r % 2 == 0 else list(built)[::-1]
            for name in order:
                env, timer = built[name]
                rates[name].append(timer(env, steps, seed=r))
    finally:
        for env, _ in built.values():
            env.close()
    ale = statistics.median(rates["ale"])
    return {
        name: {
            "agent_steps_per_s": round(statistics.median(values), 1),
            "frames_per_s": round(4 * statistics.median(values), 1),
            "over_ale": round(statistics.median(values) / ale, 2),
            "rounds": [round(v, 1) for v in values],
        }
        for name, values in rates.items()
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--steps", type=int, help="agent steps per figure and round (default 3000; 500 with --quick)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick)")
    parser.add_argument("--games", nargs="+", default=["Pong", "Breakout"])
    parser.add_argument("--wait-quiet", type=float, default=0.0, help="wait up to S seconds for a quiet machine")
    args = parser.parse_args(argv)
    steps = args.steps or (500 if args.quick else 3000)
    rounds = args.rounds or (1 if args.quick else 3)
    import envpool
    import torch

    result: dict[str, Any] = {
        "benchmark": "dormant Atari backends: ale-py vs EnvPool",
        "quick": args.quick,
        "agent_steps_per_round": steps,
        "rounds": rounds,
        "settings": SETTINGS,
        "envpool": envpool.__version__,
        "machine": machine(torch.device("cpu")),
        "contention": {},
        "games": {},
    }
    t0 = time.perf_counter()
    for game in args.games:
        waited = wait_quiet(args.wait_quiet) if args.wait_quiet else {}
        with CpuMeter(game, result["contention"]) as meter:
            meter.waited = waited
            result["games"][game] = bench_game(game, steps, rounds)
    return finish(result, t0, args.out)


if __name__ == "__main__":
    main()
