"""DrQ-v2's networks: conv encoder (or identity for states), actor, twin-Q critic.

Shapes and initialisation follow the DrQ-v2 reference code: orthogonal init (Linear gain 1, Conv
gain √2), zero biases; the policy's σ comes from a schedule, not the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dormant.plasticity.activations import hidden_units, make_activation


@dataclass(frozen=True)
class NetArch:
    """How one network's hidden layers are built: the plasticity options that change the
    architecture (``plasticity.crelu``, ``fourier``, ``layernorm``, ``nap``). The default is
    DrQ-v2's network, module for module."""

    activation: str = "relu"  # relu | crelu | fourier, after every hidden Linear/conv
    layernorm: bool = False  # LayerNorm before each hidden activation (conv maps: GroupNorm(1, C), over C, H, W)
    concat_width: str = "half"  # crelu/fourier: half (width/2 units, width features) | full (width units, 2·width)


PLAIN = NetArch()


def weight_init(module: nn.Module) -> None:
    """DrQ-v2's initialiser; apply with ``net.apply(weight_init)``. A Linear with an
    ``orthogonal_gain`` attribute is drawn with that gain instead of 1 (ALIX's Q heads), so
    every later fresh draw of it (DrM's perturbation, ReDo) keeps the gain too."""
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight.data, getattr(module, "orthogonal_gain", 1.0))
        if module.bias is not None:
            module.bias.data.fill_(0.0)
    elif isinstance(module, nn.Conv2d):
        nn.init.orthogonal_(module.weight.data, nn.init.calculate_gain("relu"))
        if module.bias is not None:
            module.bias.data.fill_(0.0)


def mlp(
    in_dim: int, hidden_dim: int, out_dim: int, *, dropout: float = 0.0, layernorm: bool = False, arch: NetArch = PLAIN
) -> nn.Sequential:
    """Two hidden ReLU layers. ``dropout``/``layernorm`` insert Dropout then LayerNorm
    after each hidden Linear (the DrM reference's MetaWorld critic); ``arch`` may swap the
    activation (CReLU, Fourier: see ``NetArch.concat_width`` for the widths) and add the
    LayerNorm."""
    units, features = hidden_units(arch.activation, hidden_dim, arch.concat_width)
    layers: list[nn.Module] = []
    for fan_in in (in_dim, features):
        layers.append(nn.Linear(fan_in, units))
        if dropout:
            layers.append(nn.Dropout(dropout))
        if layernorm or arch.layernorm:
            layers.append(nn.LayerNorm(units))
        layers.append(make_activation(arch.activation))
    layers.append(nn.Linear(features, out_dim))
    return nn.Sequential(*layers)


def conv_block(
    in_channels: int,
    channels: int,
    kernel: int,
    stride: int,
    arch: NetArch = PLAIN,
    conv: type[nn.Conv2d] = nn.Conv2d,
    inplace: bool = True,
) -> tuple[list[nn.Module], int]:
    """One conv layer of nominal width ``channels`` with its activation (and GroupNorm(1, C)
    before it with ``arch.layernorm``); returns the modules and the channels they output."""
    units, features = hidden_units(arch.activation, channels, arch.concat_width)
    layers: list[nn.Module] = [conv(in_channels, units, kernel, stride=stride)]
    if arch.layernorm:
        layers.append(nn.GroupNorm(1, units))
    layers.append(make_activation(arch.activation, conv=True, inplace=inplace))
    return layers, features


def trunk(repr_dim: int, feature_dim: int, proprio_dim: int = 0, hidden_dim: int = 0) -> nn.Module:
    """Linear → LayerNorm → Tanh; with ``proprio_dim`` the proprioception is fused in."""
    if proprio_dim:
        return ProprioFusionTrunk(repr_dim, proprio_dim, feature_dim, hidden_dim)
    return nn.Sequential(nn.Linear(repr_dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())


class ProprioFusionTrunk(nn.Module):
    """The DrM reference's Adroit fusion, on ``h = concat(image features, proprio)``.

    ``fusion(image_trunk(image) + state_encoder(proprio))``, where the image trunk is the
    usual Linear → LayerNorm → Tanh, the state encoder Linear → ReLU → Linear to the
    feature size and the fusion Linear → ReLU → Linear. Taking one concatenated input
    keeps every head's signature (and the agent's code) the same with and without it.
    """

    def __init__(self, repr_dim: int, proprio_dim: int, feature_dim: int, hidden_dim: int):
        super().__init__()
        self.image_dim = repr_dim - proprio_dim
        self.image = nn.Sequential(nn.Linear(self.image_dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())
        self.state = nn.Sequential(
            nn.Linear(proprio_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, feature_dim)
        )
        self.fusion = nn.Sequential(
            nn.Linear(feature_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, feature_dim)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fusion(self.image(h[:, : self.image_dim]) + self.state(h[:, self.image_dim :]))


class Encoder(nn.Module):
    """An observation encoder: what the heads read is ``repr_dim`` features per observation."""

    repr_dim: int


class PixelEncoder(Encoder):
    """Four 3×3 convs (stride 2, 1, 1, 1), 32 channels, no padding: 84² → 35²×32 (``arch``:
    another activation, GroupNorm before it)."""

    def __init__(self, obs_shape: tuple[int, ...], arch: NetArch = PLAIN):
        super().__init__()
        channels, height, width = obs_shape
        layers: list[nn.Module] = []
        for stride in (2, 1, 1, 1):
            block, channels = conv_block(channels, 32, 3, stride, arch)
            layers.extend(block)
        self.convnet = nn.Sequential(*layers)
        side = lambda n: (n - 3) // 2 + 1 - 6  # noqa: E731 - conv arithmetic, one place
        self.repr_dim = channels * side(height) * side(width)
        self.apply(weight_init)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.convnet(obs / 255.0 - 0.5)
        return h.flatten(1)


class StateEncoder(Encoder):
    """Identity for proprioceptive vectors, so the same agent runs on states."""

    def __init__(self, obs_shape: tuple[int, ...]):
        super().__init__()
        self.repr_dim = int(obs_shape[0])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float()


class Actor(nn.Module):
    """Trunk (Linear → LayerNorm → Tanh) and a 2-hidden-layer MLP giving tanh(mean).
    ``repr_dim`` includes the ``proprio_dim`` last columns of a fused input."""

    def __init__(
        self,
        repr_dim: int,
        action_dim: int,
        feature_dim: int,
        hidden_dim: int,
        proprio_dim: int = 0,
        *,
        arch: NetArch = PLAIN,
    ):
        super().__init__()
        self.trunk = trunk(repr_dim, feature_dim, proprio_dim, hidden_dim)
        self.policy = mlp(feature_dim, hidden_dim, action_dim, arch=arch)
        self.apply(weight_init)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.policy(self.trunk(h)))


class Critic(nn.Module):
    """Own trunk; Q1 and Q2 heads on ``concat(trunk(h), action)``. ``head_gain``: the
    orthogonal gain of the heads' Linears (DrQ-v2: 1; ALIX's authors: √2)."""

    def __init__(
        self,
        repr_dim: int,
        action_dim: int,
        feature_dim: int,
        hidden_dim: int,
        proprio_dim: int = 0,
        *,
        dropout: float = 0.0,
        layernorm: bool = False,
        head_gain: float = 1.0,
        arch: NetArch = PLAIN,
    ):
        super().__init__()
        self.trunk = trunk(repr_dim, feature_dim, proprio_dim, hidden_dim)
        self.q1 = mlp(feature_dim + action_dim, hidden_dim, 1, dropout=dropout, layernorm=layernorm, arch=arch)
        self.q2 = mlp(feature_dim + action_dim, hidden_dim, 1, dropout=dropout, layernorm=layernorm, arch=arch)
        if head_gain != 1.0:
            for layer in (*self.q1, *self.q2):
                if isinstance(layer, nn.Linear):
                    # a plain float that weight_init reads (torch types Module attributes as tensors or modules)
                    layer.orthogonal_gain = head_gain  # type: ignore[assignment]
        self.apply(weight_init)

    def forward(self, h: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.trunk(h), action], dim=-1)
        return self.q1(x), self.q2(x)


def sample_action(mean: torch.Tensor, std: float | torch.Tensor, clip: float | None) -> torch.Tensor:
    """Truncated-normal sample: ``mean + clamp(ε·σ, ±clip)``, clamped to ±(1−1e−6)
    with a straight-through gradient (DrQ-v2's ``TruncatedNormal.sample``)."""
    noise = torch.randn_like(mean) * std
    if clip is not None:
        noise = noise.clamp(-clip, clip)
    x = mean + noise
    clamped = x.clamp(-1.0 + 1e-6, 1.0 - 1e-6)
    return x - x.detach() + clamped.detach()


def normal_log_prob(action: torch.Tensor, mean: torch.Tensor, std: float | torch.Tensor) -> torch.Tensor:
    """Σ over action dims of log N(action; mean, σ) (the reference's logged log-prob)."""
    log_std = torch.log(std) if isinstance(std, torch.Tensor) else math.log(std)  # no host↔device copy
    per_dim = -((action - mean) ** 2) / (2 * std * std) - log_std - 0.5 * math.log(2 * math.pi)
    return per_dim.sum(-1, keepdim=True)


def random_shift(x: torch.Tensor, pad: int = 4, shifts: torch.Tensor | None = None) -> torch.Tensor:
    """DrQ-v2's random-shift augmentation as an exact integer crop.

    Equivalent to replicate-padding by ``pad`` and cropping back to the input size at
    an integer offset in [0, 2·pad] per sample and axis; the padding is implied by
    clamping the gathered indices, so it works on uint8 frames (4× less memory than
    float). DrQ-v2 does the same crop with bilinear ``grid_sample`` on a grid that
    lands on pixel centres (tested equal). ``shifts`` (N×2, x then y) may be given.
    """
    n, _, h, w = x.shape
    if shifts is None:
        shifts = torch.randint(0, 2 * pad + 1, (n, 2), device=x.device)
    shifts = shifts.long() - pad
    rows = (torch.arange(h, device=x.device)[None, :] + shifts[:, 1:2]).clamp_(0, h - 1)  # n×h
    cols = (torch.arange(w, device=x.device)[None, :] + shifts[:, 0:1]).clamp_(0, w - 1)  # n×w
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = x[batch, :, rows[:, :, None], cols[:, None, :]]  # n×h×w×c (advanced dims first)
    return out.permute(0, 3, 1, 2).contiguous()


def random_shift_grid_sample(x: torch.Tensor, shifts: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """The reference formulation (bilinear grid_sample); kept to test `random_shift`."""
    n, _, h, _ = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    eps = 1.0 / (h + 2 * pad)
    arange = torch.linspace(-1.0 + eps, 1.0 - eps, h + 2 * pad, device=x.device, dtype=x.dtype)[:h]
    arange = arange.unsqueeze(0).repeat(h, 1).unsqueeze(2)
    base = torch.cat([arange, arange.transpose(1, 0)], dim=2).unsqueeze(0).repeat(n, 1, 1, 1)
    offset = shifts.to(x.dtype).view(n, 1, 1, 2) * (2.0 / (h + 2 * pad))
    return F.grid_sample(padded, base + offset, padding_mode="zeros", align_corners=False)
