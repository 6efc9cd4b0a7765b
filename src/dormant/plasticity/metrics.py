"""Probes of network plasticity: dormant ratio (DrM's and ReDo's kinds) and FAU.

Each probe runs one forward pass under ``no_grad`` with forward hooks that are always
removed, leaves the model's train/eval mode alone, and synchronises with the host
once. The ``*_tensors`` variants return device tensors instead, so that an agent can
fold them into its own single per-update synchronisation.

Example::

    from dormant.plasticity import dormant_ratio, fau
    result = dormant_ratio(actor, features, tau=0.025, kind="drm")
    print(result.ratio, result.per_layer)     # 0.12 {'trunk.0': 0.0, 'policy.0': 0.15, ...}
    print(fau(critic, features, actions).fraction)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

KINDS = ("drm", "redo")


@dataclass
class DormantResult:
    ratio: float  # dormant neurons / all neurons, pooled over layers
    per_layer: dict[str, float]  # layer name → its own ratio


@dataclass
class FauResult:
    fraction: float  # active ReLU output elements / all, pooled over layers
    per_layer: dict[str, float]


def _probe_modules(model: nn.Module, kind: str) -> dict[str, nn.Module]:
    if kind == "drm":
        found = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
        what = "nn.Linear"
    else:
        found = {name: m for name, m in model.named_modules() if isinstance(m, nn.ReLU)}
        what = "nn.ReLU"
    if not found:
        raise ValueError(f"{type(model).__name__} has no {what} module to measure (kind={kind!r})")
    return found


def _run_with_hooks(model: nn.Module, modules: dict[str, nn.Module], inputs: tuple,
                    reduce) -> dict[str, list]:
    """Forward ``inputs`` once, collecting ``reduce(output)`` per module; hooks always removed."""
    collected: dict[str, list[torch.Tensor]] = {name: [] for name in modules}
    handles = []
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(
                lambda _m, _i, out, name=name: collected[name].append(reduce(out.detach()))))
        with torch.no_grad():
            try:
                model(*inputs)
            except (RuntimeError, TypeError) as err:
                raise ValueError(f"{type(model).__name__} rejected the inputs: {err}") from err
    finally:
        for handle in handles:
            handle.remove()
    return collected


def _neuron_scores(out: torch.Tensor) -> torch.Tensor:
    """Mean |activation| per neuron: features on the last axis (Linear), channels on
    axis 1 (conv maps: mean over batch, H, W)."""
    out = out.float().abs()
    if out.dim() == 4:
        return out.mean(dim=(0, 2, 3))
    return out.reshape(-1, out.shape[-1]).mean(dim=0)


def dormant_tensors(model: nn.Module, *inputs: torch.Tensor, tau: float = 0.025,
                    kind: str = "drm") -> tuple[torch.Tensor, list[str], torch.Tensor, list[int]]:
    """Device-side dormant ratio: (pooled ratio, layer names, dormant counts, neuron counts).

    Nothing here waits for the device: counts stay tensors, sizes are host ints.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not (isinstance(tau, (int, float)) and 0.0 < tau <= 1.0):
        raise ValueError(f"tau must be in (0, 1], got {tau!r}")
    modules = _probe_modules(model, kind)
    collected = _run_with_hooks(model, modules, inputs, _neuron_scores)
    names, dormant, total = [], [], []
    for name, calls in collected.items():
        if not calls:
            continue  # a module the forward pass did not use
        scores = torch.stack(calls).mean(dim=0)
        normalised = scores / (scores.mean() + 1e-9)
        # DrM: dormant when below τ × layer mean; ReDo: when ≤ τ after normalising.
        is_dormant = normalised < tau if kind == "drm" else normalised <= tau
        names.append(name)
        dormant.append(is_dormant.sum())
        total.append(scores.numel())
    if not names:
        raise ValueError(f"no measured layer of {type(model).__name__} ran in the forward pass")
    dormant_t = torch.stack(dormant).float()
    return dormant_t.sum() / float(sum(total)), names, dormant_t, total


def dormant_ratio(model: nn.Module, *inputs: torch.Tensor, tau: float = 0.025,
                  kind: str = "drm") -> DormantResult:
    """The τ-dormant ratio of ``model`` on ``inputs`` (SPEC.md §2).

    ``kind="drm"``: pre-activation |output| of every ``nn.Linear`` (output layer
    included), dormant when below τ × the layer's mean score. ``kind="redo"``: the
    output of every ``nn.ReLU`` (hidden layers only; conv channels are neurons),
    dormant when the layer-normalised score is ≤ τ. Neuron-weighted over layers.
    """
    ratio, names, dormant, total = dormant_tensors(model, *inputs, tau=tau, kind=kind)
    host = torch.cat([ratio.reshape(1), dormant]).cpu().tolist()  # one sync
    return DormantResult(ratio=host[0], per_layer={n: d / t for n, d, t in zip(names, host[1:], total)})


def fau_tensors(model: nn.Module, *inputs: torch.Tensor) -> tuple[torch.Tensor, list[str], torch.Tensor, list[int]]:
    """Device-side FAU: (pooled fraction, layer names, active counts, element counts)."""
    modules = _probe_modules(model, "redo")
    collected = _run_with_hooks(model, modules, inputs, lambda out: ((out > 0).sum(), out.numel()))
    names = [name for name, calls in collected.items() if calls]
    if not names:
        raise ValueError(f"no nn.ReLU of {type(model).__name__} ran in the forward pass")
    sizes = [sum(numel for _, numel in collected[n]) for n in names]
    actives = torch.stack([sum(a for a, _ in collected[n]) for n in names]).float()
    return actives.sum() / float(sum(sizes)), names, actives, sizes


def fau(model: nn.Module, *inputs: torch.Tensor) -> FauResult:
    """Fraction of active units: the share of ``nn.ReLU`` output elements > 0."""
    fraction, names, actives, sizes = fau_tensors(model, *inputs)
    host = torch.cat([fraction.reshape(1), actives]).cpu().tolist()  # one sync
    return FauResult(fraction=host[0], per_layer={n: a / s for n, a, s in zip(names, host[1:], sizes)})


class ActiveUnitCounter:
    """Counts active ReLU outputs of ``model`` during forward passes run inside ``with``.

    For FAU *during training* (SPEC.md §6): no extra forward pass and no host sync;
    ``fraction()`` is a device tensor. Outside the ``with`` block no hook is attached.

    Example::

        counter = ActiveUnitCounter(critic)
        with counter:
            q1, q2 = critic(h, action)     # the update's own forward pass
        critic_fau = counter.fraction()    # tensor, pooled over every ReLU element
    """

    def __init__(self, model: nn.Module):
        self.modules = list(_probe_modules(model, "redo").values())
        self._handles: list = []
        self._active: list[torch.Tensor] = []
        self._total = 0

    def _hook(self, _module, _inputs, out) -> None:
        self._active.append((out.detach() > 0).sum())
        self._total += out.numel()

    def __enter__(self) -> "ActiveUnitCounter":
        self._active, self._total = [], 0
        self._handles = [m.register_forward_hook(self._hook) for m in self.modules]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def fraction(self) -> torch.Tensor:
        if not self._total:
            raise ValueError("no nn.ReLU ran inside the `with` block")
        return torch.stack(self._active).sum().float() / float(self._total)
