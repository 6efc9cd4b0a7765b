"""When periodic work runs: one rule for every periodic intervention, the plasticity
interventions a config switches on, and the replay ratio (how many updates per step).

The rule (``Periodic``): work due every ``period`` units (updates or frames) fires at
the first check at or after each multiple of the period. A check that passes several
multiples at once (periods that ended before learning started, or a large jump) fires
once: passed-over periods are skipped, never caught up. The counters are checkpointed,
so a resumed run neither repeats nor skips a firing.

Users: ReDo (every N updates), resets and shrink-and-perturb (every N frames) here,
after an update; DrM's perturbation (every N frames) in ``agents/drm.py``, at the start
of an update (with β of the previous update, as DrM's reference code does).
What each intervention *does* lives in ``dormant.plasticity``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dormant.config import Config, redo_nets
from dormant.plasticity.agent_surgery import recycle_agent_, reset_agent_, shrink_perturb_agent_
from dormant.plasticity.replay_ratio import AdaptiveReplayRatio, ReplayRatio

if TYPE_CHECKING:
    from dormant.interfaces import Batch, PlasticAgent


@dataclass
class Periodic:
    """Work due every ``period`` units; ``due(now)`` says whether it fires now (and records it)."""

    period: int
    last: int = 0  # k of the last multiple k·period fired at (0: none yet)
    count: int = 0  # firings so far

    def due(self, now: int) -> bool:
        if self.period <= 0 or now < (self.last + 1) * self.period:
            return False
        self.last = now // self.period  # any multiples passed over are skipped, not caught up
        self.count += 1
        return True

    def state_dict(self) -> dict[str, int]:
        return {"last": self.last, "count": self.count}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.last, self.count = int(state["last"]), int(state["count"])


def make_replay_ratio(cfg: Config) -> ReplayRatio:
    p = cfg.plasticity
    if p.replay_ratio == "adaptive":
        return AdaptiveReplayRatio(p.rr_low, p.rr_high, p.rr_check_every_episodes, p.rr_fau_tolerance)
    if p.replay_ratio == "auto":
        return ReplayRatio(f"1/{cfg.agent.update_every_steps}")
    return ReplayRatio(p.replay_ratio)


class PlasticityInterventions:
    """The periodic interventions a config switches on (an ``Intervention``); ``after_update``
    runs what is due and returns one event row per action."""

    def __init__(self, cfg: Config):
        self.p = p = cfg.plasticity
        self.nets = redo_nets(cfg)
        self.redo = Periodic(p.redo_every_updates if p.redo else 0)
        self.reset = Periodic(p.reset_every_frames)
        self.shrink_perturb = Periodic(p.shrink_perturb_every_frames)

    def after_update(self, agent: PlasticAgent, batch: Batch, updates: int, frame: int) -> list[dict]:
        p, events = self.p, []
        if self.redo.due(updates):
            counts = recycle_agent_(agent, batch, self.nets, tau=p.redo_tau, reset_step=p.redo_reset_step)
            events.append({"event": "redo", "count": sum(counts.values()),
                           "detail": " ".join(f"{layer}={n}" for layer, n in counts.items())})
        if self.reset.due(frame):
            reset = reset_agent_(agent, p.reset_scope)
            events.append({"event": f"reset_{p.reset_scope}", "count": self.reset.count, "detail": " ".join(reset)})
        if self.shrink_perturb.due(frame):
            shrink_perturb_agent_(agent, p.shrink_perturb_alpha, scope=p.shrink_perturb_scope)
            events.append({"event": "shrink_perturb", "count": self.shrink_perturb.count,
                           "detail": f"alpha={p.shrink_perturb_alpha} scope={p.shrink_perturb_scope}"})
        return events

    def state_dict(self) -> dict[str, Any]:
        return {"redo": self.redo.state_dict(), "reset": self.reset.state_dict(),
                "shrink_perturb": self.shrink_perturb.state_dict()}

    def load_state_dict(self, state: dict[str, Any], updates: int = 0) -> None:
        if "reset" not in state:  # a checkpoint from before the shared clock: the periods last fired at
            state = {"redo": {"last": updates // self.redo.period if self.redo.period else 0, "count": 0},
                     "reset": {"last": state["resets_done"], "count": state["resets_done"]},
                     "shrink_perturb": {"last": state["shrink_perturbs_done"], "count": state["shrink_perturbs_done"]}}
        self.redo.load_state_dict(state["redo"])
        self.reset.load_state_dict(state["reset"])
        self.shrink_perturb.load_state_dict(state["shrink_perturb"])
