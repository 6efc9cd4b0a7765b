"""Per-network, per-layer plasticity diagnostics of an agent, in one host synchronisation.

For every network of a ``PlasticAgent``, on the un-augmented batch: the DrM-kind
dormant ratio (actor and heads; the actor's is β, computed by the agent's own
``actor_dormant`` so it matches what DrM steers by), the ReDo-kind dormant ratio, the
fraction of active units (FAU), the weight norm and, for an agent built by ``make_agent``
(which records θ₀), the weight difference ‖θ − θ₀‖ from initialisation. Beside them, the
representation measures the plasticity literature tracks (``representation.py``,
``rank.py``): srank (δ = 0.01), the effective rank of Roy & Vetterli and the mean norm of
the encoder's output features (pixels) and of the critic's penultimate features (each Q
head), and the gradient norm of the encoder, the critic and the actor on this batch. Meant
for logging every few thousand updates.

The gradients come from one extra backward pass each, through ``torch.autograd.grad``
(no parameter is copied, no ``.grad`` is written, no optimiser moves):

- critic and encoder: DrQ-v2's critic loss ``Σ_i (Q_i(h, a) − y)²`` (mean over the
  batch), with ``y = r + γ_n · min_i Q'_i(h', μ(h'))``: the target critic at the actor's
  mean action (no exploration noise, so nothing is drawn from the training RNG; DrM's V
  term is left out, so every agent is measured the same way);
- actor: ``−min_i Q_i(h, μ(h))`` (the deterministic policy gradient, features detached).
- an agent without an actor (DQN, DrQ(ε)): its own ``td_loss(batch)`` on the un-augmented
  batch, for its one network ``critic`` (whose convolutions are part of it).

Random number generator states are restored afterwards, so logging diagnostics never
changes the training run (a critic with dropout draws masks here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from dormant.plasticity.metrics import dormant_tensors, fau_tensors
from dormant.plasticity.rank import effective_rank_of
from dormant.plasticity.representation import (
    InputCapture,
    feature_norm,
    output_heads,
    singular_values,
    srank_of,
    total_norm,
    weight_norm,
)

if TYPE_CHECKING:
    from dormant.interfaces import Batch, PlasticAgent

LayerParts = tuple[torch.Tensor, list[str], torch.Tensor, list[int]]  # total, layer names, counts, sizes


def agent_diagnostics(
    agent: PlasticAgent, batch: Batch, redo_tau: float = 0.025, extra_redo_taus: Sequence[float] = ()
) -> dict[str, float]:
    """``{"<net>_dormant_ratio", "<net>_redo_dormant_ratio", "<net>_fau", "<net>_weight_norm"}``
    and the same per layer (``"<net>_fau/<layer>"`` …), the whole network's ReDo-kind ratio
    at each of ``extra_redo_taus`` (``"<net>_redo_dormant_ratio_tau0"`` …; ReDo reports τ = 0,
    0.025 and 0.1), ``encoder_srank``,
    ``encoder_feature_norm`` (pixels), ``critic_srank``, ``critic_feature_norm`` (mean over
    the Q heads) and per head (``critic_srank/q1`` …), ``<net>_grad_norm`` of encoder
    (pixels), critic and actor (when ``batch`` has ``next_obs``, ``reward`` and
    ``discount``). Raises ``ValueError`` naming any non-finite entry."""
    device = batch["obs"].device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        layered, scalars = _device_values(agent, batch, redo_tau, extra_redo_taus)
    # (``.to`` is a no-op for every value but a parameterless network's zero norm)
    flat = torch.cat(
        [
            torch.stack([v.reshape(()).float().to(device) for v in scalars.values()])
            if scalars
            else torch.zeros(0, device=device),
            *(torch.cat([total.reshape(1).float(), counts.float()]) for total, _, counts, _ in layered.values()),
        ]
    )
    host = flat.cpu().tolist()  # the one sync
    out: dict[str, float] = {}
    i = len(scalars)
    for key, (_, names, _, sizes) in layered.items():
        out[key if key.endswith("_fau") else f"{key}_ratio"] = host[i]
        for name, count, size in zip(names, host[i + 1 : i + 1 + len(names)], sizes, strict=True):
            out[f"{key}/{name}"] = count / size
        i += 1 + len(names)
    out.update(zip(scalars, host[: len(scalars)], strict=True))
    bad = sorted(key for key, value in out.items() if not math.isfinite(value))
    if bad:
        raise ValueError(f"diagnostics: non-finite (NaN/inf) activations behind {', '.join(bad)}")
    return out


def _device_values(
    agent: PlasticAgent, batch: Batch, redo_tau: float, extra_redo_taus: Sequence[float] = ()
) -> tuple[dict[str, LayerParts], dict[str, torch.Tensor]]:
    h = agent.probe_features(batch)
    nets = agent.networks()
    layered: dict[str, LayerParts] = {}
    scalars: dict[str, torch.Tensor] = {}
    inputs = agent.probe_inputs(h, batch)
    for net, net_inputs in inputs.items():
        if net == "actor":
            layered["actor_dormant"] = agent.actor_dormant(*net_inputs)
        elif net != "encoder":
            layered[f"{net}_dormant"] = dormant_tensors(
                nets[net], *net_inputs, tau=agent.dormant_tau, kind="drm", scoring=agent.dormant_scoring
            )
        layered[f"{net}_redo_dormant"] = dormant_tensors(nets[net], *net_inputs, tau=redo_tau, kind="redo")
        for tau in extra_redo_taus:
            scalars[f"{net}_redo_dormant_ratio_tau{tau:g}"] = dormant_tensors(
                nets[net], *net_inputs, tau=tau, kind="redo"
            )[0]
        layered[f"{net}_fau"] = fau_tensors(nets[net], *net_inputs)
    methods = getattr(agent, "methods", None)
    for net in inputs:
        scalars[f"{net}_weight_norm"] = weight_norm(nets[net])
        if methods is not None:
            scalars[f"{net}_weight_diff"] = methods.weight_difference(nets[net])
    if "encoder" in inputs:
        own = h[:, : h.shape[1] - agent.proprio_dim]  # the encoder's output, without fused proprioception
        values = singular_values(own)  # one decomposition for both ranks
        scalars["encoder_srank"] = srank_of(values)
        scalars["encoder_erank"] = effective_rank_of(values)
        scalars["encoder_feature_norm"] = feature_norm(own)
    scalars.update(_critic_and_gradients(agent, batch, h, inputs))
    return layered, scalars


def _critic_and_gradients(
    agent: PlasticAgent, batch: Batch, h: torch.Tensor, inputs: dict[str, tuple]
) -> dict[str, torch.Tensor]:
    """srank and norm of the critic's penultimate features, and the gradient norms."""
    nets = agent.networks()
    learn = all(key in batch for key in ("next_obs", "reward", "discount"))
    if "actor" not in nets:  # a value-based agent (DQN): its own TD loss
        return _value_based(agent, batch, h, learn)
    critic, actor = nets["critic"], nets["actor"]
    heads = output_heads(critic)
    out: dict[str, torch.Tensor] = {}
    encoder = nets.get("encoder")
    enc_params = [p for p in encoder.parameters() if p.requires_grad] if "encoder" in inputs and encoder else []
    with torch.set_grad_enabled(learn):
        features = h
        if encoder is not None and enc_params and learn:
            features = encoder(*inputs["encoder"])
            if agent.proprio_dim:
                features = torch.cat([features, batch["proprio"].to(features.dtype)], dim=1)
        with InputCapture(heads) as captured:
            q1, q2 = critic(features, batch["action"])
        if learn:
            target = _td_target(agent, batch)
            loss = F.mse_loss(q1.float(), target) + F.mse_loss(q2.float(), target)
            critic_params = [p for p in critic.parameters() if p.requires_grad]
            grads = torch.autograd.grad(loss, critic_params + enc_params, allow_unused=True)
            out["critic_grad_norm"] = total_norm(grads[: len(critic_params)])
            if enc_params:
                out["encoder_grad_norm"] = total_norm(grads[len(critic_params) :])
            action = actor(h.detach())
            policy_loss = -torch.min(*critic(h.detach(), action)).float().mean()
            actor_params = [p for p in actor.parameters() if p.requires_grad]
            out["actor_grad_norm"] = total_norm(torch.autograd.grad(policy_loss, actor_params, allow_unused=True))
    return {**out, **_head_features(captured.inputs)}


def _value_based(agent: PlasticAgent, batch: Batch, h: torch.Tensor, learn: bool) -> dict[str, torch.Tensor]:
    """A Q-network over discrete actions: penultimate features and the gradient norm of the
    agent's TD loss (``td_loss``, un-augmented; no target is re-copied, no optimiser moves)."""
    critic = agent.networks()["critic"]
    out: dict[str, torch.Tensor] = {}
    with torch.set_grad_enabled(learn), InputCapture(output_heads(critic)) as captured:
        if learn:
            params = [p for p in critic.parameters() if p.requires_grad]
            loss = agent.td_loss(batch)  # type: ignore[attr-defined]  # value-based agents have it; no seam asks
            out["critic_grad_norm"] = total_norm(torch.autograd.grad(loss, params, allow_unused=True))
        else:
            critic(h)
    return {**out, **_head_features(captured.inputs)}


def _head_features(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """srank and mean norm of each head's penultimate features, and their means."""
    out: dict[str, torch.Tensor] = {}
    values = {name: singular_values(x) for name, x in inputs.items()}
    per_head = {
        name: (srank_of(values[name]), feature_norm(x), effective_rank_of(values[name])) for name, x in inputs.items()
    }
    if per_head:
        out["critic_srank"] = torch.stack([r for r, _, _ in per_head.values()]).mean()
        out["critic_feature_norm"] = torch.stack([n for _, n, _ in per_head.values()]).mean()
        out["critic_erank"] = torch.stack([e for _, _, e in per_head.values()]).mean()
        out.update({f"critic_srank/{name}": r for name, (r, _, _) in per_head.items()})
        out.update({f"critic_feature_norm/{name}": n for name, (_, n, _) in per_head.items()})
        out.update({f"critic_erank/{name}": e for name, (_, _, e) in per_head.items()})
    return out


@torch.no_grad()
def _td_target(agent: PlasticAgent, batch: Batch) -> torch.Tensor:
    """``r + γ_n · min_i Q'_i(h', μ(h'))`` with the target critic and the actor's mean action."""
    nxt = {"obs": batch["next_obs"], **({"proprio": batch["next_proprio"]} if "next_proprio" in batch else {})}
    next_h = agent.probe_features(nxt)
    target_critic = agent.target_networks().get("critic", agent.networks()["critic"])
    next_q = torch.min(*target_critic(next_h, agent.networks()["actor"](next_h))).float()
    return batch["reward"].float() + batch["discount"].float() * next_q
