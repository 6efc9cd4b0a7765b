"""Section ``plasticity``: what dormant's plasticity machinery costs next to an update.

Every update counts the critic's active units (FAU) through forward hooks, so their cost
is paid on every step: it is timed interleaved (A/B) against the same agent without the
hooks, on pixels and on states (where the update is cheap and the hooks weigh most).
The rarer events (a ReDo recycling, one diagnostics row, a reset, a shrink-and-perturb)
run every ~1000 updates or less often: each is timed once on the full pixel network and
reported next to an update's time.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from common import BATCH_SIZE, PIXEL_OBS, filled_replay, median_ms, time_interleaved, time_once_ms

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig
from dormant.plasticity import agent_diagnostics, recycle_agent_, reset_agent_, shrink_perturb_agent_


class _NoCount:
    """Stands in for the agent's critic ActiveUnitCounter: the baseline without FAU hooks."""

    def __enter__(self) -> _NoCount:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def fraction(self) -> torch.Tensor:
        return torch.zeros(())


def bench_plasticity(device: torch.device, warmup: int, n: int, episodes: int, length: int) -> dict[str, Any]:
    """What the plasticity machinery costs: the per-update critic-FAU hooks (interleaved
    A/B against the same agent without them, pixels and states), and one ReDo event, one
    diagnostics row, one reset and one shrink-and-perturb on the full pixel network
    (each runs every ~1000 updates or rarer: reported next to an update's time)."""
    out: dict[str, Any] = {}
    replay = filled_replay(episodes, length, 1, seed=1)
    step = 100_000 + 2
    for kind, obs_shape, pixels in (("pixels", PIXEL_OBS, True), ("states_hidden1024", (24,), False)):
        torch.manual_seed(0)
        agents = {
            "with_fau": DrQV2Agent(obs_shape, 1, AgentConfig(), pixels=pixels, device=device),
            "without_fau": DrQV2Agent(obs_shape, 1, AgentConfig(), pixels=pixels, device=device),
        }
        agents["without_fau"]._critic_units = _NoCount()

        def next_batch(i: int, pixels: bool = pixels, agent: DrQV2Agent = agents["with_fau"]) -> dict:
            if pixels:
                return agent.to_batch(replay.sample(BATCH_SIZE))
            g = torch.Generator().manual_seed(i)
            b = BATCH_SIZE
            batch = {
                "obs": torch.randn(b, 24, generator=g),
                "next_obs": torch.randn(b, 24, generator=g),
                "action": torch.rand(b, 1, generator=g) * 2 - 1,
                "reward": torch.rand(b, 1, generator=g),
                "discount": torch.full((b, 1), 0.99),
            }
            return {k: v.to(device) for k, v in batch.items()}

        times = time_interleaved(agents, next_batch, warmup + (n if pixels else 20 * n), warmup, step, device)
        medians = {name: median_ms(t) for name, t in times.items()}
        out[f"fau_hooks_{kind}"] = {
            "update_ms": medians,
            "with_over_without": round(medians["with_fau"] / medians["without_fau"], 3),
            "timed_updates_each": len(times["with_fau"]),
        }
        if pixels:
            agent = agents["with_fau"]
            batch = next_batch(0)
            once = {}
            for name, fn in (
                ("redo_critic", partial(recycle_agent_, agent, batch, ["critic"])),
                ("redo_critic_actor_encoder", partial(recycle_agent_, agent, batch, ["critic", "actor", "encoder"])),
                ("diagnostics", partial(agent_diagnostics, agent, batch)),
                ("reset_heads", partial(reset_agent_, agent, "heads")),
                ("shrink_perturb_all", partial(shrink_perturb_agent_, agent, 0.8, scope="all")),
            ):
                once[name] = time_once_ms(fn, device)
            out["once_ms_pixels"] = once
            out["redo_every_1000_updates_over_update"] = round(
                once["redo_critic_actor_encoder"] / (1000 * medians["with_fau"]), 5
            )
    return out
