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

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from dormant.errors import closest
from dormant.plasticity.activations import CONCATENATING
from dormant.plasticity.surgery import is_frozen

KINDS = ("drm", "redo")
SCORINGS = ("post_activation", "pre_activation")

# Element-wise activation modules: a Linear whose output goes straight into one of these
# (the next module of an ``nn.Sequential``) is scored on the activation's output.
ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Softplus,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
)

# A module may declare what its Linears feed, for wiring a Sequential cannot show
# (``F.relu`` in ``forward``, say): an attribute ``dormant_activations`` mapping a
# Linear's name *relative to that module* to the activation (a module or a callable),
# or to None for "score the raw output". Declarations override what the structure says.
DECLARATION = "dormant_activations"


@dataclass
class DormantResult:
    ratio: float  # dormant neurons / all neurons, pooled over layers
    per_layer: dict[str, float]  # layer name → its own ratio


@dataclass
class FauResult:
    fraction: float  # active ReLU output elements / all, pooled over layers
    per_layer: dict[str, float]


Activation = Callable[[torch.Tensor], torch.Tensor]


def linear_activations(model: nn.Module) -> dict[str, Activation | None]:
    """Every ``nn.Linear`` of ``model`` (by name) → the activation its output feeds, or None.

    Decided from the structure, never from whether an activation runs in place: inside
    an ``nn.Sequential``, a Linear immediately followed by an element-wise activation
    module (``ACTIVATIONS``) feeds it; anything else in between (LayerNorm, Dropout) or
    nothing after it means the raw output. A module's ``dormant_activations`` attribute
    overrides this for the Linears below it (see ``DECLARATION``).
    """
    found: dict[str, Activation | None] = {
        name: None for name, module in model.named_modules() if isinstance(module, nn.Linear)
    }
    for name, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (child, layer), (_, after) in pairwise(children):
                if isinstance(layer, nn.Linear) and isinstance(after, ACTIVATIONS):
                    found[f"{name}.{child}" if name else child] = after
    for name, module in model.named_modules():  # parents first, so deeper declarations win
        declared = getattr(module, DECLARATION, None)
        if declared is None:
            continue
        if not isinstance(declared, dict):
            raise ValueError(f"{type(module).__name__}.{DECLARATION} must be a dict of Linear name → activation")
        for child, activation in declared.items():
            full = f"{name}.{child}" if name else child
            if full not in found:
                own = [n[len(name) + 1 :] if name else n for n in found if not name or n.startswith(f"{name}.")]
                raise ValueError(
                    f"{type(module).__name__}.{DECLARATION} names {child!r}, which is not an "
                    f"nn.Linear of it{closest(child, own)}"
                )
            if activation is not None and not callable(activation):
                raise ValueError(f"{type(module).__name__}.{DECLARATION}[{child!r}] must be callable or None")
            found[full] = activation
    return found


def _apply(activation: Activation, out: torch.Tensor) -> torch.Tensor:
    """The activation of a hooked output without touching the forward pass's tensor."""
    if getattr(activation, "inplace", False):
        out = out.clone()
    return activation(out)


UNIT_ACTIVATIONS = (nn.ReLU, *CONCATENATING)  # what ReDo-kind ratios and FAU measure


def unit_values(module: nn.Module, inputs: tuple, out: torch.Tensor) -> torch.Tensor:
    """One non-negative value per unit of an activation module, whose mean over the batch is
    the unit's score and which is > 0 where the unit is active: a ReLU's output; for CReLU
    and Fourier (two outputs per unit), |pre-activation| (see ``activations``)."""
    if isinstance(module, CONCATENATING):
        return inputs[0].detach().abs()
    return out.detach()


def _probe_modules(model: nn.Module, kind: str) -> dict[str, nn.Module]:
    """The layers a probe measures: never a frozen one (plasticity injection's), whose units
    do not learn."""
    found: dict[str, nn.Module]
    if kind == "drm":
        found = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear) and not is_frozen(m)}
        what = "nn.Linear"
    else:
        found = {name: m for name, m in model.named_modules() if isinstance(m, UNIT_ACTIVATIONS) and not is_frozen(m)}
        what = "nn.ReLU (or CReLU, Fourier)"
    if not found:
        raise ValueError(f"{type(model).__name__} has no {what} module to measure (kind={kind!r})")
    return found


def kind_of(module: nn.Module) -> str:
    """``linear`` for the layers DrM-kind ratios hook (their raw output), ``unit`` otherwise."""
    return "linear" if isinstance(module, nn.Linear) else "unit"


def _run_with_hooks(
    model: nn.Module, modules: dict[str, nn.Module], inputs: tuple, reduce: Callable[[str, torch.Tensor], object]
) -> dict[str, list]:
    """Forward ``inputs`` once, collecting ``reduce(name, output)`` per module; hooks always removed."""
    collected: dict[str, list] = {name: [] for name in modules}
    handles = []
    try:
        for name, module in modules.items():
            handles.append(
                module.register_forward_hook(
                    lambda m, inputs, out, name=name: collected[name].append(
                        reduce(name, out.detach() if kind_of(m) == "linear" else unit_values(m, inputs, out))
                    )
                )
            )
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


def _check_batch(inputs: tuple) -> None:
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.dim() > 0 and x.shape[0] == 0:
            raise ValueError("the batch is empty: a dormant ratio needs at least one sample")


def dormant_tensors(
    model: nn.Module, *inputs: torch.Tensor, tau: float = 0.025, kind: str = "drm", scoring: str = "post_activation"
) -> tuple[torch.Tensor, list[str], torch.Tensor, list[int]]:
    """Device-side dormant ratio: (pooled ratio, layer names, dormant counts, neuron counts).

    Nothing here waits for the device: counts stay tensors, sizes are host ints. A layer
    with a NaN/inf activation gets a NaN count, so the pooled ratio is NaN too: the
    caller's one synchronisation sees it (``dormant_ratio`` raises; the trainer stops on
    a non-finite metric) instead of a ratio computed from garbage.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}{closest(scoring, SCORINGS)}")
    low_ok = tau >= 0.0 if kind == "redo" else tau > 0.0  # ReDo's τ = 0: exactly dead neurons
    if not (isinstance(tau, (int, float)) and low_ok and tau <= 1.0):
        raise ValueError(f"tau must be in ({'[' if kind == 'redo' else '('}0, 1] for kind={kind!r}, got {tau!r}")
    _check_batch(inputs)
    modules = _probe_modules(model, kind)
    after = linear_activations(model) if kind == "drm" and scoring == "post_activation" else {}

    def reduce(name: str, out: torch.Tensor) -> torch.Tensor:
        activation = after.get(name)
        return _neuron_scores(out if activation is None else _apply(activation, out))

    collected = _run_with_hooks(model, modules, inputs, reduce)
    names, dormant, total = [], [], []
    for name, calls in collected.items():
        if not calls:
            continue  # a module the forward pass did not use
        scores = torch.stack(calls).mean(dim=0)
        if kind == "drm":  # noqa: SIM108 (a ternary would lose each rule's comment)
            # DrM's rule: strictly below τ × the layer's mean score. A layer whose scores
            # are all zero therefore has no dormant neuron (0 < 0 is false), as in DrM's code.
            is_dormant = scores < tau * scores.mean()
        else:
            # ReDo's rule: the score normalised by the layer mean is ≤ τ; an all-zero layer
            # is entirely dormant.
            is_dormant = scores / (scores.mean() + 1e-9) <= tau
        count = is_dormant.sum().float()
        names.append(name)
        dormant.append(torch.where(torch.isfinite(scores).all(), count, torch.full_like(count, float("nan"))))
        total.append(scores.numel())
    if not names:
        raise ValueError(f"no measured layer of {type(model).__name__} ran in the forward pass")
    dormant_t = torch.stack(dormant)
    return dormant_t.sum() / float(sum(total)), names, dormant_t, total


def per_layer_host(names: list[str], counts: list[float], total: list[int], what: str) -> dict[str, float]:
    """Per-layer ratios from synced counts; NaN counts (non-finite activations) raise."""
    bad = [name for name, count in zip(names, counts, strict=True) if not math.isfinite(count)]
    if bad:
        raise ValueError(
            f"{what}: non-finite (NaN/inf) activations in layer(s) {', '.join(bad)}; "
            "no dormant ratio can be computed from them"
        )
    return {n: c / t for n, c, t in zip(names, counts, total, strict=True)}


def dormant_ratio(
    model: nn.Module, *inputs: torch.Tensor, tau: float = 0.025, kind: str = "drm", scoring: str = "post_activation"
) -> DormantResult:
    """The τ-dormant ratio of ``model`` on ``inputs``, pooled over layers by neuron count.

    ``kind="drm"`` (DrM's definition, as its authors' code computes it): every
    ``nn.Linear``, output layer included; a neuron's score is its mean |activation|
    over the batch, where the activation is the output of the activation function the
    Linear feeds (``scoring="post_activation"``, default; see ``linear_activations``)
    or the raw output when it feeds none (e.g. a Linear before a LayerNorm, or the
    last layer). A neuron is dormant when its score is strictly below τ × the layer's
    mean score. ``scoring="pre_activation"`` scores every Linear's raw output instead.

    ``kind="redo"`` (ReDo's definition): the output of every ``nn.ReLU`` (CReLU, Fourier: the
    unit's |pre-activation|, see ``activations``) (hidden layers
    only; conv channels are neurons, averaged over batch, H and W), dormant when the
    score divided by the layer mean is ≤ τ.

    NaN/inf activations or an empty batch raise ``ValueError``.
    """
    ratio, names, dormant, total = dormant_tensors(model, *inputs, tau=tau, kind=kind, scoring=scoring)
    host = torch.cat([ratio.reshape(1), dormant]).cpu().tolist()  # one sync
    per_layer = per_layer_host(names, host[1:], total, f"dormant ratio of {type(model).__name__}")
    return DormantResult(ratio=host[0], per_layer=per_layer)


def fau_tensors(model: nn.Module, *inputs: torch.Tensor) -> tuple[torch.Tensor, list[str], torch.Tensor, list[int]]:
    """Device-side FAU: (pooled fraction, layer names, active counts, element counts)."""
    modules = _probe_modules(model, "redo")
    collected = _run_with_hooks(model, modules, inputs, lambda _name, out: ((out > 0).sum(), out.numel()))
    names = [name for name, calls in collected.items() if calls]
    if not names:
        raise ValueError(f"no nn.ReLU (or CReLU, Fourier) of {type(model).__name__} ran in the forward pass")
    sizes = [sum(numel for _, numel in collected[n]) for n in names]
    actives = torch.stack([sum(a for a, _ in collected[n]) for n in names]).float()
    return actives.sum() / float(sum(sizes)), names, actives, sizes


def fau(model: nn.Module, *inputs: torch.Tensor) -> FauResult:
    """Fraction of active units: the share of ``nn.ReLU`` output elements > 0 (CReLU and Fourier
    units: the share with a non-zero pre-activation)."""
    fraction, names, actives, sizes = fau_tensors(model, *inputs)
    host = torch.cat([fraction.reshape(1), actives]).cpu().tolist()  # one sync
    return FauResult(fraction=host[0], per_layer={n: a / s for n, a, s in zip(names, host[1:], sizes, strict=True)})


class ActiveUnitCounter:
    """Counts active ReLU outputs of ``model`` during forward passes run inside ``with``.

    For FAU *during training* (the adaptive replay ratio's signal): no extra forward pass and no host sync;
    ``fraction()`` is a device tensor. Outside the ``with`` block no hook is attached.

    Example::

        counter = ActiveUnitCounter(critic)
        with counter:
            q1, q2 = critic(h, action)     # the update's own forward pass
        critic_fau = counter.fraction()    # tensor, pooled over every ReLU element
    """

    def __init__(self, model: nn.Module):
        self.model = model
        _probe_modules(model, "redo")  # fail now, not at the first update, on a model without units
        self._handles: list = []
        self._active: list[torch.Tensor] = []
        self._total = 0

    def _hook(self, module, inputs, out) -> None:
        values = unit_values(module, inputs, out)
        self._active.append((values > 0).sum())
        self._total += values.numel()

    def __enter__(self) -> ActiveUnitCounter:
        self._active, self._total = [], 0
        # found again each time: plasticity injection may have changed the model since
        self._handles = [m.register_forward_hook(self._hook) for m in _probe_modules(self.model, "redo").values()]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def fraction(self) -> torch.Tensor:
        if not self._total:
            raise ValueError("no nn.ReLU (or CReLU, Fourier) ran inside the `with` block")
        return torch.stack(self._active).sum().float() / float(self._total)
