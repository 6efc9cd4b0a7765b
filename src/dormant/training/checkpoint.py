"""Atomic checkpoint files that load with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

from dormant.training.files import atomic_write

FORMAT = "dormant-checkpoint"
VERSION = 2  # 2: replay-ratio and intervention state; critic_fau metric
FILENAME = "checkpoint.pt"


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; the message names the file."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to a temporary file beside ``path``, fsync, then rename.

    A crash or a full disk leaves the previous checkpoint intact.
    """
    import torch  # here, not at the top: the CLI's help and config answer without torch

    path = Path(path)
    try:
        atomic_write(path, lambda handle: torch.save({"format": FORMAT, "version": VERSION, **payload}, handle),
                     binary=True)
    except (OSError, RuntimeError) as err:
        free = shutil.disk_usage(path.parent).free if path.parent.exists() else 0
        full = isinstance(err, OSError) and err.errno == errno.ENOSPC or "write" in str(err).lower()
        hint = f" (disk full? {free / 2**20:.0f} MiB free)" if full else ""
        previous = "the previous checkpoint is unchanged" if path.exists() else "no earlier checkpoint exists"
        raise CheckpointError(f"could not write checkpoint {path}{hint}: {err}; {previous}") from err


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by this project; reject anything else clearly."""
    import torch

    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt/foreign files
        raise CheckpointError(f"{path} is not a readable dormant checkpoint (corrupt or foreign file): "
                              f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dormant checkpoint (no '{FORMAT}' marker)")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {data.get('version')}; this dormant reads {VERSION}")
    return data
