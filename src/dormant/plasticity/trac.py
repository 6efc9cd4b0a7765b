"""TRAC (Muppidi et al., *Fast TRAC: A Parameter-Free Optimizer for Lifelong Reinforcement
Learning*, NeurIPS 2024) around any PyTorch optimiser.

TRAC keeps the parameters on the ray from their starting point θ_ref through the base
optimiser's own iterate, θ = θ_ref + S·x, and tunes the scale S online: S shrinks while the
gradients keep pointing back towards θ_ref (the iterate is overshooting) and grows while they
point away. This pulls the network back towards its (trainable) initialisation when the task
changes, without a tuned coefficient. Per step, with g the gradient and θ⁻ the parameters
before the base optimiser's step and θ⁺ after it (S⁻ the scale before this step):

    x = (θ⁻ − θ_ref) / (S⁻ + ε)                      (the unscaled iterate)
    h = Σ ⟨x, g⟩                                      (over every parameter with a gradient)
    x ← x + (θ⁺ − θ⁻)
    v_β ← β²·v_β + h²,   σ_β ← β·σ_β − h              (one pair per β in ``BETAS``)
    s_β = s₀ / erfi(1/√2) · erfi(σ_β / (√2·√v_β + ε)),   S = Σ_β s_β
    θ ← θ_ref + max(S, 0)·x

as the authors' ``trac_optimizer`` package computes it (θ_ref is the parameters at the first
step; σ starts at 10⁻⁸, v and s at 0). The hooks run inside ``optimizer.step()``, so the
agents' code is unchanged; the scalar state is kept in float64 on the device and nothing
synchronises with the host (the authors' code checks for NaN and logs S each step).

Example::

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    trac = TRAC(opt)        # from now on every opt.step() is a TRAC step
    ...; opt.step(); trac.scale()      # S, a device tensor
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

BETAS = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)
_SERIES_TERMS = 150  # Taylor terms for |x| ≤ 6 (the last one is < 10⁻²⁹ of the sum there)
_ASYMPTOTIC_TERMS = 30  # asymptotic terms for |x| > 6 (relative error < 10⁻¹⁴)


def erfi(x: torch.Tensor) -> torch.Tensor:
    """The imaginary error function erfi(x) = −i·erf(ix) = 2/√π ∫₀ˣ exp(t²) dt, in float64,
    element-wise, without a host sync (torch has no erfi): its Taylor series for |x| ≤ 6 and
    its asymptotic series exp(x²)/(|x|√π)·Σ (2k−1)!!/(2x²)^k beyond (inf past |x| ≈ 26.6)."""
    x = x.double()
    ax = x.abs()
    small = ax <= 6.0
    n = torch.arange(_SERIES_TERMS, device=x.device, dtype=torch.float64)
    near = torch.where(small, ax, torch.ones_like(ax)).unsqueeze(-1)
    # |x|^(2n+1) / (n! (2n+1)), in logs so that no term overflows before it is summed
    series = torch.exp((2 * n + 1) * torch.log(near) - torch.lgamma(n + 1)) / (2 * n + 1)
    series = 2.0 / math.sqrt(math.pi) * torch.where(near > 0, series, torch.zeros_like(series)).sum(-1)
    series = torch.where(ax > 0, series, torch.zeros_like(series))
    k = torch.arange(_ASYMPTOTIC_TERMS, device=x.device, dtype=torch.float64)
    far = torch.where(small, torch.full_like(ax, 7.0), ax).unsqueeze(-1)
    # (2k−1)!! = (2k)! / (2^k k!)
    log_double_factorial = torch.lgamma(2 * k + 1) - k * math.log(2.0) - torch.lgamma(k + 1)
    tail = torch.exp(log_double_factorial - k * torch.log(2 * far * far)).sum(-1)
    far = far.squeeze(-1)
    asymptotic = torch.exp(far * far) / (far * math.sqrt(math.pi)) * tail
    return torch.sign(x) * torch.where(small, series, asymptotic)


class TRAC:
    """Turns every ``optimizer.step()`` into a TRAC step (hooks; ``remove()`` undoes it)."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, betas: Sequence[float] = BETAS, s_prev: float = 1e-8, eps: float = 1e-8
    ):
        self.optimizer = optimizer
        self.betas_list = tuple(float(b) for b in betas)
        self.s_prev, self.eps = float(s_prev), float(eps)
        self.references: dict[int, torch.Tensor] = {}  # id(param) → θ_ref
        self.state: dict[str, torch.Tensor] = {}  # s, variance, sigma (float64, per β)
        self._before: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (param, θ⁻, x) of this step
        self._h = torch.zeros((), dtype=torch.float64)
        self._handles = [optimizer.register_step_pre_hook(self._pre), optimizer.register_step_post_hook(self._post)]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def _ensure_state(self, device: torch.device) -> None:
        if not self.state:
            n = len(self.betas_list)
            self.state = {
                "s": torch.zeros(n, dtype=torch.float64, device=device),
                "variance": torch.zeros(n, dtype=torch.float64, device=device),
                "sigma": torch.full((n,), 1e-8, dtype=torch.float64, device=device),
            }

    @torch.no_grad()
    def _pre(self, _optimizer: Any, _args: Any, _kwargs: Any) -> None:
        """Before the base step: θ⁻, the unscaled iterate x and h = Σ⟨x, g⟩ (the gradient as the
        loss left it, whatever the base optimiser then does with it)."""
        stepped = [p for p in self._params() if p.grad is not None]
        self._before = []
        if not stepped:
            return
        self._ensure_state(stepped[0].device)
        scale_before = self.state["s"].sum() + self.eps
        h = torch.zeros((), dtype=torch.float64, device=stepped[0].device)
        for p in stepped:
            assert p.grad is not None  # stepped holds only parameters with a gradient
            before = p.detach().clone()
            reference = self.references.setdefault(id(p), before)  # where it stood at its first step
            x = (before - reference) / scale_before.to(p.dtype)
            h = h + torch.dot(x.flatten(), p.grad.flatten()).double()
            self._before.append((p, before, x))
        self._h = h

    @torch.no_grad()
    def _post(self, _optimizer: Any, _args: Any, _kwargs: Any) -> None:
        if not self._before:
            return
        state, h = self.state, self._h
        betas = torch.tensor(self.betas_list, dtype=torch.float64, device=h.device)
        state["variance"].mul_(betas * betas).add_(h * h)
        state["sigma"].mul_(betas).sub_(h)
        first = self.s_prev / erfi(torch.tensor(1.0 / math.sqrt(2.0), dtype=torch.float64, device=h.device))
        state["s"].copy_(first * erfi(state["sigma"] / (math.sqrt(2.0) * state["variance"].sqrt() + self.eps)))
        scale = state["s"].sum().clamp(min=0.0)
        for p, before, x in self._before:
            x.add_(p - before)
            p.copy_(self.references[id(p)] + x * scale.to(p.dtype))
        self._before = []

    def scale(self) -> torch.Tensor:
        """S = Σ_β s_β (0 before the first step)."""
        return self.state["s"].sum() if self.state else torch.zeros((), dtype=torch.float64)

    def live_tensors(self) -> list[torch.Tensor]:
        """What a step changes in place (for the trainer's undo of a non-finite update)."""
        return list(self.state.values())

    def state_dict(self) -> dict[str, Any]:
        params = self._params()
        return {
            "state": {k: v.clone() for k, v in self.state.items()},
            "references": [self.references.get(id(p)) for p in params],
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        params = self._params()
        if len(saved["references"]) != len(params):
            raise ValueError(f"TRAC state for {len(saved['references'])} parameters, the optimiser has {len(params)}")
        self.state = {k: v.to(params[0].device) for k, v in saved["state"].items()} if params else {}
        self.references = {
            id(p): ref.to(p.device) for p, ref in zip(params, saved["references"], strict=True) if ref is not None
        }
