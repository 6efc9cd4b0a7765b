"""TACO side by side: dormant's ``agent=taco`` against the authors' ``TACOAgent``.

Reference: github.com/FrankZheng2022/TACO at 84c38e34f4f9dfd2b059fb6d1356757e8d40712e
(``agents/taco.py``, ``utils.py``, ``replay_buffer.py``). Clone it and pass its path::

    git clone https://github.com/FrankZheng2022/TACO /tmp/taco
    git -C /tmp/taco checkout 84c38e34f4f9dfd2b059fb6d1356757e8d40712e
    OMP_NUM_THREADS=1 python scripts/fidelity/taco.py --reference /tmp/taco

Imported at run time from that path: ``agents.taco``, ``utils`` and ``replay_buffer``.
Stubbed, only if they do not import here: ``hydra`` (imported by ``agents/taco.py``, never
called by the agent) and ``omegaconf`` (imported by ``utils.py``, never called). Nothing
else (no wandb, no renderer: no environment is built).

What it does:

1. **Replay.** Fills dormant's replay (K = 3, n = ``--nstep``) with synthetic 84×84 episodes,
   then checks every row of a sampled batch against the authors' ``ReplayBuffer._sample`` on
   the same episode (their per-step frame stacks rebuilt from ours) and the same start
   (their ``random.choice`` and ``np.random.randint`` made to return our episode and index):
   obs, action, action_seq, reward, discount, next_obs and r_next_obs (our ``obs_k``) equal.
2. **Same weights.** Builds both agents (84×84, 9 channels, ``--batch``, ``--hidden-dim``,
   the authors' settings otherwise: K = 3, L = ⌊1.25·A⌋ + 1, CURL and reward terms on,
   lr = encoder_lr = 1e-4, τ = 0.01, clip 0.3) and copies ours into theirs through an
   explicit name map checked to be a bijection onto every parameter and buffer of theirs
   (the tensors their ``TACO`` module shares with the encoder and action encoder counted
   once), shapes equal. Our target critic's copy of the action encoder (4 tensors) has no
   counterpart: theirs reads the online one, ours overwrites its copy with the online one
   at the start of each update; the equal target Q and critic loss below show the effect.
3. **Same draws.** Before each update the global torch generator is seeded with the same
   value for both. Both then draw, in this order: the shifts of obs and next_obs
   (``randint``), the target-policy noise and the policy noise (``normal_``), and TACO's three
   independent shifts (anchor, CURL positive, the frames K ahead). That both consumed the
   same draws is checked by comparing the generator state after each update.
4. **Per update** (``--updates`` consecutive, at agent steps where the σ schedule moves):
   every logged loss (critic, actor, TACO, CURL, reward) and statistic, every gradient just
   before each optimiser step (critic + encoder, actor, TACO's Adam), every parameter after
   the update (target critic included), the generator state; ``act`` (mean and sample)
   before and after the window. ``--dtype float64`` runs both in float64.
5. ``--golden`` prints the values ``tests/test_fidelity_taco.py`` checks (both agents).
   ``--time N`` times one update of each, interleaved, N rounds, at ``--time-batch`` and
   ``--time-hidden-dim``, and writes ``--json`` with the machine block.

Exit status 1 when a quantity exceeds its tolerance: in float64 every quantity at every
update; in float32 the first update's losses (after it Adam's first steps turn rounding into
±lr steps where a gradient element is near zero, so float32 is reported, float64 judged)
and, in both, the generator state (exactly equal).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import math
import os
import random
import statistics
import sys
import time
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from dormant.agents.taco import TACOAgent  # noqa: E402
from dormant.config import AgentConfig, TACOConfig  # noqa: E402
from dormant.replay import ReplayBuffer  # noqa: E402

REFERENCE = "github.com/FrankZheng2022/TACO"
COMMIT = "84c38e34f4f9dfd2b059fb6d1356757e8d40712e"
FRAME = (3, 84, 84)  # one RGB frame; 3 stacked: 9×84×84 (their encoder's 35×35 output needs 84)
OBS_SHAPE = (9, 84, 84)
K = 3
# Largest relative difference allowed, by quantity prefix, and over which updates. In float32
# the first update's losses must agree to rounding; after it, Adam's first steps turn rounding
# into ±lr steps wherever a gradient element is near zero (g/(|g| + ε) flips), so the float32
# differences are reported, not judged: float64, where they vanish, is the verdict.
TOLERANCES = {
    "float32": {"loss/": (5e-5, "first"), "rng": (0.0, "all")},
    "float64": {
        "loss/": (1e-10, "all"),
        "grad/": (1e-9, "all"),
        "param/": (1e-9, "all"),
        "act/": (1e-12, "all"),
        "rng": (0.0, "all"),
    },
}
METRICS = {
    "critic_loss": "critic_loss",
    "critic_q1": "critic_q1",
    "critic_q2": "critic_q2",
    "critic_target_q": "critic_target_q",
    "batch_reward": "batch_reward",
    "actor_loss": "actor_loss",
    "actor_logprob": "actor_logprob",
    "actor_ent": "actor_ent",
    "taco_loss": "taco_loss",
    "taco_curl_loss": "curl_loss",
    "taco_reward_loss": "reward_loss",
}


# --- the reference ------------------------------------------------------------------------
def _stub(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = []  # type: ignore[attr-defined]
    return module


def import_reference(path: Path) -> tuple[Any, Any, Any, list[str]]:
    if not (path / "agents" / "taco.py").is_file():
        raise SystemExit(f"--reference {path}: no agents/taco.py (clone {REFERENCE} there)")
    stubbed = []
    for name in ("hydra", "omegaconf"):
        try:
            importlib.import_module(name)
        except ImportError:
            stub = _stub(name)
            if name == "omegaconf":
                stub.OmegaConf = object  # type: ignore[attr-defined]  # ``from omegaconf import OmegaConf``
            sys.modules[name] = stub
            stubbed.append(name)
    sys.path.insert(0, str(path))
    try:
        agent = importlib.import_module("agents.taco")
        utils = importlib.import_module("utils")
        replay = importlib.import_module("replay_buffer")
    finally:
        sys.path.remove(str(path))
    return agent, utils, replay, stubbed


# --- data ------------------------------------------------------------------------------------------
def filled_replay(nstep: int, action_dim: int, seed: int, episodes: int = 4, length: int = 25) -> ReplayBuffer:
    """Dormant's replay with ``episodes`` synthetic episodes (random frames, actions, rewards)."""
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(
        FRAME, np.uint8, action_dim, capacity=10_000, frame_stack=3, nstep=nstep, discount=0.99, seed=seed, horizon=K
    )
    for _ in range(episodes):
        for t in range(length + 1):
            frame = rng.integers(0, 256, FRAME, dtype=np.uint8)
            action = rng.uniform(-1, 1, action_dim).astype(np.float32) if t else np.zeros(action_dim, np.float32)
            buf.add(frame, action, float(rng.uniform(0, 1)) if t else 0.0, 1.0, first=t == 0, last=t == length)
    return buf


def to_batch(sample: Mapping[str, np.ndarray], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Our batch dict as tensors (frames uint8, the rest in ``dtype``)."""
    return {k: torch.as_tensor(v) if v.dtype == np.uint8 else torch.as_tensor(v).to(dtype) for k, v in sample.items()}


def their_tuple(batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """The authors' batch order: obs, action, action_seq, reward, discount, next_obs, r_next_obs."""
    return tuple(batch[k] for k in ("obs", "action", "action_seq", "reward", "discount", "next_obs", "obs_k"))


def check_replay(replay_mod: Any, nstep: int, action_dim: int, seed: int, tmp: Path) -> int:
    """Every row of one of our batches against the authors' ``_sample`` at the same episode and start."""
    buf = filled_replay(nstep, action_dim, seed)
    state = buf.rng.bit_generator.state
    batch = buf.sample(64)
    # The same draws again, to know each row's episode and start (``ReplayBuffer.sample``'s two draws).
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    eligible = np.flatnonzero(buf._ep_lengths >= buf.span)
    episodes = eligible[rng.integers(0, len(eligible), size=64)]
    idx = rng.integers(0, buf._ep_lengths[episodes] - buf.span + 1) + 1
    theirs = replay_mod.ReplayBuffer(tmp, 10_000, 1, nstep, K, 0.99, fetch_every=10**9, save_snapshot=True)
    stored = {}
    for e in range(buf.num_episodes):
        start, length = buf._ep_starts[e], buf._ep_lengths[e]
        pos = np.arange(length + 1)
        slots = (start + pos) % buf.num_slots
        stored[e] = {
            "observation": buf._stack(np.full(length + 1, start), pos),
            "action": buf.actions[slots],
            "reward": buf.rewards[slots][:, None],
            "discount": buf.discounts[slots][:, None],
        }
    names = ("obs", "action", "action_seq", "reward", "discount", "next_obs", "obs_k")
    checked = 0
    saved_choice, saved_randint = random.choice, np.random.randint
    try:
        for row in range(64):
            random.choice = lambda seq, e=episodes[row]: e  # type: ignore[assignment]
            theirs._episode_fns, theirs._episodes = [episodes[row]], stored
            np.random.randint = lambda lo, hi, i=idx[row]: i - 1  # type: ignore[assignment]
            for name, value in zip(names, theirs._sample(), strict=True):
                ours = np.asarray(batch[name][row])
                if ours.shape != np.shape(value) or not np.allclose(ours, value, rtol=1e-6, atol=0):
                    raise SystemExit(f"replay row {row} (episode {episodes[row]}, idx {idx[row]}): {name} differs")
                checked += 1
    finally:
        random.choice, np.random.randint = saved_choice, saved_randint
    print(f"replay: {checked} fields of 64 rows equal to the authors' _sample (n = {nstep}, K = {K})")
    return checked


# --- agents and the name map ---------------------------------------------------------------------
def build(ref_agent: Any, args: argparse.Namespace, *, batch: int, hidden_dim: int) -> tuple[TACOAgent, Any]:
    cfg = AgentConfig(
        lr=1e-4,
        feature_dim=args.feature_dim,
        hidden_dim=hidden_dim,
        critic_target_tau=0.01,
        num_expl_steps=args.expl_steps,
        update_every_steps=2,
        stddev_schedule=args.schedule,
        stddev_clip=0.3,
        batch_size=batch,
        nstep=args.nstep,
    )
    torch.manual_seed(args.seed)
    ours = TACOAgent(OBS_SHAPE, args.action_dim, cfg, pixels=True, device=torch.device("cpu"), taco=TACOConfig())
    theirs = ref_agent.TACOAgent(
        obs_shape=OBS_SHAPE,
        action_shape=(args.action_dim,),
        device="cpu",
        lr=1e-4,
        encoder_lr=1e-4,
        feature_dim=args.feature_dim,
        hidden_dim=hidden_dim,
        critic_target_tau=0.01,
        num_expl_steps=args.expl_steps,
        update_every_steps=2,
        stddev_schedule=args.schedule,
        stddev_clip=0.3,
        use_tb=True,
        reward=True,
        multistep=K,
        latent_a_dim="none",
        curl=True,
    )
    copy_weights(ours, theirs)
    return ours, theirs


def our_tensors(agent: TACOAgent) -> dict[str, torch.Tensor]:
    nets = {
        "encoder": agent.encoder,
        "actor": agent.actor,
        "critic": agent.critic,
        "critic_target": agent.critic_target,
        "taco": agent.taco,
    }
    return {f"{n}.{k}": v for n, m in nets.items() for k, v in m.state_dict(keep_vars=True).items()}


def their_tensors(agent: Any) -> dict[str, torch.Tensor]:
    """Every tensor of theirs once: ``TACO.encoder`` and ``TACO.act_tok`` are the agent's
    ``encoder`` and ``act_tok`` (the same objects), listed under those names only."""
    nets = {
        "encoder": agent.encoder,
        "actor": agent.actor,
        "critic": agent.critic,
        "critic_target": agent.critic_target,
        "act_tok": agent.act_tok,
        "TACO": agent.TACO,
    }
    out, seen = {}, set()
    for n, m in nets.items():
        for k, v in m.state_dict(keep_vars=True).items():
            if id(v) not in seen:
                seen.add(id(v))
                out[f"{n}.{k}"] = v
    return out


TACO_NAMES = {
    "trunk": "TACO.proj_s",
    "project": "TACO.proj_sa",
    "reward": "TACO.reward",
    "sequence": "act_tok.action_seq_tokenizer",
}


def their_name(name: str) -> str | None:
    """Our tensor → theirs (None: our target critic's tied copy of the action encoder)."""
    net, _, rest = name.partition(".")
    head, _, tail = rest.partition(".")
    if net in ("critic", "critic_target"):
        if head == "action_encoder":
            if net == "critic_target":
                return None
            layer, _, p = tail.partition(".")
            return f"act_tok.action_tokenizer.{ {'fc1': 0, 'fc2': 2}[layer] }.{p}"
        return f"{net}.{head.upper() if head in ('q1', 'q2') else head}.{tail}"
    if net == "taco":
        return "TACO.W" if head == "similarity" else f"{TACO_NAMES[head]}.{tail}"
    return name


def name_map(ours: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor]) -> dict[str, str]:
    mapping = {k: their_name(k) for k in ours}
    mapping = {k: v for k, v in mapping.items() if v is not None}
    images = list(mapping.values())
    problems = [f"mapped twice: {n}" for n in set(images) if images.count(n) > 1]
    problems += [f"not covered: {n}" for n in sorted(set(theirs) - set(images))]
    problems += [f"unknown: {n}" for n in images if n not in theirs]
    problems += [
        f"{a} {tuple(ours[a].shape)} ≠ {b}"
        for a, b in mapping.items()
        if b in theirs and ours[a].shape != theirs[b].shape
    ]
    tied = [k for k in ours if their_name(k) is None]
    if len(tied) != 4:
        problems.append(f"expected the target's 4 action-encoder tensors unmapped, got {tied}")
    if problems:
        raise SystemExit("name map does not fit:\n  " + "\n  ".join(problems))
    return mapping


@torch.no_grad()
def copy_weights(ours: TACOAgent, theirs: Any) -> dict[str, str]:
    mine, yours = our_tensors(ours), their_tensors(theirs)
    mapping = name_map(mine, yours)
    for a, b in mapping.items():
        yours[b].copy_(mine[a])
    return mapping


# --- comparing ---------------------------------------------------------------------------------------
def diff(a: Any, b: Any) -> tuple[float, float]:
    a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).detach().double()
    if a.shape != b.shape:
        raise SystemExit(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    d = (a - b).abs().max().item() if a.numel() else 0.0
    scale = b.abs().max().item() if b.numel() else 0.0
    return d, (0.0 if d == 0 else d / scale if scale else math.inf)


class Report:
    def __init__(self) -> None:
        self.worst: dict[str, dict[str, Any]] = {}
        self.by_update: dict[str, dict[int, float]] = {}  # max relative difference per quantity and update

    def add(self, quantity: str, update: int, pairs: Mapping[str, tuple[Any, Any]]) -> None:
        w = self.worst.setdefault(quantity, {"abs": 0.0, "rel": 0.0, "abs_at": "", "rel_at": "", "n": 0})
        for name, (a, b) in pairs.items():
            d, r = diff(a, b)
            w["n"] += 1
            if d > w["abs"] or not w["abs_at"]:
                w["abs"], w["abs_at"] = d, f"update {update}: {name}"
            if r > w["rel"] or not w["rel_at"]:
                w["rel"], w["rel_at"] = r, f"update {update}: {name}"
            row = self.by_update.setdefault(quantity, {})
            row[update] = max(row.get(update, 0.0), r)

    def table(self, title: str) -> None:
        print(f"\n{title}\n{'quantity':<22} {'compared':>8} {'max abs':>10} {'max rel':>10}  where (max rel; max abs)")
        for q, w in self.worst.items():
            print(f"{q:<22} {w['n']:>8} {w['abs']:>10.3g} {w['rel']:>10.3g}  {w['rel_at']}; {w['abs_at']}")
        updates = sorted({u for row in self.by_update.values() for u in row if u >= 0})
        marks = sorted({u for u in (0, 1, 2, 5, 10, 20, 50, 100, 150) if u in updates} | set(updates[-1:]))
        print("\nmax relative difference at update " + ", ".join(map(str, marks)))
        for q, row in self.by_update.items():
            print(f"{q:<22} " + " ".join(f"{row.get(u, float('nan')):9.2g}" for u in marks))

    def failures(self, tolerances: Mapping[str, tuple[float, str]]) -> list[str]:
        out = []
        for q, w in self.worst.items():
            tol, span = next((t for p, t in tolerances.items() if q.startswith(p)), (math.inf, "all"))
            rel, where = (w["rel"], w["rel_at"]) if span == "all" else (self.by_update[q].get(0, 0.0), "update 0")
            if not rel <= tol:
                out.append(f"{q}: rel {rel:.3g} > {tol:g} ({where})")
        return out


class GradTap:
    """Each gradient just before each optimiser step, by (phase, name)."""

    def __init__(self, optimizers: Mapping[str, tuple[torch.optim.Optimizer, str]], names: Mapping[int, str]):
        self.grads: dict[str, torch.Tensor] = {}
        for opt, phase in optimizers.values():
            opt.register_step_pre_hook(lambda o, a, k, phase=phase: self._take(o, phase, names))

    def _take(self, opt: torch.optim.Optimizer, phase: str, names: Mapping[int, str]) -> None:
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    key = f"{phase}:{names[id(p)]}"
                    assert key not in self.grads, key
                    self.grads[key] = p.grad.detach().clone()

    def take(self) -> dict[str, torch.Tensor]:
        out, self.grads = self.grads, {}
        return out


def taps(ours: TACOAgent, theirs: Any, mapping: Mapping[str, str]) -> tuple[GradTap, GradTap]:
    """Gradient taps named in our terms; the critic phase is the critic's and the encoder's
    Adams together (the action encoder sits in our critic's, in their encoder's)."""
    mine = our_tensors(ours)
    our_ids = {id(t): n for n, t in mine.items()}
    yours = their_tensors(theirs)
    their_ids = {id(yours[b]): a for a, b in mapping.items()}
    a = GradTap(
        {
            "critic": (ours.critic_opt, "critic"),
            "encoder": (ours.encoder_opt, "critic"),
            "actor": (ours.actor_opt, "actor"),
            "taco": (ours.taco_opt, "taco"),
        },
        our_ids,
    )
    b = GradTap(
        {
            "critic": (theirs.critic_opt, "critic"),
            "encoder": (theirs.encoder_opt, "critic"),
            "actor": (theirs.actor_opt, "actor"),
            "taco": (theirs.taco_opt, "taco"),
        },
        their_ids,
    )
    return a, b


@contextlib.contextmanager
def float64_mode():
    """Both in float64: the default dtype, and ``Tensor.float()`` (both call it) to float64."""
    dtype, to_float = torch.get_default_dtype(), torch.Tensor.float
    torch.set_default_dtype(torch.float64)
    torch.Tensor.float = lambda self, *a, **k: self.to(torch.float64)  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.float = to_float  # type: ignore[method-assign]
        torch.set_default_dtype(dtype)


def one_update(
    ours: TACOAgent, theirs: Any, batch: dict[str, torch.Tensor], step: int, seed: int
) -> tuple[dict[str, float], dict[str, float], torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    vec = ours.update(batch, step)
    rng_ours = torch.get_rng_state()
    torch.manual_seed(seed)
    m = theirs.update(iter([their_tuple(batch)]), step)
    rng_theirs = torch.get_rng_state()
    return dict(zip(ours.METRICS, vec.tolist(), strict=True)), m, rng_ours, rng_theirs


def compare_act(
    report: Report, ours: TACOAgent, theirs: Any, ref_utils: Any, obs: np.ndarray, step: int, when: int, seed: int
) -> None:
    pairs = {}
    for eval_mode in (True, False):
        torch.manual_seed(seed)
        a = ours.act(obs, step, eval_mode)
        torch.manual_seed(seed)
        with torch.no_grad(), ref_utils.eval_mode(theirs):
            b = theirs.act(obs, step, eval_mode)
        pairs["mean" if eval_mode else "sample"] = (a, b)
    report.add("act/", when, pairs)


def run(args: argparse.Namespace, ref: tuple[Any, Any, Any], dtype: torch.dtype) -> tuple[Report, dict[str, Any]]:
    ref_agent, ref_utils, _ = ref
    ours, theirs = build(ref_agent, args, batch=args.batch, hidden_dim=args.hidden_dim)
    mapping = name_map(our_tensors(ours), their_tensors(theirs))
    tap_ours, tap_theirs = taps(ours, theirs, mapping)
    buf = filled_replay(args.nstep, args.action_dim, args.seed)
    report = Report()
    act_obs = buf.sample(1)["obs"][0]
    compare_act(report, ours, theirs, ref_utils, act_obs, args.expl_steps + 10, -1, args.seed + 7)
    first_losses: list[dict[str, float]] = []
    for u in range(args.updates):
        step = args.first_step + 2 * u
        batch = to_batch(buf.sample(args.batch), dtype)
        mo, mt, ro, rt = one_update(ours, theirs, batch, step, args.seed * 100_003 + u)
        report.add("loss/", u, {k: (mo[k], mt[v]) for k, v in METRICS.items()})
        report.add("rng", u, {"torch generator state": (ro, rt)})
        go, gt = tap_ours.take(), tap_theirs.take()
        if set(go) != set(gt):
            raise SystemExit(f"update {u}: gradients on one side only: {sorted(set(go) ^ set(gt))}")
        for phase in ("critic", "actor", "taco"):
            report.add(f"grad/{phase}", u, {k: (go[k], gt[k]) for k in go if k.startswith(phase + ":")})
        mine, yours = our_tensors(ours), their_tensors(theirs)
        report.add("param/", u, {a: (mine[a], yours[b]) for a, b in mapping.items()})
        if u < 3:
            first_losses.append({k: mo[k] for k in METRICS})
    compare_act(report, ours, theirs, ref_utils, act_obs, args.expl_steps + 10, args.updates, args.seed + 8)
    checksum = sum(float(t.detach().double().abs().sum()) for t in our_tensors(ours).values())
    return report, {"first_losses": first_losses, "param_abs_sum": checksum}


def golden(args: argparse.Namespace, ref: tuple[Any, Any, Any]) -> None:
    """The small run ``tests/test_fidelity_taco.py`` repeats: both agents' first three
    updates' losses and the sum of |parameters| after ``--golden-updates``."""
    g = argparse.Namespace(**{**vars(args), "batch": 16, "hidden_dim": 64, "updates": args.golden_updates})
    report, summary = run(g, ref, torch.float32)
    report.table("golden run (ours vs theirs)")
    print(
        json.dumps(
            {
                "settings": {
                    k: getattr(g, k)
                    for k in ("batch", "hidden_dim", "updates", "nstep", "seed", "action_dim", "first_step", "schedule")
                },
                **summary,
            },
            indent=1,
        )
    )


# --- timing ------------------------------------------------------------------------------------------
def time_updates(args: argparse.Namespace, ref: tuple[Any, Any, Any]) -> dict[str, Any]:
    ours, theirs = build(ref[0], args, batch=args.time_batch, hidden_dim=args.time_hidden_dim)
    buf = filled_replay(args.nstep, args.action_dim, args.seed)
    batches = [to_batch(buf.sample(args.time_batch), torch.float32) for _ in range(4)]
    calls = {"ours": 0, "theirs": 0}

    def step_ours() -> None:
        ours.update(batches[calls["ours"] % 4], args.first_step + 2 * calls["ours"])
        calls["ours"] += 1

    def step_theirs() -> None:
        theirs.update(iter([their_tuple(batches[calls["theirs"] % 4])]), args.first_step + 2 * calls["theirs"])
        calls["theirs"] += 1

    fns = {"ours": step_ours, "theirs": step_theirs}
    for _ in range(2):
        for f in fns.values():
            f()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}  # process CPU time: robust to a shared machine's load
    for r in range(args.time):
        for name in fns if r % 2 == 0 else list(fns)[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            fns[name]()
            samples[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    out: dict[str, Any] = {
        k: {
            "median_s": statistics.median(s),
            "q1_s": statistics.quantiles(s, n=4)[0],
            "q3_s": statistics.quantiles(s, n=4)[2],
            "samples_s": s,
            "cpu_median_s": statistics.median(cpu[k]),
            "cpu_samples_s": cpu[k],
        }
        for k, s in samples.items()
    }
    out["ratio_ours_over_theirs"] = out["ours"]["median_s"] / out["theirs"]["median_s"]
    out["cpu_ratio_ours_over_theirs"] = out["ours"]["cpu_median_s"] / out["theirs"]["cpu_median_s"]
    print(
        f"update time, batch {args.time_batch}, hidden {args.time_hidden_dim}, {args.time} interleaved rounds: "
        f"ours {out['ours']['median_s'] * 1e3:.1f} ms, theirs {out['theirs']['median_s'] * 1e3:.1f} ms "
        f"(wall, ratio {out['ratio_ours_over_theirs']:.3f}); CPU ours {out['ours']['cpu_median_s'] * 1e3:.1f} ms, "
        f"theirs {out['theirs']['cpu_median_s'] * 1e3:.1f} ms (ratio {out['cpu_ratio_ours_over_theirs']:.3f})"
    )
    return out


def self_perturbed(args: argparse.Namespace) -> None:
    """How far float32 rounding alone carries this training loop: our agent against itself
    with one encoder weight moved by one unit in the last place, same batches and draws."""
    cfg_args = dict(batch=args.batch, hidden_dim=args.hidden_dim)
    agents = []
    for _ in range(2):
        cfg = AgentConfig(
            lr=1e-4,
            feature_dim=args.feature_dim,
            hidden_dim=cfg_args["hidden_dim"],
            critic_target_tau=0.01,
            num_expl_steps=args.expl_steps,
            update_every_steps=2,
            stddev_schedule=args.schedule,
            stddev_clip=0.3,
            batch_size=args.batch,
            nstep=args.nstep,
        )
        torch.manual_seed(args.seed)
        agents.append(TACOAgent(OBS_SHAPE, args.action_dim, cfg, pixels=True, device=torch.device("cpu")))
    with torch.no_grad():
        w = agents[1].encoder.convnet[0].weight.view(-1)
        w[0] = torch.nextafter(w[0], torch.tensor(math.inf))
    buf = filled_replay(args.nstep, args.action_dim, args.seed)
    buf.sample(1)
    report = Report()
    for u in range(args.updates):
        batch = to_batch(buf.sample(args.batch), torch.float32)
        out = []
        for agent in agents:
            torch.manual_seed(args.seed * 100_003 + u)
            out.append(dict(zip(agent.METRICS, agent.update(batch, args.first_step + 2 * u).tolist(), strict=True)))
        report.add("loss/", u, {k: (out[0][k], out[1][k]) for k in METRICS})
        a, b = our_tensors(agents[0]), our_tensors(agents[1])
        report.add("param/", u, {n: (a[n], b[n]) for n in a})
    report.table(
        f"ours against ours with one weight moved by 1 ulp: {args.updates} updates, batch {args.batch}, "
        f"hidden {args.hidden_dim}, float32"
    )


def machine_block() -> dict[str, Any]:
    """The benchmarks' machine block (scripts/fidelity/common.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common

    return common.machine_block()


# --- main -----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reference", type=Path, required=True, help="a checkout of the authors' repository")
    p.add_argument("--updates", type=int, default=200)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--hidden-dim", type=int, default=256)
    p.add_argument("--feature-dim", type=int, default=50)
    p.add_argument("--action-dim", type=int, default=6)
    p.add_argument("--nstep", type=int, default=3, help="n of the critic's target (walker tasks: 1)")
    p.add_argument("--schedule", default="linear(1.0,0.1,500)")
    p.add_argument("--expl-steps", type=int, default=100)
    p.add_argument("--first-step", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument(
        "--self-perturb",
        action="store_true",
        help="ours against ours with one weight moved by 1 ulp (how far float32 rounding carries)",
    )
    p.add_argument("--golden", action="store_true", help="print the golden values of tests/test_fidelity_taco.py")
    p.add_argument("--golden-updates", type=int, default=10)
    p.add_argument("--time", type=int, default=0, help="rounds of interleaved update timing (0: none)")
    p.add_argument("--time-batch", type=int, default=64)
    p.add_argument("--time-hidden-dim", type=int, default=1024)
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/cpu-2core-2026-12-06-fidelity-taco.json")
    args = p.parse_args(argv)
    if args.self_perturb:
        self_perturbed(args)
        return 0
    ref_agent, ref_utils, ref_replay, stubbed = import_reference(args.reference.resolve())
    head = os.popen(f"git -C '{args.reference}' rev-parse HEAD 2>/dev/null").read().strip()
    print(
        f"reference {REFERENCE} at {head or '?'} (expected {COMMIT}); stubbed: {', '.join(stubbed) or 'nothing'}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )
    ref = (ref_agent, ref_utils, ref_replay)
    if args.time:
        result = time_updates(args, ref)
        payload = {
            "what": "one TACO update, dormant vs the authors' code, interleaved in one process",
            "reference": f"{REFERENCE}@{COMMIT}",
            "batch": args.time_batch,
            "hidden_dim": args.time_hidden_dim,
            "image": "9x84x84",
            "action_dim": args.action_dim,
            "nstep": args.nstep,
            "rounds": args.time,
            "command": "python " + " ".join(sys.argv),
            **result,
            "machine": machine_block(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
        return 0
    if args.golden:
        golden(args, ref)
        return 0
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        check_replay(ref_replay, args.nstep, args.action_dim, args.seed, Path(tmp))
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    with float64_mode() if dtype == torch.float64 else contextlib.nullcontext():
        t0 = time.perf_counter()
        report, _summary = run(args, ref, dtype)
    report.table(
        f"{args.updates} updates, batch {args.batch}, hidden {args.hidden_dim}, n = {args.nstep}, "
        f"K = {K}, {args.dtype} ({time.perf_counter() - t0:.0f} s)"
    )
    failed = report.failures(TOLERANCES[args.dtype])
    print("\nFAIL:\n  " + "\n  ".join(failed) if failed else "\nOK: every quantity within tolerance")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
