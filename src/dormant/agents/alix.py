"""ALIX (Cetin et al., ICML 2022, "Stabilizing Off-Policy Deep RL from Pixels"): DrQ-v2
without random-shift augmentation, whose encoder smooths its own feature maps with
*local signal mixing* (LIX) layers and learns how much to smooth.

- **LIX** (after every conv + ReLU of DrQ-v2's encoder, during updates only): the feature
  map is resampled at a random sub-pixel offset, bilinearly, from its replicate-padded
  copy. The offset is uniform in ±(max_shift + ½)·S pixels along each axis, one draw for
  the whole batch (the authors' ``fixed_batch``). S ∈ [0, 1] is one learned scalar
  shared by the four layers; S = 0 is the identity.
- **Learning S**: the normalised discontinuity (ND) of the critic's gradient with respect
  to the last LIX layer's output measures how noisy (spatially discontinuous) that
  gradient is. For the batch-mean gradient g and each position with neighbourhood
  values v (N×N, replicate padding, centre c):
  signal = (Σv² − c²)/(N² − 1), noise = Σ(v − c)²/(N² − 1), ND = noise/(signal + ε).
  S receives the gradient  nd_target − mean(log(1 + ND))  and is updated by its own
  Adam (lr 2e-3, β = (0.5, 0.999)), clipped to [0, 1]: more smoothing when the gradient
  is noisier than the target, less when it is smoother.
- Acting, evaluation and every probe (diagnostics, ReDo scoring) see the encoder without
  LIX, as the authors act in evaluation mode.

Defaults are the authors' configuration for every DMC task (``cfgs/algo/ALIX.yaml`` of
Aladoro/Stabilizing-Off-Policy-RL): max shift 2, S₀ = 0.5, ND target 0.535, N = 3, ε = 1e-20.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dormant.agents.drqv2 import DrQV2Agent
from dormant.config import AgentConfig, ALIXConfig
from dormant.nets import Encoder, NetArch, weight_init


def local_signal_mixing(
    x: torch.Tensor, s: float | torch.Tensor, max_shift: float = 2.0, fixed_batch: bool = True
) -> torch.Tensor:
    """Resample square feature maps ``x`` (B×C×H×H) at one random offset in ±(max_shift + ½)·s pixels."""
    n, _, h, w = x.shape
    if h != w:
        raise ValueError(f"local signal mixing needs square feature maps, got {h}×{w}")
    pad = math.ceil(max_shift) + 1  # one more than the largest offset, so borders never mix in zeros
    padded = F.pad(x, (pad,) * 4, mode="replicate")
    size = h + 2 * pad
    draws = torch.rand((1 if fixed_batch else n, 1, 1, 2), device=x.device, dtype=x.dtype)
    # Where output pixel 0 starts reading, in pixels from the padded map's left (top) edge: the
    # window of width 2·pad + 1 around it is narrowed to the share `span` (offsets ±(max_shift + ½)·s).
    window = 2 * pad + 1
    span = s * ((2 * max_shift + 1) / window)
    start = (draws * span + (1 - span) / 2) * window
    index = torch.arange(h, device=x.device, dtype=x.dtype)
    grid_x, grid_y = index.view(1, h).expand(h, h), index.view(h, 1).expand(h, h)
    position = torch.stack([grid_x, grid_y], dim=-1).unsqueeze(0) + start  # pixel edges of the padded map
    normalised = position * 2.0 / size - 1.0  # align_corners=False: -1 and 1 are the map's outer edges
    return F.grid_sample(
        padded, normalised.expand(n, -1, -1, -1), mode="bilinear", padding_mode="zeros", align_corners=False
    )


def discontinuity_score(grad: torch.Tensor, kernel: int = 3, eps: float = 1e-20) -> torch.Tensor:
    """mean log(1 + ND) of the batch-mean gradient ``grad`` (B×C×H×W), as ALIX measures it."""
    g = grad.mean(0, keepdim=True)
    half = (kernel - 1) // 2
    padded = F.pad(g, (half, kernel - 1 - half, half, kernel - 1 - half), mode="replicate")
    _, c, h, w = g.shape
    patches = F.unfold(padded.transpose(0, 1), kernel).view(c, kernel * kernel, h, w)  # per channel
    centre = g[0].unsqueeze(1)
    others = kernel * kernel - 1
    signal = (patches.pow(2).sum(1, keepdim=True) - centre.pow(2)) / others
    noise = (patches - centre).pow(2).sum(1, keepdim=True) / others
    return torch.log1p(noise / (signal + eps)).mean()


class _LearnS(torch.autograd.Function):
    """Identity forward; backward passes the gradient on and gives S  target − mean log(1 + ND)."""

    @staticmethod
    def forward(
        ctx: Any, features: torch.Tensor, s: torch.Tensor, kernel: int, target: float, record: torch.Tensor
    ) -> torch.Tensor:
        ctx.kernel, ctx.target, ctx.record = kernel, target, record
        return features.view_as(features)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        score = discontinuity_score(grad, ctx.kernel)
        ctx.record.copy_(score.detach())
        return grad, (ctx.target - score).reshape(()), None, None, None


class ALIXEncoder(Encoder):
    """DrQ-v2's conv encoder with a LIX layer after every conv + ReLU (active in training mode)."""

    def __init__(self, obs_shape: tuple[int, ...], cfg: ALIXConfig):
        super().__init__()
        channels, height, width = obs_shape
        self.cfg = cfg
        self.convs = nn.ModuleList(
            [nn.Conv2d(channels, 32, 3, stride=2)] + [nn.Conv2d(32, 32, 3, stride=1) for _ in range(3)]
        )
        # ReLUs as modules (no parameters: checkpoints unchanged) so the dormant/FAU probes can hook them
        self.relus = nn.ModuleList([nn.ReLU() for _ in self.convs])
        side = lambda n: (n - 3) // 2 + 1 - 6  # noqa: E731 - same arithmetic as PixelEncoder
        self.repr_dim = 32 * side(height) * side(width)
        self.s = nn.Parameter(torch.tensor(float(cfg.s_init)))
        self.nd: torch.Tensor
        self.register_buffer("nd", torch.zeros(()))  # mean log(1 + ND) at the last update
        self.apply(weight_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = obs / 255.0 - 0.5
        if self.training:
            with torch.no_grad():
                self.s.clamp_(0.0, 1.0)
        for i, conv in enumerate(self.convs):
            h = self.relus[i](conv(h))
            if self.training:
                h = local_signal_mixing(h, self.s.detach(), self.cfg.max_shift, self.cfg.fixed_batch)
                if i == len(self.convs) - 1:  # S learns from the last layer's feature gradients only
                    h = _LearnS.apply(h, self.s, self.cfg.nd_kernel, self.cfg.nd_target, self.nd)
        return h.flatten(1)


class ALIXAgent(DrQV2Agent):
    """DrQ-v2 with the ALIX encoder; the encoder runs LIX only inside ``augment_and_encode``."""

    METRICS = (*DrQV2Agent.METRICS, "alix_s", "alix_nd")
    encoder: ALIXEncoder

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
        alix: ALIXConfig | None = None,
        arch: dict[str, NetArch] | None = None,
    ):
        if not pixels:
            raise ValueError("ALIX smooths convolutional feature maps: it needs pixel observations")
        self.alix = alix or ALIXConfig()
        self.critic_head_gain = self.alix.critic_head_gain
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
        self.encoder.eval()  # no LIX outside the update (acting, evaluation, probes)

    def make_encoder(self, obs_shape: tuple[int, ...]) -> ALIXEncoder:
        return ALIXEncoder(obs_shape, self.alix)

    def make_encoder_optimizer(self) -> torch.optim.Optimizer:
        """One Adam, two groups: the convs at the agent's rate (and weight decay), S at its own rate and
        betas, never decayed (it is a smoothing strength, not a weight)."""
        convs = [p for name, p in self.encoder.named_parameters() if name != "s"]
        groups = [
            {"params": convs, "weight_decay": self.cfg.weight_decay},
            {"params": [self.encoder.s], "lr": self.alix.s_lr, "betas": (self.alix.s_beta1, 0.999)},
        ]
        return torch.optim.Adam(groups, lr=self.cfg.lr)

    def augment_and_encode(
        self, batch: dict[str, torch.Tensor], augment: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.encoder.train()
        try:
            return super().augment_and_encode(batch, augment)
        finally:
            self.encoder.eval()

    def update_critic(self, h, action, reward, discount, next_h, std) -> dict[str, torch.Tensor]:
        s_used = self.encoder.s.detach().clone()  # before the encoder's Adam step moves it
        metrics = super().update_critic(h, action, reward, discount, next_h, std)  # its backward sets the ND
        return {**metrics, "alix_s": s_used, "alix_nd": self.encoder.nd.clone()}
