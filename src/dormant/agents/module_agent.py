"""What every agent made of named torch modules shares: moving a replay batch to the
device, its checkpoint, the tensors the trainer snapshots to undo a non-finite update, and
acting for several environments at once (one ``act`` each, unless the agent batches it).

An agent lists its parts once, in ``_modules()`` (networks, targets, optimisers, any
object with ``parameters``/``buffers``/``state_dict``/``load_state_dict``), and these
methods follow from that list, so a new agent cannot forget a part in one of them. The
plasticity methods attached to an agent (``methods``: θ₀, TRAC's state) and the heads that
plasticity injection changed (``injected``) are checkpointed here too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from dormant.plasticity.injection import restore_injections_

if TYPE_CHECKING:
    from dormant.interfaces import PlasticAgent


@contextlib.contextmanager
def weights_fixed(module: torch.nn.Module) -> Iterator[None]:
    """No weight gradients for ``module`` inside the block (its input still gets them); only
    the parameters that were trainable are made trainable again, so frozen parts (plasticity
    injection's) stay frozen."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


class ModuleAgent:
    device: torch.device
    methods: Any = None  # plasticity.agent_methods.AgentMethods, attached by make_agent
    injected: Sequence[str] = ()  # heads changed by plasticity injection (``critic.q1`` …), rebuilt on load

    def _modules(self) -> dict[str, Any]:
        raise NotImplementedError

    def act(self, obs: np.ndarray, step: int, eval_mode: bool, proprio: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def act_many(
        self,
        observations: list[np.ndarray],
        steps: list[int],
        eval_mode: bool = False,
        proprios: list[np.ndarray | None] | None = None,
    ) -> list[np.ndarray]:
        """Actions for several environments (environment workers), observation ``i`` at agent
        step ``steps[i]``: here one ``act`` each, in order; agents may batch it."""
        proprios = proprios or [None] * len(observations)
        return [self.act(o, s, eval_mode, proprio=p) for o, s, p in zip(observations, steps, proprios, strict=True)]

    def to_batch(self, batch: dict[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
        """The sampled numpy batch on the agent's device (pinned, asynchronous copies on CUDA);
        tensors a device replay (``replay.device=agent``) already put there pass through."""
        pin = self.device.type == "cuda"
        out = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                out[key] = value.to(self.device, non_blocking=pin)  # the same tensor when already there
                continue
            tensor = torch.from_numpy(value)
            if pin:
                tensor = tensor.pin_memory()
            out[key] = tensor.to(self.device, non_blocking=pin)
        return out

    def drain_events(self) -> list[dict]:
        """Interventions the agent ran on its own since the last call (events.csv rows); none here."""
        return []

    def live_tensors(self) -> list[torch.Tensor]:
        """Parameters and optimiser state tensors, the objects updated in place."""
        tensors: list[torch.Tensor] = []
        for module in self._modules().values():
            if isinstance(module, torch.optim.Optimizer):
                for state in module.state.values():
                    tensors.extend(v for v in state.values() if isinstance(v, torch.Tensor))
            else:
                tensors.extend(module.parameters())
                tensors.extend(module.buffers())
        if self.methods is not None:
            tensors.extend(self.methods.live_tensors())
        return tensors

    def state_dict(self) -> dict[str, Any]:
        state = {name: module.state_dict() for name, module in self._modules().items()}
        if self.injected:
            state["plasticity_injected"] = list(self.injected)
        if self.methods is not None:
            state["plasticity_methods"] = self.methods.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("plasticity_injected") and not self.injected:
            # every concrete ModuleAgent is a PlasticAgent (tests/test_architecture.py checks them)
            restore_injections_(cast("PlasticAgent", self), state["plasticity_injected"])  # the structure first
        modules = self._modules()
        missing = set(modules) - set(state)
        if missing:
            raise ValueError(f"agent checkpoint lacks {sorted(missing)}")
        for name, module in modules.items():
            module.load_state_dict(state[name])
        if self.methods is not None and "plasticity_methods" in state:  # older checkpoints: θ₀ from here on
            self.methods.load_state_dict(state["plasticity_methods"])
