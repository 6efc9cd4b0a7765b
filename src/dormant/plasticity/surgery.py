"""In-place operations on one network's parameters: re-initialise (resets, Nikishin et
al. 2022), shrink-and-perturb (Ash & Adams 2020; DrM's perturbation is one with α(β)),
and forgetting an optimiser's state.

Example::

    from dormant.plasticity import shrink_perturb_
    shrink_perturb_(critic, 0.8, optimizers=[critic_opt])   # θ ← 0.8·θ + 0.2·φ, φ a fresh draw
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable

import torch
from torch import nn

SCOPES = ("linear", "all")
TARGETS = ("fresh", "initial")


FROZEN = "plasticity_frozen"  # a module attribute: True on parts that never move (plasticity injection's)


def is_frozen(module: nn.Module) -> bool:
    return getattr(module, FROZEN, False)


def _mixed_parameters(model: nn.Module, scope: str) -> list[tuple[str, torch.Tensor]]:
    """The parameters shrink-and-perturb mixes: all, or the Linears'; never a frozen module's."""
    return [
        (f"{name}.{p_name}" if name else p_name, p)
        for name, module in model.named_modules()
        if not is_frozen(module) and (scope == "all" or isinstance(module, nn.Linear))
        for p_name, p in module.named_parameters(recurse=False)
    ]


def _apply_unfrozen(module: nn.Module, fn: Callable[[nn.Module], None]) -> None:
    """``module.apply(fn)`` (children first, then the module: the same order of random draws)
    that skips frozen subtrees."""
    if is_frozen(module):
        return
    for child in module.children():
        _apply_unfrozen(child, fn)
    fn(module)


def reinitialise_(model: nn.Module, init_fn: Callable[[nn.Module], None] | None = None) -> nn.Module:
    """Re-draw every parameter of ``model`` in place from its initialiser.

    ``init_fn`` is applied to every submodule (e.g. DrQ-v2's orthogonal init for
    Linear/Conv); submodules it leaves unchanged (LayerNorm, for such an init) get
    their own ``reset_parameters()``. Without ``init_fn``, every submodule's
    ``reset_parameters()`` (PyTorch's default initialisers).
    """
    if init_fn is None:
        for module in model.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset) and not is_frozen(module):
                reset()
        return model
    before = {
        module: [p.detach().clone() for p in module.parameters(recurse=False)]
        for module in model.modules()
        if not is_frozen(module)
    }
    _apply_unfrozen(model, init_fn)
    for module, old in before.items():
        own = list(module.parameters(recurse=False))
        reset = getattr(module, "reset_parameters", None)
        if own and callable(reset) and all(torch.equal(a, b) for a, b in zip(own, old, strict=True)):
            reset()
    return model


def fresh_copy(model: nn.Module, init_fn: Callable[[nn.Module], None] | None = None) -> nn.Module:
    """A copy of ``model`` re-drawn from its own initialiser (see ``reinitialise_``)."""
    return reinitialise_(copy.deepcopy(model), init_fn)


def reset_optimizer_state_(optimizer: torch.optim.Optimizer) -> None:
    """Forget Adam's moments and step counts (the next step starts as the first)."""
    optimizer.state = defaultdict(dict)


@torch.no_grad()
def shrink_perturb_(
    model: nn.Module,
    alpha: float | torch.Tensor,
    *,
    target: str = "fresh",
    initial_state: dict[str, torch.Tensor] | None = None,
    init_fn: Callable[[nn.Module], None] | None = None,
    scope: str = "linear",
    optimizers: Iterable[torch.optim.Optimizer] = (),
) -> list[str]:
    """θ ← α·θ + (1−α)·φ in place; returns the names of the mixed parameters.

    ``target="fresh"``: φ is a new draw of the model's initialiser (``init_fn``, else
    ``reset_parameters``). ``target="initial"``: φ is ``initial_state`` (e.g. a copy of
    ``model.state_dict()`` taken at construction). ``scope="linear"`` mixes only
    ``nn.Linear`` weights and biases, as the DrM reference does (conv and LayerNorm
    untouched); ``scope="all"`` mixes every parameter, as the DrM paper's text says.
    ``alpha`` may be a 0-d device tensor (no host sync). ``optimizers`` are reset.
    """
    if isinstance(alpha, (int, float)) and not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    params = _mixed_parameters(model, scope)
    if not params:
        raise ValueError(f"{type(model).__name__} has no parameter in scope {scope!r}")
    source: dict[str, torch.Tensor]
    if target == "fresh":
        source = dict(fresh_copy(model, init_fn).named_parameters())
    else:
        if initial_state is None:
            raise ValueError("target='initial' needs initial_state (a copy of the model's state_dict)")
        source = initial_state
    for name, param in params:
        if name not in source:
            raise ValueError(f"initial_state has no entry {name!r}")
        param.lerp_(source[name].to(param.device, param.dtype), 1.0 - alpha)
    for optimizer in optimizers:
        reset_optimizer_state_(optimizer)
    return [name for name, _ in params]
