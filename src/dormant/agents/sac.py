"""SAC (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", the version
with a learned temperature) on state observations: the agent of ReDo's continuous-control
experiments (Sokar et al. 2023, App. A, Table 4), which ran TF-Agents' SacAgent. The
``sac.*`` defaults are TF-Agents' as ReDo ran it; ``preset=sac-paper`` gives softlearning's.

- **Policy**: a tanh-squashed Gaussian. An MLP (two hidden ReLU layers) gives the mean μ and
  log σ of u ~ N(μ, σ²), σ = exp(log σ) (log σ clamped to [log_std_min, log_std_max] first
  with ``sac.clamp_log_std``); the action is a = tanh(u), so it lies in (−1, 1), the trainer's
  action range. Its log-density carries the change of variables:
  log π(a|s) = Σ_i [log N(u_i; μ_i, σ_i) − log(1 − tanh(u_i)²)].
- **Critic**: two Q MLPs on concat(s, a) and a Polyak copy (rate ``agent.critic_target_tau``).
  Soft target:  y = c·r + γ·(1 − done)·(min_j Q'_j(s', a') − α·log π(a'|s')),  a' ~ π(·|s'),
  with the reward scale c (``sac.reward_scale``); loss ½·Σ_j mean (Q_j(s, a) − y)².
- **Actor loss**:  E_s[α·log π(ã|s) − min_j Q_j(s, ã)],  ã ~ π(·|s) (reparameterised).
- **Temperature**: α = exp(log α) minimises  E[−log α·(log π(â|s) + H̄)]  with target
  entropy H̄ (−|A|/2 or −|A|): when the policy's entropy −log π falls below H̄ the gradient
  on log α is negative, so α grows and the entropy bonus with it. â is a fresh draw from
  the actor after its step (TF-Agents) or the actor loss's own ã (``sac.alpha_sample=actor``).
- **Initialisation**: Glorot-uniform weights and zero biases (``sac.init``; DrQ-v2's
  orthogonal is the other choice); ReDo and resets re-draw with the same initialiser.
- Acting: uniform random actions for ``agent.num_expl_steps`` steps, then samples from π;
  evaluation uses the mean action tanh(μ).

The seams are DrQ-v2's (``networks``, ``target_networks``, ``optimizers``, ``probe_inputs``,
``actor_dormant``, …), so every plasticity diagnostic and intervention applies by
configuration. The temperature is not a network: ReDo, resets and shrink-and-perturb leave
log α and its Adam state alone (``optimizers`` lists the networks' optimisers only); the
critic target follows the critic through each of them as it does for DrQ-v2. The batch,
checkpoint and undo plumbing comes from ``module_agent.ModuleAgent``, as for DrQ-v2.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dormant.agents.module_agent import ModuleAgent, weights_fixed
from dormant.config import AgentConfig, SACConfig
from dormant.nets import PLAIN, NetArch, StateEncoder, mlp, weight_init
from dormant.plasticity.metrics import ActiveUnitCounter, dormant_tensors

LOG_2 = math.log(2.0)


def glorot_uniform_init(module: nn.Module) -> None:
    """Keras' default initialiser (TF-Agents', softlearning's): Glorot-uniform weights, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


INITS = {"glorot_uniform": glorot_uniform_init, "orthogonal": weight_init}


def target_entropy(setting: str, action_dim: int) -> float:
    """H̄ for ``sac.target_entropy``: half → −|A|/2 (TF-Agents), auto → −|A| (the SAC paper), else the number."""
    if setting == "half":
        return -action_dim / 2.0
    if setting == "auto":
        return -float(action_dim)
    return float(setting)


def tanh_log_det(u: torch.Tensor) -> torch.Tensor:
    """log(1 − tanh(u)²) = 2·(log 2 − u − softplus(−2u)), stable for large |u|."""
    return 2.0 * (LOG_2 - u - F.softplus(-2.0 * u))


def squashed_gaussian(
    mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A reparameterised draw a = tanh(μ + σ·ε) and its log π(a), summed over action dims
    (N×1). ``noise`` (ε) may be given; else it is drawn."""
    if noise is None:
        noise = torch.randn_like(mean)
    u = mean + log_std.exp() * noise
    gaussian = -0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    log_prob = (gaussian - tanh_log_det(u)).sum(-1, keepdim=True)
    return torch.tanh(u), log_prob


def soft_target(
    reward: torch.Tensor,
    discount: torch.Tensor,
    next_q1: torch.Tensor,
    next_q2: torch.Tensor,
    next_log_prob: torch.Tensor,
    alpha: torch.Tensor | float,
) -> torch.Tensor:
    """y = r + γ_n·(min(Q1', Q2') − α·log π(a'|s')); ``discount`` is 0 after a terminal state."""
    return reward + discount * (torch.min(next_q1, next_q2) - alpha * next_log_prob)


def temperature_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """E[−log α·(log π + H̄)] with log π held fixed (the temperature's objective)."""
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


class SACActor(nn.Module):
    """MLP → (μ, log σ). ``forward`` gives the mean action tanh(μ) (acting in evaluation, and
    what probes and diagnostics pass through); ``dist`` gives μ and log σ (clamped to
    [log_std_min, log_std_max] when ``clamp``)."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_dim: int,
        log_std_min: float,
        log_std_max: float,
        *,
        clamp: bool = True,
        init_fn=weight_init,
        arch: NetArch = PLAIN,
    ):
        super().__init__()
        self.policy = mlp(obs_dim, hidden_dim, 2 * action_dim, arch=arch)
        self.log_std_min, self.log_std_max, self.clamp = log_std_min, log_std_max, clamp
        self.apply(init_fn)

    def dist(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.policy(h).chunk(2, dim=-1)
        return mean, log_std.clamp(self.log_std_min, self.log_std_max) if self.clamp else log_std

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dist(h)[0])


class SACCritic(nn.Module):
    """Q1 and Q2, each an MLP on concat(state, action) (no shared trunk)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_dim: int, *, init_fn=weight_init, arch: NetArch = PLAIN):
        super().__init__()
        self.q1 = mlp(obs_dim + action_dim, hidden_dim, 1, arch=arch)
        self.q2 = mlp(obs_dim + action_dim, hidden_dim, 1, arch=arch)
        self.apply(init_fn)

    def forward(self, h: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([h, action], dim=-1)
        return self.q1(x), self.q2(x)


class SACAgent(ModuleAgent):
    """SAC with a learned temperature, on state vectors."""

    METRICS = (
        "critic_loss",
        "critic_q1",
        "critic_q2",
        "critic_target_q",
        "batch_reward",
        "actor_loss",
        "actor_logprob",
        "actor_ent",
        "alpha",
        "alpha_loss",
        "critic_fau",
    )
    METRICS_LAST: frozenset[str] = frozenset({"alpha"})
    dormant_tau: float = 0.025
    dormant_scoring: str = "post_activation"
    init_fn = staticmethod(glorot_uniform_init)  # the instance's follows sac.init
    replay_horizon: int = 0  # one-step transitions: no K-step extras from the replay

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        action_dim: int,
        cfg: AgentConfig,
        *,
        pixels: bool,
        device: torch.device,
        action_repeat: int = 1,
        proprio_dim: int = 0,
        sac: SACConfig | None = None,
        arch: dict[str, NetArch] | None = None,
    ):
        if pixels:
            raise ValueError("agent=sac learns from state vectors (obs=states); it has no image encoder")
        if proprio_dim:
            raise ValueError("agent=sac reads the state vector alone; proprioception fusion is for pixel agents")
        self.cfg, self.sac = cfg, sac or SACConfig()
        self.device, self.action_dim, self.action_repeat = device, action_dim, action_repeat
        self.pixels, self.proprio_dim = False, 0
        self.encoder = StateEncoder(obs_shape).to(device)  # the identity: the seams expect an encoder
        obs_dim = self.encoder.repr_dim
        if self.sac.init not in INITS:
            raise ValueError(f"sac.init={self.sac.init!r}: expected one of {sorted(INITS)}")
        if self.sac.alpha_sample not in ("fresh", "actor"):
            raise ValueError(f"sac.alpha_sample={self.sac.alpha_sample!r}: expected fresh or actor")
        self.init_fn = INITS[self.sac.init]
        self.actor = SACActor(
            obs_dim,
            action_dim,
            cfg.hidden_dim,
            self.sac.log_std_min,
            self.sac.log_std_max,
            clamp=self.sac.clamp_log_std,
            init_fn=self.init_fn,
            arch=(arch or {}).get("actor", PLAIN),
        ).to(device)
        self.critic = SACCritic(
            obs_dim, action_dim, cfg.hidden_dim, init_fn=self.init_fn, arch=(arch or {}).get("critic", PLAIN)
        ).to(device)
        self.critic_target = copy.deepcopy(self.critic)
        self.critic_target.requires_grad_(False)
        decay = cfg.weight_decay
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, weight_decay=decay)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, weight_decay=decay)
        self.log_alpha = torch.tensor(math.log(self.sac.init_temperature), device=device, requires_grad=True)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=self.sac.alpha_lr)
        self.target_entropy = target_entropy(self.sac.target_entropy, action_dim)
        self.reward_scale = float(self.sac.reward_scale)
        self._critic_units = ActiveUnitCounter(self.critic)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp()

    # --- acting ----------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray, step: int, eval_mode: bool, proprio: np.ndarray | None = None) -> np.ndarray:
        if not eval_mode and step < self.cfg.num_expl_steps:
            return torch.empty(self.action_dim).uniform_(-1.0, 1.0).numpy()
        h = torch.as_tensor(obs, device=self.device).float().unsqueeze(0)
        if eval_mode:
            action = self.actor(h)
        else:
            action, _ = squashed_gaussian(*self.actor.dist(h))
        return action[0].cpu().numpy()

    # --- learning --------------------------------------------------------
    def update_critic(self, h, action, reward, discount, next_h) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            next_action, next_log_prob = squashed_gaussian(*self.actor.dist(next_h))
            next_q1, next_q2 = self.critic_target(next_h, next_action)
            target = soft_target(self.reward_scale * reward, discount, next_q1, next_q2, next_log_prob, self.alpha)
        with self._critic_units:
            q1, q2 = self.critic(h, action)
        loss = 0.5 * (F.mse_loss(q1, target) + F.mse_loss(q2, target))  # J_Q = E[½(Q − y)²] for each Q
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_opt.step()
        return {
            "critic_loss": loss.detach(),
            "critic_q1": q1.detach().mean(),
            "critic_q2": q2.detach().mean(),
            "critic_target_q": target.mean(),
            "critic_fau": self._critic_units.fraction(),
        }

    def update_actor_and_alpha(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        action, log_prob = squashed_gaussian(*self.actor.dist(h))
        with weights_fixed(self.critic):  # the actor's loss moves the actor only
            q1, q2 = self.critic(h, action)
        alpha = self.alpha
        loss = (alpha * log_prob - torch.min(q1, q2)).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.actor_opt.step()
        metrics = {
            "actor_loss": loss.detach(),
            "actor_logprob": log_prob.detach().mean(),
            "actor_ent": -log_prob.detach().mean(),
            "alpha": alpha,
        }
        if self.sac.alpha_sample == "fresh":  # TF-Agents: a new draw from the actor it just moved
            with torch.no_grad():
                _, log_prob = squashed_gaussian(*self.actor.dist(h))
        alpha_loss = temperature_loss(self.log_alpha, log_prob, self.target_entropy)
        if self.sac.learn_temperature:
            self.alpha_opt.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_opt.step()
        metrics["alpha_loss"] = alpha_loss.detach()
        return metrics

    @torch.no_grad()
    def update_target(self) -> None:
        torch._foreach_lerp_(
            list(self.critic_target.parameters()), list(self.critic.parameters()), self.cfg.critic_target_tau
        )

    def update(self, batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        """Critic, then actor and temperature, then the target (Haarnoja et al.'s order)."""
        dtype = self.log_alpha.dtype  # float32, or float64 when built so (the side-by-side check's float64 run)
        h, next_h = batch["obs"].to(dtype), batch["next_obs"].to(dtype)
        metrics = {"batch_reward": batch["reward"].mean()}
        metrics.update(self.update_critic(h, batch["action"], batch["reward"], batch["discount"], next_h))
        metrics.update(self.update_actor_and_alpha(h))
        self.update_target()
        return torch.stack([metrics[name].float().reshape(()) for name in self.METRICS])

    # --- the plasticity seams ---------------------------------------------
    def actor_dormant(self, h: torch.Tensor) -> tuple[torch.Tensor, list[str], torch.Tensor, list[int]]:
        return dormant_tensors(self.actor, h, tau=self.dormant_tau, kind="drm", scoring=self.dormant_scoring)

    def probe_features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["obs"].to(self.log_alpha.dtype)

    def probe_inputs(self, h: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, tuple]:
        return {"actor": (h,), "critic": (h, batch["action"])}

    def networks(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "actor": self.actor, "critic": self.critic}

    def target_networks(self) -> dict[str, nn.Module]:
        return {"critic": self.critic_target}

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The networks' optimisers; the temperature's is left out, so interventions on the
        networks (which reset or zero optimiser state) keep α and its Adam moments."""
        return [self.actor_opt, self.critic_opt]

    def _modules(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "actor_opt": self.actor_opt,
            "critic_opt": self.critic_opt,
            "alpha_opt": self.alpha_opt,
            "log_alpha": _Scalar(self.log_alpha),
        }


class _Scalar:
    """log α as a checkpointable, snapshot-able object: a one-tensor 'module'."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def parameters(self) -> list[torch.Tensor]:
        return [self.tensor]

    def buffers(self) -> list[torch.Tensor]:
        return []

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"value": self.tensor.detach().clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.tensor.copy_(state["value"])
