"""Intrinsic rewards for any agent (``agent.intrinsic``): the two exploration baselines
DrM's paper compares against (Xu et al., ICLR 2024, appendices E and K).

Both are computed on the sampled batch inside the update, on the device, and added to
the batch's (n-step) extrinsic return once: r_total = r_e + ρ·r_i. The agent logs the
extrinsic part as ``batch_reward`` and the intrinsic part as ``intrinsic_reward``.

- ``rnd`` (Burda et al. 2019, as DrM's App. E sets it up): a frozen random encoder f and
  a trained predictor g, both with DrQ-v2's encoder architecture for pixels (for states,
  where that encoder is the identity, two-layer MLPs of width 256 to 64 features);
  r_i = mean over features of (f(s') − g(s'))², on the transition's next observation s'
  (RND rewards reaching a novel observation). The mean, not the sum the paper's ‖·‖²
  notation suggests: on 84×84 pixels the sum is 39,200× larger and would drown the task
  reward at ρ = 1. The predictor takes one Adam step per update on the same observations,
  after the reward is computed. ρ = ``agent.intrinsic_weight`` (1.0, the paper's choice).
- ``frame_diff`` (DrM's App. K): r_i = mean |first frame − last frame| of the stacked
  observation s (pixels, frame stack ≥ 2), normalised by the running mean and standard
  deviation of every such reward computed so far (kept on the device, checkpointed).
"""

from __future__ import annotations

import torch
from torch import nn

from dormant.nets import PixelEncoder, weight_init

KINDS = ("none", "rnd", "frame_diff")


class RNDReward(nn.Module):
    """Random network distillation: prediction error of a trained g against a frozen f."""

    def __init__(self, obs_shape: tuple[int, ...], pixels: bool, lr: float):
        super().__init__()
        self.target = self._net(obs_shape, pixels).requires_grad_(False)
        self.predictor = self._net(obs_shape, pixels)
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=lr)

    @staticmethod
    def _net(obs_shape: tuple[int, ...], pixels: bool) -> nn.Module:
        if pixels:
            return PixelEncoder(obs_shape)
        net = nn.Sequential(nn.Linear(obs_shape[0], 256), nn.ReLU(), nn.Linear(256, 64))
        net.apply(weight_init)
        return net

    def _error(self, obs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.target(obs.float())
        return (target - self.predictor(obs.float())).pow(2).mean(dim=1, keepdim=True)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """r_i per transition (B×1, no gradient), then one predictor step on the same observations."""
        error = self._error(batch["next_obs"])
        self.optimizer.zero_grad(set_to_none=True)
        error.mean().backward()
        self.optimizer.step()
        return error.detach()


class FrameDiffReward(nn.Module):
    """Mean absolute difference between the first and last stacked frames, standardised."""

    channels = 3  # one RGB frame; the stack is frames concatenated along channels

    def __init__(self) -> None:
        super().__init__()
        self.count: torch.Tensor  # running statistics of r_i, in float64
        self.mean: torch.Tensor
        self.m2: torch.Tensor
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("m2", torch.zeros((), dtype=torch.float64))

    def raw(self, obs: torch.Tensor) -> torch.Tensor:
        first, last = obs[:, : self.channels].float(), obs[:, -self.channels :].float()
        return (first - last).abs().flatten(1).mean(dim=1, keepdim=True)

    @torch.no_grad()
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Standardised r_i (B×1): the running statistics include this batch (Chan et al.'s merge)."""
        values = self.raw(batch["obs"]).double()
        n, batch_mean = values.numel(), values.mean()
        batch_m2 = ((values - batch_mean) ** 2).sum()
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.m2 += batch_m2 + delta.pow(2) * self.count * n / total
        self.count.copy_(total)
        std = (self.m2 / (self.count - 1).clamp(min=1.0)).sqrt().clamp(min=1e-8)
        return ((values - self.mean) / std).float()


def make_intrinsic(kind: str, obs_shape: tuple[int, ...], *, pixels: bool, lr: float) -> nn.Module | None:
    """The reward module ``agent.intrinsic`` names (None for ``none``)."""
    if kind == "rnd":
        return RNDReward(obs_shape, pixels, lr)
    if kind == "frame_diff":
        return FrameDiffReward()
    if kind == "none":
        return None
    raise ValueError(f"agent.intrinsic must be one of {KINDS}, got {kind!r}")
