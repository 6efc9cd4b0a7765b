"""When the plasticity interventions run: ReDo every N updates, resets and
shrink-and-perturb every N frames, and the replay ratio (static or adaptive).

What each intervention *does* lives in ``dormant.plasticity`` (for any model) and in
the agent (which networks, which optimisers); this module only keeps the clocks, so
that any agent gets any intervention by configuration. Frame-periodic interventions
fire at the first update at or after each multiple of their period (as DrM's
perturbation does; periods that end before the first update are skipped), and their counts are checkpointed so a resumed run neither
repeats nor skips one.
"""

from __future__ import annotations

from typing import Any

import torch

from dormant.config import Config, redo_nets
from dormant.plasticity import AdaptiveReplayRatio, ReplayRatio


def make_replay_ratio(cfg: Config) -> ReplayRatio:
    p = cfg.plasticity
    if p.replay_ratio == "adaptive":
        return AdaptiveReplayRatio(p.rr_low, p.rr_high, p.rr_check_every_episodes, p.rr_fau_tolerance)
    if p.replay_ratio == "auto":
        return ReplayRatio(f"1/{cfg.agent.update_every_steps}")
    return ReplayRatio(p.replay_ratio)


class Interventions:
    """The periodic interventions a config switches on; ``after_update`` returns event rows."""

    def __init__(self, cfg: Config):
        self.p = cfg.plasticity
        self.nets = redo_nets(cfg)
        self.resets_done = 0
        self.shrink_perturbs_done = 0

    def after_update(self, agent: Any, batch: dict[str, torch.Tensor], updates: int, frame: int) -> list[dict]:
        p, events = self.p, []
        if p.redo and updates % p.redo_every_updates == 0:
            counts = agent.recycle_dormant(batch, self.nets, tau=p.redo_tau, reset_step=p.redo_reset_step)
            events.append({"event": "redo", "count": sum(counts.values()),
                           "detail": " ".join(f"{layer}={n}" for layer, n in counts.items())})
        if p.reset_every_frames and frame >= (self.resets_done + 1) * p.reset_every_frames:
            reset = agent.reinitialise(p.reset_scope)
            self.resets_done = frame // p.reset_every_frames  # periods before the first update are skipped
            events.append({"event": f"reset_{p.reset_scope}", "count": self.resets_done, "detail": " ".join(reset)})
        if p.shrink_perturb_every_frames and frame >= (self.shrink_perturbs_done + 1) * p.shrink_perturb_every_frames:
            agent.shrink_perturb(p.shrink_perturb_alpha, scope=p.shrink_perturb_scope)
            self.shrink_perturbs_done = frame // p.shrink_perturb_every_frames
            events.append({"event": "shrink_perturb", "count": self.shrink_perturbs_done,
                           "detail": f"alpha={p.shrink_perturb_alpha} scope={p.shrink_perturb_scope}"})
        return events

    def state_dict(self) -> dict[str, int]:
        return {"resets_done": self.resets_done, "shrink_perturbs_done": self.shrink_perturbs_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.resets_done = int(state["resets_done"])
        self.shrink_perturbs_done = int(state["shrink_perturbs_done"])
