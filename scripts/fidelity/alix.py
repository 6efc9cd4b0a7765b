"""ALIX side by side with its authors' code.

    PYTHONPATH=src python scripts/fidelity/alix.py --reference PATH [--updates 200] [--float64]
    PYTHONPATH=src python scripts/fidelity/alix.py --reference PATH --time 6 --json OUT.json

PATH is a checkout of github.com/Aladoro/Stabilizing-Off-Policy-RL (checked at commit
34665c80708bc2703c72906774d2c051e6fb0a28). Its modules (``drqv2``, ``utils``,
``analysis_modules``, ``analysis_layers``, ``analysis_optimizers``, ``analysis_utils``,
``analysis_custom_autograd_functions``) import here as they are: nothing is stubbed. Hydra
is not used: their agent is built from the classes and numbers that ``cfgs/algo/ALIX.yaml``
names (the script reads that file and refuses to run if a ``_target_`` it relies on changed),
the way ``hydra.utils.instantiate`` would build it.

What it does:

1. **Settings.** The effective ALIX configuration of their YAML (config.yaml, then
   ALIX.yaml, then the task files, Hydra's order) against ``dormant.config.resolve`` for
   ``agent=alix`` on every DMC task both have, key by key.
2. **Initialisation.** Fresh agents of both codebases: every weight's singular values (all
   equal to the orthogonal gain), zero biases, LayerNorm and S initial values.
3. **Updates.** Both agents at a small size (84×84, the only size their encoder accepts;
   3 stacked RGB frames; batch 16; hidden 256 by default), ours copied into theirs through an
   explicit name map that is checked to cover every parameter and buffer once. The same
   batch goes to both; ``torch.manual_seed`` is set to the same value right before each
   ``update`` so that the four LIX offsets of the observation, the four of the next
   observation and the two policy samples line up (augmentation is off on both sides).
   After every update: every logged loss and value, S and the ND score, every gradient
   just before each optimiser step (pre-step hooks) and every parameter after it; at the end
   also Adam's moments and the acting path (mean and exploration action). ``--float64`` runs
   both codebases in float64 (default dtype float64, ``Tensor.float()`` mapped to float64
   for the run), to show that the float32 differences are rounding.
4. **Timing** (``--time ROUNDS``): one update of each, interleaved, at the paper's size
   (batch 256, hidden 1024).

Batches are real ``cheetah_run`` frames from dm_control (random actions) or, with
``--frames synthetic`` (what the golden-value test uses), smooth random images.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from dormant.agents.alix import ALIXAgent  # noqa: E402
from dormant.config import AgentConfig, ALIXConfig  # noqa: E402

REFERENCE_COMMIT = "34665c80708bc2703c72906774d2c051e6fb0a28"
REFERENCE_MODULES = ("utils", "drqv2", "analysis_layers", "analysis_modules", "analysis_optimizers")
IMAGE = 84  # their encoder hard-codes a 35×35×32 output, i.e. 84×84 input
CHANNELS = 9  # 3 stacked RGB frames
ACTION_DIM = 6  # cheetah_run
NSTEP, GAMMA = 3, 0.99


# --- their code -------------------------------------------------------------------------------------
def import_reference(path: Path) -> dict[str, Any]:
    """Import their modules from ``path`` (nothing stubbed: they need torch and numpy only)."""
    import importlib

    if not (path / "drqv2.py").is_file():
        raise SystemExit(f"--reference {path}: no drqv2.py there (clone the authors' repository)")
    sys.path.insert(0, str(path))
    try:
        return {name: importlib.import_module(name) for name in REFERENCE_MODULES}
    finally:
        sys.path.remove(str(path))


def git_head(path: Path) -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def load_yaml(file: Path) -> Any:
    """A YAML file as OmegaConf reads it: PyYAML leaves ``1e-20`` (no dot) a string,
    OmegaConf's loader makes it a float."""
    import yaml

    def numbers(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: numbers(v) for k, v in node.items()}
        if isinstance(node, list):
            return [numbers(v) for v in node]
        if isinstance(node, str):
            try:
                return float(node) if any(c in node.lower() for c in ".e") and not node.startswith("$") else node
            except ValueError:
                return node
        return node

    return numbers(yaml.safe_load(file.read_text()))


def reference_config(path: Path) -> dict[str, Any]:
    return load_yaml(path / "cfgs" / "algo" / "ALIX.yaml")


def build_theirs(
    ref: dict[str, Any],
    yml: dict[str, Any],
    *,
    hidden_dim: int,
    feature_dim: int,
    lr: float,
    stddev_schedule: str,
    num_expl_steps: int,
) -> Any:
    """Their DrQV2Agent as ALIX.yaml instantiates it (Hydra's ``instantiate``, by hand)."""
    a = yml["agent"]
    expected = {
        "_target_": "drqv2.DrQV2Agent",
        "encoder._target_": "analysis_modules.AllFeatTiedRegularizedEncoder",
        "encoder.aug._target_": "analysis_layers.ParameterizedReg",
        "encoder.aug.aug._target_": "analysis_layers.LocalSignalMixing",
        "actor._target_": "drqv2.Actor",
        "critic._target_": "drqv2.Critic",
        "aug._target_": "drqv2.NoShiftAug",
        "encoder_optimizer_builder._target_": "analysis_optimizers.custom_parameterized_aug_optimizer_builder",
    }
    for key, target in expected.items():
        node = a
        for part in key.split("."):
            node = node[part]
        if node != target:
            raise SystemExit(f"ALIX.yaml: agent.{key} is {node!r}, this script builds {target!r}")
    reg = a["encoder"]["aug"]
    lix = ref["analysis_layers"].LocalSignalMixing(pad=reg["aug"]["pad"], fixed_batch=reg["aug"]["fixed_batch"])
    param = ref["analysis_layers"].ParameterizedReg(
        lix, reg["parameter_init"], reg["param_grad_fn"], list(reg["param_grad_fn_args"])
    )
    obs_shape, action_shape = (CHANNELS, IMAGE, IMAGE), (ACTION_DIM,)
    encoder = ref["analysis_modules"].AllFeatTiedRegularizedEncoder(obs_shape, param)
    actor = ref["drqv2"].Actor(encoder, action_shape, feature_dim, hidden_dim)
    critic = ref["drqv2"].Critic(encoder, action_shape, feature_dim, hidden_dim)
    ob = a["encoder_optimizer_builder"]
    builder = ref["analysis_optimizers"].custom_parameterized_aug_optimizer_builder(
        encoder_lr=lr, lr=float(ob["lr"]), betas=list(ob["betas"])
    )
    return ref["drqv2"].DrQV2Agent(
        encoder,
        actor,
        critic,
        obs_shape,
        action_shape,
        "cpu",
        lr,
        feature_dim,
        hidden_dim,
        a["critic_target_tau"],
        num_expl_steps,
        a["update_every_steps"],
        stddev_schedule,
        a["stddev_clip"],
        use_tb=True,
        aug=ref["drqv2"].NoShiftAug(),
        encoder_lr=lr,
        actor_lr=lr,
        critic_lr=lr,
        encoder_optimizer_builder=builder,
    )


# --- ours -------------------------------------------------------------------------------------------
def build_ours(
    seed: int,
    *,
    hidden_dim: int = 256,
    feature_dim: int = 50,
    lr: float = 1e-4,
    stddev_schedule: str = "linear(1.0,0.1,400)",
    num_expl_steps: int = 0,
    alix: ALIXConfig | None = None,
) -> ALIXAgent:
    torch.manual_seed(seed)
    cfg = AgentConfig(
        name="alix",
        lr=lr,
        feature_dim=feature_dim,
        hidden_dim=hidden_dim,
        stddev_schedule=stddev_schedule,
        num_expl_steps=num_expl_steps,
        augment=False,
    )
    return ALIXAgent(
        (CHANNELS, IMAGE, IMAGE), ACTION_DIM, cfg, pixels=True, device=torch.device("cpu"), alix=alix or ALIXConfig()
    )


# --- batches ----------------------------------------------------------------------------------------
def synthetic_batches(count: int, batch: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Smooth random images (bilinearly upsampled 11×11 noise plus a little pixel noise), so
    that feature maps and their gradients have spatial structure; numpy arrays."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        frames = []
        for _ in range(2):
            low = torch.rand(batch, CHANNELS, 11, 11, generator=g) * 255
            img = torch.nn.functional.interpolate(low, size=(IMAGE, IMAGE), mode="bilinear", align_corners=False)
            img = img + torch.randn(img.shape, generator=g) * 4
            frames.append(img.clamp(0, 255).round().to(torch.uint8).numpy())
        action = (torch.rand(batch, ACTION_DIM, generator=g) * 2 - 1).numpy()
        reward = torch.rand(batch, 1, generator=g).numpy()
        discount = np.full((batch, 1), GAMMA**NSTEP, dtype=np.float32)
        out.append({"obs": frames[0], "action": action, "reward": reward, "discount": discount, "next_obs": frames[1]})
    return out


def dmc_batches(count: int, batch: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Batches of 3-frame stacks from a random-action cheetah_run episode (dm_control, 84×84,
    camera 0, action repeat 2), n-step 3 rewards; transitions drawn uniformly."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from dm_control import suite

    rng = np.random.default_rng(seed)
    env = suite.load("cheetah", "run", task_kwargs={"random": seed})
    spec = env.action_spec()
    env.reset()
    frames, actions, rewards = [env.physics.render(IMAGE, IMAGE, camera_id=0)], [], []
    for _ in range(120):
        action = rng.uniform(spec.minimum, spec.maximum).astype(np.float32)
        reward = 0.0
        for _ in range(2):
            reward += env.step(action).reward or 0.0
        frames.append(env.physics.render(IMAGE, IMAGE, camera_id=0))
        actions.append(action)
        rewards.append(reward)
    chw = np.stack(frames).transpose(0, 3, 1, 2)  # T×3×H×W

    def stack(t: int) -> np.ndarray:  # frames t-2, t-1, t (the first repeated at the start)
        return np.concatenate([chw[max(t - k, 0)] for k in (2, 1, 0)], axis=0)

    out = []
    for _ in range(count):
        idx = rng.integers(0, len(actions) - NSTEP + 1, size=batch)  # obs at frame idx, action idx
        out.append(
            {
                "obs": np.stack([stack(i) for i in idx]),
                "action": np.stack([actions[i] for i in idx]),
                "reward": np.array([[sum(GAMMA**k * rewards[i + k] for k in range(NSTEP))] for i in idx], np.float32),
                "discount": np.full((batch, 1), GAMMA**NSTEP, dtype=np.float32),
                "next_obs": np.stack([stack(i + NSTEP) for i in idx]),
            }
        )
    return out


def as_ours(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v) for k, v in batch.items()}


def as_theirs(batch: dict[str, np.ndarray]):
    """Their update calls ``next(replay_buffer)`` once and reads (obs, action, reward, discount, next_obs)."""
    return iter([(batch["obs"], batch["action"], batch["reward"], batch["discount"], batch["next_obs"])])


# --- one name map ------------------------------------------------------------------------------------
# Ours → theirs. A tensor maps to one of theirs, or to one head's slice of their parallel
# critic layer (weight (2, in, out) holds both heads, transposed; bias (2, 1, out)).
# Our ``encoder.nd`` buffer only records the last ND score for the logs (no state): it has
# no counterpart and is compared as a metric (their S gradient gives it: target − ND).
NO_COUNTERPART = {"encoder.nd": "the last update's ND score, kept for the logs; compared as alix_nd"}


def their_name(ours: str) -> tuple[str, int | None] | None:
    if ours in NO_COUNTERPART:
        return None
    net, rest = ours.split(".", 1)
    if net == "encoder":
        if rest == "s":
            return "encoder.aug.P", None
        _, k, kind = rest.split(".")  # convs.K.weight → convnet.(3K).weight (conv, ReLU, LIX per layer)
        return f"encoder.convnet.{3 * int(k)}.{kind}", None
    if net in ("critic", "critic_target") and rest.startswith(("q1.", "q2.")):
        head, layer, kind = rest.split(".")
        return f"{net}.QS.{layer}.{kind}", int(head[1]) - 1
    return ours, None  # trunks and the actor are named alike


def named_tensors(nets: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """Parameters (each shared one once) and buffers of each net, prefixed by the net's name."""
    out = {}
    for prefix, net in nets.items():
        out.update({f"{prefix}.{n}": t for n, t in net.named_parameters()})
        out.update({f"{prefix}.{n}": t for n, t in net.named_buffers()})
    return out


def ours_nets(agent: Any) -> dict[str, torch.nn.Module]:
    return {
        "encoder": agent.encoder,
        "actor": agent.actor,
        "critic": agent.critic,
        "critic_target": agent.critic_target,
    }


def checked_map(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> dict[str, tuple[str, int | None]]:
    """The map, refused unless every tensor of theirs (each head slice of a parallel layer)
    is the image of exactly one of ours, with equal shapes."""
    mapping, problems, covered = {}, [], {}
    for name, tensor in ours.items():
        image = their_name(name)
        if image is None:
            continue
        their, head = image
        if their not in theirs:
            problems.append(f"{name} → {their}: they have no such tensor")
            continue
        target = theirs[their] if head is None else theirs[their][head]
        shape = (
            tuple(tensor.shape)
            if head is None
            else tuple(tensor.t().shape if tensor.dim() == 2 else (1, tensor.shape[0]))
        )
        if shape != tuple(target.shape):
            problems.append(f"{name} {tuple(tensor.shape)} does not fit {their}[{head}] {tuple(target.shape)}")
        covered.setdefault(their, []).append(head)
        mapping[name] = image
    for their, tensor in theirs.items():
        want = [None] if tensor.dim() < 3 or ".QS." not in their else [0, 1]
        if sorted(covered.get(their, []), key=str) != sorted(want, key=str):
            problems.append(f"{their}: covered by {covered.get(their, [])}, needs {want}")
    if problems:
        raise SystemExit("name map does not fit:\n  " + "\n  ".join(problems))
    return mapping


def their_view(theirs: dict[str, torch.Tensor], image: tuple[str, int | None]) -> torch.Tensor:
    """Their tensor (or head slice) in our layout: Linear weight (out, in), bias (out,)."""
    their, head = image
    t = theirs[their]
    if head is None:
        return t
    t = t[head]
    return t.t() if their.endswith(".weight") else t[0]


@torch.no_grad()
def copy_ours_into_theirs(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], mapping) -> None:
    for name, (their, head) in mapping.items():
        if head is None:
            theirs[their].copy_(ours[name])
        elif their.endswith(".weight"):
            theirs[their][head].copy_(ours[name].t())
        else:
            theirs[their][head, 0].copy_(ours[name])


# --- comparing ---------------------------------------------------------------------------------------
def diff(a: Any, b: Any, floor: float = 0.0) -> tuple[float, float]:
    """(max |a − b|, that over max(max |b|, floor)): relative to the tensor's own scale, so
    that an element near zero does not blow it up; ``floor`` does the same for a logged
    mean that crosses zero (a Q mean of 4e-5)."""
    a = torch.as_tensor(a).detach().double()
    b = torch.as_tensor(b).detach().double()
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    d = (a - b).abs().max().item() if a.numel() else 0.0
    scale = b.abs().max().item() if b.numel() else 0.0
    scale = max(scale, floor)
    return d, (0.0 if d == 0 else d / scale if scale > 0 else math.inf)


class Report:
    """Per quantity: the largest absolute and relative difference, and where."""

    def __init__(self) -> None:
        self.worst: dict[str, dict[str, Any]] = {}
        self.per_update: list[dict[str, float]] = []

    def add(self, quantity: str, update: int, ours: dict[str, Any], theirs: dict[str, Any], floor: float = 0.0) -> None:
        if set(ours) != set(theirs):
            raise SystemExit(
                f"{quantity}, update {update}: only ours {sorted(set(ours) - set(theirs))}, "
                f"only theirs {sorted(set(theirs) - set(ours))}"
            )
        w = self.worst.setdefault(
            quantity, {"max_abs": 0.0, "max_abs_at": "", "max_rel": 0.0, "max_rel_at": "", "compared": 0}
        )
        while len(self.per_update) <= update:
            self.per_update.append({})
        for name in ours:
            a, r = diff(ours[name], theirs[name], floor)
            w["compared"] += 1
            if a > w["max_abs"] or not w["max_abs_at"]:
                w["max_abs"], w["max_abs_at"] = a, f"update {update}: {name}"
            if r > w["max_rel"] or not w["max_rel_at"]:
                w["max_rel"], w["max_rel_at"] = r, f"update {update}: {name}"
            self.per_update[update][quantity] = max(self.per_update[update].get(quantity, 0.0), r)

    def print(self, title: str) -> None:
        print(f"\n{title}\n{'quantity':<16} {'compared':>8} {'max abs':>10} {'max rel':>10}  where (max rel)")
        for q, w in self.worst.items():
            print(f"{q:<16} {w['compared']:>8} {w['max_abs']:>10.3g} {w['max_rel']:>10.3g}  {w['max_rel_at']}")
        shown = sorted({0, 1, 2, 9, 49, 99, 149, len(self.per_update) - 1} & set(range(len(self.per_update))))
        names = [q for q in self.worst if q in self.per_update[0]]
        print("max rel per update: " + " | ".join(f"{q}" for q in names))
        for i in shown:
            print(f"  update {i:>3}: " + " | ".join(f"{self.per_update[i].get(q, 0.0):.2g}" for q in names))

    def failures(self, tolerance: float, first_update_only: bool = False) -> list[str]:
        """Quantities above ``tolerance``: over the window, or at update 0 only (the losses and
        gradients of identical weights; parameters and Adam's moments excluded, as Adam's first
        step turns rounding in near-zero gradients into steps of up to lr)."""
        if first_update_only:
            row = self.per_update[0]
            return [
                f"{q}: rel {r:.3g} > {tolerance:g} at update 0"
                for q, r in row.items()
                if not (q == "params" or r <= tolerance)
            ]
        return [
            f"{q}: rel {w['max_rel']:.3g} > {tolerance:g} ({w['max_rel_at']})"
            for q, w in self.worst.items()
            if not w["max_rel"] <= tolerance
        ]


class GradTap:
    """Every gradient at each ``step()`` of the given optimisers (a pre-step hook), by name."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], names: dict[int, str]):
        self.calls: dict[str, dict[str, torch.Tensor]] = {}
        for label, opt in optimizers.items():
            opt.register_step_pre_hook(lambda o, args, kwargs, label=label: self._record(label, o, names))

    def _record(self, label: str, opt: torch.optim.Optimizer, names: dict[int, str]) -> None:
        self.calls[label] = {
            names[id(p)]: p.grad.detach().clone()
            for group in opt.param_groups
            for p in group["params"]
            if p.grad is not None
        }

    def take(self) -> dict[str, dict[str, torch.Tensor]]:
        calls, self.calls = self.calls, {}
        return calls


@contextlib.contextmanager
def float64_mode():
    """Both codebases in float64: the default dtype, and ``Tensor.float()`` (both call it on
    observations; ours also on features and values) converting to float64."""
    dtype, to_float = torch.get_default_dtype(), torch.Tensor.float
    torch.set_default_dtype(torch.float64)
    torch.Tensor.float = lambda self, *a, **k: self.to(torch.float64)  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.float = to_float  # type: ignore[method-assign]
        torch.set_default_dtype(dtype)


# --- the pieces of a run ------------------------------------------------------------------------------
SCALAR_FLOOR = 0.01  # logged means and actions: relative to max(|theirs|, 0.01)
LOGGED = (
    "critic_loss",
    "critic_q1",
    "critic_q2",
    "critic_target_q",
    "batch_reward",
    "actor_loss",
    "actor_logprob",
    "actor_ent",
)


class Pair:
    """Our agent and theirs with identical weights, their tensors addressed by our names."""

    def __init__(
        self,
        ref: dict[str, Any],
        yml: dict[str, Any],
        seed: int,
        *,
        hidden_dim: int,
        feature_dim: int,
        lr: float,
        stddev_schedule: str,
        alix: ALIXConfig,
    ):
        self.ours = build_ours(
            seed, hidden_dim=hidden_dim, feature_dim=feature_dim, lr=lr, stddev_schedule=stddev_schedule, alix=alix
        )
        torch.manual_seed(seed + 1)
        self.theirs = build_theirs(
            ref,
            yml,
            hidden_dim=hidden_dim,
            feature_dim=feature_dim,
            lr=lr,
            stddev_schedule=stddev_schedule,
            num_expl_steps=0,
        )
        if alix.s_init != self.theirs.encoder.aug.P.item():  # the harness may start S elsewhere (events)
            with torch.no_grad():
                self.theirs.encoder.aug.P.fill_(alix.s_init)
        if alix.s_lr != self.theirs.encoder_opt.param_groups[1]["lr"]:
            self.theirs.encoder_opt.param_groups[1]["lr"] = alix.s_lr
        self.ours_t = named_tensors(ours_nets(self.ours))
        self.theirs_t = named_tensors(ours_nets(self.theirs))
        self.map = checked_map(self.ours_t, self.theirs_t)
        copy_ours_into_theirs(self.ours_t, self.theirs_t, self.map)
        self.ours_tap = GradTap(
            {"encoder": self.ours.encoder_opt, "critic": self.ours.critic_opt, "actor": self.ours.actor_opt},
            {id(t): n for n, t in self.ours_t.items()},
        )
        their_names = {}
        for _name, image in self.map.items():  # their parameter objects under our names (head slices: the layer)
            their_names.setdefault(id(self.theirs_t[image[0]]), image[0])
        self.theirs_tap = GradTap(
            {"encoder": self.theirs.encoder_opt, "critic": self.theirs.critic_opt, "actor": self.theirs.actor_opt},
            their_names,
        )

    def as_ours(self, theirs_by_their_name: dict[str, torch.Tensor], names: list[str]) -> dict[str, torch.Tensor]:
        """Their tensors (given by their names) in our names and layout, for ``names`` of ours."""
        return {n: their_view(theirs_by_their_name, self.map[n]) for n in names}

    def update(self, batch: dict[str, np.ndarray], step: int, draw_seed: int) -> dict[str, Any]:
        """One update of each on the same batch and draws; returns what to compare."""
        s_before = self.theirs.encoder.aug.P.detach().clone()
        torch.manual_seed(draw_seed)
        vec = self.ours.update(as_ours(batch), step)
        ours_metrics = dict(zip(self.ours.METRICS, vec.tolist(), strict=True))
        ours_grads = self.ours_tap.take()
        torch.manual_seed(draw_seed)
        their_metrics = self.theirs.update(as_theirs(batch), step)
        their_grads = self.theirs_tap.take()
        their_s_grad = their_grads["encoder"]["encoder.aug.P"].item()
        return {
            "ours_metrics": {k: ours_metrics[k] for k in LOGGED},
            "their_metrics": {k: their_metrics[k] for k in LOGGED},
            # S used by the update (after the lazy clamp) and the ND score: theirs from P's gradient.
            "ours_alix": {"alix_s": ours_metrics["alix_s"], "alix_nd": ours_metrics["alix_nd"]},
            "their_alix": {
                "alix_s": s_before.clamp(0, 1).item(),
                "alix_nd": float(self.theirs.encoder.aug.param_grad_fn_args[1]) - their_s_grad,
            },
            "ours_grads": ours_grads,
            "their_grads": their_grads,
        }

    def compare_update(self, report: Report, i: int, out: dict[str, Any]) -> None:
        report.add("losses", i, out["ours_metrics"], out["their_metrics"], floor=SCALAR_FLOOR)
        report.add("S and ND", i, out["ours_alix"], out["their_alix"], floor=SCALAR_FLOOR)
        for label in ("encoder", "critic", "actor"):
            ours_g = out["ours_grads"][label]
            report.add(f"grad {label}", i, ours_g, self.as_ours(out["their_grads"][label], list(ours_g)))
        names = [n for n in self.map]
        report.add("params", i, {n: self.ours_t[n] for n in names}, self.as_ours(self.theirs_t, names))

    def compare_optimisers(self, report: Report, i: int) -> None:
        """Adam's step count and moments for every parameter, through the same map."""
        for label in ("encoder_opt", "critic_opt", "actor_opt"):
            ours_opt, their_opt = getattr(self.ours, label), getattr(self.theirs, label)
            ours_state = {n: ours_opt.state[t] for n, t in self.ours_t.items() if t in ours_opt.state}
            by_id = {id(t): n for n, t in self.theirs_t.items()}
            their_state = {by_id[id(p)]: s for p, s in their_opt.state.items()}
            for key in ("exp_avg", "exp_avg_sq", "step"):
                report.add(
                    f"adam {key}",
                    i,
                    {n: s[key] for n, s in ours_state.items()},
                    self.as_ours({n: s[key] for n, s in their_state.items()}, list(ours_state))
                    if key != "step"
                    else {n: their_state[self.map[n][0]][key] for n in ours_state},
                )

    def compare_acting(self, report: Report, i: int, obs: np.ndarray, step: int, seed: int) -> None:
        """Mean action (evaluation) and one exploration sample at ``step`` (after the uniform phase)."""
        ref_utils = sys.modules["utils"]
        for eval_mode in (True, False):
            torch.manual_seed(seed)
            ours = self.ours.act(obs, step, eval_mode=eval_mode)
            torch.manual_seed(seed)
            with torch.no_grad(), ref_utils.eval_mode(self.theirs):
                theirs = self.theirs.act(obs, step, eval_mode=eval_mode)
            report.add("acting", i, {f"eval={eval_mode}": ours}, {f"eval={eval_mode}": theirs}, floor=SCALAR_FLOOR)


def compare_init(ref: dict[str, Any], yml: dict[str, Any], seed: int, hidden_dim: int) -> list[dict[str, Any]]:
    """Fresh agents of both codebases (no copying): each weight's singular values (for an
    orthogonal draw all equal the gain), biases, LayerNorm, S. One row per tensor of ours."""
    ours = build_ours(seed, hidden_dim=hidden_dim)
    torch.manual_seed(seed)
    theirs = build_theirs(
        ref,
        yml,
        hidden_dim=hidden_dim,
        feature_dim=50,
        lr=1e-4,
        stddev_schedule="linear(1.0,0.1,400)",
        num_expl_steps=0,
    )
    ours_t, theirs_t = named_tensors(ours_nets(ours)), named_tensors(ours_nets(theirs))
    mapping = checked_map(ours_t, theirs_t)
    rows = []
    for name, image in mapping.items():
        a, b = ours_t[name].detach().double(), their_view(theirs_t, image).detach().double()
        if a.dim() >= 2:
            sa = torch.linalg.svdvals(a.flatten(1))
            sb = torch.linalg.svdvals(b.flatten(1))
            rows.append(
                {
                    "tensor": name,
                    "kind": "singular values",
                    "ours": [sa.min().item(), sa.max().item()],
                    "theirs": [sb.min().item(), sb.max().item()],
                    "same": bool(torch.allclose(sa, sb, rtol=1e-4)),
                }
            )
        else:
            rows.append(
                {
                    "tensor": name,
                    "kind": "values",
                    "ours": [a.min().item(), a.max().item()],
                    "theirs": [b.min().item(), b.max().item()],
                    "same": bool(torch.equal(a, b)),
                }
            )
    return rows


def compare_settings(yml: dict[str, Any], ref_path: Path) -> list[dict[str, Any]]:
    """Their effective ALIX settings per DMC task (config.yaml < ALIX.yaml < tier < task,
    Hydra's defaults order) against ``resolve({"agent": "alix", "task": ...})``."""
    from dormant.config import resolve
    from dormant.envs.dmc import DMC_TASKS

    base = load_yaml(ref_path / "cfgs" / "config.yaml")
    a = yml["agent"]
    reg = a["encoder"]["aug"]
    n, target, eps = reg["param_grad_fn_args"]
    rows = []
    for task_file in sorted((ref_path / "cfgs" / "task").glob("*.yaml")):
        task = load_yaml(task_file)
        if "task_name" not in task or task["task_name"] not in DMC_TASKS:
            continue
        eff = {k: v for k, v in base.items() if not isinstance(v, dict) and k != "defaults"}
        eff.update({k: v for k, v in yml.items() if not isinstance(v, dict)})
        for parent in task.get("defaults", []):
            if parent != "_self_":
                eff.update(load_yaml(ref_path / "cfgs" / "task" / f"{parent}.yaml"))
        eff.update({k: v for k, v in task.items() if k != "defaults"})
        cfg = resolve({"agent": "alix", "task": f"dmc/{task['task_name']}"})
        pairs = {
            "frame_stack": (eff["frame_stack"], cfg.env.frame_stack),
            "action_repeat": (eff["action_repeat"], cfg.env.action_repeat),
            "discount": (eff["discount"], cfg.agent.discount),
            "num_seed_frames": (eff["num_seed_frames"], cfg.num_seed_frames),
            "num_train_frames": (eff["num_train_frames"], cfg.frames),
            "replay_buffer_size": (eff["replay_buffer_size"], cfg.replay.capacity),
            "nstep": (eff["nstep"], cfg.agent.nstep),
            "batch_size": (eff["batch_size"], cfg.agent.batch_size),
            "lr": (float(eff["lr"]), cfg.agent.lr),
            "feature_dim": (eff["feature_dim"], cfg.agent.feature_dim),
            "stddev_schedule": (eff["stddev_schedule"], cfg.agent.stddev_schedule),
            "critic_target_tau": (a["critic_target_tau"], cfg.agent.critic_target_tau),
            "update_every_steps": (a["update_every_steps"], cfg.agent.update_every_steps),
            "num_expl_steps": (a["num_expl_steps"], cfg.agent.num_expl_steps),
            "hidden_dim": (a["hidden_dim"], cfg.agent.hidden_dim),
            "stddev_clip": (a["stddev_clip"], cfg.agent.stddev_clip),
            "aug (NoShiftAug: off)": (a["aug"]["_target_"] == "drqv2.NoShiftAug", not cfg.agent.augment),
            "LIX pad": (reg["aug"]["pad"], cfg.alix.max_shift),
            "LIX fixed_batch": (reg["aug"]["fixed_batch"], cfg.alix.fixed_batch),
            "S init": (reg["parameter_init"], cfg.alix.s_init),
            "ND kernel N": (n, cfg.alix.nd_kernel),
            "ND target": (target, cfg.alix.nd_target),
            "ND eps": (float(eps), 1e-20),
            "S Adam lr": (float(a["encoder_optimizer_builder"]["lr"]), cfg.alix.s_lr),
            "S Adam betas": (list(a["encoder_optimizer_builder"]["betas"]), [cfg.alix.s_beta1, 0.999]),
            "eval_every_frames": (eff["eval_every_frames"], cfg.eval.every_frames),
            "num_eval_episodes": (eff["num_eval_episodes"], cfg.eval.episodes),
        }
        for key, (theirs, ours) in pairs.items():
            rows.append(
                {
                    "task": task["task_name"],
                    "key": key,
                    "theirs": theirs,
                    "ours": ours,
                    "same": theirs == ours or (isinstance(theirs, float) and math.isclose(theirs, ours)),
                }
            )
    return rows


def run_window(ref, yml, args, *, float64: bool, alix: ALIXConfig, label: str) -> tuple[Report, dict[str, Any]]:
    """``args.updates`` consecutive updates of the pair; the report and a trace."""
    batches = (dmc_batches if args.frames == "dmc" else synthetic_batches)(args.updates, args.batch, args.seed)
    mode = float64_mode() if float64 else contextlib.nullcontext()
    report, trace = Report(), {"s": [], "nd": [], "critic_loss": [], "stddev": []}
    with mode:
        pair = Pair(
            ref,
            yml,
            args.seed,
            hidden_dim=args.hidden,
            feature_dim=50,
            lr=1e-4,
            stddev_schedule=args.schedule,
            alix=alix,
        )
        for i, batch in enumerate(batches):
            step = 2 * i  # their update runs on even steps only (update_every_steps = 2)
            out = pair.update(batch, step, draw_seed=args.seed * 100_000 + i)
            pair.compare_update(report, i, out)
            trace["s"].append(out["their_alix"]["alix_s"])
            trace["nd"].append(out["their_alix"]["alix_nd"])
            trace["critic_loss"].append(out["their_metrics"]["critic_loss"])
            trace["stddev"].append(float(pair.ours.stddev(step)))
            if i < 3:  # golden values: the first updates' logged values, both sides
                trace.setdefault("first_updates", []).append(
                    {
                        "ours": {**out["ours_metrics"], **out["ours_alix"]},
                        "theirs": {**out["their_metrics"], **out["their_alix"]},
                    }
                )
        pair.compare_optimisers(report, len(batches) - 1)
        pair.compare_acting(report, len(batches) - 1, batches[0]["obs"][0], 2 * len(batches), seed=args.seed)
        trace["s_after"] = pair.theirs.encoder.aug.P.item()
        trace["sq_norms_after"] = {  # per network, Σθ² over its parameters (theirs through the map)
            side: {
                net: sum(float(tensors[n].double().pow(2).sum()) for n in pair.map if n.startswith(net + "."))
                for net in ("encoder", "actor", "critic", "critic_target")
            }
            for side, tensors in (("ours", pair.ours_t), ("theirs", pair.as_ours(pair.theirs_t, list(pair.map))))
        }
    report.print(
        f"{label}: {args.updates} updates, batch {args.batch}, hidden {args.hidden}, "
        f"{'float64' if float64 else 'float32'}, {args.frames} frames"
    )
    return report, trace


def time_updates(ref, yml, args) -> dict[str, Any]:
    """Seconds per update, ours and theirs interleaved (alternating order), paper's size."""
    batches = synthetic_batches(2, args.time_batch, args.seed)
    pair = Pair(
        ref,
        yml,
        args.seed,
        hidden_dim=1024,
        feature_dim=50,
        lr=1e-4,
        stddev_schedule="linear(1.0,0.1,500000)",
        alix=ALIXConfig(),
    )
    calls = {
        "ours": lambda i: pair.ours.update(as_ours(batches[i % 2]), 2 * i),
        "theirs": lambda i: pair.theirs.update(as_theirs(batches[i % 2]), 2 * i),
    }
    samples: dict[str, list[float]] = {"ours": [], "theirs": []}
    for r in range(args.time + 1):  # round 0: warm-up, not kept
        for name in ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours"):
            t0 = time.perf_counter()
            calls[name](r)
            if r:
                samples[name].append(time.perf_counter() - t0)
    med = {n: statistics.median(s) for n, s in samples.items()}
    paired = statistics.median(
        o / t for o, t in zip(samples["ours"], samples["theirs"], strict=True)
    )  # same round, same load
    print(
        f"\nupdate time (batch {args.time_batch}, hidden 1024, 84×84, {torch.get_num_threads()} thread(s)): "
        f"ours {med['ours']:.3f} s, theirs {med['theirs']:.3f} s, ours/theirs {med['ours'] / med['theirs']:.3f}"
    )
    return {
        "batch": args.time_batch,
        "hidden_dim": 1024,
        "image": IMAGE,
        "rounds": args.time,
        "median_s": med,
        "samples_s": samples,
        "ours_over_theirs": med["ours"] / med["theirs"],
        "ours_over_theirs_paired_median": paired,
    }


def machine_block() -> dict[str, Any]:
    """The benchmarks' machine block (scripts/fidelity/common.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common

    return common.machine_block()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, type=Path, help="checkout of Aladoro/Stabilizing-Off-Policy-RL")
    p.add_argument("--updates", type=int, default=200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--frames", choices=("dmc", "synthetic"), default="dmc")
    p.add_argument(
        "--schedule", default="linear(1.0,0.1,400)", help="σ schedule (agent steps; updates use steps 0, 2, 4 …)"
    )
    p.add_argument(
        "--s-init", type=float, default=0.5, help="S at the start (0.5: theirs; near 0 or 1 puts a clamp in the window)"
    )
    p.add_argument("--s-lr", type=float, default=2e-3, help="S's Adam rate on both sides (2e-3: theirs)")
    p.add_argument("--float64", action="store_true", help="also run the window in float64")
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-5,
        help="float32: largest relative difference of update 0's losses and gradients",
    )
    p.add_argument("--tolerance64", type=float, default=1e-9, help="float64: largest relative difference, whole window")
    p.add_argument("--time", type=int, default=0, metavar="ROUNDS", help="time ROUNDS interleaved updates of each")
    p.add_argument("--time-batch", type=int, default=256)
    p.add_argument("--skip-compare", action="store_true", help="only --time")
    p.add_argument("--json", type=Path, help="write the results (and the machine block) here")
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    ref_path = args.reference.resolve()
    head = git_head(ref_path)
    print(
        f"reference: {ref_path} at {head}" + ("" if head == REFERENCE_COMMIT else f" (checked at {REFERENCE_COMMIT})")
    )
    ref = import_reference(ref_path)
    yml = reference_config(ref_path)
    result: dict[str, Any] = {
        "reference": "github.com/Aladoro/Stabilizing-Off-Policy-RL",
        "reference_commit": head,
        "stubbed": [],
        "command": " ".join(sys.argv),
    }
    status = 0
    if not args.skip_compare:
        settings = compare_settings(yml, ref_path)
        differing = [r for r in settings if not r["same"]]
        print(
            f"settings: {len(settings)} task×key pairs over {len({r['task'] for r in settings})} tasks, "
            f"{len(differing)} differ"
        )
        for r in differing:
            print(f"  {r['task']}: {r['key']}: theirs {r['theirs']!r}, ours {r['ours']!r}")
        init = compare_init(ref, yml, args.seed, args.hidden)
        bad_init = [r for r in init if not r["same"]]
        print(f"initialisation: {len(init)} tensors, {len(bad_init)} differ in distribution")
        for r in bad_init:
            print(f"  {r['tensor']}: {r['kind']} ours {r['ours']}, theirs {r['theirs']}")
        alix = ALIXConfig(s_init=args.s_init, s_lr=args.s_lr)
        report32, trace32 = run_window(ref, yml, args, float64=False, alix=alix, label="float32")
        result.update(
            {
                "settings_differing": differing,
                "settings_compared": len(settings),
                "init_differing": bad_init,
                "init_compared": len(init),
                "window": {
                    "updates": args.updates,
                    "batch": args.batch,
                    "hidden_dim": args.hidden,
                    "frames": args.frames,
                    "schedule": args.schedule,
                    "s_init": args.s_init,
                    "s_lr": args.s_lr,
                    "seed": args.seed,
                },
                "float32": report32.worst,
                "trace": trace32,
            }
        )
        failed = (
            report32.failures(args.tolerance, first_update_only=True)
            + [f"setting {r['task']}.{r['key']}" for r in differing]
            + [f"init {r['tensor']}" for r in bad_init]
        )
        if args.float64:
            report64, _trace64 = run_window(ref, yml, args, float64=True, alix=alix, label="float64")
            result["float64"] = report64.worst
            failed += report64.failures(args.tolerance64)
        print("\n" + ("FAIL:\n  " + "\n  ".join(failed) if failed else "OK: every quantity within tolerance"))
        status = 1 if failed else 0
    if args.time:
        result["timing"] = time_updates(ref, yml, args)
    if args.json:
        result["machine"] = machine_block()
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(f"wrote {args.json}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
