"""The plasticity interventions applied to a whole agent: ReDo, resets and
shrink-and-perturb on its named networks, keeping what ties them together consistent.

``surgery`` and ``redo`` operate on one ``nn.Module``; an agent adds three couplings
that these functions handle, for any ``PlasticAgent`` (DrQ-v2, DrM, and agents to come):

- a target network follows its online network: it mirrors ReDo's recycling, copies
  what a reset re-drew, and gets its own fresh draw in shrink-and-perturb;
- the encoder's channels feed every head, so ReDo on the encoder zeroes the channel's
  outgoing columns in all of them;
- one optimiser may hold state for several networks, so resets forget exactly the
  re-drawn parameters' moments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from dormant.plasticity.redo import LAYER_TYPES, recycle_dormant_
from dormant.plasticity.surgery import reinitialise_, reset_optimizer_state_, shrink_perturb_

if TYPE_CHECKING:
    from dormant.interfaces import Batch, PlasticAgent


def recycle_agent_(
    agent: PlasticAgent,
    batch: Batch,
    nets: list[str],
    tau: float = 0.1,
    reset_step: bool = False,
    mirror_target: bool = True,
    reset_bias_moments: bool = True,
) -> dict[str, int]:
    """ReDo on the named networks, scored on the batch given (un-augmented unless the caller
    augmented it); recycled neurons per layer.

    Encoder channels are traced into every head that reads the features (actor,
    critic, its target, V), so their outgoing columns are zeroed in all of them.
    A target mirrors its network's recycling (same rows, zero biases and outgoing
    weights), so neither function changes and the moving average stays consistent;
    ``mirror_target=False`` leaves the targets alone (ReDo's Dopamine DQN: the next hard
    copy brings the recycled neurons over).
    The encoder goes last, so that the heads are scored on the features they were
    trained on.
    """
    available = agent.networks()
    unknown = [net for net in nets if net not in available]
    if unknown:
        raise ValueError(f"agent has no network {unknown}; it has {sorted(available)}")
    targets = agent.target_networks()
    h = agent.probe_features(batch)
    counts: dict[str, int] = {}
    for net in sorted(nets, key=lambda n: n == "encoder"):
        if net == "encoder":
            if agent.proprio_dim:
                raise ValueError("ReDo cannot trace encoder channels through the proprioception concatenation")
            heads = {n: m for n, m in available.items() if n != "encoder"}
            heads.update({f"{n}_target": m for n, m in targets.items()})
            wrapper = _EncoderAndHeads(agent.encoder, heads)
            layers = [f"encoder.{n}" for n, m in agent.encoder.named_modules() if isinstance(m, LAYER_TYPES)]
            counts.update(
                recycle_dormant_(
                    wrapper,
                    agent.optimizers(),
                    batch["obs"].float(),
                    batch["action"],
                    tau=tau,
                    reset_step=reset_step,
                    init_fn=agent.init_fn,
                    layers=layers,
                    reset_bias_moments=reset_bias_moments,
                )
            )
            continue
        followers = [targets[net]] if net in targets and mirror_target else []
        found = recycle_dormant_(
            available[net],
            agent.optimizers(),
            *agent.probe_inputs(h, batch)[net],
            tau=tau,
            reset_step=reset_step,
            init_fn=agent.init_fn,
            followers=followers,
            reset_bias_moments=reset_bias_moments,
        )
        counts.update({f"{net}.{layer}": n for layer, n in found.items()})
    return counts


def _chosen(agent: PlasticAgent, only: Sequence[str] | None) -> dict[str, torch.nn.Module]:
    """The agent's networks, restricted to the names in ``only`` (None: all of them)."""
    available = agent.networks()
    unknown = sorted(set(only or ()) - set(available))
    if unknown:
        raise ValueError(f"agent has no network {unknown}; it has {sorted(available)}")
    return {name: net for name, net in available.items() if only is None or name in only}


def perturbed_networks(
    agent: PlasticAgent, scope: str, nets: Sequence[str] | None = None
) -> dict[str, torch.nn.Module]:
    """What shrink-and-perturb mixes: the heads, each target after its network (with its
    own draw), and the encoder for ``scope="all"``; only the networks in ``nets`` if given."""
    targets = agent.target_networks()
    chosen: dict[str, torch.nn.Module] = {}
    for name, net in _chosen(agent, nets).items():
        if name != "encoder":
            chosen[name] = net
        if name in targets:
            chosen[f"{name}_target"] = targets[name]
    if scope == "all" and (nets is None or "encoder" in nets):
        chosen["encoder"] = agent.encoder
    return chosen


def shrink_perturb_agent_(
    agent: PlasticAgent,
    alpha: float | torch.Tensor,
    scope: str = "all",
    target: str = "fresh",
    initial_state: dict[str, dict] | None = None,
    nets: Sequence[str] | None = None,
) -> list[str]:
    """θ ← αθ + (1−α)φ on every network (each target with its own draw), or only on ``nets``;
    every optimiser is reset. Returns the networks mixed.

    ``initial_state`` (``target="initial"``): per network name, the state dict to shrink towards.
    """
    mixed = []
    for name, net in perturbed_networks(agent, scope, nets).items():
        if any(True for _ in net.parameters()):
            shrink_perturb_(
                net,
                alpha,
                target=target,
                initial_state=(initial_state or {}).get(name),
                init_fn=agent.init_fn,
                scope=scope,
            )
            mixed.append(name)
    for optimizer in agent.optimizers():
        reset_optimizer_state_(optimizer)
    return mixed


def reset_agent_(agent: PlasticAgent, scope: str = "heads", nets: Sequence[str] | None = None) -> list[str]:
    """Reset (Nikishin et al. 2022): a fresh draw of the heads (each network's children
    after its trunk) or of every network, of all networks or only of ``nets``; a target
    copies exactly what was re-drawn of its network; the optimiser state of exactly the
    re-drawn parameters is forgotten. Returns what was reset."""
    modules: dict[str, torch.nn.Module] = {}
    for name, net in _chosen(agent, nets).items():
        if scope == "all":
            modules[name] = net
        else:
            modules.update(
                {f"{name}.{child}": m for child, m in net.named_children() if child != "trunk" and name != "encoder"}
            )
    params: set[torch.nn.Parameter] = set()
    for module in modules.values():
        reinitialise_(module, agent.init_fn)
        params.update(module.parameters())
    for optimizer in agent.optimizers():
        for param in params:
            optimizer.state.pop(param, None)
    targets = agent.target_networks()
    with torch.no_grad():
        for name, module in modules.items():
            owner, _, child = name.partition(".")
            if owner in targets:
                target = targets[owner].get_submodule(child) if child else targets[owner]
                torch._foreach_copy_(list(target.parameters()), list(module.parameters()))
    return sorted(modules)


class _EncoderAndHeads(torch.nn.Module):
    """Encoder followed by every head that reads its features (critics take the
    action too): lets ReDo trace an encoder channel into the columns it owns in each
    head's trunk."""

    def __init__(self, encoder: torch.nn.Module, heads: dict[str, torch.nn.Module]):
        super().__init__()
        self.encoder = encoder
        self.heads = torch.nn.ModuleDict(heads)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> None:
        h = self.encoder(obs)
        for name, head in self.heads.items():
            head(h, action) if name.startswith("critic") else head(h)
