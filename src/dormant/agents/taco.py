"""TACO (Zheng et al., NeurIPS 2023, "Temporal Latent Action-Driven Contrastive Loss for
Visual Reinforcement Learning"): DrQ-v2 whose encoder also learns, after every RL update,
to tell which future observation follows from the present one and the actions taken.

- **Latent actions**: an action encoder (Linear → Tanh → Linear, width 64) maps an action
  to a latent action u of width ⌊1.25·action_dim⌋ + 1; the critic reads Q(h, u(a)).
- **Temporal contrastive term** (K = 3): z = g(h) is the state projection (Linear →
  LayerNorm → Tanh) of the encoder's features of a shifted frame stack; the K latent
  actions a_t … a_{t+K−1} are concatenated and mixed (Linear → LayerNorm → Tanh) into U;
  ẑ = P([z_t, U]) (Linear → ReLU → Linear). With a learned bilinear W, the logits are
  ``L_ij = ẑ_i · W · z⁺_j`` against the projections z⁺ of the observations K steps later
  (another shift, no gradient), and the loss is InfoNCE: the cross-entropy of each row
  with its own column as the label, mean over the batch.
- **CURL term**: the same InfoNCE with ``L_ij = z_i · W · z'_j``, z' the projection of a
  second shift of the same frames (no gradient).
- **Reward term**: R([z_t, U]) (Linear → ReLU → Linear) regresses the batch's n-step
  reward, the one in the critic's target (squared error), as the authors' code does; with
  n ≠ K (walker: n = 1) that is not the sum over the K actions the head reads.
- One Adam (the agent's rate) minimises the weighted sum over the encoder, the action
  encoder and TACO's heads (``taco``); the critic's loss moves the encoder and the action
  encoder through their usual Adams, as in DrQ-v2.

Where this follows the authors' code (github.com/FrankZheng2022/TACO, ``agents/taco.py``)
rather than the paper's text, and where it departs from both, is listed in
docs/algorithms.md#taco. The authors' DMC configuration is the default; its batch of 1024
transitions is the ``taco`` agent preset.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig, TACOConfig
from dormant.nets import PLAIN, Critic, NetArch, random_shift, trunk, weight_init


def info_nce(logits: torch.Tensor) -> torch.Tensor:
    """InfoNCE over a B×B score matrix whose positives are on the diagonal: the mean over
    rows of −log softmax(row)[i]."""
    labels = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, labels)


def latent_action_dim(action_dim: int, configured: int = 0) -> int:
    """The authors' width of a latent action, ⌊1.25·action_dim⌋ + 1, unless configured."""
    return configured if configured > 0 else int(action_dim * 1.25) + 1


class ActionEncoder(nn.Module):
    """One action → one latent action (Linear → Tanh → Linear), on the last axis."""

    def __init__(self, action_dim: int, latent_dim: int, hidden_dim: int = 64):
        super().__init__()
        self.fc1 = nn.Linear(action_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, latent_dim)
        self.apply(weight_init)

    def forward(self, action: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(action)))


class LatentActionCritic(Critic):
    """DrQ-v2's twin-Q critic reading ``concat(trunk(h), u(a))``: the action encoder u is
    part of the critic (a reset of its heads re-draws it; the target keeps a copy that the
    agent ties to it before every update, so targets use the online u, as the authors')."""

    def __init__(
        self,
        repr_dim: int,
        action_dim: int,
        latent_dim: int,
        feature_dim: int,
        hidden_dim: int,
        proprio_dim: int = 0,
        *,
        action_hidden_dim: int = 64,
        dropout: float = 0.0,
        layernorm: bool = False,
        arch: NetArch = PLAIN,
    ):
        super().__init__(
            repr_dim, latent_dim, feature_dim, hidden_dim, proprio_dim, dropout=dropout, layernorm=layernorm, arch=arch
        )
        self.action_encoder = ActionEncoder(action_dim, latent_dim, action_hidden_dim)

    def forward(self, h: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return super().forward(h, self.action_encoder(action))


class Similarity(nn.Module):
    """The bilinear score ``a · W · b`` between every pair of rows; W starts uniform in [0, 1)
    (the authors' ``torch.rand``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.uniform_(0.0, 1.0)

    def forward(self, anchors: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        logits = anchors @ self.weight @ keys.T
        return logits - logits.max(dim=1, keepdim=True).values.detach()  # stability; the softmax is unchanged


class TACOHeads(nn.Module):
    """TACO's own networks: the state projection (``trunk``), the mixer of K latent actions
    (``sequence``), the state-action projection (``project``), the reward head and W.
    ``forward(h)`` is the projection z; ``forward(h, latents)`` (B×K×L) is (ẑ, reward)."""

    def __init__(
        self, repr_dim: int, feature_dim: int, hidden_dim: int, latent_dim: int, horizon: int, proprio_dim: int = 0
    ):
        super().__init__()
        width = latent_dim * horizon
        self.trunk = trunk(repr_dim, feature_dim, proprio_dim, hidden_dim)
        self.sequence = nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width), nn.Tanh())
        self.project = nn.Sequential(
            nn.Linear(feature_dim + width, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, feature_dim)
        )
        self.reward = nn.Sequential(
            nn.Linear(feature_dim + width, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, 1)
        )
        self.similarity = Similarity(feature_dim)
        for module in (self.trunk, self.sequence, self.project, self.reward):
            module.apply(weight_init)

    def joint(self, z: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """``[z, U]``: the projection beside the mixed K latent actions."""
        return torch.cat([z, self.sequence(latents.flatten(1))], dim=1)

    def forward(self, h: torch.Tensor, latents: torch.Tensor | None = None):
        z = self.trunk(h)
        if latents is None:
            return z
        x = self.joint(z, latents)
        return self.project(x), self.reward(x)


class TACOAgent(DrQV2Agent):
    """DrQ-v2 with latent actions in the critic and TACO's three auxiliary terms after each update."""

    METRICS = (*DrQV2Agent.METRICS, "taco_loss", "taco_curl_loss", "taco_reward_loss")
    critic: LatentActionCritic
    critic_target: LatentActionCritic

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
        taco: TACOConfig | None = None,
        arch: dict[str, NetArch] | None = None,
    ):
        if not pixels:
            raise ValueError(
                "TACO shapes the conv encoder's representation (the authors' code is pixel-only): "
                "it needs pixel observations"
            )
        self.taco_cfg = taco or TACOConfig()
        self.replay_horizon = self.taco_cfg.horizon
        self.latent_dim = latent_action_dim(action_dim, self.taco_cfg.latent_action_dim)
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
        self.taco = TACOHeads(
            self.repr_dim, cfg.feature_dim, cfg.hidden_dim, self.latent_dim, self.replay_horizon, proprio_dim
        ).to(device)
        params = [*self.encoder.parameters(), *self.critic.action_encoder.parameters(), *self.taco.parameters()]
        self.taco_opt = torch.optim.Adam(params, lr=cfg.lr)

    def make_critic(self, repr_dim: int) -> LatentActionCritic:
        cfg = self.cfg
        return LatentActionCritic(
            repr_dim,
            self.action_dim,
            self.latent_dim,
            cfg.feature_dim,
            cfg.hidden_dim,
            self.proprio_dim,
            action_hidden_dim=self.taco_cfg.action_hidden_dim,
            dropout=cfg.critic_dropout,
            layernorm=cfg.critic_layernorm,
            arch=self.arch.get("critic", PLAIN),
        )

    @torch.no_grad()
    def tie_target_action_encoder(self) -> None:
        """The target critic reads actions through the online action encoder (the authors')."""
        torch._foreach_copy_(
            list(self.critic_target.action_encoder.parameters()), list(self.critic.action_encoder.parameters())
        )

    def update(self, batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        self.tie_target_action_encoder()
        return super().update(batch, step)

    def taco_losses(self, batch: dict[str, torch.Tensor], augment: bool = True) -> dict[str, torch.Tensor]:
        """The three terms on a batch with ``action_seq`` and ``obs_k``: three independent
        shifts (anchor, CURL positive, the frames K steps later). The reward head regresses
        ``reward``, the n-step reward of the critic's target (the authors' code)."""
        shift = random_shift if augment else (lambda x: x)
        t = self.taco_cfg
        with self._autocast():
            z = self.taco.trunk(self._features(shift(batch["obs"]), batch.get("proprio")))
            with torch.no_grad():
                z_pos = (
                    self.taco.trunk(self._features(shift(batch["obs"]), batch.get("proprio")))
                    if t.curl_weight
                    else None
                )
                z_next = self.taco.trunk(self._features(shift(batch["obs_k"]), batch.get("proprio_k")))
            x = self.taco.joint(z, self.critic.action_encoder(batch["action_seq"]))
            taco_loss = info_nce(self.taco.similarity(self.taco.project(x), z_next).float())
            zero = torch.zeros((), device=z.device)
            curl_loss = info_nce(self.taco.similarity(z, z_pos).float()) if z_pos is not None else zero
            reward_loss = F.mse_loss(self.taco.reward(x).float(), batch["reward"].float()) if t.reward_weight else zero
        return {"taco_loss": taco_loss, "taco_curl_loss": curl_loss, "taco_reward_loss": reward_loss}

    def after_learning(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        losses = self.taco_losses(batch, self.augmenting(step))
        t = self.taco_cfg
        total = (
            t.taco_weight * losses["taco_loss"]
            + t.curl_weight * losses["taco_curl_loss"]
            + t.reward_weight * losses["taco_reward_loss"]
        )
        self.taco_opt.zero_grad(set_to_none=True)
        total.backward()
        self.taco_opt.step()
        return {name: value.detach() for name, value in losses.items()}

    def probe_inputs(self, h: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, tuple]:
        inputs = super().probe_inputs(h, batch)
        if "action_seq" in batch:
            with torch.no_grad():
                inputs["taco"] = (h, self.critic.action_encoder(batch["action_seq"].float()))
        else:
            inputs["taco"] = (h,)
        return inputs

    def networks(self) -> dict[str, nn.Module]:
        return {**super().networks(), "taco": self.taco}

    def _modules(self) -> dict[str, Any]:
        return {**super()._modules(), "taco": self.taco, "taco_opt": self.taco_opt}
