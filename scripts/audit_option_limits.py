"""Audit: every numeric and boolean option at the edges the checks accept, trained for a few
hundred frames on toy tasks. Each case must either be refused by the configuration
(``ConfigError`` before any work) or train to its end: a crash mid-run is a limit that only
shows at run time (a sweep would retry it).

    PYTHONPATH=examples python scripts/audit_option_limits.py [--out audit.json] [--only KEY]

Cases: for each option, the two smallest values the configuration accepts among a ladder of
edge values (−1, 0, 10⁻⁹, 1, 2, 3), or, when it accepts none of them, the smallest value it
accepts (found by doubling, then bisecting); for booleans the value that is not the default; each with the agents that
take the option (drqv2 from pixels and dqn on CartPole from states; an agent's own section
with that agent). Prints one line per case that crashed; writes every case's outcome.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))  # point_reach: the toy task

from dormant import train  # noqa: E402
from dormant.config import Config, ConfigError, field_paths, resolve  # noqa: E402
from dormant.config.schema import AGENT_SECTIONS  # noqa: E402
from dormant.training.trainer import NonFiniteLossError  # noqa: E402

POINT = "gym:point_reach:PointReach-v0"
BASES = {  # agent → the smallest run that reaches updates, evaluation and a checkpoint
    "drqv2": {"agent": "drqv2", "task": POINT, "obs": "pixels", "env.image_size": 16},
    "sac": {"agent": "sac", "task": POINT, "obs": "states"},
    "dqn": {"agent": "dqn", "task": "gym:CartPole-v1", "obs": "states", "dqn.epsilon_decay_steps": 50},
    "drm": {"agent": "drm", "task": POINT, "obs": "pixels", "env.image_size": 16},
    "alix": {"agent": "alix", "task": POINT, "obs": "pixels", "env.image_size": 16},
    "taco": {"agent": "taco", "task": POINT, "obs": "pixels", "env.image_size": 16},
}
COMMON = {
    "frames": 300,
    "num_seed_frames": 100,
    "agent.num_expl_steps": 20,
    "agent.batch_size": 8,
    "agent.hidden_dim": 16,
    "agent.feature_dim": 8,
    "eval.every_frames": 200,
    "eval.episodes": 1,
    "checkpoint_every_frames": 200,
    "log.progress": False,
    "log.tensorboard": False,
    "threads": 1,
    "log.diagnostics_every_updates": 10,
}
LADDER = (-1, 0, 1e-9, 1, 2, 3)
SKIP = {
    "seed",
    "frames",
    "threads",
    "device",
    "log.progress_every_s",
    "log.progress",
    "log.tensorboard",
    "eval.video",
    "log.wandb",
    "agent.compile",
    "agent.bf16",
}  # where/how a run executes, or GPU-only


def base(agent: str) -> dict:
    return {**COMMON, **BASES[agent]}


def agents_for(key: str) -> list[str]:
    section = key.split(".")[0]
    if section in AGENT_SECTIONS:
        own = AGENT_SECTIONS[section]
        return [own] if own in BASES else (["dqn"] if own == "dqn" else [])
    if section in ("atari",):
        return []  # needs an Atari ROM run: covered by the Atari tests
    return ["drqv2", "dqn"]  # a continuous agent from pixels, a discrete one from states


def edge_values(key: str, kind: type, agent: str) -> list:
    if kind is bool:
        default = _get(Config(), key)
        return [not default]
    if kind not in (int, float):
        return []
    accepted = []
    for value in LADDER:
        if kind is int and not float(value).is_integer():
            continue
        if _accepts(agent, key, kind(value)):
            accepted.append(kind(value))
            if len(accepted) == 2:
                return accepted
    if accepted:
        return accepted
    # Nothing small is valid (a bound relative to other options, e.g. a capacity ≥ one episode):
    # the smallest valid value, found by doubling then bisecting.
    high = 4
    while high <= 2**24 and not _accepts(agent, key, kind(high)):
        high *= 2
    if high > 2**24:
        return []
    low = high // 2  # refused (or the ladder's 3)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _accepts(agent, key, kind(middle)) else (middle, high)
    return [kind(high)]


def _accepts(agent: str, key: str, value) -> bool:
    try:
        resolve({**base(agent), key: value})
    except ConfigError:
        return False
    return True


def _get(cfg, key: str):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def run_case(agent: str, key: str, value) -> dict:
    out = Path(tempfile.mkdtemp(prefix="audit-"))
    t0 = time.perf_counter()
    try:
        result = train({**base(agent), key: value}, out=out / "run")
        outcome = {"outcome": "trained" if result.status == "finished" else f"ended:{result.status}"}
    except ConfigError as err:
        outcome = {"outcome": "refused", "message": str(err)[:300]}
    except NonFiniteLossError as err:  # a documented ending (saved first; exit code 3, never retried)
        outcome = {"outcome": "diverged", "message": str(err)[:200]}
    except Exception as err:  # the audit's point: anything else is a run-time-only limit
        outcome = {
            "outcome": "crashed",
            "error": f"{type(err).__name__}: {err}"[:400],
            "where": traceback.format_exc().splitlines()[-3][:200],
        }
    return {"agent": agent, "key": key, "value": value, "seconds": round(time.perf_counter() - t0, 2), **outcome}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("audit_option_limits.json"))
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    cases = []
    for key, kind in field_paths().items():
        if key in SKIP or (args.only and not key.startswith(args.only)):
            continue
        for agent in agents_for(key):
            for value in edge_values(key, kind, agent):
                cases.append((agent, key, value))
    print(f"{len(cases)} cases", flush=True)
    results = []
    for i, (agent, key, value) in enumerate(cases):
        results.append(run_case(agent, key, value))
        r = results[-1]
        if r["outcome"] == "crashed":
            print(f"[{i + 1}/{len(cases)}] CRASH {agent} {key}={value}: {r['error']} @ {r['where']}", flush=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    counts = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    print(counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
