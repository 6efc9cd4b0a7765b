"""``environment.json``: the package versions and the device a run trained with.

Written when a run starts (and again when it resumes); a resume on another machine or
with other versions keeps the earlier entries under ``"earlier"``, so a run that mixed
environments says so. Reports read it (without importing torch); runs older than this
file show "unknown".
"""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dormant.training.files import atomic_write_text
from dormant.version import checkout_commit

if TYPE_CHECKING:
    import torch

FILENAME = "environment.json"
PACKAGES = ("torch", "dm-control", "mujoco", "numpy", "dormant")  # the versions a report shows


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    """The commit of the dormant checkout this runs from (``+modified`` when tracked files
    differ from it); empty for an installed copy."""
    sha, modified = checkout_commit()
    return sha + ("+modified" if modified else "")


def describe_device(device: torch.device) -> str:
    """``cpu (8 threads)`` or ``cuda:0 (NVIDIA H200, CUDA 12.8)``."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)}, CUDA {torch.version.cuda})"
    return f"{device.type} ({torch.get_num_threads()} threads)"


def environment_info(device: torch.device) -> dict[str, Any]:
    import torch

    versions = {package: _version(package) for package in PACKAGES}
    versions["torch"] = torch.__version__  # names the build too (2.13.0+cpu, 2.13.0+cu130); pip's metadata may not
    commit = _git_commit()
    if commit:
        versions["dormant"] += f" (git {commit})"
    return {
        "versions": versions,
        "device": describe_device(device),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def read_environment(run_dir: Path) -> dict[str, Any] | None:
    """environment.json, or None if it is absent or damaged (``runfiles.read_checked_json``
    says why; a report names it)."""
    from dormant.experiments.runfiles import RunFileError, read_checked_json

    try:
        return read_checked_json(Path(run_dir) / FILENAME)
    except RunFileError:
        return None


def record_environment(run_dir: Path, device: torch.device, **extra: Any) -> dict[str, Any]:
    """Write this process's environment to ``run_dir/environment.json`` (``extra`` keys are
    kept as given, e.g. a W&B run id). An earlier entry whose versions or device differ is
    kept in ``"earlier"``."""
    info = environment_info(device)
    previous = read_environment(run_dir) or {}
    earlier = list(previous.get("earlier", []))
    if previous.get("versions") and (previous.get("versions"), previous.get("device")) != (
        info["versions"],
        info["device"],
    ):
        earlier.append(
            {k: previous[k] for k in ("versions", "device", "python", "platform", "started") if k in previous}
        )
    kept = {k: v for k, v in previous.items() if k not in info and k != "earlier"}
    record = {**kept, **info, **extra, **({"earlier": earlier} if earlier else {})}
    from dormant.experiments.runfiles import json_text

    atomic_write_text(Path(run_dir) / FILENAME, json_text(record))
    return record
