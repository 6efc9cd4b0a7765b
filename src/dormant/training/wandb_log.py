"""Optional Weights & Biases logging (``log.wandb=true``; the ``wandb`` extra).

The same values and tags as TensorBoard (``log_tags.py``), every one against
environment frames (``frame`` is the step metric of every chart). ``log.wandb_mode``
defaults to ``offline``: nothing leaves the machine, the run is written under
``<run dir>/wandb/`` (or ``$WANDB_DIR``) and ``wandb sync <that folder>`` uploads it
later. A resumed run continues the same W&B run (its id is kept in ``environment.json``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from dormant.errors import ConfigError, MissingExtraError

MODES = ("offline", "online", "disabled")


def check_wandb(mode: str) -> Any:
    """The ``wandb`` module, or a clear error (before any training) if it cannot be used."""
    if mode not in MODES:
        raise ConfigError(f"log.wandb_mode={mode!r}: choose one of {', '.join(MODES)}")
    try:
        import wandb
    except ImportError as err:
        raise MissingExtraError("log.wandb=true", "wandb", err) from None
    return wandb


class WandbLog:
    def __init__(
        self, run_dir: Path, *, project: str, mode: str, config: dict[str, Any], run_id: str | None, name: str
    ):
        wandb = check_wandb(mode)
        self.run_id = run_id or uuid.uuid4().hex[:16]
        folder = os.environ.get("WANDB_DIR") or str(run_dir)
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=project,
            mode=mode,
            dir=folder,
            id=self.run_id,
            resume="allow",
            name=name,
            config=config,
            reinit="create_new",
        )
        self.run.define_metric("frame")
        self.run.define_metric("*", step_metric="frame")

    def log(self, values: dict[str, float], frame: int) -> None:
        if values:
            self.run.log({**values, "frame": frame})

    def close(self, summary: dict[str, float]) -> None:
        for key, value in summary.items():
            self.run.summary[key] = value
        self.run.finish()
