"""ReDo: recycle τ-dormant neurons (Sokar et al., ICML 2023).

The wiring is traced, not assumed: one ``no_grad`` forward pass records which
``nn.Linear``/``nn.Conv2d`` produced each ``nn.ReLU``'s input and which layers read
its output (matched by tensor storage, so ``flatten`` views are followed). A
neuron's *incoming* weights are the producer's row (Linear) or output channel
(conv); its *outgoing* weights are the consumers' columns (Linear), input channels
(conv), or — conv → flatten → Linear — the ``H·W`` consecutive columns the channel
owns in NCHW order. Activations that leave the model (its output) are never
recycled; activations that go somewhere untraceable (``torch.cat``, dropout,
normalisation before the next layer) raise rather than silently change the function.

Example::

    from dormant.plasticity import recycle_dormant_
    counts = recycle_dormant_(critic, critic_opt, features, actions, tau=0.1)
    # {'q1.0': 3, 'q1.2': 0, 'q2.0': 1, 'q2.2': 0}
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from dormant.plasticity.activations import CReLU
from dormant.plasticity.metrics import _neuron_scores, unit_values

LAYER_TYPES = (nn.Linear, nn.Conv2d)
Layer = nn.Linear | nn.Conv2d


@dataclass
class _Site:
    """One recyclable layer: its ReLU scores and the layers that read its activations."""

    module: Layer
    out_shape: tuple[int, ...]
    scores: list[torch.Tensor] = field(default_factory=list)
    consumers: dict[str, tuple[Layer, tuple[int, ...]]] = field(default_factory=dict)
    leaves_model: bool = False
    untraced: bool = False
    factor: int = 1  # features per unit: 2 for CReLU (columns i and n + i are unit i's)


def _tensor_ptrs(value) -> set[int]:
    if isinstance(value, torch.Tensor):
        return {value.data_ptr()}
    if isinstance(value, (tuple, list)):
        return set().union(*(_tensor_ptrs(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return _tensor_ptrs(list(value.values()))
    return set()


def _trace(model: nn.Module, inputs: tuple) -> dict[str, _Site]:
    """Forward once; map each ReLU-activated Linear/Conv (by name) to its site."""
    names = {module: name for name, module in model.named_modules()}
    events: list[tuple] = []
    keep: list[torch.Tensor] = []  # hold every traced tensor so no storage is reused mid-pass

    def on_layer(module, args, out):
        keep.extend((args[0], out))
        events.append(
            ("layer", names[module], module, args[0].data_ptr(), tuple(args[0].shape), out.data_ptr(), tuple(out.shape))
        )

    def on_relu(module, args, out):
        keep.extend((args[0], out))
        events.append(
            (
                "relu",
                args[0].data_ptr(),
                out.data_ptr(),
                _neuron_scores(unit_values(module, args, out)),
                2 if isinstance(module, CReLU) else 1,
            )
        )

    handles = []
    try:
        for module in model.modules():
            if isinstance(module, LAYER_TYPES):
                handles.append(module.register_forward_hook(on_layer))
            elif isinstance(module, (nn.ReLU, CReLU)):  # Fourier units are never recycled (cos 0 = 1)
                handles.append(module.register_forward_hook(on_relu))
        with torch.no_grad():
            try:
                output = model(*inputs)
            except (RuntimeError, TypeError) as err:
                raise ValueError(f"{type(model).__name__} rejected the inputs: {err}") from err
    finally:
        for handle in handles:
            handle.remove()
    outputs = _tensor_ptrs(output)

    sites: dict[str, _Site] = {}
    for i, event in enumerate(events):
        if event[0] != "relu":
            continue
        _, in_ptr, out_ptr, scores, factor = event
        producer = next((e for e in reversed(events[:i]) if e[0] == "layer" and e[5] == in_ptr), None)
        if producer is None:
            continue  # a ReLU not fed directly by a Linear/Conv (e.g. after LayerNorm): not recyclable
        _, name, module, _, _, _, out_shape = producer
        site = sites.setdefault(name, _Site(module, out_shape, factor=factor))
        site.scores.append(scores)
        consumers = {e[1]: (e[2], e[4]) for e in events[i + 1 :] if e[0] == "layer" and e[3] == out_ptr}
        site.consumers.update(consumers)
        if out_ptr in outputs:
            site.leaves_model = True
        elif not consumers:
            site.untraced = True
    return sites


def _outgoing_mask(
    site_name: str,
    site: _Site,
    consumer_name: str,
    consumer: nn.Module,
    consumer_in: tuple[int, ...],
    dormant: torch.Tensor,
) -> torch.Tensor:
    """Boolean mask over the consumer's input features/channels owned by dormant neurons."""
    dormant = dormant.repeat(site.factor)  # CReLU: unit i owns features i and n + i
    producer_conv = len(site.out_shape) == 4
    if isinstance(consumer, nn.Linear):
        if not producer_conv and consumer.in_features == dormant.numel():
            return dormant
        if (
            producer_conv
            and consumer.in_features == dormant.numel() * site.out_shape[2] * site.out_shape[3]
            and len(consumer_in) == 2
        ):
            return dormant.repeat_interleave(site.out_shape[2] * site.out_shape[3])  # NCHW flatten
    elif (
        isinstance(consumer, nn.Conv2d)
        and producer_conv
        and consumer.groups == 1
        and consumer.in_channels == dormant.numel()
    ):
        return dormant
    raise ValueError(
        f"cannot map the neurons of {site_name!r} (output {site.out_shape}) onto the inputs of "
        f"{consumer_name!r} ({type(consumer).__name__}, input {consumer_in})"
    )


def _layer(model: nn.Module, name: str) -> Layer:
    """The Linear/Conv2d named ``name`` in ``model`` (a follower's twin of a traced layer)."""
    layer = model.get_submodule(name)
    if not isinstance(layer, LAYER_TYPES):
        raise ValueError(f"{type(model).__name__} has a {type(layer).__name__} at {name!r}, not a Linear or Conv2d")
    return layer


def _where_(tensor: torch.Tensor, mask: torch.Tensor, value: torch.Tensor | float) -> None:
    """tensor[mask] = value without a host sync (mask broadcasts against tensor)."""
    tensor.copy_(torch.where(mask, value, tensor))


def _reset_moments_(
    optimizers: list[torch.optim.Optimizer], param: torch.Tensor, mask: torch.Tensor, reset_step: bool
) -> None:
    """Zero every per-entry optimiser state (Adam moments, momentum) where ``mask``."""
    touched = None
    for optimizer in optimizers:
        state = optimizer.state.get(param)
        if not state:
            continue
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape:
                _where_(value, mask, 0.0)
            elif key == "step" and reset_step:
                touched = bool(mask.any()) if touched is None else touched  # a sync, only with this option
                if touched:
                    state[key] = torch.zeros_like(value) if isinstance(value, torch.Tensor) else 0


@torch.no_grad()
def recycle_dormant_(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | Iterable[torch.optim.Optimizer] | None,
    *inputs: torch.Tensor,
    tau: float = 0.1,
    reset_step: bool = False,
    init_fn: Callable[[nn.Module], None] | None = None,
    layers: Iterable[str] | None = None,
    followers: Iterable[nn.Module] = (),
    reset_bias_moments: bool = True,
) -> dict[str, int]:
    """Recycle the τ-dormant neurons of ``model`` on ``inputs``; returns recycled counts per layer.

    For each hidden ``nn.Linear``/``nn.Conv2d`` followed by an ``nn.ReLU`` module: a
    neuron whose mean |ReLU output| (over batch, and H, W for conv) divided by the
    layer's mean is ≤ ``tau`` gets incoming weights re-drawn from the layer's own
    initialiser (``init_fn`` applied to a copy of the layer, else its
    ``reset_parameters()``), bias 0 and outgoing weights 0. The optimiser state of
    exactly those entries (Adam's moments, momentum) is zeroed; ``reset_step=True``
    also restarts the step count of the touched parameters (Adam keeps one per
    tensor, so this changes the bias correction of its other entries too).
    ``layers`` restricts recycling to the named layers. ``followers`` are copies of
    ``model`` that track it (a Polyak target network): they get the same re-drawn rows,
    zero biases and zero outgoing weights, so that the target's function is unchanged
    too and the moving average does not mix fresh rows with stale outgoing weights.
    ``reset_bias_moments=False`` keeps the optimiser state of the recycled biases (ReDo's
    Dopamine code masks only the kernels' moments).

    Every layer's incoming weights are re-drawn first, then every outgoing weight is zeroed
    (the order of both of ReDo's implementations): a weight that is both a re-drawn row of
    one layer and an outgoing column of a recycled neuron before it ends at 0.
    No host sync until the counts.
    """
    if not (isinstance(tau, (int, float)) and 0.0 <= tau < 1.0):
        raise ValueError(f"tau must be in [0, 1), got {tau!r}")
    if optimizer is None:
        optimizers: list[torch.optim.Optimizer] = []
    elif isinstance(optimizer, torch.optim.Optimizer):
        optimizers = [optimizer]
    else:
        optimizers = list(optimizer)
    sites = _trace(model, inputs)
    if layers is not None:
        wanted = set(layers)
        unknown = wanted - set(sites)
        if unknown:
            raise ValueError(f"no recyclable layer named {sorted(unknown)}; recyclable: {sorted(sites)}")
        sites = {name: site for name, site in sites.items() if name in wanted}
    # validate every layer before changing any, so a refusal changes nothing
    plan: list[tuple[str, Layer, torch.Tensor, list[tuple[str, Layer, torch.Tensor]]]] = []
    for name, site in sites.items():
        if site.leaves_model or getattr(site.module, "plasticity_frozen", False):
            continue  # the output layer (its activations are the model's output), a frozen layer: never recycled
        if site.untraced:
            raise ValueError(
                f"cannot trace where the activations of {name!r} go (an operation such as torch.cat, "
                "dropout or a normalisation sits before the next Linear/Conv); ReDo must zero their "
                "outgoing weights, so it refuses to recycle rather than change the network's function. "
                "Pass layers=[...] to recycle the others."
            )
        scores = torch.stack(site.scores).mean(dim=0)
        dormant = scores / (scores.mean() + 1e-9) <= tau
        outgoing = [
            (consumer_name, consumer, _outgoing_mask(name, site, consumer_name, consumer, consumer_in, dormant))
            for consumer_name, (consumer, consumer_in) in site.consumers.items()
        ]
        plan.append((name, site.module, dormant, outgoing))
    followers = list(followers)
    for follower in followers:  # same structure, checked before anything changes
        for name, layer, _, _ in plan:
            copy_layer = _layer(follower, name)
            if copy_layer.weight.shape != layer.weight.shape:
                raise ValueError(f"follower {type(follower).__name__} differs from the model at {name!r}")
    counts: dict[str, torch.Tensor] = {}
    for name, layer, dormant, _ in plan:  # incoming weights and biases of every layer first
        fresh = copy.deepcopy(layer)
        if init_fn is not None:
            fresh.apply(init_fn)
        else:
            fresh.reset_parameters()
        rows = dormant.view(-1, *([1] * (layer.weight.dim() - 1)))
        _where_(layer.weight, rows, fresh.weight.to(layer.weight.dtype))
        _reset_moments_(optimizers, layer.weight, rows.expand_as(layer.weight), reset_step)
        if layer.bias is not None:
            _where_(layer.bias, dormant, 0.0)
            if reset_bias_moments:
                _reset_moments_(optimizers, layer.bias, dormant, reset_step)
        for follower in followers:
            twin = _layer(follower, name)
            _where_(twin.weight, rows, layer.weight)
            if twin.bias is not None:
                _where_(twin.bias, dormant, 0.0)
        counts[name] = dormant.sum()
    for _, _, _, outgoing in plan:  # then every outgoing weight
        for consumer_name, consumer, columns in outgoing:
            mask = columns.view(1, -1, *([1] * (consumer.weight.dim() - 2))).expand_as(consumer.weight)
            _where_(consumer.weight, mask, 0.0)
            _reset_moments_(optimizers, consumer.weight, mask, reset_step)
            for follower in followers:
                _where_(_layer(follower, consumer_name).weight, mask, 0.0)
    if not counts:
        return {}
    host = torch.stack(list(counts.values())).cpu().tolist()  # the one sync
    return dict(zip(counts, (int(n) for n in host), strict=True))
