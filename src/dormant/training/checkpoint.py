"""Atomic checkpoint files that load with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

from dormant.training.files import atomic_write, describe_write_failure, is_write_failure

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


def write_failure_message(err: BaseException, run_dir: Path, *, stopped_frame: int, saved_frame: int) -> str:
    """One message for a run stopped by a failed write: the file, the cause, and what survived."""
    cause = err.__cause__ if isinstance(err, CheckpointError) and err.__cause__ else err
    if is_write_failure(cause):
        what = describe_write_failure(cause)
    else:  # e.g. torch's own "failed writing" error while saving the checkpoint
        what = f"cannot write {Path(run_dir) / FILENAME}: {cause}"
    if (Path(run_dir) / FILENAME).exists():
        kept = (f"the checkpoint at frame {saved_frame} is intact; resume from it with "
                f"`dormant train --resume {run_dir}` once the problem is fixed")
    else:
        kept = "no checkpoint had been written yet, so the run must start again"
    return f"{what}; training stopped at frame {stopped_frame}; {kept}"
