"""PSGD Kron (Li's preconditioned SGD with Kronecker-factored preconditioners), the KRON of
Plasticine, from the ``kron-torch`` package Plasticine itself imports (an optional
dependency: ``pip install kron-torch``). Nothing of it is reimplemented here.

``use_kron_`` swaps every optimiser an agent lists (``agent.optimizers()``) for a ``Kron`` over
the same parameter groups and learning rates, before any plasticity hook is attached. Kron
decides when to update its preconditioner with Python's ``random`` module (kron-torch's
choice), so a Kron run does not replay bit for bit from a seed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from dormant.interfaces import PlasticAgent


def make_kron(optimizer: torch.optim.Optimizer, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """A ``kron_torch.Kron`` over ``optimizer``'s parameter groups (each keeps its own ``lr``)."""
    try:
        kron = importlib.import_module("kron_torch")
    except ImportError:
        raise ImportError("plasticity.optimizer=kron needs the kron-torch package: pip install kron-torch") from None
    groups = [{"params": list(group["params"]), "lr": group.get("lr", lr)} for group in optimizer.param_groups]
    return kron.Kron(groups, lr=lr, weight_decay=weight_decay)


def use_kron_(agent: PlasticAgent, lr: float, weight_decay: float = 0.0) -> list[str]:
    """Replace each of the agent's optimisers (an attribute of the agent) by a Kron; returns
    the attributes replaced."""
    listed = {id(opt) for opt in agent.optimizers()}
    replaced = []
    for name, value in list(vars(agent).items()):
        if isinstance(value, torch.optim.Optimizer) and id(value) in listed:
            setattr(agent, name, make_kron(value, lr, weight_decay))
            replaced.append(name)
    return replaced
