"""Shared builders for the tests: tiny, fast configurations."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dormant.config import Config, resolve

TINY_STATES = {
    "task": "dmc/cartpole_balance",
    "obs": "states",
    "agent.hidden_dim": 64,
    "agent.feature_dim": 16,
    "agent.batch_size": 64,
    "num_seed_frames": 2000,
    "agent.num_expl_steps": 500,
    "eval.every_frames": 2000,
    "eval.episodes": 1,
    "log.progress": False,
    "log.tensorboard": False,
    "threads": 1,
}


def tiny_states(**overrides: Any) -> Config:
    return resolve({**TINY_STATES, **{k.replace("__", "."): v for k, v in overrides.items()}})


def wait_for(predicate: Callable[[], bool], timeout: float = 120.0) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


# Golden values of the fidelity tests were recorded on one CPU. float32 kernels differ between
# CPUs (AVX2 and AVX-512 code paths of MKL/oneDNN sum in other orders), and the differences grow
# over updates: between two Xeon machines of this project's pool, 1e-5–1e-4 relative after 10–40
# updates. The golden tests guard against regressions (an algorithmic change moves these values by
# percents); exact equality with the authors' code is what scripts/fidelity/ checks side by side,
# on one machine.
GOLDEN_REL = 1e-3
GOLDEN_ABS = 1e-6
