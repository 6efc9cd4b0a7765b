"""DrM's three dormant-ratio schedules (SPEC.md §3), as plain functions of β.

They accept floats or tensors (elementwise, no host sync for tensors).

>>> awaken_stddev(0.2), exploit_lambda(0.2), perturb_factor(0.1)
(0.5, 0.3, 0.8)
"""

from __future__ import annotations

import math

import torch

Number = float | torch.Tensor


def _sigmoid(x: Number) -> Number:
    return torch.sigmoid(x) if isinstance(x, torch.Tensor) else 1.0 / (1.0 + math.exp(-x))


def awaken_stddev(beta: Number, threshold: float = 0.2, temperature: float = 0.1) -> Number:
    """σ(β) = 1 / (1 + exp(−(β − β̂)/T)): more exploration noise while many neurons sleep."""
    return _sigmoid((beta - threshold) / temperature)


def exploit_lambda(beta: Number, lambda_max: float = 0.6, threshold: float = 0.2,
                   temperature: float = 0.02) -> Number:
    """λ(β) = λ̄ / (1 + exp((β − β̂)/T')): lean on the expectile V once the network is awake."""
    return lambda_max * _sigmoid(-(beta - threshold) / temperature)


def perturb_factor(beta: Number, k: float = 2.0, alpha_min: float = 0.2, alpha_max: float = 0.9) -> Number:
    """α(β) = clip(1 − k·β, α_min, α_max): shrink harder when more neurons are dormant."""
    if isinstance(beta, torch.Tensor):
        return (1.0 - k * beta).clamp(alpha_min, alpha_max)
    return min(max(1.0 - k * beta, alpha_min), alpha_max)


def expectile_loss(diff: torch.Tensor, expectile: float = 0.9) -> torch.Tensor:
    """mean(w·diff²) with diff = Q − V and w = expectile where V < Q, else 1 − expectile."""
    weight = torch.where(diff > 0, expectile, 1.0 - expectile)
    return (weight * diff.pow(2)).mean()
