"""Normalize-and-Project (Lyle et al., *Normalization and Effective Learning Rates in
Reinforcement Learning*, NeurIPS 2024): LayerNorm before every hidden activation (the network
option ``layernorm``) and, after every optimiser step, each weight matrix rescaled back to
the norm it had at initialisation.

With normalisation the function no longer depends on a weight matrix's scale, but its growth
still shrinks the effective learning rate (the step divided by the norm); projecting the norm
back holds the effective learning rate where it started. Only Linear and conv weights are
projected (biases and LayerNorm's scale and offset are left alone, as in Plasticine's code).

Example::

    from dormant.plasticity.nap import weight_norms, project_weight_norms_
    norms = weight_norms(critic)                   # at initialisation
    ...; critic_opt.step(); project_weight_norms_(norms)
"""

from __future__ import annotations

import torch
from torch import nn

from dormant.plasticity.surgery import is_frozen

Projection = list[tuple[torch.Tensor, torch.Tensor]]  # (weight, its target norm)


@torch.no_grad()
def weight_norms(model: nn.Module) -> Projection:
    """Every trainable Linear/conv weight of ``model`` with its current L2 norm (a device tensor)."""
    return [
        (m.weight, torch.linalg.vector_norm(m.weight).detach().clone())
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d)) and not is_frozen(m)
    ]


@torch.no_grad()
def project_weight_norms_(projection: Projection) -> None:
    """W ← W · ‖W₀‖ / ‖W‖ for each pair (an all-zero W is left alone); no host sync."""
    for weight, target in projection:
        norm = torch.linalg.vector_norm(weight)
        weight.mul_(torch.where(norm > 0, target / norm, torch.ones_like(norm)))
