"""The seams between the pieces, as ``typing.Protocol``\\ s: what a new agent, suite or
periodic intervention must provide to plug into the trainer and the plasticity tools.

Nothing inherits from these; they are checked structurally (by a type checker, and
with ``isinstance`` in the tests, as they are ``runtime_checkable``).

- ``Agent``: what the trainer needs to act, learn, log and checkpoint.
- ``PlasticAgent``: an ``Agent`` whose networks the plasticity tools can measure and
  operate on (diagnostics, ReDo, resets, shrink-and-perturb).
- ``Env``: a suite wrapper (DMC, MetaWorld, Adroit, `gym:`, a registered suite's) as the trainer drives it.
- ``Intervention``: periodic work the trainer runs after an update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from dormant.envs.base import TimeStep

Batch = dict[str, torch.Tensor]


@runtime_checkable
class Agent(Protocol):
    METRICS: tuple[str, ...]  # names of the vector ``update`` returns, in order
    METRICS_LAST: frozenset[str]  # metrics logged as their latest value instead of the mean
    replay_horizon: int  # K > 0: replay batches also carry K-step action sequences and the obs K ahead (TACO)

    def act(self, obs: np.ndarray, step: int, eval_mode: bool, proprio: np.ndarray | None = None) -> np.ndarray:
        """An action in [−1, 1] for one observation at an agent step."""

    def act_many(
        self,
        observations: list[np.ndarray],
        steps: list[int],
        eval_mode: bool = False,
        proprios: list[np.ndarray | None] | None = None,
    ) -> list[np.ndarray]:
        """Actions for several environments at their agent steps (one env: exactly ``act``)."""

    def to_batch(self, batch: dict[str, np.ndarray | torch.Tensor]) -> Batch:
        """A replay sample moved to the agent's device (tensors already there pass through)."""

    def update(self, batch: Batch, step: int) -> torch.Tensor:
        """One gradient update; the ``METRICS`` as one device vector (one host sync for the caller)."""

    def drain_events(self) -> list[dict]:
        """Interventions the agent ran inside ``update`` since the last call (DrM's perturbation),
        as events.csv rows (``event``, ``count``, ``detail``)."""

    def live_tensors(self) -> list[torch.Tensor]:
        """Every tensor an update changes in place (parameters, buffers, optimiser state):
        what the trainer snapshots to undo a non-finite update."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class PlasticAgent(Agent, Protocol):
    encoder: torch.nn.Module
    proprio_dim: int  # > 0: proprioception is concatenated to the encoder's features
    dormant_tau: float  # τ and scoring of the actor's DrM-kind dormant ratio β
    dormant_scoring: str
    init_fn: Callable[[torch.nn.Module], None]  # the initialiser a fresh draw uses

    def networks(self) -> dict[str, torch.nn.Module]:
        """The trained networks by name (``encoder``, ``actor``, ``critic``, …)."""

    def target_networks(self) -> dict[str, torch.nn.Module]:
        """Slow copies by the name of the network they follow (``{"critic": critic_target}``)."""

    def optimizers(self) -> list[torch.optim.Optimizer]: ...

    def probe_features(self, batch: Batch) -> torch.Tensor:
        """Un-augmented features of ``batch["obs"]`` without gradients (probes use these)."""

    def probe_inputs(self, h: torch.Tensor, batch: Batch) -> dict[str, tuple]:
        """Each network's forward inputs on a batch (the encoder's are the raw frames)."""

    def actor_dormant(self, h: torch.Tensor) -> tuple[torch.Tensor, list[str], torch.Tensor, list[int]]:
        """β on features ``h`` as device tensors: (ratio, layer names, dormant counts, layer sizes)."""


@runtime_checkable
class Env(Protocol):
    obs_shape: tuple[int, ...]  # what the agent sees (stacked frames, or the state vector)
    frame_shape: tuple[int, ...]  # one frame, what replay stores
    frame_dtype: np.dtype
    action_dim: int
    proprio_dim: int
    has_success: bool

    def reset(self) -> TimeStep: ...

    def step(self, action: np.ndarray) -> TimeStep: ...

    def render(self, size: int = 84) -> np.ndarray: ...

    def rng_state(self) -> dict[str, Any]: ...

    def set_rng_state(self, state: dict[str, Any]) -> None: ...

    def episode_start_state(self) -> dict[str, Any] | None:
        """What ``restore_episode`` needs to rebuild the open episode (resume)."""

    def restore_episode(
        self, start_state: dict[str, Any], actions: np.ndarray, frames: list[np.ndarray]
    ) -> TimeStep: ...

    def close(self) -> None: ...


@runtime_checkable
class Intervention(Protocol):
    def after_update(self, agent: PlasticAgent, batch: Batch, updates: int, frame: int) -> list[dict]:
        """Run whatever is due now; one event row (``event``, ``count``, ``detail``) per action."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
