"""Penalties that keep a network trainable, as functions of its parameters:

- **L2 Init** (regenerative regularisation; Kumar et al., *Maintaining Plasticity in
  Continual Learning via Regenerative Regularization*, 2023): λ‖θ − θ₀‖², a pull towards the
  initial parameters θ₀ instead of towards 0 (weight decay), so the weights stay where a
  freshly initialised network is trainable. Gradient 2λ(θ − θ₀).
- **Parseval regularisation** (Chung et al., *Parseval Regularization for Continual
  Reinforcement Learning*, NeurIPS 2024): λ Σ_layers ‖WWᵀ − sI‖²_F over the hidden Linear
  layers, which keeps each layer's rows orthogonal (so gradients keep their size through
  depth). Gradient 4λ(WWᵀ − sI)W. An orthogonal initialisation with gain g has WWᵀ = g²I
  (rows ≤ columns), so s = g² makes the penalty 0 there (DrQ-v2's Linears: g = 1).

Both are added to the loss's gradient (``add_*_grad_``) just before an optimiser step, which
is the same update as adding the penalty to the loss, for any agent and optimiser.

Example::

    from dormant.plasticity.regularisers import l2_init_penalty, parseval_penalty
    anchors = [p.detach().clone() for p in critic.parameters()]      # θ₀, at construction
    loss = td_loss + l2_init_penalty(critic.parameters(), anchors, 1e-3) + parseval_penalty(critic, 1e-3)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from dormant.plasticity.representation import output_heads
from dormant.plasticity.surgery import is_frozen


def l2_init_penalty(params: Iterable[torch.Tensor], anchors: Sequence[torch.Tensor], weight: float) -> torch.Tensor:
    """λ Σ ‖θ − θ₀‖² over ``params`` and their ``anchors`` (θ₀), in order."""
    params = list(params)
    if len(params) != len(anchors):
        raise ValueError(f"{len(params)} parameters but {len(anchors)} anchors")
    terms = [(p - a.to(p.dtype)).pow(2).sum() for p, a in zip(params, anchors, strict=True)]
    return weight * torch.stack(terms).sum() if terms else torch.zeros(())


@torch.no_grad()
def add_l2_init_grad_(params: Sequence[torch.Tensor], anchors: Sequence[torch.Tensor], weight: float) -> None:
    """``p.grad += 2λ(p − θ₀)`` for every parameter (a missing gradient counts as 0)."""
    for p, anchor in zip(params, anchors, strict=True):
        step = (p - anchor).mul_(2.0 * weight)
        if p.grad is None:
            p.grad = step
        else:
            p.grad.add_(step)


def parseval_layers(model: nn.Module) -> list[nn.Linear]:
    """The hidden Linear layers of ``model``: every ``nn.Linear`` but each head's output layer
    (the last Linear of an ``nn.Sequential`` ending in one) and frozen ones."""
    outputs = {id(layer) for layer in output_heads(model).values()}
    return [m for m in model.modules() if isinstance(m, nn.Linear) and id(m) not in outputs and not is_frozen(m)]


def _gram_gap(weight: torch.Tensor, s: float) -> torch.Tensor:
    gram = weight @ weight.T
    return gram - s * torch.eye(gram.shape[0], device=weight.device, dtype=weight.dtype)


def parseval_penalty(model: nn.Module, weight: float, s: float = 1.0) -> torch.Tensor:
    """λ Σ ‖WWᵀ − sI‖²_F over ``parseval_layers(model)``."""
    layers = parseval_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no hidden nn.Linear for Parseval regularisation")
    return weight * torch.stack([_gram_gap(layer.weight, s).pow(2).sum() for layer in layers]).sum()


@torch.no_grad()
def add_parseval_grad_(layers: Sequence[nn.Linear], weight: float, s: float = 1.0) -> None:
    """``W.grad += 4λ(WWᵀ − sI)W`` for every layer (a missing gradient counts as 0)."""
    for layer in layers:
        w = layer.weight
        step = (_gram_gap(w, s) @ w).mul_(4.0 * weight)
        if w.grad is None:
            w.grad = step
        else:
            w.grad.add_(step)
