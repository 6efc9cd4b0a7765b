"""DrQ-v2 (Yarats et al. 2022): act with a deterministic policy plus scheduled Gaussian
noise; learn a double-Q critic on n-step targets from randomly shifted frames, and the
actor through the critic; the encoder learns from the critic's loss only.

``update`` returns its metrics as one device tensor (see ``METRICS``) so that the
trainer synchronises with the host once per update, not once per number. What the
plasticity tools need (``networks``, ``target_networks``, ``optimizers``, ``features``,
``probe_inputs``, ``actor_dormant``) is exposed here (device transfer and checkpoints
follow from ``_modules()``: ``module_agent.ModuleAgent``); the tools themselves live in
``dormant.plasticity`` (``agent_surgery``, ``agent_diagnostics``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dormant.agents.intrinsic import make_intrinsic
from dormant.agents.module_agent import ModuleAgent, weights_fixed
from dormant.config import AgentConfig
from dormant.exploration import parse_schedule
from dormant.nets import (
    PLAIN,
    Actor,
    Critic,
    Encoder,
    NetArch,
    PixelEncoder,
    StateEncoder,
    normal_log_prob,
    random_shift,
    sample_action,
    weight_init,
)
from dormant.plasticity.metrics import ActiveUnitCounter, dormant_tensors, fau_tensors


class DrQV2Agent(ModuleAgent):
    METRICS: tuple[str, ...] = (
        "critic_loss",
        "critic_q1",
        "critic_q2",
        "critic_target_q",
        "batch_reward",
        "actor_loss",
        "actor_logprob",
        "actor_ent",
        "stddev",
        "critic_fau",
    )
    METRICS_LAST: frozenset[str] = frozenset()  # logged as the latest value, not the mean
    # The actor's DrM-kind dormant ratio β: DrM steers by it, diagnostics report it for
    # every agent. DrM sets these from its configuration; one method computes β for both.
    dormant_tau: float = 0.025
    dormant_scoring: str = "post_activation"
    init_fn: Callable[[torch.nn.Module], None] = staticmethod(weight_init)  # what a fresh draw of its networks uses
    replay_horizon: int = 0  # K-step extras the replay adds to a batch (TACO sets K); 0: none
    critic_head_gain: float = 1.0  # orthogonal gain of the Q heads' Linears (ALIX: √2)

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
        arch: dict[str, NetArch] | None = None,
    ):
        self.cfg = cfg
        self.arch = arch or {}  # per network: the plasticity options that change its layers
        self.action_repeat = action_repeat
        self.device = device
        self.action_dim = action_dim
        self.pixels = pixels
        self.stddev_schedule = parse_schedule(cfg.stddev_schedule)
        encoder = self.make_encoder(obs_shape).to(device)
        self.encoder: torch.nn.Module = encoder
        # Heads read h = concat(encoder(obs), proprio) when proprioception is fused in.
        self.proprio_dim = proprio_dim
        self.repr_dim = repr_dim = encoder.repr_dim + proprio_dim
        self.actor = Actor(
            repr_dim, action_dim, cfg.feature_dim, cfg.hidden_dim, proprio_dim, arch=self.arch.get("actor", PLAIN)
        ).to(device)
        self.critic = self.make_critic(repr_dim).to(device)
        self.critic_target = copy.deepcopy(self.critic)
        self.critic_target.requires_grad_(False)
        self.encoder_opt = self.make_encoder_optimizer()
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # the forward passes an update runs (compiled with agent.compile)
        self._encode: Callable[..., Any] = self.encoder
        self._actor_fwd: Callable[..., Any] = self.actor
        self._critic_fwd: Callable[..., Any] = self.critic
        self._target_fwd: Callable[..., Any] = self.critic_target
        self._critic_units = ActiveUnitCounter(self.critic)  # critic FAU during its update
        self.intrinsic = make_intrinsic(cfg.intrinsic, obs_shape, pixels=pixels, lr=cfg.lr)
        if self.intrinsic is not None:
            self.intrinsic.to(device)
            self.METRICS = (*type(self).METRICS, "intrinsic_reward")
        if cfg.compile:
            self._encode, self._actor_fwd, self._critic_fwd, self._target_fwd = (
                torch.compile(m) for m in (self.encoder, self.actor, self.critic, self.critic_target)
            )

    def make_encoder(self, obs_shape: tuple[int, ...]) -> Encoder:
        """The observation encoder: DrQ-v2's conv net for pixels, the identity for states (ALIX replaces it)."""
        return PixelEncoder(obs_shape, self.arch.get("encoder", PLAIN)) if self.pixels else StateEncoder(obs_shape)

    def make_critic(self, repr_dim: int) -> torch.nn.Module:
        """The twin-Q critic on (features, action) (TACO's reads the action through its action encoder)."""
        cfg = self.cfg
        return Critic(
            repr_dim,
            self.action_dim,
            cfg.feature_dim,
            cfg.hidden_dim,
            self.proprio_dim,
            dropout=cfg.critic_dropout,
            layernorm=cfg.critic_layernorm,
            head_gain=self.critic_head_gain,
            arch=self.arch.get("critic", PLAIN),
        )

    def make_encoder_optimizer(self) -> torch.optim.Optimizer | None:
        """Adam on the encoder, trained by the critic's loss (None: nothing to train)."""
        params = list(self.encoder.parameters())
        return torch.optim.Adam(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay) if params else None

    # --- acting ----------------------------------------------------------
    def stddev(self, step: int) -> float | torch.Tensor:
        """Exploration σ at an agent step (the hook DrM's awaken schedule replaces)."""
        return self.stddev_schedule.value(step)

    def _tensor(self, value: float | torch.Tensor) -> torch.Tensor:
        """A 0-d device tensor; floats are filled on the device (no host→device copy)."""
        if isinstance(value, torch.Tensor):
            return value.float()
        return torch.full((), float(value), device=self.device)

    def _autocast(self):
        if self.cfg.bf16:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _features(self, obs: torch.Tensor, proprio: torch.Tensor | None) -> torch.Tensor:
        """The heads' input: encoder features, with the proprioception appended if fused."""
        h = self._encode(obs.float())
        if self.proprio_dim:
            if proprio is None:
                raise ValueError("this agent fuses proprioception; pass proprio with the observation")
            h = torch.cat([h, proprio.to(h.dtype)], dim=1)
        return h

    @torch.no_grad()
    def act(self, obs: np.ndarray, step: int, eval_mode: bool, proprio: np.ndarray | None = None) -> np.ndarray:
        if not eval_mode and step < self.cfg.num_expl_steps:
            # Uniform exploration; the reference also runs the networks here and
            # discards their output, which costs time and changes nothing.
            return torch.empty(self.action_dim).uniform_(-1.0, 1.0).numpy()
        obs_t = torch.as_tensor(obs, device=self.device).unsqueeze(0)
        proprio_t = None if proprio is None else torch.as_tensor(proprio, device=self.device).unsqueeze(0)
        with self._autocast():
            mean = self._actor_fwd(self._features(obs_t, proprio_t)).float()
        action = mean if eval_mode else sample_action(mean, self.stddev(step), clip=None)
        return action[0].cpu().numpy()

    @torch.no_grad()
    def act_many(
        self,
        observations: list[np.ndarray],
        steps: list[int],
        eval_mode: bool = False,
        proprios: list[np.ndarray | None] | None = None,
    ) -> list[np.ndarray]:
        """One forward pass and one host sync for all environment workers, each row with the
        σ of its own agent step. While any step is still in the uniform-exploration phase, one
        ``act`` each (so that phase draws exactly as ``act`` does)."""
        if len(observations) == 1 or (not eval_mode and min(steps) < self.cfg.num_expl_steps):
            return super().act_many(observations, steps, eval_mode, proprios)
        obs_t = torch.as_tensor(np.stack(observations), device=self.device)
        fused = [p for p in proprios or () if p is not None]  # all or none of them
        proprio_t = torch.as_tensor(np.stack(fused), device=self.device) if fused else None
        with self._autocast():
            mean = self._actor_fwd(self._features(obs_t, proprio_t)).float()
        if not eval_mode:
            std = torch.stack([self._tensor(self.stddev(s)) for s in steps]).unsqueeze(1)
            mean = sample_action(mean, std, clip=None)
        return list(mean.cpu().numpy())

    # --- learning --------------------------------------------------------
    def augmenting(self, step: int) -> bool:
        """Random shift at this agent step: ``agent.augment``, flipped from ``agent.augment_switch_frame`` on."""
        switch = self.cfg.augment_switch_frame
        return self.cfg.augment != (switch > 0 and step * self.action_repeat >= switch)

    def augment_and_encode(
        self, batch: dict[str, torch.Tensor], augment: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        obs, next_obs = batch["obs"], batch["next_obs"]
        if self.pixels and augment:  # shift the uint8 frames, then convert
            obs, next_obs = random_shift(obs), random_shift(next_obs)
        with self._autocast():
            h = self._features(obs, batch.get("proprio"))
            with torch.no_grad():
                next_h = self._features(next_obs, batch.get("next_proprio"))
        return h.float(), next_h.float()

    def next_value(self, next_h: torch.Tensor, std: float | torch.Tensor) -> torch.Tensor:
        """min(Q1', Q2')(next_obs, a') from the target critic (DrM mixes its V in here)."""
        with torch.no_grad(), self._autocast():
            next_action = sample_action(self._actor_fwd(next_h), std, self.cfg.stddev_clip)
            target_q1, target_q2 = self._target_fwd(next_h, next_action)
            return torch.min(target_q1, target_q2).float()

    def target_q(
        self, next_h: torch.Tensor, reward: torch.Tensor, discount: torch.Tensor, std: float | torch.Tensor
    ) -> torch.Tensor:
        """The critic's regression target ``r_n + γ_n · next_value``."""
        return reward + discount * self.next_value(next_h, std)

    def update_critic(self, h, action, reward, discount, next_h, std) -> dict[str, torch.Tensor]:
        target_q = self.target_q(next_h, reward, discount, std)
        with self._autocast():
            if self.cfg.compile:  # hooks would break the compiled graph: measure on a separate pass
                q1, q2 = self._critic_fwd(h, action)
                critic_fau = fau_tensors(self.critic, h.detach(), action)[0]
            else:
                with self._critic_units:
                    q1, q2 = self._critic_fwd(h, action)
                critic_fau = self._critic_units.fraction()
        q1, q2 = q1.float(), q2.float()
        loss = F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q)
        if self.encoder_opt is not None:
            self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_opt.step()
        if self.encoder_opt is not None:
            self.encoder_opt.step()
        return {
            "critic_loss": loss.detach(),
            "critic_q1": q1.detach().mean(),
            "critic_q2": q2.detach().mean(),
            "critic_target_q": target_q.mean(),
            "critic_fau": critic_fau,
        }

    def update_actor(self, h: torch.Tensor, std: float | torch.Tensor) -> dict[str, torch.Tensor]:
        with self._autocast():
            mean = self._actor_fwd(h).float()
            action = sample_action(mean, std, self.cfg.stddev_clip)
            # The critic's weight gradients from this loss would be discarded (the
            # reference computes them anyway); freezing it skips that work only.
            with weights_fixed(self.critic):
                q1, q2 = self._critic_fwd(h, action)
        loss = -torch.min(q1, q2).float().mean()
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.actor_opt.step()
        log_prob = normal_log_prob(action.detach(), mean.detach(), std)
        entropy = (0.5 + 0.5 * np.log(2 * np.pi) + torch.log(self._tensor(std))) * self.action_dim
        return {"actor_loss": loss.detach(), "actor_logprob": log_prob.mean(), "actor_ent": entropy}

    @torch.no_grad()
    def update_target(self) -> None:
        """target ← τ·θ + (1 − τ)·target, rounded as the reference rounds it (a ``lerp``
        is the same average but differs in the last bit, which then grows through Adam)."""
        tau = self.cfg.critic_target_tau
        target: list[torch.Tensor] = list(self.critic_target.parameters())
        online: list[torch.Tensor] = list(self.critic.parameters())
        torch._foreach_mul_(target, 1.0 - tau)
        torch._foreach_add_(target, torch._foreach_mul(online, tau))

    def before_learning(self, h: torch.Tensor, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Hook between encoding and the critic update (DrM: dormant ratio, awakening, V)."""
        return {}

    def after_learning(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Hook after the critic, actor and target updates (TACO: its auxiliary losses)."""
        return {}

    def update(self, batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        """One gradient update; returns the ``METRICS`` as a single device vector."""
        h, next_h = self.augment_and_encode(batch, self.augmenting(step))
        metrics = {"batch_reward": batch["reward"].mean()}
        if self.intrinsic is not None:  # r = r_task + ρ·r_intrinsic, on the un-augmented batch
            bonus = self.intrinsic(batch)
            metrics["intrinsic_reward"] = bonus.mean()
            batch = {**batch, "reward": batch["reward"] + self.cfg.intrinsic_weight * bonus}
        metrics.update(self.before_learning(h, batch, step))
        std = self.stddev(step)
        metrics.update(self.update_critic(h, batch["action"], batch["reward"], batch["discount"], next_h, std))
        metrics.update(self.update_actor(h.detach(), std))
        self.update_target()
        metrics.update(self.after_learning(batch, step))
        metrics["stddev"] = self._tensor(std)
        return torch.stack([metrics[name].float().reshape(()) for name in self.METRICS])

    def actor_dormant(self, h: torch.Tensor) -> tuple[torch.Tensor, list[str], torch.Tensor, list[int]]:
        """β on features ``h``, as device tensors: (ratio, layer names, dormant counts, sizes)."""
        return dormant_tensors(self.actor, h, tau=self.dormant_tau, kind="drm", scoring=self.dormant_scoring)

    def probe_features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Un-augmented features (no draw from the training RNG stream), no gradients."""
        with torch.no_grad():
            return self._features(batch["obs"], batch.get("proprio")).float()

    def probe_inputs(self, h: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, tuple]:
        """Each network's inputs on a batch (the encoder's are the raw frames)."""
        inputs = {"actor": (h,), "critic": (h, batch["action"])}
        if self.pixels:
            inputs = {"encoder": (batch["obs"].float(),), **inputs}
        return inputs

    def networks(self) -> dict[str, torch.nn.Module]:
        """The trained networks by name (the critic target follows the critic)."""
        return {"encoder": self.encoder, "actor": self.actor, "critic": self.critic}

    def target_networks(self) -> dict[str, torch.nn.Module]:
        """Slow copies by the network they follow: the critic target follows the critic."""
        return {"critic": self.critic_target}

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [m for m in self._modules().values() if isinstance(m, torch.optim.Optimizer)]

    # --- checkpoints -----------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        found = {
            "encoder": self.encoder,
            "actor": self.actor,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "actor_opt": self.actor_opt,
            "critic_opt": self.critic_opt,
        }
        if self.encoder_opt is not None:
            found["encoder_opt"] = self.encoder_opt
        if self.intrinsic is not None:
            found["intrinsic"] = self.intrinsic
            if hasattr(self.intrinsic, "optimizer"):
                found["intrinsic_opt"] = self.intrinsic.optimizer
        return found
