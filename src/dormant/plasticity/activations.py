"""Concatenating activations: CReLU (Abbas et al. 2023) and deep Fourier features
(Lewandowski et al. 2024), as modules for any network.

Both map a unit's pre-activation x to two outputs, concatenated along the feature axis
(the last axis for vectors, the channel axis for conv maps), so a layer of n units feeds
2n features to the next layer:

- ``CReLU``: ``[relu(x), relu(−x)]``. Whatever the sign of x, one half carries |x|, so a
  unit never goes silent the way a ReLU unit whose input stays negative does.
- ``Fourier``: ``[sin(x), cos(x)]``, which is nearly linear around any x (one of the two has a
  non-zero slope), so gradients keep flowing.

The probes of ``metrics`` score such a unit on its pre-activation: mean |x| over the batch,
which for CReLU is exactly the sum of its two halves' mean outputs (|x| = relu(x) + relu(−x)),
and for Fourier the only magnitude that can vanish (sin and cos never do together). A unit is
active (FAU) when x ≠ 0. ``UNIT_FACTOR`` is how many features each unit outputs.

Example::

    from torch import nn
    from dormant.plasticity.activations import CReLU
    net = nn.Sequential(nn.Linear(8, 16), CReLU(), nn.Linear(32, 1))   # 16 units → 32 features
"""

from __future__ import annotations

import torch
from torch import nn

UNIT_FACTOR = 2  # features per unit of a concatenating activation
NAMES = ("relu", "crelu", "fourier")  # the activation options of every network
WIDTHS = ("half", "full")  # units of a concatenating layer: hidden/2 (features kept) or hidden (doubled)


class _Concatenating(nn.Module):
    """An element-wise map to two outputs concatenated along ``dim`` (−1 for vectors, 1 for maps)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class CReLU(_Concatenating):
    """``[relu(x), relu(−x)]`` along ``dim``: twice the features of its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(x), torch.relu(-x)], dim=self.dim)


class Fourier(_Concatenating):
    """Deep Fourier features, ``[sin(x), cos(x)]`` along ``dim``: twice the features of its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.sin(x), torch.cos(x)], dim=self.dim)


CONCATENATING = (CReLU, Fourier)


def make_activation(name: str, *, conv: bool = False, inplace: bool = True) -> nn.Module:
    """The activation module of a hidden layer: ``relu`` (in place unless ``inplace=False``),
    ``crelu`` or ``fourier`` (concatenated over channels for conv maps, features otherwise)."""
    if name == "relu":
        return nn.ReLU(inplace=inplace)
    if name == "crelu":
        return CReLU(1 if conv else -1)
    if name == "fourier":
        return Fourier(1 if conv else -1)
    raise ValueError(f"activation must be one of {NAMES}, got {name!r}")


def hidden_units(name: str, width: int, concat_width: str = "half") -> tuple[int, int]:
    """(units, features) of a hidden layer of nominal ``width``: a ReLU layer has ``width`` of
    each; a concatenating one ``width // 2`` units and ``width`` features (``"half"``: every
    layer's input keeps its size and the parameter count stays close to the ReLU network's) or
    ``width`` units and ``2·width`` features (``"full"``, Plasticine's networks)."""
    if name == "relu":
        return width, width
    if concat_width not in WIDTHS:
        raise ValueError(f"concat_width must be one of {WIDTHS}, got {concat_width!r}")
    units = max(width // UNIT_FACTOR, 1) if concat_width == "half" else width
    return units, UNIT_FACTOR * units
