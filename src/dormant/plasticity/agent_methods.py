"""The per-step plasticity methods on a whole agent, attached to its optimisers' ``step``:
L2 Init and Parseval regularisation (their gradients added just before a step), TRAC (around
each step) and Normalize-and-Project's weight projection (just after), plus the initial
parameters θ₀ that L2 Init pulls towards and diagnostics measure the weight difference from.

Working through ``optimizer.step()`` hooks (``register_step_pre_hook``/``post_hook``) makes
every method an option of every agent without a line in the agents' updates. A parameter held
by several optimisers (TACO's encoder is in the encoder's and TACO's) is regularised by the
first of ``agent.optimizers()`` that holds it, so a penalty is counted once per update.

The order inside one step: penalty gradients → TRAC's record → the base step → TRAC's
rescale → NaP's projection (so NaP projects what TRAC produced).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from dormant.plasticity.nap import weight_norms
from dormant.plasticity.regularisers import add_l2_init_grad_, add_parseval_grad_, parseval_layers
from dormant.plasticity.surgery import is_frozen
from dormant.plasticity.trac import TRAC

if TYPE_CHECKING:
    from dormant.interfaces import PlasticAgent


def _trainable(net: torch.nn.Module) -> list[torch.Tensor]:
    return [
        p for name, m in net.named_modules() if not is_frozen(m) for p in m.parameters(recurse=False) if p.requires_grad
    ]


class AgentMethods:
    """L2 Init, Parseval, TRAC and NaP on the named networks of ``agent`` (empty: off)."""

    def __init__(
        self,
        agent: PlasticAgent,
        *,
        l2_init: float = 0.0,
        l2_init_nets: Sequence[str] = (),
        parseval: float = 0.0,
        parseval_s: float = 1.0,
        parseval_nets: Sequence[str] = (),
        nap_nets: Sequence[str] = (),
        trac: bool = False,
    ):
        self.agent = agent
        nets = agent.networks()
        for what, names in (("l2_init", l2_init_nets), ("parseval", parseval_nets), ("nap", nap_nets)):
            unknown = sorted(set(names) - set(nets))
            if unknown:
                raise ValueError(f"{what}: agent has no network {unknown}; it has {sorted(nets)}")
        self.l2_init, self.l2_init_nets = float(l2_init), list(l2_init_nets) if l2_init else []
        self.parseval, self.parseval_s = float(parseval), float(parseval_s)
        self.parseval_nets = list(parseval_nets) if parseval else []
        self.nap_nets = list(nap_nets)
        # θ₀ of every parameter of every network (weight difference; L2 Init's anchor); a
        # parameter first seen later (plasticity injection's fresh head) is anchored then.
        self.anchors: dict[int, torch.Tensor] = {}
        for network in nets.values():
            for p in network.parameters():
                self.anchor(p)
        self.norms: dict[int, torch.Tensor] = {}  # NaP: id(weight) → its norm at initialisation
        for net in self.nap_nets:
            self._record_norms(nets[net])
        self.optimizers = list(agent.optimizers())
        self.tracs: list[TRAC] = []
        for optimizer in self.optimizers:  # registration order is the order inside a step
            if self.l2_init_nets or self.parseval_nets:
                optimizer.register_step_pre_hook(self._penalties_hook(optimizer))
            if trac:
                self.tracs.append(TRAC(optimizer))
            if self.nap_nets:
                optimizer.register_step_post_hook(self._projection_hook(optimizer))

    def anchor(self, p: torch.Tensor) -> torch.Tensor:
        """θ₀ of ``p``: its value when this object first saw it."""
        found = self.anchors.get(id(p))
        if found is None:
            found = self.anchors[id(p)] = p.detach().clone()
        return found

    def _record_norms(self, net: torch.nn.Module) -> None:
        for weight, norm in weight_norms(net):
            self.norms.setdefault(id(weight), norm)

    def _owned(self, optimizer: torch.optim.Optimizer) -> set[int]:
        """ids of the parameters whose first holder (in ``agent.optimizers()`` order) is ``optimizer``."""
        earlier: set[int] = set()
        for other in self.optimizers:
            if other is optimizer:
                break
            earlier.update(id(p) for group in other.param_groups for p in group["params"])
        return {id(p) for group in optimizer.param_groups for p in group["params"]} - earlier

    def _penalties_hook(self, optimizer: torch.optim.Optimizer) -> Callable[..., None]:
        def hook(_optimizer: Any, _args: Any, _kwargs: Any) -> None:
            owned = self._owned(optimizer)
            nets = self.agent.networks()
            if self.l2_init_nets:
                params = [p for net in self.l2_init_nets for p in _trainable(nets[net]) if id(p) in owned]
                add_l2_init_grad_(params, [self.anchor(p) for p in params], self.l2_init)
            if self.parseval_nets:
                layers = [
                    layer
                    for net in self.parseval_nets
                    for layer in parseval_layers(nets[net])
                    if id(layer.weight) in owned and layer.weight.requires_grad
                ]
                add_parseval_grad_(layers, self.parseval, self.parseval_s)

        return hook

    def _projection_hook(self, optimizer: torch.optim.Optimizer) -> Callable[..., None]:
        def hook(_optimizer: Any, _args: Any, _kwargs: Any) -> None:
            held = {id(p) for group in optimizer.param_groups for p in group["params"]}
            nets = self.agent.networks()
            with torch.no_grad():
                for net in self.nap_nets:
                    self._record_norms(nets[net])  # a head injected since: its norms as injected
                    for weight, _ in weight_norms(nets[net]):
                        if id(weight) in held:
                            norm = torch.linalg.vector_norm(weight)
                            target = self.norms[id(weight)]
                            weight.mul_(torch.where(norm > 0, target / norm, torch.ones_like(norm)))

        return hook

    def weight_difference(self, net: torch.nn.Module) -> torch.Tensor:
        """‖θ − θ₀‖ over every parameter of ``net`` (a device tensor)."""
        params = list(net.parameters())
        if not params:
            return torch.zeros(())
        return torch.stack([(p.detach().float() - self.anchor(p).float()).pow(2).sum() for p in params]).sum().sqrt()

    def live_tensors(self) -> list[torch.Tensor]:
        return [t for trac in self.tracs for t in trac.live_tensors()]

    def state_dict(self) -> dict[str, Any]:
        nets = self.agent.networks()
        return {
            "anchors": {name: [self.anchor(p) for p in net.parameters()] for name, net in nets.items()},
            "norms": {name: [self.norms.get(id(w)) for w, _ in weight_norms(nets[name])] for name in self.nap_nets},
            "trac": [trac.state_dict() for trac in self.tracs],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        nets = self.agent.networks()
        for name, anchors in state["anchors"].items():
            params = list(nets[name].parameters())
            if len(params) != len(anchors):
                raise ValueError(f"checkpoint has θ₀ for {len(anchors)} parameters of {name}, it has {len(params)}")
            self.anchors.update({id(p): a.to(p.device) for p, a in zip(params, anchors, strict=True)})
        for name, norms in state.get("norms", {}).items():
            for (weight, _), norm in zip(weight_norms(nets[name]), norms, strict=True):
                if norm is not None:
                    self.norms[id(weight)] = norm.to(weight.device)
        if len(state["trac"]) != len(self.tracs):
            raise ValueError(
                f"checkpoint has TRAC state for {len(state['trac'])} optimisers, the agent {len(self.tracs)}"
            )
        for trac, saved in zip(self.tracs, state["trac"], strict=True):
            trac.load_state_dict(saved)
