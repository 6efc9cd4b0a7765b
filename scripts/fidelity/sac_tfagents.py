"""dormant's ``agent=sac`` side by side with TF-Agents' SacAgent as ReDo ran it.

ReDo's MuJoCo experiments (Sokar et al., ICML 2023) train SAC with
``dopamine/labs/redo/tfagents/sac_train_eval.py`` (github.com/google/dopamine at
5873f5494ee0c2d7c016d0ab2ad530354fec59d0), which builds TF-Agents' ``SacAgent``
(github.com/tensorflow/agents at eb24cf5f93f99ed78261975cc61a7fc648febcd5) as its subclass
``RecycledSacAgent``, with a tanh-normal projection from github.com/google-research/rigl
(``rigl/rl/tfagents/sparse_tanh_normal_projection_network.py``). This script imports those
three checkouts at run time (``--reference`` is TF-Agents; ``--dopamine`` and ``--rigl`` the
other two), builds their agent with the arguments of ReDo's ``train_eval`` (widths 256,
Adam 3e-4 ×3, τ = 0.005 every update, γ = 0.99, reward scale 0.1, no gradient clipping,
squared TD error), and our agent with the ``agent=sac`` defaults, on HalfCheetah's sizes
(17 state dimensions, 6 actions in [−1, 1]) and ReDo's batch of 256.

- **Stubbed**: only ``reverb`` (the replay server ReDo's module imports but no compared
  code calls). TensorFlow runs eagerly (``tf.config.run_functions_eagerly``) so that the
  standard-normal draws can be fed; ``--time`` runs TF-Agents' update as a ``tf.function``
  (``common.function``), as ReDo's ``learner.Learner`` does.
- **Same weights**: ours are copied into theirs through an explicit map that must cover
  every variable of their actor, both critics and both target critics exactly once. Keras
  kernels are the transpose of torch's weights; their critic concatenates (action,
  observation) (``tf.nest.flatten`` of a dict sorts its keys), ours (observation, action),
  so the first critic kernel's rows are permuted.
- **Same draws**: each update draws three ε ~ N(0, I) of shape batch × actions (next
  actions for the target, the actor's sample, the temperature's fresh sample). They are
  made here and fed to both: to ours through ``squashed_gaussian``'s ``noise``, to theirs by
  replacing TensorFlow Probability's ``samplers.normal`` for the call.
- **Compared per update**: critic, actor and temperature losses; every gradient just
  before its optimiser applies it (their ``_apply_gradients``; our ``.grad``); every
  parameter after the update (actor, critics, target critics, log α). ``abs = max|a − b|``,
  ``rel = abs / max|b|`` per tensor.
- **float64** (``--float64``): both sides compute in float64, to show that the float32
  differences are rounding. For that, TF-Agents' float32 constants of the action spec's
  centre and half-width (0 and 1) are given as float64 and SacAgent's float32 log α is
  replaced by a float64 variable (both start at 0).
- **Adam's ε**: Keras' Adam adds its ε (1e-7) to √v before the bias correction of the step,
  torch adds its own (1e-8) after it: the same as torch with ε_t = 1e-7 / √(1 − β₂ᵗ); and
  Keras keeps lr, β₁ and β₂ as variables of its float type (in float32, 1 − β₂ is 1.3e-5 off 0.001).
  ``--adam-eps matched`` gives our optimisers that ε_t and lr, β₁, β₂ rounded alike
  before each update, so that the
  comparison isolates rounding; ``--adam-eps default`` keeps each framework's own (what the
  two codes really run) and so measures that deviation.

Usage (a venv with tensorflow-cpu 2.15, tensorflow-probability 0.23 and torch):

    python scripts/fidelity/sac_tfagents.py --reference /path/to/agents \\
        --dopamine /path/to/dopamine --rigl /path/to/rigl --updates 200 [--adam-eps matched] [--float64] \\
        [--time 30] [--json out.json]

``ours_run`` (torch only) is what ``tests/test_fidelity_sac.py`` calls to guard the golden values.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

import dormant.agents.sac as sac_module  # noqa: E402
from dormant.agents.sac import SACAgent  # noqa: E402
from dormant.config import AgentConfig, SACConfig  # noqa: E402

S, A, HIDDEN, BATCH = 17, 6, 256, 256  # HalfCheetah's sizes; ReDo's widths and batch
GAMMA, TAU, LR, REWARD_SCALE = 0.99, 0.005, 3e-4, 0.1
SEED = 0
DRAWS_PER_UPDATE = 3
KERAS_EPS = 1e-7  # tf.keras.optimizers.Adam's default epsilon
NP_FLOAT = np.float32  # np.float64 with --float64: both sides then compute in float64


# --- the problem: batches and draws, the same for both -----------------------------------
def make_batch(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One batch of HalfCheetah-sized transitions; 5% terminal (their discount 0)."""
    return {
        "obs": rng.standard_normal((BATCH, S)).astype(np.float32),
        "next_obs": rng.standard_normal((BATCH, S)).astype(np.float32),
        "action": rng.uniform(-0.999, 0.999, (BATCH, A)).astype(np.float32),
        "reward": (2.0 * rng.standard_normal(BATCH) + 1.0).astype(np.float32),
        "not_done": (rng.uniform(size=BATCH) > 0.05).astype(np.float32),
    }


def make_problem(updates: int, seed: int = SEED) -> tuple[list[dict], list[list[np.ndarray]]]:
    rng = np.random.default_rng(seed)
    batches = [make_batch(rng) for _ in range(updates)]
    draws = [
        [rng.standard_normal((BATCH, A)).astype(np.float32) for _ in range(DRAWS_PER_UPDATE)] for _ in range(updates)
    ]
    return batches, draws


# --- ours ----------------------------------------------------------------------------
def build_ours(seed: int = SEED, float64: bool = False) -> SACAgent:
    torch.manual_seed(seed)
    torch.set_default_dtype(torch.float64 if float64 else torch.float32)  # the draw is made in float32 either way
    cfg = AgentConfig(
        name="sac",
        lr=LR,
        hidden_dim=HIDDEN,
        batch_size=BATCH,
        critic_target_tau=TAU,
        discount=GAMMA,
        nstep=1,
        update_every_steps=1,
        num_expl_steps=0,
    )
    agent = SACAgent((S,), A, cfg, pixels=False, device=torch.device("cpu"), sac=SACConfig())
    return agent


def torch_batch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    t = {k: torch.from_numpy(v.astype(NP_FLOAT)) for k, v in batch.items()}
    return {
        "obs": t["obs"],
        "next_obs": t["next_obs"],
        "action": t["action"],
        "reward": t["reward"][:, None],
        "discount": GAMMA * t["not_done"][:, None],
    }


class FedNoise:
    """Replaces ``squashed_gaussian`` in dormant's SAC module so each call takes the next ε."""

    def __init__(self):
        self.queue: list[np.ndarray] = []
        self._original = sac_module.squashed_gaussian

    def __enter__(self):
        original = self._original

        def fed(mean, log_std, noise=None):
            eps = torch.from_numpy(self.queue.pop(0)).to(mean.dtype)
            assert eps.shape == mean.shape, (eps.shape, mean.shape)
            return original(mean, log_std, eps)

        sac_module.squashed_gaussian = fed
        return self

    def __exit__(self, *exc):
        sac_module.squashed_gaussian = self._original


METRIC_NAMES = {"critic": "critic_loss", "actor": "actor_loss", "alpha": "alpha_loss"}


def ours_update(agent: SACAgent, batch: dict, draws: list[np.ndarray], feed: FedNoise) -> dict[str, Any]:
    feed.queue = list(draws)
    out = agent.update(torch_batch(batch), 0)
    assert not feed.queue, "ours used fewer draws than were fed"
    metrics = dict(zip(agent.METRICS, out.tolist(), strict=True))
    return {name: metrics[key] for name, key in METRIC_NAMES.items()}


def ours_tensors(agent: SACAgent) -> dict[str, torch.Tensor]:
    """Every compared parameter by our name (targets as ``critic_target.*``, and log α)."""
    named = {f"actor.{k}": v for k, v in agent.actor.named_parameters()}
    named.update({f"critic.{k}": v for k, v in agent.critic.named_parameters()})
    named.update({f"critic_target.{k}": v for k, v in agent.critic_target.named_parameters()})
    named["log_alpha"] = agent.log_alpha
    return named


# ReDo's SAC recycler (dopamine labs/redo/tfagents): the target critics are left alone and the
# biases' Adam moments kept (the agent=sac preset sets these through plasticity.redo_*).
REDO_AS_TF_AGENTS = {"mirror_target": False, "reset_bias_moments": False}


def ours_run(updates: int = 200, seed: int = SEED, recycle_at: int = 100) -> dict[str, Any]:
    """Our agent alone on the script's problem, its recycling included: the golden values
    tests/test_fidelity_sac.py keeps."""
    from dormant.plasticity.agent_surgery import recycle_agent_

    agent = build_ours(seed)
    batches, draws = make_problem(updates, seed)
    losses = []
    with FedNoise() as feed:
        for k, (batch, eps) in enumerate(zip(batches, draws, strict=True)):
            if k == recycle_at:
                kill_neurons(agent, None)
            losses.append(ours_update(agent, batch, eps, feed))
            if k == recycle_at:
                recycle_agent_(agent, torch_batch(batch), ["critic", "actor"], tau=0.0, **REDO_AS_TF_AGENTS)
    params = ours_tensors(agent)
    return {
        "first_losses": losses[:3],
        "last_losses": losses[-1],
        "checksum": {
            name: float(t.detach().double().abs().sum())
            for name, t in (
                ("actor", torch.cat([p.flatten() for k, p in params.items() if k.startswith("actor.")])),
                ("critic", torch.cat([p.flatten() for k, p in params.items() if k.startswith("critic.")])),
                (
                    "critic_target",
                    torch.cat([p.flatten() for k, p in params.items() if k.startswith("critic_target.")]),
                ),
            )
        },
        "log_alpha": agent.log_alpha.item(),
    }


# --- theirs --------------------------------------------------------------------------
def import_theirs(reference: str, dopamine: str, rigl: str):
    for path in (reference, dopamine, rigl):
        if not Path(path).is_dir():
            raise SystemExit(f"{path}: not a directory (clone the repository there)")
    sys.path[:0] = [str(Path(reference).resolve()), str(Path(dopamine).resolve()), str(Path(rigl).resolve())]
    sys.modules.setdefault("reverb", types.ModuleType("reverb"))  # the replay server: imported, never called here
    import tensorflow as tf
    import tf_agents
    from dopamine.labs.redo.tfagents import sac_train_eval

    if not str(Path(tf_agents.__file__).resolve()).startswith(str(Path(reference).resolve())):
        raise SystemExit(f"tf_agents was imported from {tf_agents.__file__}, not from --reference")
    return tf, sac_train_eval


def build_theirs(tf, redo):
    from tf_agents.specs import tensor_spec
    from tf_agents.trajectories import time_step as ts

    dtype = tf.float64 if NP_FLOAT is np.float64 else tf.float32
    tf.keras.backend.set_floatx("float64" if dtype == tf.float64 else "float32")
    if dtype == tf.float64:  # the squashing bijector's shift 0 and scale 1 are float32 constants there
        from tf_agents.utils import common

        original = common.spec_means_and_magnitudes
        common.spec_means_and_magnitudes = lambda spec: tuple(x.astype(np.float64) for x in original(spec))
    obs_spec = tf.TensorSpec([S], dtype, "observation")
    action_spec = tensor_spec.BoundedTensorSpec([A], dtype, -1.0, 1.0, "action")
    actor_net = redo.create_sequential_actor_network(actor_fc_layers=(HIDDEN, HIDDEN), action_tensor_spec=action_spec)
    critic_net = redo.create_sequential_critic_network(None, None, (HIDDEN, HIDDEN))
    step_spec = ts.time_step_spec(obs_spec)
    step_spec = step_spec._replace(
        reward=tf.TensorSpec([], dtype, "reward"),
        discount=tensor_spec.BoundedTensorSpec([], dtype, 0.0, 1.0, "discount"),
    )
    agent = redo.RecycledSacAgent(
        step_spec,
        action_spec,
        actor_network=actor_net,
        critic_network=critic_net,
        actor_optimizer=tf.keras.optimizers.Adam(learning_rate=LR),
        critic_optimizer=tf.keras.optimizers.Adam(learning_rate=LR),
        alpha_optimizer=tf.keras.optimizers.Adam(learning_rate=LR),
        target_update_tau=TAU,
        target_update_period=1,
        td_errors_loss_fn=tf.math.squared_difference,
        gamma=GAMMA,
        reward_scale_factor=REWARD_SCALE,
        gradient_clipping=None,
        train_step_counter=tf.Variable(0, dtype=tf.int64),
        # ReDo's Table 4 (τ-dormant 0, critic and actor, zero outgoing weights, targets left alone);
        # reset_mode stays None so that recycling runs only when this script calls it
        reset_mode=None,
        dead_neuron_threshold=0.0,
        reset_critic=True,
        reset_actor=True,
        init_method="zero",
        reset_target_models=False,
        neuron_score_algo="activation",
        log_batch_size=BATCH,
    )
    if dtype == tf.float64:  # SacAgent makes log α a float32 variable whatever the networks' dtype
        agent._log_alpha = tf.Variable(0.0, dtype=tf.float64, name="initial_log_alpha")
    agent.initialize()
    return agent


def name_map(agent) -> dict[str, tuple[Any, str]]:
    """Our name → (their variable, how to convert): 'T' transpose, 'T_oa' transpose with the
    (observation, action) columns moved to their (action, observation) rows, '' as is."""
    out: dict[str, tuple[Any, str]] = {}
    nets = {
        "actor.policy": agent._actor_network,
        "critic.q1": agent._critic_network_1,
        "critic.q2": agent._critic_network_2,
        "critic_target.q1": agent._target_critic_network_1,
        "critic_target.q2": agent._target_critic_network_2,
    }
    for prefix, net in nets.items():
        variables = net.variables  # kernel, bias per Dense, in layer order
        assert len(variables) == 6, [v.name for v in variables]
        for i, index in enumerate((0, 2, 4)):
            kernel, bias = variables[2 * i], variables[2 * i + 1]
            assert kernel.name.endswith("kernel:0") and bias.name.endswith("bias:0")
            first_critic = prefix.startswith("critic") and index == 0
            out[f"{prefix}.{index}.weight"] = (kernel, "T_oa" if first_critic else "T")
            out[f"{prefix}.{index}.bias"] = (bias, "")
    out["log_alpha"] = (agent._log_alpha, "")
    every = [v for net in nets.values() for v in net.variables] + [agent._log_alpha]
    assert len({id(v) for v, _ in out.values()}) == len(out) == len({id(v) for v in every}), (
        "the map must cover every variable of theirs once (no two networks may share a variable)"
    )
    return out


def to_theirs(value: np.ndarray, how: str) -> np.ndarray:
    if how == "T":
        return value.T
    if how == "T_oa":
        return np.concatenate([value[:, S:], value[:, :S]], axis=1).T
    return value


def copy_into_theirs(ours: SACAgent, mapping: dict) -> None:
    tensors = ours_tensors(ours)
    assert set(tensors) == set(mapping), set(tensors) ^ set(mapping)
    for name, (variable, how) in mapping.items():
        value = to_theirs(tensors[name].detach().numpy(), how)
        assert tuple(variable.shape) == value.shape, (name, variable.shape, value.shape)
        variable.assign(value)


class TheirDraws:
    """Feeds the fixed ε to TensorFlow Probability's normal sampler, call by call.
    Their MultivariateNormalDiag asks for shape [actions, batch]: ε is given transposed."""

    def __init__(self, tf):
        from tensorflow_probability.python.internal import samplers

        self.tf, self.samplers, self.queue = tf, samplers, []
        self._original = samplers.normal

    def __enter__(self):
        def fed(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, name=None):
            eps = self.queue.pop(0).T
            assert list(shape) == list(eps.shape), (shape, eps.shape)
            return self.tf.constant(eps, dtype=dtype or self.tf.float32)

        self.samplers.normal = fed
        return self

    def __exit__(self, *exc):
        self.samplers.normal = self._original


def their_experience(tf, batch: dict[str, np.ndarray]):
    """A [batch, 2] trajectory whose transition is (s, a, r, d, s') as AsTransition reads it."""
    from tf_agents.trajectories import trajectory

    mid = np.ones((BATCH, 2), np.int32)
    batch = {k: v.astype(NP_FLOAT) for k, v in batch.items()}
    obs = np.stack([batch["obs"], batch["next_obs"]], axis=1)
    action = np.stack([batch["action"], batch["action"]], axis=1)
    reward = np.stack([batch["reward"], np.zeros(BATCH, NP_FLOAT)], axis=1)
    discount = np.stack([batch["not_done"], np.ones(BATCH, NP_FLOAT)], axis=1)
    return trajectory.Trajectory(
        step_type=tf.constant(mid),
        observation=tf.constant(obs),
        action=tf.constant(action),
        policy_info=(),
        next_step_type=tf.constant(mid),
        reward=tf.constant(reward),
        discount=tf.constant(discount),
    )


class GradTap:
    """Records (variable id → gradient) for every ``_apply_gradients`` call of their agent."""

    def __init__(self, agent):
        self.agent, self.grads = agent, {}
        original = agent._apply_gradients

        def tapped(gradients, variables, optimizer):
            for g, v in zip(gradients, variables, strict=True):
                self.grads[id(v)] = g.numpy()
            return original(gradients, variables, optimizer)

        agent._apply_gradients = tapped


def their_update(tf, agent, batch, draws, fed: TheirDraws, tap: GradTap) -> dict[str, float]:
    fed.queue = list(draws)
    tap.grads = {}
    info = agent.train(their_experience(tf, batch))
    assert not fed.queue, "theirs used fewer draws than were fed"
    return {
        "critic": float(info.extra.critic_loss),
        "actor": float(info.extra.actor_loss),
        "alpha": float(info.extra.alpha_loss),
    }


# --- comparison ------------------------------------------------------------------------
class Worst:
    """Largest abs and rel difference per quantity over the window, and where it was."""

    def __init__(self):
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, quantity: str, name: str, update: int, ours: np.ndarray, theirs: np.ndarray) -> None:
        ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
        diff = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
        scale = float(np.max(np.abs(theirs))) if theirs.size else 0.0
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
        row = self.rows.setdefault(quantity, {"abs": 0.0, "rel": 0.0, "abs_at": None, "rel_at": None, "count": 0})
        row["count"] += 1
        if diff > row["abs"]:
            row["abs"], row["abs_at"] = diff, f"{name} @ update {update}"
        if rel > row["rel"]:
            row["rel"], row["rel_at"] = rel, f"{name} @ update {update}"


# --- ReDo's recycling, once inside the window ----------------------------------------------
KILLED = {"critic.q1.0": 8, "critic.q2.2": 5, "actor.policy.2": 6}  # layer → its first n neurons made dead


def kill_neurons(ours: SACAgent, mapping: dict) -> None:
    """Bias −100 on the first n neurons of a few hidden layers, in both agents: dead (τ = 0) for
    every input, so that ReDo's τ-dormant set (Table 4: τ = 0) is not empty."""
    tensors = ours_tensors(ours)
    with torch.no_grad():
        for layer, n in KILLED.items():
            tensors[f"{layer}.bias"][:n] = -100.0
            if mapping is not None:
                variable, _ = mapping[f"{layer}.bias"]
                variable.assign(tensors[f"{layer}.bias"].numpy())


def _adam_moments(ours: SACAgent, theirs, mapping: dict) -> tuple[dict, dict]:
    """(ours, theirs) Adam first/second moments of every online parameter, theirs in our layout."""
    mine, their = {}, {}
    for name, (variable, how) in mapping.items():
        if name.startswith("critic_target") or name == "log_alpha":
            continue
        param = ours_tensors(ours)[name]
        opt = ours.actor_opt if name.startswith("actor") else ours.critic_opt
        state = opt.state[param]
        topt = theirs._actor_optimizer if name.startswith("actor") else theirs._critic_optimizer
        for ours_key, their_key in (("exp_avg", "m"), ("exp_avg_sq", "v")):
            mine[f"{name}:{their_key}"] = state[ours_key].numpy()
            back = topt.get_slot(variable, their_key).numpy()
            their[f"{name}:{their_key}"] = to_ours(back, how)
    return mine, their


def to_ours(value: np.ndarray, how: str) -> np.ndarray:
    if how == "T":
        return value.T
    if how == "T_oa":
        back = value.T  # (out, action + obs)
        return np.concatenate([back[:, A:], back[:, :A]], axis=1)
    return value


def recycle_both(tf, ours: SACAgent, theirs, mapping: dict, batch: dict) -> dict[str, Any]:
    """ReDo on critic and actor after the same update: theirs with RecycledSacAgent.reset_model_neurons
    (τ = 0, scored on the activations its update recorded), ours with recycle_agent_ (τ = 0, scored
    on the same batch). Compares the recycled neurons, then gives theirs our fresh incoming rows (both
    draw Glorot-uniform, from different generators) and compares every parameter and Adam moment.
    Where the two differ by design (our target mirrors the recycling; we zero the recycled biases'
    Adam moments, they keep them) the difference is measured, then theirs is set to ours so the rest
    of the window compares the updates."""
    from dormant.plasticity.agent_surgery import recycle_agent_

    before = {name: to_ours(v.numpy(), how) for name, (v, how) in mapping.items()}
    ours_before = {name: t.detach().numpy().copy() for name, t in ours_tensors(ours).items()}
    theirs.reset_model_neurons()
    counts = recycle_agent_(ours, torch_batch(batch), ["critic", "actor"], tau=0.0, **REDO_AS_TF_AGENTS)
    tensors = ours_tensors(ours)
    report: dict[str, Any] = {"ours_counts": {k: v for k, v in counts.items() if v}, "theirs_counts": {}}
    same_rows = True
    for net in ("actor.policy", "critic.q1", "critic.q2"):
        zeroed_theirs = zeroed_ours = None  # the previous hidden layer's recycled neurons: their outgoing columns
        for index in (0, 2):  # hidden layers; the output layer (4) only loses columns
            name = f"{net}.{index}.weight"
            variable, how = mapping[name]
            now, mine = to_ours(variable.numpy(), how), tensors[name].detach().numpy()
            keep_t = np.ones(now.shape[1], bool) if zeroed_theirs is None else ~zeroed_theirs
            keep_o = np.ones(now.shape[1], bool) if zeroed_ours is None else ~zeroed_ours
            their_rows = np.any(now[:, keep_t] != before[name][:, keep_t], axis=1)  # re-drawn incoming rows
            ours_rows = np.any(mine[:, keep_o] != ours_before[name][:, keep_o], axis=1)
            if their_rows.any():
                report["theirs_counts"][f"{net}.{index}"] = int(their_rows.sum())
            same_rows &= bool(np.array_equal(their_rows, ours_rows))
            now[ours_rows] = mine[ours_rows]  # our fresh rows into theirs (different generators, same initialiser)
            variable.assign(to_theirs(now, how))
            zeroed_theirs, zeroed_ours = their_rows, ours_rows
    report["same_neurons"] = same_rows
    online = {n: (v, h) for n, (v, h) in mapping.items() if not n.startswith("critic_target")}
    report["online_params_max_abs_diff"] = max(
        float(np.max(np.abs(to_ours(v.numpy(), h) - tensors[n].detach().numpy()))) for n, (v, h) in online.items()
    )
    mine, their = _adam_moments(ours, theirs, mapping)
    moment_diff = {k: float(np.max(np.abs(mine[k] - their[k]))) for k in mine}
    report["adam_moments_max_abs_diff_weights"] = max(v for k, v in moment_diff.items() if ".weight:" in k)
    report["adam_moments_max_abs_diff_biases"] = max(v for k, v in moment_diff.items() if ".bias:" in k)
    target = {n: (v, h) for n, (v, h) in mapping.items() if n.startswith("critic_target")}
    report["target_params_max_abs_diff"] = max(
        float(np.max(np.abs(to_ours(v.numpy(), h) - tensors[n].detach().numpy()))) for n, (v, h) in target.items()
    )
    b = torch_batch(batch)
    with torch.no_grad():
        q_ours = torch.min(*ours.critic_target(b["next_obs"], b["action"]))[:, 0].numpy()
    t1, _ = theirs._target_critic_network_1((b["next_obs"].numpy(), b["action"].numpy()))
    t2, _ = theirs._target_critic_network_2((b["next_obs"].numpy(), b["action"].numpy()))
    report["target_min_q_max_abs_diff"] = float(np.max(np.abs(q_ours - np.minimum(t1.numpy(), t2.numpy()))))
    report["target_min_q_scale"] = float(np.max(np.abs(q_ours)))
    # align the two deviations kept by design, so that the rest of the window compares updates
    for n, (v, h) in target.items():
        v.assign(to_theirs(tensors[n].detach().numpy(), h))
    for name, (variable, _) in online.items():
        if name.endswith(".bias") and name != "log_alpha":
            opt = theirs._actor_optimizer if name.startswith("actor") else theirs._critic_optimizer
            state = (ours.actor_opt if name.startswith("actor") else ours.critic_opt).state[tensors[name]]
            opt.get_slot(variable, "m").assign(state["exp_avg"].numpy())
            opt.get_slot(variable, "v").assign(state["exp_avg_sq"].numpy())
    return report


def compare(args) -> dict[str, Any]:
    tf, redo = import_theirs(args.reference, args.dopamine, args.rigl)
    tf.config.run_functions_eagerly(True)
    ours = build_ours(SEED, float64=NP_FLOAT is np.float64)
    theirs = build_theirs(tf, redo)
    mapping = name_map(theirs)
    copy_into_theirs(ours, mapping)
    batches, draws = make_problem(args.updates, SEED)
    worst, curve, event = Worst(), [], None
    # the same function before any update: Q of both critics, the actor's μ and log σ
    b0 = torch_batch(batches[0])
    with torch.no_grad():
        q1, q2 = ours.critic(b0["obs"], b0["action"])
        mean, log_std = ours.actor.dist(b0["obs"])
    obs0, act0 = b0["obs"].numpy(), b0["action"].numpy()
    their_q1, _ = theirs._critic_network_1((obs0, act0))
    worst.add("forward at update 0", "Q1", 0, q1[:, 0].numpy(), their_q1.numpy())
    their_q2, _ = theirs._critic_network_2((obs0, act0))
    worst.add("forward at update 0", "Q2", 0, q2[:, 0].numpy(), their_q2.numpy())
    dist, _ = theirs._actor_network(obs0, step_type=(), network_state=())
    base = dist.input_distribution
    worst.add("forward at update 0", "mu", 0, mean.numpy(), base.loc.numpy())
    worst.add("forward at update 0", "sigma", 0, log_std.exp().numpy(), base.stddev().numpy())
    by_id = {id(v): (name, how) for name, (v, how) in mapping.items()}
    tap = GradTap(theirs)
    with FedNoise() as ours_feed, TheirDraws(tf) as their_feed:
        for k, (batch, eps_k) in enumerate(zip(batches, draws, strict=True)):
            if k == args.recycle_at:
                kill_neurons(ours, mapping)
            if args.adam_eps == "matched":  # Keras' ε before the bias correction = torch's ε_t after it
                for opt in (ours.actor_opt, ours.critic_opt, ours.alpha_opt):
                    for group in opt.param_groups:  # and Keras keeps lr, β₁, β₂ as variables of floatx
                        group["lr"] = float(NP_FLOAT(LR))
                        group["betas"] = (float(NP_FLOAT(0.9)), float(NP_FLOAT(0.999)))
                        group["eps"] = KERAS_EPS / math.sqrt(1.0 - group["betas"][1] ** (k + 1))
            lo = ours_update(ours, batch, eps_k, ours_feed)
            lt = their_update(tf, theirs, batch, eps_k, their_feed, tap)
            if k == args.recycle_at:
                event = recycle_both(tf, ours, theirs, mapping, batch)
            curve.append({"update": k, "ours": lo, "theirs": lt})
            for key in lo:
                worst.add(f"{key} loss", key, k, np.array(lo[key]), np.array(lt[key]))
            tensors = ours_tensors(ours)
            assert len(tap.grads) == len(mapping) - 12, len(tap.grads)  # the two targets (12 variables) get none
            step = Worst()
            for vid, grad in tap.grads.items():
                name, how = by_id[vid]
                g = tensors[name].grad
                for table in (worst, step):
                    table.add("gradients", name, k, to_theirs(g.numpy(), how), grad)
            for name, (variable, how) in mapping.items():
                quantity = "target parameters" if name.startswith("critic_target") else "parameters"
                for table in (worst, step):
                    table.add(quantity, name, k, to_theirs(tensors[name].detach().numpy(), how), variable.numpy())
            curve[-1]["max_rel"] = {q: row["rel"] for q, row in step.rows.items()}
    return {
        "rows": worst.rows,
        "curve": curve,
        "adam_eps": args.adam_eps,
        "updates": args.updates,
        "recycling": event if args.recycle_at < args.updates else None,
    }


def time_updates(args) -> dict[str, Any]:
    """One update of ours against one of theirs (a tf.function, as ReDo's learner runs it),
    alternating, ``args.time`` rounds of 10 updates each; medians per update and the ratio."""
    tf, redo = import_theirs(args.reference, args.dopamine, args.rigl)
    tf.config.run_functions_eagerly(False)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    torch.set_num_threads(1)
    ours, theirs = build_ours(SEED), build_theirs(tf, redo)
    batches, _ = make_problem(10, SEED + 1)
    ours_b = [torch_batch(b) for b in batches]
    theirs_b = [their_experience(tf, b) for b in batches]
    from tf_agents.utils import common

    train = common.function(
        theirs.train
    )  # as ReDo's learner.Learner wraps the train step (agent.train alone is eager in TF2)
    for _ in range(3):  # warm-up (tracing)
        train(theirs_b[0])
        ours.update(ours_b[0], 0)
    times = {"ours": [], "theirs": []}
    for _ in range(args.time):
        t0 = time.perf_counter()
        for b in ours_b:
            ours.update(b, 0)
        times["ours"].append((time.perf_counter() - t0) / len(ours_b))
        t0 = time.perf_counter()
        for b in theirs_b:
            info = train(b)
        float(info.loss)
        times["theirs"].append((time.perf_counter() - t0) / len(theirs_b))
    med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    return {
        "update_ms_median": {k: round(v, 3) for k, v in med.items()},
        "ratio_ours_over_theirs": round(med["ours"] / med["theirs"], 3),
        "rounds": args.time,
        "updates_per_round": len(ours_b),
        "threads": 1,
        "batch": BATCH,
        "hidden": HIDDEN,
        "tensorflow": tf.__version__,
    }


def machine_block() -> dict[str, Any]:
    """The benchmarks' machine block (scripts/fidelity/common.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common

    return common.machine_block()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, help="checkout of github.com/tensorflow/agents")
    parser.add_argument("--dopamine", required=True, help="checkout of github.com/google/dopamine")
    parser.add_argument("--rigl", required=True, help="checkout of github.com/google-research/rigl")
    parser.add_argument("--updates", type=int, default=200, help="updates compared (0: none)")
    parser.add_argument("--adam-eps", choices=("default", "matched"), default="default")
    parser.add_argument("--float64", action="store_true", help="both sides in float64 (rounding shrinks ~1e9×)")
    parser.add_argument(
        "--recycle-at", type=int, default=100, help="ReDo (τ = 0) on critic and actor after this update"
    )
    parser.add_argument("--time", type=int, default=0, help="rounds of the interleaved timing (0: none)")
    parser.add_argument("--json", help="write the results here (with the machine block)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    global NP_FLOAT
    NP_FLOAT = np.float64 if args.float64 else np.float32
    result: dict[str, Any] = {
        "float64": args.float64,
        "references": {
            "tensorflow/agents": "eb24cf5f93f99ed78261975cc61a7fc648febcd5",
            "google/dopamine": "5873f5494ee0c2d7c016d0ab2ad530354fec59d0",
            "google-research/rigl": "d39fc7d46505cb3196cb1edeb32ed0b6dd44c0f9",
        },
    }
    if args.updates:
        result.update(compare(args))
        if not args.float64:
            result["ours_golden"] = ours_run(args.updates, recycle_at=args.recycle_at)
    if args.time:
        result["timing"] = time_updates(args)
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({**result, "machine": machine_block()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
