"""Plasticity injection (Nikishin et al., *Deep Reinforcement Learning with Plasticity
Injection*, NeurIPS 2023): freeze a network's head h_θ, add a freshly initialised head h_θ'
and subtract a frozen copy of it, h_θ'₀:

    h(x) = h_θ(x) + h_θ'(x) − h_θ'₀(x)

At the moment of injection θ' = θ'₀, so the output (and the gradient reaching the input) is
unchanged; afterwards only θ' learns, from a fresh initialisation, while what θ learned stays.
The frozen parts carry the module attribute ``plasticity_frozen`` and have
``requires_grad=False``: no optimiser step, ReDo, reset or shrink-and-perturb ever moves them.

Plasticine's version subtracts the copy's output detached (``h_θ'₀(x).detach()``), so the
gradient reaching the input doubles the new head's share at injection; here the copy's
parameters are frozen but its output is not detached, so the input gradient is unchanged
too (the parameter gradients are the same either way).

Example::

    from dormant.plasticity import inject_
    inject_(critic, "q1", optimizers=[critic_opt])   # critic.q1 is now an Injected head
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from dormant.plasticity.surgery import FROZEN, fresh_copy

if TYPE_CHECKING:
    from dormant.interfaces import PlasticAgent


def freeze_(module: nn.Module) -> nn.Module:
    """Mark every part of ``module`` frozen: no gradient, and skipped by every intervention."""
    module.requires_grad_(False)
    for part in module.modules():
        setattr(part, FROZEN, True)
    return module


class Injected(nn.Module):
    """``original(*x) + fresh(*x) − fresh_copy(*x)``; ``original`` and ``fresh_copy`` frozen."""

    def __init__(self, original: nn.Module, fresh: nn.Module, fresh_copy: nn.Module | None = None):
        super().__init__()
        self.original = freeze_(original)
        self.fresh = fresh
        self.fresh_copy = freeze_(copy.deepcopy(fresh) if fresh_copy is None else fresh_copy)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.original(*inputs) + self.fresh(*inputs) - self.fresh_copy(*inputs)


def inject_(
    model: nn.Module,
    child: str,
    init_fn: Callable[[nn.Module], None] | None = None,
    optimizers: Iterable[torch.optim.Optimizer] = (),
    followers: Sequence[nn.Module] = (),
) -> Injected:
    """Replace ``model.<child>`` by an ``Injected`` head whose fresh part is a new draw of the
    child's initialiser (``init_fn``, else ``reset_parameters``). The fresh parameters join every
    optimiser that held the child's (a new parameter group with the optimiser's defaults).
    ``followers`` (target networks) get the same injection with copies of the fresh parts, so
    they keep their own function too."""
    head = model.get_submodule(child)
    if isinstance(head, Injected) or getattr(head, FROZEN, False):
        raise ValueError(f"{child!r} of {type(model).__name__} is already injected")
    held = {id(p) for p in head.parameters()}
    fresh = fresh_copy(head, init_fn)
    fresh.requires_grad_(True)
    injected = Injected(head, fresh)
    _set_child(model, child, injected)
    for optimizer in optimizers:
        if any(id(p) in held for group in optimizer.param_groups for p in group["params"]):
            optimizer.add_param_group({"params": list(fresh.parameters())})
    for follower in followers:
        _set_child(
            follower,
            child,
            Injected(
                follower.get_submodule(child),
                copy.deepcopy(fresh).requires_grad_(False),
                copy.deepcopy(injected.fresh_copy),
            ),
        )
    return injected


def _set_child(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, module)


def heads(net: nn.Module) -> list[str]:
    """A network's head: its children after the trunk (``reset_scope=heads`` re-draws the same)."""
    return [name for name, _ in net.named_children() if name != "trunk"]


def inject_agent_(agent: PlasticAgent, nets: Sequence[str]) -> list[str]:
    """Plasticity injection into the heads of the named networks of an agent; each target
    network gets the same injection. Returns the injected heads (``critic.q1`` …), which the
    agent also records (``agent.injected``) so that a checkpoint rebuilds them."""
    available = agent.networks()
    unknown = [net for net in nets if net not in available or net == "encoder"]
    if unknown:
        raise ValueError(
            f"plasticity injection needs a network with a head; {unknown} is not one of "
            f"{sorted(n for n in available if n != 'encoder')}"
        )
    targets = agent.target_networks()
    done = []
    for net in nets:
        followers = [targets[net]] if net in targets else []
        for child in heads(available[net]):
            if isinstance(available[net].get_submodule(child), Injected):
                continue  # a second injection of the same head: Nikishin et al. inject once
            inject_(available[net], child, agent.init_fn, agent.optimizers(), followers)
            done.append(f"{net}.{child}")
    # `injected` is ModuleAgent's (what its checkpoint saves), no part of the PlasticAgent seam
    agent.injected = [*getattr(agent, "injected", []), *done]  # type: ignore[attr-defined]
    return done


def restore_injections_(agent: PlasticAgent, injected: Sequence[str]) -> None:
    """Rebuild recorded injections (the structure only: a checkpoint then loads the values)."""
    available, targets = agent.networks(), agent.target_networks()
    for name in injected:
        net, _, child = name.partition(".")
        followers = [targets[net]] if net in targets else []
        inject_(available[net], child, agent.init_fn, agent.optimizers(), followers)
    agent.injected = list(injected)  # type: ignore[attr-defined]  # ModuleAgent's, as above
