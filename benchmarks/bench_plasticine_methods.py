"""What each Plasticine method costs per update, as a ratio to the plain agent, measured in
the same run (interleaved rounds on the same batches).

    PYTHONPATH=src:benchmarks python benchmarks/bench_plasticine_methods.py [--rounds 30] [--out FILE]

Small settings so that it runs in a few minutes on a CPU: DrM (it has every network: encoder,
actor, critic, V) on states (24-dimensional observations, 6-dimensional actions), hidden 256,
batch 256; each method on every network it can act on. The ratio is the median time of one
update with the method over the median of the plain agent's. Injection is timed after the
injection (the one-shot surgery itself is not a per-update cost). KRON is timed only where
the kron-torch package is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import torch
from common import median_ms, time_interleaved
from machine import finish, machine

from dormant.agents import make_agent
from dormant.config.overrides import resolve
from dormant.plasticity.injection import inject_agent_

ALL = "actor,critic,value"
METHODS = {
    "plain": {},
    "layernorm": {"plasticity.layernorm": ALL},
    "crelu": {"plasticity.crelu": ALL},
    "fourier": {"plasticity.fourier": ALL},
    "nap": {"plasticity.nap": ALL},
    "l2_init": {"plasticity.l2_init": "1e-3"},
    "parseval": {"plasticity.parseval": "1e-3"},
    "trac": {"plasticity.optimizer": "trac"},
    "injection": {},
    "kron": {"plasticity.optimizer": "kron"},
}


def build(overrides: dict[str, str], obs_dim: int, action_dim: int):
    cfg = resolve(
        {
            "task": "dmc/cartpole_swingup",
            "obs": "states",
            "agent.name": "drm",
            "agent.hidden_dim": "256",
            "agent.batch_size": "256",
            **overrides,
        }
    )
    torch.manual_seed(0)
    return make_agent(cfg, (obs_dim,), action_dim, device=torch.device("cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    t0 = time.perf_counter()
    obs_dim, action_dim = 24, 6
    methods = {k: v for k, v in METHODS.items() if k != "kron" or importlib.util.find_spec("kron_torch")}
    agents = {name: build(overrides, obs_dim, action_dim) for name, overrides in methods.items()}
    inject_agent_(agents["injection"], ["actor", "critic", "value"])
    g = torch.Generator().manual_seed(0)

    def batch(i: int) -> dict[str, torch.Tensor]:
        return {
            "obs": torch.randn(256, obs_dim, generator=g),
            "next_obs": torch.randn(256, obs_dim, generator=g),
            "action": torch.rand(256, action_dim, generator=g) * 2 - 1,
            "reward": torch.randn(256, 1, generator=g),
            "discount": torch.full((256, 1), 0.99),
        }

    times = time_interleaved(
        agents, batch, args.rounds + args.warmup, args.warmup, step=20_000, device=torch.device("cpu")
    )
    plain = median_ms(times["plain"])
    result = {
        "benchmark": "plasticine_methods",
        "setting": {
            "agent": "drm",
            "obs": "states",
            "obs_dim": obs_dim,
            "action_dim": action_dim,
            "hidden_dim": 256,
            "batch_size": 256,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "networks": ALL,
            "kron_installed": "kron" in methods,
        },
        "median_ms_per_update": {name: round(median_ms(t), 3) for name, t in times.items()},
        "ratio_to_plain": {name: round(median_ms(t) / plain, 3) for name, t in times.items()},
        "machine": machine(torch.device("cpu")),
    }
    finish(result, t0, args.out)


if __name__ == "__main__":
    main()
