"""dormant: visual RL that keeps its networks alive (DrQ-v2, DrM, plasticity tools).

The Python API (``dormant.api``, documented in docs/api.md)::

    import dormant
    result = dormant.train(agent="drm", task="dmc/cartpole_balance", obs="states", frames=40_000, out="runs/x")

Names are imported on first use, so ``import dormant`` stays light (no torch, no simulator).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

if "torch" not in sys.modules:  # OpenMP reads it once, when torch loads (see training/threads.py)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # threads sleep, not spin, while waiting

_WHERE = {
    "make_config": "dormant.api",
    "train": "dormant.api",
    "resume": "dormant.api",
    "evaluate": "dormant.api",
    "load_logs": "dormant.api",
    "load_agent": "dormant.api",
    "Policy": "dormant.api",
    "RunLogs": "dormant.api",
    "RunResult": "dormant.training.launch",
    "Config": "dormant.config",
    "ConfigError": "dormant.errors",
    "Trainer": "dormant.training.trainer",
    "NonFiniteLossError": "dormant.training.trainer",
    "Callback": "dormant.training.callbacks",
    "EarlyStopping": "dormant.training.callbacks",
}
__all__ = sorted(_WHERE)

if TYPE_CHECKING:  # the names above, for type checkers (redundant aliases mark re-exports)
    from dormant.api import Policy as Policy
    from dormant.api import RunLogs as RunLogs
    from dormant.api import evaluate as evaluate
    from dormant.api import load_agent as load_agent
    from dormant.api import load_logs as load_logs
    from dormant.api import make_config as make_config
    from dormant.api import resume as resume
    from dormant.api import train as train
    from dormant.config import Config as Config
    from dormant.errors import ConfigError as ConfigError
    from dormant.training.callbacks import Callback as Callback
    from dormant.training.callbacks import EarlyStopping as EarlyStopping
    from dormant.training.launch import RunResult as RunResult
    from dormant.training.trainer import NonFiniteLossError as NonFiniteLossError
    from dormant.training.trainer import Trainer as Trainer


def __getattr__(name: str) -> Any:
    if name == "__version__":  # computed on first use: from a checkout it asks git for the commit
        from dormant.version import version

        globals()["__version__"] = version()
        return globals()["__version__"]
    if name not in _WHERE:
        raise AttributeError(f"module 'dormant' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE) | {"__version__"})
