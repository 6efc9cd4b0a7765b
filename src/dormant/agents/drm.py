"""DrM (Xu et al., ICLR 2024) = DrQ-v2 + three mechanisms steered by the actor's
dormant ratio β (``docs/dormant-ratio.md`` says how β is scored). Everything that is
DrM's alone is in this module: the three formulas of β, the value net, the agent.

1. Perturbation: every ``drm.perturb_every_frames`` (the shared ``Periodic`` rule), at
   the start of an update, θ ← α(β)·θ + (1−α)·φ on actor, critic, critic target (its
   own draw) and V, with β of the previous update; every optimiser reset.
2. Awaken exploration: σ = σ(β) until β first drops below β̂ (the awakening), then
   max(σ(β), the linear schedule restarted at the awakening).
3. Exploitation: an expectile value net V; the critic target mixes λ(β)·V(next) in.

β (on the current batch), the awakening step and σ stay on the device, so DrM adds no
host synchronisation to an update.

>>> awaken_stddev(0.2), exploit_lambda(0.2), perturb_factor(0.1)
(0.5, 0.3, 0.8)
"""

from __future__ import annotations

import copy
import math
from typing import Any, TypeVar

import torch

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig, DrMConfig
from dormant.nets import PLAIN, NetArch, mlp, trunk, weight_init
from dormant.plasticity.agent_surgery import perturbed_networks, shrink_perturb_agent_
from dormant.training.clock import Periodic

Number = TypeVar("Number", float, torch.Tensor)  # floats in, floats out; device tensors in, tensors out


# --- the three formulas of β (floats or device tensors, elementwise) -------------------
def _sigmoid(x: Number) -> Number:
    return torch.sigmoid(x) if isinstance(x, torch.Tensor) else 1.0 / (1.0 + math.exp(-x))


def awaken_stddev(beta: Number, threshold: float = 0.2, temperature: float = 0.1) -> Number:
    """σ(β) = 1 / (1 + exp(−(β − β̂)/T)): more exploration noise while many neurons sleep."""
    return _sigmoid((beta - threshold) / temperature)


def exploit_lambda(beta: Number, lambda_max: float = 0.6, threshold: float = 0.2, temperature: float = 0.02) -> Number:
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


class ValueNet(torch.nn.Module):
    """V(h): own trunk (Linear → LayerNorm → Tanh, proprioception fused in if any) and a
    1024-1024-1 MLP."""

    def __init__(self, repr_dim: int, feature_dim: int, hidden_dim: int, proprio_dim: int = 0, arch: NetArch = PLAIN):
        super().__init__()
        self.trunk = trunk(repr_dim, feature_dim, proprio_dim, hidden_dim)
        self.v = mlp(feature_dim, hidden_dim, 1, arch=arch)
        self.apply(weight_init)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.v(self.trunk(h))


class DrMAgent(DrQV2Agent):
    METRICS = (
        *DrQV2Agent.METRICS,
        "dormant_ratio",
        "sigma_beta",
        "lambda",
        "alpha_beta",
        "v_loss",
        "v_value",
        "awaken_frame",
        "perturb_alpha",
        "perturb_count",
    )
    METRICS_LAST = frozenset({"awaken_frame", "perturb_alpha", "perturb_count"})

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        action_dim: int,
        cfg: AgentConfig,
        *,
        pixels: bool,
        device: torch.device,
        action_repeat: int = 2,
        proprio_dim: int = 0,
        drm: DrMConfig | None = None,
        arch: dict[str, NetArch] | None = None,
    ):
        super().__init__(
            obs_shape,
            action_dim,
            cfg,
            pixels=pixels,
            device=device,
            action_repeat=action_repeat,
            proprio_dim=proprio_dim,
            arch=arch,
        )
        self.drm = drm or DrMConfig()
        self.dormant_tau, self.dormant_scoring = self.drm.dormant_tau, self.drm.dormant_scoring
        # β per actor layer is logged too: one column per nn.Linear, in forward order.
        self.beta_layers = [name for name, m in self.actor.named_modules() if isinstance(m, torch.nn.Linear)]
        self.METRICS = (*self.METRICS, *(f"dormant_ratio/{name}" for name in self.beta_layers))
        self.value = ValueNet(
            self.repr_dim, cfg.feature_dim, cfg.hidden_dim, proprio_dim, self.arch.get("value", PLAIN)
        ).to(device)
        self.value_opt = torch.optim.Adam(self.value.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.perturb_clock = Periodic(self.drm.perturb_every_frames if self.drm.perturb else 0)
        self._events: list[dict] = []  # perturbations since the trainer last asked (drain_events)
        self.beta = torch.ones((), device=device)  # before the first update: 1.0
        self.awaken_step = torch.full((), -1.0, device=device)  # < 0: not awake yet
        self.lam = torch.zeros((), device=device)
        self.last_alpha = torch.zeros((), device=device)
        self.initial_state = (
            {
                name: copy.deepcopy(net.state_dict())
                for name, net in perturbed_networks(self, self.drm.perturb_scope).items()
            }
            if self.drm.perturb_target == "initial"
            else {}
        )

    # --- exploration -----------------------------------------------------
    def stddev(self, step: int) -> float | torch.Tensor:
        d = self.drm
        if not d.awaken:
            return super().stddev(step)  # ablation: the plain linear schedule
        sigma_beta = awaken_stddev(self.beta, d.threshold, d.awaken_temperature)
        since = (step - self.awaken_step).clamp(min=0.0)
        linear = self.stddev_schedule.value_tensor(since)
        awake = self.awaken_step >= 0
        if d.before_awaken == "max":  # App. H: σ = 1 until awake, then the restarted schedule
            return torch.where(awake, linear, torch.ones_like(linear))
        return torch.where(awake, torch.maximum(sigma_beta, linear), sigma_beta)

    # --- exploitation ----------------------------------------------------
    def next_value(self, next_h, std):
        """λ·V(next) + (1−λ)·min Q'(next, a'), with λ = λ(β) of this update."""
        q_next = super().next_value(next_h, std)
        if not self.drm.exploit:
            return q_next
        with torch.no_grad(), self._autocast():
            v_next = self.value(next_h).float()
        return self.lam * v_next + (1.0 - self.lam) * q_next

    def update_value(self, h: torch.Tensor, action: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad(), self._autocast():
            q1, q2 = self._critic_fwd(h, action)
            q = torch.min(q1, q2).float()
        with self._autocast():
            v = self.value(h).float()
        loss = expectile_loss(q - v, self.drm.expectile)
        self.value_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.value_opt.step()
        return {"v_loss": loss.detach(), "v_value": v.detach().mean()}

    # --- the update ------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        if self.perturb_clock.due(step * self.action_repeat):
            self.perturb()  # with β of the previous update, as the reference
            d = self.drm
            self._events.append(
                {
                    "event": "drm_perturb",
                    "count": self.perturb_clock.count,
                    "detail": f"scope={d.perturb_scope} target={d.perturb_target} (α in train.csv)",
                }
            )
        return super().update(batch, step)

    def before_learning(self, h, batch, step):
        d = self.drm
        h = h.detach()
        self.beta, names, counts, sizes = self.actor_dormant(h)
        # The reference's DMC and Adroit agents awaken only after the random phase
        # (step > num_expl_steps, strictly); its MetaWorld agent has no step condition.
        if not d.awaken_after_exploration or step > self.cfg.num_expl_steps:
            newly = (self.awaken_step < 0) & (self.beta < d.threshold)
            self.awaken_step = torch.where(newly, self._tensor(step), self.awaken_step)
        metrics = {
            "dormant_ratio": self.beta,
            "awaken_frame": self.awaken_step * self.action_repeat,
            "sigma_beta": awaken_stddev(self.beta, d.threshold, d.awaken_temperature),
            "alpha_beta": self._alpha(),
            "perturb_alpha": self.last_alpha,
            "perturb_count": self._tensor(self.perturbs_done),
        }
        # after plasticity injection a head's layers are measured on its fresh part, under their names
        metrics.update(
            {
                f"dormant_ratio/{name.replace('.fresh', '')}": count / size
                for name, count, size in zip(names, counts, sizes, strict=True)
            }
        )
        if d.exploit:
            self.lam = (
                self._tensor(d.fixed_lambda)
                if d.fixed_lambda >= 0
                else exploit_lambda(self.beta, d.lambda_max, d.threshold, d.exploit_temperature)
            )
            metrics.update(self.update_value(h, batch["action"]))
        else:
            self.lam = torch.zeros((), device=self.device)
            metrics.update(
                {"v_loss": torch.zeros((), device=self.device), "v_value": torch.zeros((), device=self.device)}
            )
        metrics["lambda"] = self.lam
        return metrics

    # --- perturbation ----------------------------------------------------
    def networks(self) -> dict[str, torch.nn.Module]:
        return {**super().networks(), "value": self.value}

    def probe_inputs(self, h, batch):
        return {**super().probe_inputs(h, batch), "value": (h,)}

    def _alpha(self) -> torch.Tensor:
        """The perturbation factor a perturbation would use now: α(β), or the fixed α."""
        d = self.drm
        if d.fixed_alpha >= 0:
            return self._tensor(d.fixed_alpha)
        return perturb_factor(self.beta, d.perturb_rate, d.alpha_min, d.alpha_max)

    def perturb(self) -> torch.Tensor:
        """Shrink-and-perturb with α(β) (reference: Linear layers of actor, critic, its
        target and V; the encoder only with perturb_scope=all); every optimiser reset."""
        d = self.drm
        alpha = self._alpha()
        shrink_perturb_agent_(
            self, alpha, scope=d.perturb_scope, target=d.perturb_target, initial_state=self.initial_state
        )
        self.last_alpha = alpha.reshape(())
        return alpha

    def drain_events(self) -> list[dict]:
        events, self._events = self._events, []
        return events

    @property
    def perturbs_done(self) -> int:
        """Perturbations so far (by the clock; a direct ``perturb()`` call is not counted)."""
        return self.perturb_clock.count

    # --- checkpoints -----------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        return {**super()._modules(), "value": self.value, "value_opt": self.value_opt}

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "drm_state": {
                "beta": self.beta,
                "awaken_step": self.awaken_step,
                "lam": self.lam,
                "last_alpha": self.last_alpha,
                "perturb_clock": self.perturb_clock.state_dict(),
                "initial_state": self.initial_state,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        extra = state["drm_state"]
        for key in ("beta", "awaken_step", "lam", "last_alpha"):
            setattr(self, key, extra[key].to(self.device))
        if "perturb_clock" in extra:
            self.perturb_clock.load_state_dict(extra["perturb_clock"])
        else:  # saved before the shared clock: perturbation k ran at the first update ≥ k·period
            self.perturb_clock.load_state_dict({"last": extra["perturbs_done"], "count": extra["perturbs_done"]})
        self.initial_state = extra["initial_state"]
