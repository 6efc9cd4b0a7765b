"""Pieces shared by the side-by-side scripts in ``scripts/fidelity/``.

Each script builds dormant's agent and the authors' agent, gives them the same weights,
batches and random draws, and compares what comes out of every update. What they
share lives here, so every agent is reported, judged and timed the same way:

- ``import_reference(path, names, stub=...)``: put an authors' checkout on ``sys.path``
  and import its modules, replacing only the listed packages that cannot import here
  by empty stand-ins (the returned list says which were replaced).
- ``check_name_map(ours, theirs, name_of)`` and ``copy_state(...)``: an explicit map from
  our parameter/buffer names to theirs, checked to cover every tensor of both exactly
  once with equal shapes, then ours copied into theirs.
- ``GradTap``: records every gradient just before each ``optimizer.step()``;
  ``compare_steps`` compares two such records.
- ``pixel_batch``, ``batch_for_ours``, ``batch_for_theirs``: one replay-like pixel batch,
  in the form each side takes.
- ``Report``: per quantity (losses, gradients, parameters, schedules), the largest
  absolute and relative difference over the window and the tensor and update holding it;
  ``Report.check(tolerances)`` says which quantities exceed their tolerance.
- ``float64_mode()``: run both codebases in float64 (to show that a float32 difference
  is rounding, which float64 shrinks by ~9 orders of magnitude).
- ``time_interleaved(fns, rounds)``: one call of each function per round, alternating,
  so that load on a shared machine hits both alike; medians and the ratio.
- ``write_json(path, payload)``: a result file with the ``machine`` block of
  ``benchmarks/machine.py``.

Definitions used throughout: for tensors ``a`` (ours) and ``b`` (theirs),
``abs = max|a − b|`` and ``rel = abs / max|b|`` (relative to the tensor's own scale, so an
element that happens to be near zero does not blow it up); for scalars ``rel = abs / |b|``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]  # the dormant checkout
if str(ROOT / "src") not in sys.path:  # this checkout's dormant, whatever else is installed
    sys.path.insert(0, str(ROOT / "src"))
GL_BACKEND = None  # these scripts render nothing; benchmarks/machine.py reads this name
CPU = torch.device("cpu")


# --- the reference code ----------------------------------------------------------------
def _stub(name: str) -> types.ModuleType:
    """An empty module that accepts any attribute (``hydra.utils.instantiate`` …)."""
    module = types.ModuleType(name)

    def attribute(attr: str) -> types.ModuleType:
        if attr.startswith("__"):  # __file__, __spec__ …: absent, as tools expect of a module
            raise AttributeError(attr)
        return _stub(f"{name}.{attr}")

    module.__getattr__ = attribute  # type: ignore[method-assign]
    module.__path__ = []  # a package, so ``import name.sub`` finds the stub below
    return module


def import_reference(
    path: str | Path, modules: Iterable[str], stub: Iterable[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """Import ``modules`` from the checkout at ``path``; returns ({name: module}, stubbed).

    Each package in ``stub`` is tried first and replaced by an empty stand-in only if it
    does not import here (the reference imports it but the compared code never calls it).
    """
    path = Path(path).resolve()
    if not path.is_dir():
        raise SystemExit(f"--reference {path}: not a directory (clone the authors' repository there)")
    stubbed = []
    for name in stub:
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = _stub(name)
            stubbed.append(name)
    sys.path.insert(0, str(path))
    try:
        found = {name: importlib.import_module(name) for name in modules}
    finally:
        sys.path.remove(str(path))
    return found, stubbed


def git_head(path: str | Path) -> str | None:
    """The commit a checkout is at (None if it is not a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# --- same weights -------------------------------------------------------------------------
def tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of a module by name (its state dict, without copies)."""
    return dict(module.state_dict(keep_vars=True))


def check_name_map(
    ours: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor], name_of: Callable[[str], str]
) -> dict[str, str]:
    """``{our name: their name}`` for every tensor of ``ours``; raises unless the map is a
    bijection onto ``theirs`` with equal shapes (every tensor covered exactly once)."""
    mapping = {name: name_of(name) for name in ours}
    problems = []
    images = list(mapping.values())
    twice = sorted({n for n in images if images.count(n) > 1})
    if twice:
        problems.append(f"their tensors mapped more than once: {twice}")
    missing = sorted(set(theirs) - set(images))
    if missing:
        problems.append(f"their tensors nothing maps to: {missing}")
    unknown = sorted(n for n in images if n not in theirs)
    if unknown:
        problems.append(f"names they do not have: {unknown}")
    for ours_name, their_name in mapping.items():
        if their_name in theirs and tuple(ours[ours_name].shape) != tuple(theirs[their_name].shape):
            problems.append(
                f"{ours_name} {tuple(ours[ours_name].shape)} ≠ {their_name} {tuple(theirs[their_name].shape)}"
            )
    if problems:
        raise SystemExit("name map does not fit:\n  " + "\n  ".join(problems))
    return mapping


@torch.no_grad()
def copy_state(
    ours: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor], mapping: Mapping[str, str]
) -> None:
    """Copy every tensor of ours into its image in theirs (in place, keeping their objects)."""
    for ours_name, their_name in mapping.items():
        theirs[their_name].copy_(ours[ours_name])


# --- gradients before each optimiser step ------------------------------------------------------
class GradTap:
    """Records, at every ``step()`` of the given optimisers, each parameter's gradient.

    ``names`` maps parameter objects to the names used in reports. After an update,
    ``take()`` returns ``[(optimizer label, {name: grad})]`` in call order and clears it.
    """

    def __init__(self, optimizers: Mapping[str, torch.optim.Optimizer], names: Mapping[int, str]):
        self.calls: list[tuple[str, dict[str, torch.Tensor]]] = []
        self.handles = []
        for label, optimizer in optimizers.items():
            self.handles.append(
                optimizer.register_step_pre_hook(lambda opt, args, kwargs, label=label: self._record(label, opt, names))
            )

    def _record(self, label: str, optimizer: torch.optim.Optimizer, names: Mapping[int, str]) -> None:
        grads = {}
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    grads[names[id(param)]] = param.grad.detach().clone()
        self.calls.append((label, grads))

    def take(self) -> list[tuple[str, dict[str, torch.Tensor]]]:
        calls, self.calls = self.calls, []
        return calls


def param_names(named: Mapping[str, torch.Tensor]) -> dict[int, str]:
    """``id(tensor) → name`` for ``GradTap``."""
    return {id(t): name for name, t in named.items()}


# --- differences ----------------------------------------------------------------------------
def max_diff(a: Any, b: Any) -> tuple[float, float]:
    """(max |a − b|, that divided by max |b|) for tensors; for numbers (|a − b|, |a − b| / |b|)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a = torch.as_tensor(a).detach().double()
        b = torch.as_tensor(b).detach().double()
        if a.shape != b.shape:
            raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
        if a.numel() == 0:
            return 0.0, 0.0
        diff = (a - b).abs().max().item()
        scale = b.abs().max().item()
    else:
        diff, scale = abs(float(a) - float(b)), abs(float(b))
    if diff == 0.0:
        return 0.0, 0.0
    return diff, (diff / scale if scale > 0 else math.inf)


@dataclass
class Worst:
    """The largest difference seen for one quantity, and where."""

    abs: float = 0.0
    rel: float = 0.0
    abs_at: str = ""  # "update k: tensor"
    rel_at: str = ""
    compared: int = 0  # tensors (or numbers) compared


@dataclass
class Report:
    """Largest differences per quantity over a window of updates.

    ``compare(quantity, update, {name: ours}, {name: theirs})`` (or single values) folds
    one update's values into the running maxima; ``rows()`` gives the table.
    """

    worst: dict[str, Worst] = field(default_factory=dict)
    per_update: list[dict[str, float]] = field(default_factory=list)  # max rel per quantity, per update

    def compare(self, quantity: str, update: int, ours: Any, theirs: Any) -> None:
        if not isinstance(ours, Mapping):
            ours, theirs = {quantity: ours}, {quantity: theirs}
        if set(ours) != set(theirs):
            raise ValueError(
                f"{quantity}, update {update}: ours has {sorted(set(ours) - set(theirs))} "
                f"and theirs {sorted(set(theirs) - set(ours))} on one side only"
            )
        w = self.worst.setdefault(quantity, Worst())
        while len(self.per_update) <= update:
            self.per_update.append({})
        row = self.per_update[update]
        for name in ours:
            a, r = max_diff(ours[name], theirs[name])
            w.compared += 1
            where = f"update {update}: {name}"
            if a > w.abs or not w.abs_at:
                w.abs, w.abs_at = a, where
            if r > w.rel or not w.rel_at:
                w.rel, w.rel_at = r, where
            row[quantity] = max(row.get(quantity, 0.0), r)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "quantity": q,
                "max_abs": w.abs,
                "max_abs_at": w.abs_at,
                "max_rel": w.rel,
                "max_rel_at": w.rel_at,
                "compared": w.compared,
            }
            for q, w in self.worst.items()
        ]

    def check(self, tolerances: Mapping[str, float], default: float, first: int | None = None) -> list[str]:
        """Quantities whose max relative difference exceeds its tolerance (first matching
        prefix, else ``default``), over the whole window or only its ``first`` updates."""
        failed = []
        for q, w in self.worst.items():
            tol = next((t for prefix, t in tolerances.items() if q.startswith(prefix)), default)
            if first is None:
                rel, at = w.rel, w.rel_at
            else:
                rows = [(row.get(q, 0.0), u) for u, row in enumerate(self.per_update[:first])]
                rel, u = max(rows) if rows else (0.0, 0)
                at = f"update {u}"
            if not rel <= tol:
                failed.append(f"{q}: rel {rel:.3g} > {tol:g} ({at})")
        return failed

    def print(self, title: str) -> None:
        print(f"\n{title}")
        print(f"{'quantity':<28} {'max abs':>10} {'max rel':>10}  where (largest relative)")
        for row in self.rows():
            where = row["max_rel_at"] if row["max_abs"] else f"identical ({row['compared']} compared)"
            print(f"{row['quantity']:<28} {row['max_abs']:>10.3g} {row['max_rel']:>10.3g}  {where}")


def compare_steps(report: Report, update: int, ours: list, theirs: list, mapping: Mapping[str, str]) -> None:
    """Gradients of two ``GradTap.take()`` results: same optimisers stepped in the same
    order, then every gradient (ours renamed by ``mapping``) under ``grad/<optimizer>``."""
    labels = [label for label, _ in ours], [label for label, _ in theirs]
    if labels[0] != labels[1]:
        raise SystemExit(f"update {update}: optimiser steps differ: ours {labels[0]}, theirs {labels[1]}")
    for (label, ours_g), (_, their_g) in zip(ours, theirs, strict=True):
        report.compare(f"grad/{label}", update, {mapping[n]: g for n, g in ours_g.items()}, their_g)


def finish(
    report: Report, tolerances: Mapping[str, float], default: float, first: int | None = None, *, title: str
) -> int:
    """Print the table and the verdict; the exit status (0: every quantity within tolerance).
    ``first``: judge only the window's first updates (the table still covers all of them)."""
    report.print(title)
    failed = report.check(tolerances, default, first)
    judged = "the whole window" if first is None else f"the first {first} update(s)"
    if failed:
        print(f"\nFAIL: tolerance exceeded (judged over {judged})\n  " + "\n  ".join(failed))
        return 1
    print(f"\nOK: every quantity within tolerance (judged over {judged})")
    return 0


# --- batches ------------------------------------------------------------------------------------
def pixel_batch(rng, batch: int, action_dim: int, obs_shape: tuple[int, ...] = (9, 84, 84)) -> tuple:
    """A replay-like batch as numpy arrays ``(obs, action, reward, discount, next_obs)``:
    uint8 frames (8×8-pixel blocks plus noise, so that shifts change the input), actions
    in [−1, 1], 3-step rewards and discounts shaped B×1 as the replay gives them."""
    import numpy as np

    c, h, w = obs_shape
    base = rng.integers(0, 256, size=(batch, c, h // 8 + 1, w // 8 + 1)).astype(np.float32)
    big = np.repeat(np.repeat(base, 8, axis=2), 8, axis=3)[:, :, :h, :w]
    obs = np.clip(big + rng.normal(0, 20, size=big.shape), 0, 255).astype(np.uint8)
    next_obs = np.clip(obs.astype(np.float32) + rng.normal(0, 30, size=big.shape), 0, 255).astype(np.uint8)
    action = rng.uniform(-1, 1, size=(batch, action_dim)).astype(np.float32)
    reward = rng.uniform(0, 3, size=(batch, 1)).astype(np.float32)
    discount = np.full((batch, 1), 0.99**3, dtype=np.float32)
    return obs, action, reward, discount, next_obs


def batch_for_ours(batch: tuple) -> dict[str, torch.Tensor]:
    """``pixel_batch``'s arrays as dormant's batch dict (floats in the default dtype)."""
    obs, action, reward, discount, next_obs = (torch.as_tensor(x) for x in batch)
    dtype = torch.get_default_dtype()
    return {
        "obs": obs,
        "action": action.to(dtype),
        "reward": reward.to(dtype),
        "discount": discount.to(dtype),
        "next_obs": next_obs,
    }


def batch_for_theirs(batch: tuple) -> tuple:
    """``pixel_batch``'s arrays as a DrQ-v2-style replay yields them (floats in the default dtype)."""
    import numpy as np

    dtype = np.float64 if torch.get_default_dtype() == torch.float64 else np.float32
    return tuple(x if x.dtype == np.uint8 else x.astype(dtype) for x in batch)


# --- float64 ----------------------------------------------------------------------------------
@contextlib.contextmanager
def float64_mode():
    """Both codebases in float64: the default dtype, and ``Tensor.float()`` (which both call on
    observations and metrics) converting to float64 instead of float32."""
    previous_dtype, previous_float = torch.get_default_dtype(), torch.Tensor.float
    torch.set_default_dtype(torch.float64)
    torch.Tensor.float = lambda self, *a, **k: self.to(torch.float64)  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.float = previous_float  # type: ignore[method-assign]
        torch.set_default_dtype(previous_dtype)


# --- timing -----------------------------------------------------------------------------------
def time_interleaved(fns: Mapping[str, Callable[[], Any]], rounds: int, warmup: int = 2) -> dict[str, Any]:
    """Seconds per call of each function: ``warmup`` untimed rounds, then ``rounds`` rounds
    that call each function once, in alternating order. Returns per-name median and
    quartiles (seconds) and every sample."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            fns[name]()
            samples[name].append(time.perf_counter() - t0)
    out: dict[str, Any] = {}
    for name, s in samples.items():
        q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0]] * 3
        out[name] = {"median_s": statistics.median(s), "q1_s": q[0], "q3_s": q[2], "samples_s": s}
    return out


# --- results ----------------------------------------------------------------------------------
def machine_block(device: torch.device = CPU) -> dict[str, Any]:
    """``benchmarks/machine.py``'s block (CPU, cores, torch and threads, git commit …)."""
    spec = importlib.util.spec_from_file_location("_bench_machine", ROOT / "benchmarks" / "machine.py")
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("common")
    sys.modules["common"] = types.SimpleNamespace(GL_BACKEND=GL_BACKEND)  # what machine.py imports
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("common", None)
        else:
            sys.modules["common"] = saved
    info = module.machine(device)
    info["load_average_1_5_15min"] = [round(x, 2) for x in __import__("os").getloadavg()]
    return info


def write_json(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` with the machine block added under ``machine``."""
    data = {**payload, "machine": machine_block()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")
