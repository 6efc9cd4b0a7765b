"""DQN and DrQ(ε) side by side with ReDo's Dopamine code (JAX/flax), update by update.

Reference: github.com/google/dopamine at commit 5873f5494ee0c2d7c016d0ab2ad530354fec59d0,
imported at run time from ``--reference PATH`` (a checkout of that commit):

- ``dopamine/labs/redo/networks.py``: ``ScalableNatureDQNNetwork`` (ReDo's DQN,
  ``RecycledDQNAgent.network = 'nature'``) and ``FullRainbowNetwork`` (ReDo's DrQ(ε),
  ``RecycledAtari100kRainbowAgent.network = 'nature'``, dueling, one atom, not noisy, as
  ``DrQ_eps.gin`` sets ``JaxFullRainbowAgent``);
- the update: ``recycled_dqn_agents.get_gradients`` + ``apply_updates_jitted`` (DQN; the
  same math as ``dqn_agent.train`` with ``loss_type='huber'``), ``full_rainbow_agent.train``
  (DrQ(ε): double DQN, Huber, ``mse_loss=False``); Adam from ``dqn_agent.create_optimizer``;
- DrQ(ε)'s augmentation: ``atari_100k_rainbow_agent.preprocess_inputs_with_augmentation``;
- ReDo: ``weight_recyclers.NeuronRecycler`` (τ-dormant, the ``reset_mode='neurons'`` path)
  on the intermediates of ``RecycledDQNAgent.get_intermediates`` /
  ``RecycledAtari100kRainbowAgent.get_intermediates`` (called on a stand-in ``self`` that
  returns the statistics batch).

Stubbed because they cannot import here and nothing compared uses them: ``tensorflow``,
``tensorflow_probability``, Dopamine's replay memory and checkpointers (``snappy``,
``orbax``), and ``dopamine.discrete_domains.atari_lib`` (ALE, gym, cv2; only its two
network output namedtuples are used, re-declared here).

What runs: our agent (``DQNAgent``/``DrQEpsAgent`` from the ``agent=dqn``/``agent=drq_eps``
presets with ``plasticity.redo=true``, its ReDo through ``PlasticityInterventions`` as the
trainer runs it) and theirs start from the same weights (ours copied into theirs with an
explicit name map, every parameter once; conv kernels OIHW → HWIO; the first dense layer's
rows permuted from our NCHW flatten to their NHWC flatten), get the same batches (random
uint8 frames, NCHW for us, NHWC for them) and, for DrQ(ε), the same augmentation draws
(ours recorded, replayed into their crop and intensity functions). Per update: the loss,
every gradient, every parameter after the step and Adam's moments are compared. Events in
the window: target copies (DQN: every 50 updates; theirs synced after update and
recycling, as its ``_train_step``), ReDo every 100 updates on a fresh statistics batch of
256 raw frames; before the first event a few neurons of every recyclable layer are made
dormant on both sides (zero incoming weights, bias −1), so that every layer kind (conv →
conv, conv → flatten → dense, dense → output / dueling streams) is recycled.

Their incoming re-draws come from their own key; ours are made to take the same values
(our ``init_fn`` returns their re-drawn kernels for that event), so that the comparison
checks which neurons are chosen, which weights are zeroed and which moments are reset.

Harness corrections, each reported: (1) their params and Adam state are a flax
``FrozenDict`` (as flax returned when ReDo ran: with today's flax ``init`` returns a dict
and their recycler's ``jax.tree.map`` over dict moments and FrozenDict masks fails);
(2) their ``create_mask_helper`` repeats a conv channel's mask over the flattened columns
as if the flatten were channel-major, but flax flattens (H, W, C): the run uses the
corrected column map (the measured effect of the original is printed, ``flatten_bug``);
(3) ``RecycledAtari100kRainbowAgent._training_step_update`` calls
``full_rainbow_agent.train`` without ``mse_loss`` (at this commit it would pass the rng as
``mse_loss`` and fail), so the script calls ``train`` with ``mse_loss=False``, what
``Atari100kRainbowAgent`` passes.

Set up (a separate environment, not the project's; CPU JAX)::

    python3.11 -m venv /work/venvs/fid-dopamine
    /work/venvs/fid-dopamine/bin/pip install torch==2.13.0 numpy==2.4.6 jax flax optax \\
        gin-config absl-py
    # tested with jax/jaxlib 0.10.2, flax 0.12.8, optax 0.2.8, gin-config 0.5.0
    git clone https://github.com/google/dopamine /path/dopamine
    git -C /path/dopamine checkout 5873f5494ee0c2d7c016d0ab2ad530354fec59d0

Run from the repository root (dormant comes from ``src/``)::

    OMP_NUM_THREADS=1 PYTHONPATH=src /work/venvs/fid-dopamine/bin/python \\
        scripts/fidelity/dqn_dopamine.py --reference /path/dopamine --agent dqn
    ... --agent drq_eps            # DrQ(ε)
    ... --x64                      # both sides in float64 (rounding check)
    ... --time --out FILE.json     # update time, ours vs theirs, interleaved

``run_ours`` (our side alone, no reference needed) gives the golden values that
``tests/test_fidelity_dqn.py`` checks.
"""

from __future__ import annotations

import argparse
import collections
import copy
import importlib.machinery
import json
import os
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from dormant.agents import dqn as dqn_module  # noqa: E402
from dormant.agents.dqn import DQNAgent, DrQEpsAgent  # noqa: E402
from dormant.config import resolve  # noqa: E402
from dormant.training.clock import PlasticityInterventions  # noqa: E402

NUM_ACTIONS = 6
BATCH = 32
STATS_BATCH = 256
TARGET_PERIOD = 50  # DQN's target copy in the window (the preset's is 2,000)
REDO_PERIOD = 100
TAU = 0.1
PLANTED = {"trunk.0": [3], "trunk.2": [5], "trunk.4": [7, 9], "head.0": [11]}  # made dormant before event 1

# our parameter → (their flax path, layout)
MAPS = {
    "dqn": {
        "trunk.0": ("Conv_0", "conv"),
        "trunk.2": ("Conv_1", "conv"),
        "trunk.4": ("Conv_2", "conv"),
        "head.0": ("Dense_0", "flat"),
        "head.2": ("final_layer", "dense"),
    },
    "drq_eps": {
        "trunk.0": ("Conv_0", "conv"),
        "trunk.2": ("Conv_1", "conv"),
        "trunk.4": ("Conv_2", "conv"),
        "head.0": ("Dense_0", "flat"),
        "advantage.0": ("Dense_1", "dense"),
        "value.0": ("Dense_2", "dense"),
    },
}
SPATIAL = (11, 11, 64)  # the last conv's output for 84×84 with SAME padding (H, W, C)


# ---------------------------------------------------------------- our side (no reference needed)
def make_agent(
    agent: str, dtype: torch.dtype = torch.float32, redo_period: int | None = None, target_period: int | None = None
):
    """Our agent from its preset with ReDo on (period REDO_PERIOD, τ = TAU) and its interventions."""
    overrides = {
        "task": "atari/Pong",
        "agent": agent,
        "plasticity.redo": "true",
        "plasticity.redo_every_updates": str(redo_period or REDO_PERIOD),
        "plasticity.redo_tau": str(TAU),
    }
    if agent == "dqn":
        overrides["dqn.target_update_updates"] = str(target_period or TARGET_PERIOD)
    cfg = resolve(overrides)
    torch.manual_seed(0)
    cls = DrQEpsAgent if agent == "drq_eps" else DQNAgent
    ours = cls((4, 84, 84), NUM_ACTIONS, cfg.agent, cfg.dqn, pixels=True, device=torch.device("cpu"))
    if dtype != torch.float32:
        ours.critic.to(dtype)
        ours.critic_target.to(dtype)
        ours.critic_opt = torch.optim.Adam(ours.critic.parameters(), lr=cfg.agent.lr, eps=cfg.dqn.adam_eps)
    return ours, PlasticityInterventions(cfg), cfg


def make_batch(gen: torch.Generator, n: int, gamma_n: float) -> dict[str, torch.Tensor]:
    obs = torch.randint(0, 256, (n, 4, 84, 84), generator=gen, dtype=torch.uint8)
    next_obs = torch.randint(0, 256, (n, 4, 84, 84), generator=gen, dtype=torch.uint8)
    action = torch.randint(NUM_ACTIONS, (n, 1), generator=gen)
    reward = torch.randn(n, 1, generator=gen).clamp(-1, 1)
    terminal = (torch.rand(n, 1, generator=gen) < 0.1).float()
    return {
        "obs": obs,
        "next_obs": next_obs,
        "action": action.float(),
        "reward": reward,
        "discount": gamma_n * (1.0 - terminal),
        "terminal": terminal,
    }


def plant_ours(agent) -> None:
    """Make the PLANTED neurons dormant: zero incoming weights, bias −1 (ReLU output 0)."""
    with torch.no_grad():
        for name, units in PLANTED.items():
            layer = agent.critic.get_submodule(name)
            layer.weight[units] = 0.0
            layer.bias[units] = -1.0


def gamma_n(cfg) -> float:
    return cfg.agent.discount**cfg.agent.nstep


def run_ours(agent: str, updates: int, redo_period: int = REDO_PERIOD, target_period: int = TARGET_PERIOD) -> dict:
    """Our side alone, as the comparison runs it (golden values: losses, checksum)."""
    ours, interventions, cfg = make_agent(agent, redo_period=redo_period, target_period=target_period)
    gen = torch.Generator().manual_seed(0)
    stats_gen = torch.Generator().manual_seed(1)
    interventions.sample_batch = lambda n: make_batch(stats_gen, n, gamma_n(cfg))
    torch.manual_seed(2)  # our augmentation draws
    losses, events = [], []
    for u in range(1, updates + 1):
        batch = make_batch(gen, BATCH, gamma_n(cfg))
        losses.append(float(ours.update(batch, step=10**7)[0]))
        if u == redo_period:
            plant_ours(ours)
        events += interventions.after_update(ours, batch, ours.updates, frame=0)
    checksum = float(sum(p.detach().double().abs().sum() for p in ours.critic.parameters()))
    return {"losses": losses, "checksum": checksum, "events": events}


# ---------------------------------------------------------------- the reference
class _AnyMeta(type):
    """Attributes of a stub are stub classes (subclassable, callable), all the way down."""

    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _AnyMeta(attr, (), {"__init__": lambda self, *a, **k: None})

    def __call__(cls, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]  # used as a decorator
        return super().__call__(*args, **kwargs)


def _stub(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # torch._dynamo looks these up
    module.__dict__.update(attrs)
    module.__getattr__ = lambda attr: getattr(_AnyMeta("stub", (), {}), attr)  # type: ignore
    sys.modules[name] = module
    return module


def import_reference(path: str) -> dict:
    sys.path.insert(0, str(Path(path).resolve()))
    for name in (
        "tensorflow",
        "tensorflow_probability",
        "tensorflow_probability.substrates",
        "tensorflow_probability.substrates.jax",
        "snappy",
        "orbax",
        "orbax.checkpoint",
        "dopamine.jax.checkpointers",
        "dopamine.jax.replay_memory.accumulator",
        "dopamine.jax.replay_memory.elements",
        "dopamine.jax.replay_memory.replay_buffer",
        "dopamine.jax.replay_memory.samplers",
        "dopamine.jax.replay_memory.sum_tree",
    ):
        _stub(name)
    sys.modules["tensorflow_probability.substrates"].jax = sys.modules["tensorflow_probability.substrates.jax"]
    _stub(
        "dopamine.discrete_domains.atari_lib",
        DQNNetworkType=collections.namedtuple("dqn_network", ["q_values"]),
        RainbowNetworkType=collections.namedtuple("c51_network", ["q_values", "logits", "probabilities"]),
    )
    import dopamine.discrete_domains as dd

    dd.atari_lib = sys.modules["dopamine.discrete_domains.atari_lib"]
    from dopamine.jax.agents.dqn import dqn_agent
    from dopamine.jax.agents.full_rainbow import full_rainbow_agent
    from dopamine.labs.atari_100k import atari_100k_rainbow_agent
    from dopamine.labs.redo import networks, recycled_atari100k_rainbow_agent, recycled_dqn_agents, weight_recyclers

    return {
        "dqn_agent": dqn_agent,
        "full_rainbow_agent": full_rainbow_agent,
        "aug": atari_100k_rainbow_agent,
        "networks": networks,
        "recycled_dqn": recycled_dqn_agents,
        "recycled_100k": recycled_atari100k_rainbow_agent,
        "recyclers": weight_recyclers,
    }


class Reference:
    """Their network, Adam, update and recycler, driven as their agents drive them."""

    def __init__(self, ref: dict, agent: str, ours, cfg, x64: bool):
        import flax
        import jax
        import jax.numpy as jnp
        import optax

        self.jax, self.jnp, self.flax, self.optax, self.ref, self.agent = jax, jnp, flax, optax, ref, agent
        self.dtype = jnp.float64 if x64 else jnp.float32
        nets = ref["networks"]
        if agent == "dqn":
            self.net = nets.ScalableNatureDQNNetwork(num_actions=NUM_ACTIONS, width=1)
            cls = nets.ScalableNatureDQNNetwork
        else:
            self.net = nets.FullRainbowNetwork(
                num_actions=NUM_ACTIONS,
                num_atoms=1,
                noisy=False,
                dueling=True,
                distributional=False,
                inputs_preprocessed=True,
            )
            cls = nets.FullRainbowNetwork
        dummy = jnp.zeros((84, 84, 4), jnp.uint8 if agent == "dqn" else self.dtype)
        kwargs = {} if agent == "dqn" else {"support": jnp.linspace(-10.0, 10.0, 1)}
        init = self.net.init(jax.random.PRNGKey(0), dummy, **kwargs)
        names = list(cls.layer_names)
        if agent == "drq_eps":  # RecycledAtari100kRainbowAgent: the dueling streams are one entry
            names = [*names[:-2], [names[-2], names[-1]]]
        self.layer_names = names
        self.params = flax.core.freeze(self.from_ours(ours, init))
        self.grads: dict = {}

        def record(updates, state, params=None):
            jax.debug.callback(lambda g: self.grads.__setitem__("g", g), updates)
            return updates, state

        adam = ref["dqn_agent"].create_optimizer("adam", learning_rate=cfg.agent.lr, eps=cfg.dqn.adam_eps)
        self.optimizer = (
            adam
            if agent == "dqn"
            else optax.chain(optax.GradientTransformation(lambda p: optax.EmptyState(), record), adam)
        )
        self.opt_state = self.optimizer.init(self.params)
        self.target = self.params
        self.recycler = ref["recyclers"].NeuronRecycler(
            names,
            network="nature",
            dead_neurons_threshold=TAU,
            reset_period=REDO_PERIOD,
            reset_start_step=0,
            reset_end_step=10**9,
            logging_period=10**9,
        )
        self.support = jnp.linspace(-10.0, 10.0, 1)
        self.cumulative_gamma = gamma_n(cfg)

    # --- layouts
    def to_flax(self, tensor: torch.Tensor, layout: str) -> np.ndarray:
        a = tensor.detach().cpu().numpy().copy()  # jax may alias a numpy buffer: never share ours
        if layout == "conv":
            return a.transpose(2, 3, 1, 0)
        if layout == "flat":  # (512, C·H·W) → (H·W·C, 512)
            h, w, c = SPATIAL
            return a.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
        if layout == "dense":
            return a.T
        return a  # bias

    @staticmethod
    def to_torch(a, layout: str) -> torch.Tensor:
        a = np.asarray(a)
        if layout == "conv":
            out = a.transpose(3, 2, 0, 1)
        elif layout == "flat":
            h, w, c = SPATIAL
            out = a.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(a.shape[1], -1)
        elif layout == "dense":
            out = a.T
        else:
            out = a
        return torch.from_numpy(np.ascontiguousarray(out))

    def name_map(self) -> dict[str, tuple[str, str]]:
        """our parameter name → (their 'params/<layer>/<kernel|bias>', layout)."""
        out = {}
        for ours, (layer, layout) in MAPS[self.agent].items():
            out[f"{ours}.weight"] = (f"params/{layer}/kernel", layout)
            out[f"{ours}.bias"] = (f"params/{layer}/bias", "bias")
        return out

    def from_ours(self, ours, init) -> dict:
        flat_init = self.flax.traverse_util.flatten_dict(init, sep="/")
        mapping = self.name_map()
        named = dict(ours.critic.named_parameters())
        assert set(mapping) == set(named), set(mapping) ^ set(named)
        assert sorted(t for t, _ in mapping.values()) == sorted(flat_init), (sorted(flat_init),)
        flat = {}
        for name, (theirs, layout) in mapping.items():
            value = self.to_flax(named[name], layout)
            assert value.shape == flat_init[theirs].shape, (name, value.shape, flat_init[theirs].shape)
            flat[theirs] = self.jnp.asarray(value, self.dtype)
        return self.flax.traverse_util.unflatten_dict(flat, sep="/")

    def flat(self, tree) -> dict:
        return self.flax.traverse_util.flatten_dict(self.flax.core.unfreeze(tree), sep="/")

    def adam_state(self):
        return self.opt_state if self.agent == "dqn" else self.opt_state[1]

    # --- one update
    def states(self, frames: torch.Tensor) -> np.ndarray:
        return frames.permute(0, 2, 3, 1).numpy().copy()  # NCHW → NHWC, uint8

    def update(self, batch: dict, draws: list | None) -> float:
        jax, jnp = self.jax, self.jnp
        reward = jnp.asarray(batch["reward"].numpy()[:, 0], self.dtype)
        terminal = jnp.asarray(batch["terminal"].numpy()[:, 0], self.dtype)
        action = jnp.asarray(batch["action"].numpy()[:, 0].astype(np.int32))
        if self.agent == "dqn":
            b = {
                "state": jnp.asarray(self.states(batch["obs"])),
                "next_state": jnp.asarray(self.states(batch["next_obs"])),
                "action": action,
                "reward": reward,
                "terminal": terminal,
            }
            loss, grad = self.ref["recycled_dqn"].get_gradients(
                online_params=self.params,
                apply_fn=self.net.apply,
                target_params=self.target,
                batch=b,
                cumulative_gamma=self.cumulative_gamma,
            )
            self.params, self.opt_state = self.ref["recycled_dqn"].apply_updates_jitted(
                self.params, grad, self.opt_state, self.optimizer
            )
            self.last_grad = grad
            return float(loss)
        states = self.augment(batch["obs"], draws[0])
        next_states = self.augment(batch["next_obs"], draws[1])
        out = self.ref["full_rainbow_agent"].train(
            self.net,
            self.params,
            self.target,
            self.optimizer,
            self.opt_state,
            states,
            action,
            next_states,
            reward,
            terminal,
            jnp.ones(states.shape[0], self.dtype),
            self.support,
            self.cumulative_gamma,
            True,
            False,
            False,
            jax.random.PRNGKey(0),
        )
        self.opt_state, self.params, _, mean_loss, _ = out
        jax.effects_barrier()
        self.last_grad = self.grads["g"]
        return float(mean_loss)

    def augment(self, frames: torch.Tensor, draw: tuple) -> object:
        """Their preprocess + augmentation, with their randint/normal returning our draws."""
        jax, jnp = self.jax, self.jnp
        shifts, noise = draw  # ours: shifts (n, 2) = (column, row) offsets; noise (n, 1, 1, 1)
        replies = [jnp.asarray(shifts[:, 1].numpy()), jnp.asarray(shifts[:, 0].numpy())]  # x: rows, then y: columns
        real_randint, real_normal = jax.random.randint, jax.random.normal
        jax.random.randint = lambda *a, **k: replies.pop(0)
        jax.random.normal = lambda *a, **k: jnp.asarray(noise.numpy().reshape(-1, 1, 1, 1), self.dtype)
        try:
            with jax.disable_jit():
                out = self.ref["aug"].preprocess_inputs_with_augmentation(
                    jnp.asarray(self.states(frames)), data_augmentation=True, rng=jax.random.PRNGKey(0)
                )
        finally:
            jax.random.randint, jax.random.normal = real_randint, real_normal
        assert not replies
        return out

    def sync(self) -> None:
        self.target = self.params

    # --- ReDo
    def intermediates(self, stats: torch.Tensor):
        jnp = self.jnp
        raw = jnp.asarray(self.states(stats))
        if self.agent == "dqn":
            fake = types.SimpleNamespace(_sample_batch_for_statistics=lambda: raw, network_def=self.net)
            return self.ref["recycled_dqn"].RecycledDQNAgent.get_intermediates(fake, self.params)
        pre = self.ref["aug"].preprocess_inputs_with_augmentation(raw)  # preprocess_fn: no augmentation
        fake = types.SimpleNamespace(
            _sample_batch_for_statistics=lambda: pre,
            network_def=self.net,
            _rng=self.jax.random.PRNGKey(1),
            _support=self.support,
        )
        return self.ref["recycled_100k"].RecycledAtari100kRainbowAgent.get_intermediates(fake, self.params)

    def recycle(self, step: int, stats: torch.Tensor, corrected: bool = True):
        """Their maybe_update_weights at ``step``; returns (params, adam state) without keeping them."""
        recyclers = self.ref["recyclers"]
        original = recyclers.NeuronRecycler.create_mask_helper

        def fixed(rec, neuron_mask, current_param, next_param):
            incoming, outgoing = original(rec, neuron_mask, current_param, next_param)
            if current_param.ndim == 4 and next_param.ndim == 2:  # columns in flax's (H, W, C) order
                c = neuron_mask.shape[0]
                outgoing = outgoing.reshape(c, -1, outgoing.shape[1]).transpose(1, 0, 2).reshape(outgoing.shape)
            return incoming, outgoing

        if corrected:
            recyclers.NeuronRecycler.create_mask_helper = fixed
        try:
            inter = self.intermediates(stats)
            return self.recycler.maybe_update_weights(
                step, inter, self.params, self.jax.random.PRNGKey(step), self.adam_state()
            )
        finally:
            recyclers.NeuronRecycler.create_mask_helper = original

    def set_adam_state(self, adam) -> None:
        self.opt_state = adam if self.agent == "dqn" else (self.opt_state[0], adam)

    def plant(self) -> None:
        flat = self.flat(self.params)
        for ours, units in PLANTED.items():
            layer = MAPS[self.agent][ours][0]
            flat[f"params/{layer}/kernel"] = flat[f"params/{layer}/kernel"].at[..., units].set(0.0)
            flat[f"params/{layer}/bias"] = flat[f"params/{layer}/bias"].at[np.array(units)].set(-1.0)
        self.params = self.flax.core.freeze(self.flax.traverse_util.unflatten_dict(flat, sep="/"))

    def q(self, params, stats: torch.Tensor) -> np.ndarray:
        jax = self.jax
        raw = self.jnp.asarray(self.states(stats))
        if self.agent == "dqn":
            return np.asarray(jax.vmap(lambda x: self.net.apply(params, x).q_values)(raw))
        pre = self.ref["aug"].preprocess_inputs_with_augmentation(raw)
        return np.asarray(jax.vmap(lambda x: self.net.apply(params, x, support=self.support).q_values)(pre))


# ---------------------------------------------------------------- comparison
class Stats:
    """Per quantity: the largest absolute difference (with its tensor and update) and the
    largest relative one (difference ÷ the tensor's largest magnitude)."""

    def __init__(self):
        self.worst: dict[str, dict] = {}
        self.per_update: dict[int, dict] = {}  # update → quantity → (largest relative difference, tensor)

    def add(self, quantity: str, name: str, ours: torch.Tensor, theirs: torch.Tensor, update: int) -> None:
        ours, theirs = ours.detach().double(), theirs.double()
        assert ours.shape == theirs.shape, (quantity, name, ours.shape, theirs.shape)
        diff = float((ours - theirs).abs().max()) if ours.numel() else 0.0
        scale = float(theirs.abs().max()) if theirs.numel() else 0.0
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        per = self.per_update.setdefault(update, {})
        if rel > per.get(quantity, (-1.0, ""))[0]:
            per[quantity] = (rel, name)
        w = self.worst.setdefault(quantity, {"abs": -1.0, "rel": -1.0})
        if diff > w["abs"]:
            w.update({"abs": diff, "abs_tensor": name, "abs_update": update})
        if rel > w["rel"]:
            w.update({"rel": rel, "rel_tensor": name, "rel_update": update})


def compare(agent: str, reference: str, updates: int, x64: bool) -> dict:
    import jax

    jax.config.update("jax_enable_x64", x64)
    ref = import_reference(reference)
    dtype = torch.float64 if x64 else torch.float32
    float_ = torch.Tensor.float
    if x64:  # our code casts frames with .float(): make that float64 for this run, and draw
        # DrQ(ε)'s intensity noise in float64 (its factor 1 + 0.05·r is computed in the noise's dtype)
        torch.Tensor.float = lambda self, *a, **k: self.double()  # type: ignore[method-assign]
        torch.set_default_dtype(torch.float64)
        _x64_reference(ref)
    try:
        return _compare(ref, agent, updates, dtype, x64)
    finally:
        torch.Tensor.float = float_  # type: ignore[method-assign]
        torch.set_default_dtype(torch.float32)


def _x64_reference(ref: dict) -> None:
    """Their frames are cast with ``astype(jnp.float32)``: with x64 on, make those casts float64."""
    import jax.numpy as jnp

    proxy = types.SimpleNamespace(**{k: getattr(jnp, k) for k in dir(jnp) if not k.startswith("__")})
    proxy.float32 = jnp.float64
    for key in ("networks", "aug", "full_rainbow_agent"):
        ref[key].jnp = proxy


def _compare(ref: dict, agent: str, updates: int, dtype: torch.dtype, x64: bool) -> dict:
    ours, interventions, cfg = make_agent(agent, dtype)
    theirs = Reference(ref, agent, ours, cfg, x64)
    mapping = theirs.name_map()
    named = dict(ours.critic.named_parameters())
    gen = torch.Generator().manual_seed(0)
    stats_gen = torch.Generator().manual_seed(1)
    stats_batches: list[torch.Tensor] = []

    def sample(n):
        batch = make_batch(stats_gen, n, gamma_n(cfg))
        stats_batches.append(batch["obs"])
        return batch

    interventions.sample_batch = sample
    torch.manual_seed(2)
    stats, losses, events, extra = Stats(), [], [], {}
    draws: list = []
    real_randint, real_randn = torch.randint, torch.randn

    def randint(*a, **k):
        out = real_randint(*a, **k)
        draws.append(("shift", out.clone()))
        return out

    def randn(*a, **k):
        out = real_randn(*a, **k)
        draws.append(("noise", out.clone()))
        return out

    for u in range(1, updates + 1):
        batch = make_batch(gen, BATCH, gamma_n(cfg))
        if dtype == torch.float64:
            batch = {k: (v.double() if v.is_floating_point() else v) for k, v in batch.items()}
        draws.clear()
        dqn_module.torch.randint, dqn_module.torch.randn = randint, randn
        try:
            ours_loss = float(ours.update(batch, step=10**7)[0])
        finally:
            dqn_module.torch.randint, dqn_module.torch.randn = real_randint, real_randn
        pairs = None
        if agent == "drq_eps":
            assert [d[0] for d in draws] == ["shift", "noise", "shift", "noise"], [d[0] for d in draws]
            pairs = [(draws[0][1], draws[1][1]), (draws[2][1], draws[3][1])]
        their_loss = theirs.update(batch, pairs)
        losses.append((ours_loss, their_loss))
        stats.add(
            "loss",
            "loss",
            torch.tensor(ours_loss, dtype=torch.float64),
            torch.tensor(their_loss, dtype=torch.float64),
            u,
        )
        their_grad = theirs.flat(theirs.last_grad)
        their_params = theirs.flat(theirs.params)
        for name, (path, layout) in mapping.items():
            stats.add("gradient", name, named[name].grad, Reference.to_torch(their_grad[path], layout), u)
        # ReDo, ours through the trainer's interventions, theirs through their recycler
        if u == REDO_PERIOD:
            plant_ours(ours)
            theirs.plant()
        if theirs.recycler.is_reset(u):
            stats_obs = real_make_stats(stats_gen, cfg)  # the batch ours will draw next (same generator state)
            dormant = dormant_sets(theirs, ours, stats_obs, agent)
            new_params, new_adam = theirs.recycle(u, stats_obs)
            if u == REDO_PERIOD:
                extra["flatten_bug"] = flatten_effect(theirs, u, stats_obs, new_params)
            new_flat = theirs.flat(new_params)
            fresh = {
                tuple(Reference.to_torch(new_flat[path], layout).shape): Reference.to_torch(new_flat[path], layout)
                for name, (path, layout) in mapping.items()
                if name.endswith("weight")
            }

            def their_draws(module, fresh=fresh):
                if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                    module.weight.data.copy_(fresh[tuple(module.weight.shape)])
                    module.bias.data.zero_()

            ours.init_fn = their_draws
            row = interventions.after_update(ours, batch, ours.updates, frame=0)
            del ours.init_fn
            assert torch.equal(stats_batches[-1], stats_obs)
            theirs.params = new_params
            theirs.set_adam_state(new_adam)
            events.append({"update": u, "ours": row, "dormant": dormant})
        else:
            assert interventions.after_update(ours, batch, ours.updates, frame=0) == []
        if agent == "drq_eps":
            theirs.sync()  # target_update_period = 1: a copy after every update (ours reads the online network)
        elif u % TARGET_PERIOD == 0:
            theirs.sync()  # after update and recycling, as their _train_step (ours copies when the next update starts)
            events.append({"update": u, "target_copy": True})
        their_params = theirs.flat(theirs.params)
        adam = theirs.adam_state()[0]
        mu, nu = theirs.flat(adam.mu), theirs.flat(adam.nu)
        for name, (path, layout) in mapping.items():
            stats.add("parameter", name, named[name], Reference.to_torch(their_params[path], layout), u)
            state = ours.critic_opt.state[named[name]]
            stats.add("adam_m", name, state["exp_avg"], Reference.to_torch(mu[path], layout), u)
            stats.add("adam_v", name, state["exp_avg_sq"], Reference.to_torch(nu[path], layout), u)
    if agent == "dqn":  # the target as used by the next update: ours copies at its start
        if ours.updates % TARGET_PERIOD == 0:
            ours.sync_target()
        their_target = theirs.flat(theirs.target)
        for name, (path, layout) in mapping.items():
            stats.add(
                "target",
                name,
                dict(ours.critic_target.named_parameters())[name],
                Reference.to_torch(their_target[path], layout),
                updates,
            )
    return {
        "agent": agent,
        "updates": updates,
        "dtype": str(dtype),
        "worst": stats.worst,
        "first_losses": losses[:3],
        "events": events,
        **extra,
        "per_update_max_rel": {
            u: {q: f"{v[0]:.2e} ({v[1]})" for q, v in d.items()}
            for u, d in stats.per_update.items()
            if u <= 3 or u % 25 == 0 or u in (REDO_PERIOD, 2 * REDO_PERIOD)
        },
        "ours_checksum": float(sum(p.detach().double().abs().sum() for p in ours.critic.parameters())),
    }


def real_make_stats(stats_gen: torch.Generator, cfg) -> torch.Tensor:
    """The next statistics batch from ``stats_gen`` without advancing it."""
    state = stats_gen.get_state()
    obs = make_batch(stats_gen, STATS_BATCH, gamma_n(cfg))["obs"]
    stats_gen.set_state(state)
    return obs


def dormant_sets(theirs: Reference, ours, stats_obs: torch.Tensor, agent: str) -> dict:
    """Per recyclable layer: the τ-dormant neurons by their scoring (their intermediates,
    their ``estimate_neuron_score``) and by ours (our trace of the critic), before recycling;
    how many each finds, how many differ, and the disagreeing scores' distance to τ."""
    from dormant.plasticity.redo import _trace

    inter = theirs.flax.traverse_util.flatten_dict(theirs.flax.core.unfreeze(theirs.intermediates(stats_obs)), sep="/")
    with torch.no_grad():
        sites = _trace(ours.critic, (stats_obs.float(),))
    out = {}
    for name, (layer, _) in MAPS[agent].items():
        if name not in sites or sites[name].leaves_model:
            continue
        score_t = np.asarray(theirs.recycler.estimate_neuron_score(inter[f"{layer}_act/__call__"][0]))
        score_o = torch.stack(sites[name].scores).mean(0)
        score_o = (score_o / (score_o.mean() + 1e-9)).double().numpy()
        mask_t, mask_o = score_t <= TAU, score_o <= TAU
        differ = mask_t != mask_o
        out[name] = {
            "theirs": int(mask_t.sum()),
            "ours": int(mask_o.sum()),
            "differ": int(differ.sum()),
            "max_score_diff": float(np.abs(score_t - score_o).max()),
        }
        if differ.any():
            out[name]["differing_scores_minus_tau"] = [float(v) for v in (score_t[differ] - TAU)[:5]]
    return out


def flatten_effect(theirs: Reference, step: int, stats_obs: torch.Tensor, corrected_params) -> dict:
    """Their recycler with its own (channel-major) column map against the corrected one,
    on the same event: how many of Dense_0's input rows differ, and the largest change in Q
    on the statistics batch."""
    recycler_state = copy.deepcopy(theirs.recycler.__dict__)
    original_params, _ = theirs.recycle(step, stats_obs, corrected=False)
    theirs.recycler.__dict__.update(recycler_state)
    a = np.asarray(theirs.flat(original_params)["params/Dense_0/kernel"])
    b = np.asarray(theirs.flat(corrected_params)["params/Dense_0/kernel"])
    rows = int((a != b).any(axis=1).sum())
    q_orig, q_fixed = theirs.q(original_params, stats_obs), theirs.q(corrected_params, stats_obs)
    q_before = theirs.q(theirs.params, stats_obs)
    return {
        "dense0_rows_differing": rows,
        "of_rows": int(a.shape[0]),
        "max_abs_dQ_original_vs_corrected": float(np.abs(q_orig - q_fixed).max()),
        "max_abs_dQ_corrected_vs_before": float(np.abs(q_fixed - q_before).max()),
        "max_abs_Q": float(np.abs(q_before).max()),
    }


# ---------------------------------------------------------------- timing
def timing(reference: str, agent: str, rounds: int, per_round: int) -> dict:
    ref = import_reference(reference)
    ours, _, cfg = make_agent(agent)
    theirs = Reference(ref, agent, ours, cfg, False)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(2)
    batches = [make_batch(gen, BATCH, gamma_n(cfg)) for _ in range(per_round)]
    pairs = None
    if agent == "drq_eps":
        pairs = [(torch.randint(0, 8, (BATCH, 2)), torch.randn(BATCH, 1, 1, 1)) for _ in range(2)]
    theirs.update(batches[0], pairs)  # compile
    ours.update(batches[0], step=10**7)
    t_ours, t_theirs = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for b in batches:
            ours.update(b, step=10**7)
        t_ours.append((time.perf_counter() - t0) / per_round)
        t0 = time.perf_counter()
        for b in batches:
            theirs.update(b, pairs)
        theirs.jax.block_until_ready(theirs.params)
        t_theirs.append((time.perf_counter() - t0) / per_round)
    med_o, med_t = float(np.median(t_ours)), float(np.median(t_theirs))
    return {
        "agent": agent,
        "batch": BATCH,
        "rounds": rounds,
        "updates_per_round": per_round,
        "ours_s_per_update": t_ours,
        "theirs_s_per_update": t_theirs,
        "ours_median_s": med_o,
        "theirs_median_s": med_t,
        "ratio_ours_over_theirs": med_o / med_t,
        "theirs_note": "JAX CPU, jitted update (augmentation for DrQ(ε) run eagerly with the replayed draws)",
    }


def main() -> None:
    global REDO_PERIOD, TARGET_PERIOD
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, help="checkout of google/dopamine at 5873f549")
    parser.add_argument("--agent", choices=("dqn", "drq_eps"), default="dqn")
    parser.add_argument("--updates", type=int, default=250)
    parser.add_argument("--x64", action="store_true", help="both sides in float64")
    parser.add_argument("--redo-period", type=int, default=REDO_PERIOD, help="updates between ReDo events")
    parser.add_argument("--target-period", type=int, default=TARGET_PERIOD, help="DQN: updates between target copies")
    parser.add_argument("--time", action="store_true", help="time one update of each, interleaved")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="write the result (JSON) here")
    args = parser.parse_args()
    REDO_PERIOD, TARGET_PERIOD = args.redo_period, args.target_period
    torch.set_num_threads(1)
    if args.time:
        result = {"timing": [timing(args.reference, agent, args.rounds, 10) for agent in ("dqn", "drq_eps")]}
        sys.path.insert(0, str(ROOT / "benchmarks"))
        sys.modules.setdefault("common", types.SimpleNamespace(GL_BACKEND="n/a (not rendering)"))
        import jax
        from machine import machine

        result["machine"] = {**machine(torch.device("cpu")), "jax": jax.__version__}
        result["reference"] = "github.com/google/dopamine @ 5873f5494ee0c2d7c016d0ab2ad530354fec59d0"
        result["load_average_1_5_15min_at_end"] = [round(x, 2) for x in os.getloadavg()]
    else:
        result = compare(args.agent, args.reference, args.updates, args.x64)
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
