"""When periodic work runs: one rule for every periodic intervention, the plasticity
interventions a config switches on, and the replay ratio (how many updates per step).

Also the run's counters (``Counters``, checkpointed) and ``crossed``, the trainer's rule for
evaluations and checkpoints. The rule (``Periodic``): work due every ``period`` units (updates or frames) fires at
the first check at or after each multiple of the period. A check that passes several
multiples at once (periods that ended before learning started, or a large jump) fires
once: passed-over periods are skipped, never caught up. The counters are checkpointed,
so a resumed run neither repeats nor skips a firing.

Users: ReDo (every N updates), resets, shrink-and-perturb (every N frames) and plasticity injection (once) here,
after an update; DrM's perturbation (every N frames) in ``agents/drm.py``, at the start
of an update (with β of the previous update, as DrM's reference code does).
What each intervention *does* lives in ``dormant.plasticity``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dormant.config import Config, redo_nets
from dormant.config.schema import frame_list, net_list
from dormant.plasticity.agent_surgery import recycle_agent_, reset_agent_, shrink_perturb_agent_
from dormant.plasticity.injection import inject_agent_
from dormant.plasticity.replay_ratio import AdaptiveReplayRatio, ReplayRatio

if TYPE_CHECKING:
    from dormant.interfaces import Batch, PlasticAgent


@dataclass
class Counters:
    step: int = 0  # agent steps taken (all environment workers together)
    episode: int = 0  # training episodes finished
    last_eval_step: int = -1
    last_checkpoint_step: int = 0
    updates: int = 0
    episode_steps: list[int] = field(default_factory=lambda: [0])  # per environment worker
    episode_rewards: list[float] = field(default_factory=lambda: [0.0])

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> Counters:
        state = dict(state)
        if "episode_step" in state:  # checkpoints from before env.workers: one env
            state["episode_steps"] = [int(state.pop("episode_step"))]
            state["episode_rewards"] = [float(state.pop("episode_reward"))]
        return cls(**state)


def crossed(step: int, last: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in (last, step]: with one env (a step at a time)
    exactly ``step % every == 0 and step != last``; with N workers (N steps at a time) the
    first safe point at or after each multiple."""
    return step // every > last // every


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


@dataclass
class Milestones:
    """One-shot work at listed points (frames), by the same rule as ``Periodic``: it fires at
    the first check at or after a listed point; points passed over in one jump fire once."""

    points: list[int]
    done: int = 0  # how many listed points have been reached
    count: int = 0  # firings so far

    def due(self, now: int) -> bool:
        reached = sum(point <= now for point in self.points)
        if reached <= self.done:
            return False
        self.done, self.count = reached, self.count + 1
        return True

    def state_dict(self) -> dict[str, int]:
        return {"done": self.done, "count": self.count}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.done, self.count = int(state["done"]), int(state["count"])


def make_replay_ratio(cfg: Config) -> ReplayRatio:
    p = cfg.plasticity
    if p.replay_ratio == "adaptive":
        return AdaptiveReplayRatio(p.rr_low, p.rr_high, p.rr_check_every_episodes, p.rr_fau_tolerance)
    if p.replay_ratio == "auto":
        return ReplayRatio(f"1/{cfg.agent.update_every_steps}")
    return ReplayRatio(p.replay_ratio)


class PlasticityInterventions:
    """The periodic and one-shot interventions a config switches on (an ``Intervention``);
    ``after_update`` runs what is due and returns one event row per action."""

    def __init__(self, cfg: Config):
        self.p = p = cfg.plasticity
        self.nets = redo_nets(cfg)
        self.reset_nets = net_list(p.reset_nets) or None
        self.shrink_perturb_nets = net_list(p.shrink_perturb_nets) or None
        self.redo = Periodic(p.redo_every_updates if p.redo else 0)
        self.reset = Periodic(p.reset_every_frames)
        self.shrink_perturb = Periodic(p.shrink_perturb_every_frames)
        self.redo_at = Milestones(frame_list(p.redo_at_frames))
        self.reset_at = Milestones(frame_list(p.reset_at_frames))
        self.shrink_perturb_at = Milestones(frame_list(p.shrink_perturb_at_frames))
        self.inject_at = Milestones([p.inject_at_frame] if p.inject_at_frame else [])
        self.inject_nets = net_list(p.inject_nets)
        # Draws a fresh replay batch of n transitions (set by the trainer): ReDo's statistics
        # batch when plasticity.redo_batch_size > 0.
        self.sample_batch: Callable[[int], Batch] | None = None

    def redo_batch(self, agent: PlasticAgent, batch: Batch) -> Batch:
        """The batch ReDo scores neurons on: the update's own, or a fresh replay sample of
        ``plasticity.redo_batch_size`` (augmented as the update is with ``redo_batch_augment``)."""
        p = self.p
        if p.redo_batch_size:
            if self.sample_batch is None:
                raise RuntimeError("plasticity.redo_batch_size > 0 needs a replay sampler (trainer sets sample_batch)")
            batch = self.sample_batch(p.redo_batch_size)
        if p.redo_batch_augment:
            # only dqn and drq_eps augment, and the configuration refuses redo_batch_augment for the others
            batch = {**batch, "obs": agent.augment(batch["obs"])}  # type: ignore[attr-defined]
        return batch

    @staticmethod
    def _due(periodic: Periodic | Milestones, once: Milestones, now_periodic: int, frame: int) -> bool:
        fired = periodic.due(now_periodic)
        fired_once = once.due(frame)  # both advance, so neither fires late for the other
        return fired or fired_once

    def after_update(self, agent: PlasticAgent, batch: Batch, updates: int, frame: int) -> list[dict]:
        p, events = self.p, []
        if self._due(self.redo, self.redo_at, updates, frame):
            counts = recycle_agent_(
                agent,
                self.redo_batch(agent, batch),
                self.nets,
                tau=p.redo_tau,
                reset_step=p.redo_reset_step,
                mirror_target=p.redo_mirror_target,
                reset_bias_moments=p.redo_reset_bias_moments,
            )
            events.append(
                {
                    "event": "redo",
                    "count": sum(counts.values()),
                    "detail": " ".join(f"{layer}={n}" for layer, n in counts.items()),
                }
            )
        if self._due(self.reset, self.reset_at, frame, frame):
            reset = reset_agent_(agent, p.reset_scope, nets=self.reset_nets)
            events.append(
                {
                    "event": f"reset_{p.reset_scope}",
                    "count": self.reset.count + self.reset_at.count,
                    "detail": " ".join(reset),
                }
            )
        if self._due(self.shrink_perturb, self.shrink_perturb_at, frame, frame):
            mixed = shrink_perturb_agent_(
                agent, p.shrink_perturb_alpha, scope=p.shrink_perturb_scope, nets=self.shrink_perturb_nets
            )
            events.append(
                {
                    "event": "shrink_perturb",
                    "count": self.shrink_perturb.count + self.shrink_perturb_at.count,
                    "detail": f"alpha={p.shrink_perturb_alpha} scope={p.shrink_perturb_scope} nets={','.join(mixed)}",
                }
            )
        if self.inject_at.due(frame):
            nets = self.inject_nets or [net for net in agent.networks() if net != "encoder"]
            injected = inject_agent_(agent, nets)
            events.append(
                {"event": "plasticity_injection", "count": self.inject_at.count, "detail": " ".join(injected)}
            )
        return events

    def state_dict(self) -> dict[str, Any]:
        return {
            "redo": self.redo.state_dict(),
            "reset": self.reset.state_dict(),
            "shrink_perturb": self.shrink_perturb.state_dict(),
            "redo_at": self.redo_at.state_dict(),
            "reset_at": self.reset_at.state_dict(),
            "shrink_perturb_at": self.shrink_perturb_at.state_dict(),
            "inject_at": self.inject_at.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], updates: int = 0) -> None:
        if "reset" not in state:  # a checkpoint from before the shared clock: the periods last fired at
            state = {
                "redo": {"last": updates // self.redo.period if self.redo.period else 0, "count": 0},
                "reset": {"last": state["resets_done"], "count": state["resets_done"]},
                "shrink_perturb": {"last": state["shrink_perturbs_done"], "count": state["shrink_perturbs_done"]},
            }
        self.redo.load_state_dict(state["redo"])
        self.reset.load_state_dict(state["reset"])
        self.shrink_perturb.load_state_dict(state["shrink_perturb"])
        for name in ("redo_at", "reset_at", "shrink_perturb_at", "inject_at"):  # absent in older checkpoints
            if name in state:
                getattr(self, name).load_state_dict(state[name])
