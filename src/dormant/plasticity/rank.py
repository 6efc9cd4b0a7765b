"""Two more measures of a network's state, beside ``representation.srank``:

- the **effective rank** of a feature matrix (Roy & Vetterli, *The effective rank: a measure
  of effective dimensionality*, EUSIPCO 2007): exp of the Shannon entropy of the normalised
  singular values p_i = σ_i / Σσ. It is k for k equal non-zero singular values and varies
  smoothly in between, where srank (Kumar et al. 2021; Plasticine's "stable rank") counts the
  values holding 99 % of the sum;
- the **weight difference** from a reference (the initial parameters): how far training has
  moved a network, ‖θ − θ₀‖ (``reduction="l2"``) or its root mean square over the entries
  (``"rms"``, Plasticine's ``l2_norm_difference``).

Both return device tensors (no host sync).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dormant.plasticity.representation import singular_values


def effective_rank(features: torch.Tensor) -> torch.Tensor:
    """exp(−Σ p_i log p_i), p = σ / Σσ, over the non-zero singular values of an (n, d)
    matrix; 0 for an all-zero matrix. A 0-d float tensor on the features' device."""
    return effective_rank_of(singular_values(features)).to(features.device)


def effective_rank_of(s: torch.Tensor) -> torch.Tensor:
    """The effective rank from singular values already computed."""
    total = s.sum()
    p = s / torch.where(total > 0, total, torch.ones_like(total))
    entropy = -torch.where(p > 0, p * torch.log(torch.where(p > 0, p, torch.ones_like(p))), torch.zeros_like(p)).sum()
    return torch.where(total > 0, torch.exp(entropy), torch.zeros_like(entropy)).float()


def weight_difference(
    params: Sequence[torch.Tensor], reference: Sequence[torch.Tensor], reduction: str = "l2"
) -> torch.Tensor:
    """‖θ − θ_ref‖ over all entries together (``"l2"``), or that divided by √(entries) (``"rms"``)."""
    if reduction not in ("l2", "rms"):
        raise ValueError(f"reduction must be 'l2' or 'rms', got {reduction!r}")
    if len(params) != len(reference):
        raise ValueError(f"{len(params)} parameters but {len(reference)} reference tensors")
    if not params:
        return torch.zeros(())
    squares = torch.stack(
        [(p.detach().float() - r.float()).pow(2).sum() for p, r in zip(params, reference, strict=True)]
    ).sum()
    if reduction == "rms":
        squares = squares / sum(p.numel() for p in params)
    return squares.sqrt()
