"""Per-network, per-layer plasticity diagnostics of an agent, in one host synchronisation.

For every network of a ``PlasticAgent``, on the un-augmented batch: the DrM-kind
dormant ratio (actor and heads; the actor's is β, computed by the agent's own
``actor_dormant`` so it matches what DrM steers by), the ReDo-kind dormant ratio and
the fraction of active units (FAU). Meant for logging every few thousand updates.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from dormant.plasticity.metrics import dormant_tensors, fau_tensors

if TYPE_CHECKING:
    from dormant.interfaces import Batch, PlasticAgent


def agent_diagnostics(agent: PlasticAgent, batch: Batch, redo_tau: float = 0.025) -> dict[str, float]:
    """``{"<net>_dormant_ratio", "<net>_redo_dormant_ratio", "<net>_fau"}`` and the same per
    layer (``"<net>_fau/<layer>"`` …). Raises ``ValueError`` naming any non-finite entry."""
    h = agent.probe_features(batch)
    nets = agent.networks()
    parts: dict[str, tuple] = {}
    for net, inputs in agent.probe_inputs(h, batch).items():
        if net == "actor":
            parts["actor_dormant"] = agent.actor_dormant(*inputs)
        elif net != "encoder":
            parts[f"{net}_dormant"] = dormant_tensors(nets[net], *inputs, tau=agent.dormant_tau, kind="drm",
                                                      scoring=agent.dormant_scoring)
        parts[f"{net}_redo_dormant"] = dormant_tensors(nets[net], *inputs, tau=redo_tau, kind="redo")
        parts[f"{net}_fau"] = fau_tensors(nets[net], *inputs)
    flat = torch.cat([torch.cat([total.reshape(1), counts]) for total, _, counts, _ in parts.values()])
    host = flat.cpu().tolist()  # the one sync
    out, i = {}, 0
    for key, (_, names, _, sizes) in parts.items():
        out[key if key.endswith("_fau") else f"{key}_ratio"] = host[i]
        for name, count, size in zip(names, host[i + 1:], sizes):
            out[f"{key}/{name}"] = count / size
        i += 1 + len(names)
    bad = sorted(key for key, value in out.items() if not math.isfinite(value))
    if bad:
        raise ValueError(f"diagnostics: non-finite (NaN/inf) activations behind {', '.join(bad)}")
    return out
