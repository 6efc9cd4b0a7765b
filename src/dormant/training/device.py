"""The torch device a config names, checked against what this machine has."""

from __future__ import annotations

import torch

from dormant.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ConfigError(f"device={name} but no CUDA GPU is visible here; use device=cpu (or device=auto)")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= count):
            raise ConfigError(f"device={name}: this machine has {count} CUDA GPU(s), cuda:0 … cuda:{count - 1}")
    return torch.device(name)
