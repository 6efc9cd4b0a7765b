"""A sweep's grid: which options are axes, how a value list is written, the run
directory each combination gets, and the record of it all (``sweep.json``).

Any option may list values: ``agent.lr=1e-4,3e-4`` is an axis crossed with agents × tasks
× seeds. Commas split a list only outside parentheses and brackets, so a schedule like
``linear(1.0,0.1,500000)`` is one value; brackets hold a value with a top-level comma
(``[a,b]`` is the value ``a,b``). List-valued options (``LIST_VALUED``: the networks and
frames of the plasticity interventions, e.g. ``plasticity.redo_nets``) are themselves
comma-separated, so without brackets their whole text is one value (as in ``dormant
train``); ``plasticity.redo_nets=[critic],[critic,actor]`` is an axis of two values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dormant.config import AGENT_SECTIONS, ConfigError, flatten, resolve, task_filename
from dormant.config.schema import AGENT_FAMILY
from dormant.experiments.backends import RunSpec
from dormant.experiments.runs import MANIFEST
from dormant.training.files import atomic_write_text

# Options whose value is itself a comma-separated list: one value unless bracketed.
LIST_VALUED = {
    "plasticity.redo_nets",
    "plasticity.reset_nets",
    "plasticity.shrink_perturb_nets",
    "plasticity.redo_at_frames",
    "plasticity.reset_at_frames",
    "plasticity.shrink_perturb_at_frames",
    "plasticity.layernorm",
    "plasticity.crelu",
    "plasticity.fourier",
    "plasticity.nap",
    "plasticity.l2_init_nets",
    "plasticity.parseval_nets",
    "plasticity.inject_nets",
}
# Options that never make another method (the budget, where and how a run executes,
# what it logs): a list of values for them is refused rather than swept.
NOT_AXES = {"frames", "out", "threads", "device", "replay.device", "checkpoint_every_frames", "eval.video"}
# Keys that may differ between a run directory and the sweep that owns it.
NOT_COMPARED = {"frames", "out", "threads", "device", "replay.device", "log.progress", "log.progress_every_s"}
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_MAX_PART = 96  # characters of a value kept in a directory name


def split_values(value: str, key: str = "") -> list[str]:
    """``a,b`` → ``["a", "b"]``, splitting only at commas outside () and []; an item
    wholly in brackets loses them (``[a,b]`` → ``a,b``)."""
    where = f"{key}={value!r}" if key else repr(value)
    items, depth, start = [], 0, 0
    for i, char in enumerate(value):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"{where}: {char!r} without its opening bracket")
        elif char == "," and depth == 0:
            items.append(value[start:i])
            start = i + 1
    if depth:
        raise ConfigError(f"{where}: an opening bracket is never closed")
    items.append(value[start:])
    items = [item.strip() for item in items]
    items = [
        item[1:-1].strip() if item.startswith("[") and item.endswith("]") and _closes_at_end(item) else item
        for item in items
    ]
    if not all(items):
        raise ConfigError(f"{where} has an empty item (two commas, one at an end, or [])")
    if len(set(items)) != len(items):
        raise ConfigError(f"{where} lists a value twice")
    return items


def _closes_at_end(item: str) -> bool:
    """``[a],[b]`` is not one bracketed item: the first bracket must close at the end."""
    depth = 0
    for i, char in enumerate(item):
        depth += char in "(["
        depth -= char in ")]"
        if depth == 0:
            return i == len(item) - 1
    return False


def option_values(key: str, value: str) -> list[str]:
    """The values an option takes in a sweep (one: passed to every run). An empty value
    is one value (e.g. ``env.camera=``: the suite's default)."""
    if not value.strip() or (key in LIST_VALUED and "[" not in value):
        return [value.strip()]
    return split_values(value, key)


def display(value: Any) -> str:
    """A resolved option value as text: ``0.0001``, ``True``, ``critic,actor`` (as a
    report labels a method by it)."""
    return str(value)


def dir_part(key: str, value: str) -> str:
    """``key=value`` as one path component: the value itself if it is made of
    ``A-Z a-z 0-9 . _ + -`` (and not too long), else the value with any other characters
    as ``-``, cut, and ``~`` + a short hash of the exact value (which a value kept as itself
    cannot contain, so two values never share a directory)."""
    safe = _SAFE.sub("-", value)
    if safe != value or len(value) > _MAX_PART:
        safe = f"{safe.strip('-')[:_MAX_PART]}~{hashlib.sha256(value.encode()).hexdigest()[:6]}"
    return f"{key}={safe}"


def owner(key: str) -> str | None:
    """The agent an option belongs to alone (``drm.*`` → drm, ``alix.*`` → alix), else None."""
    return AGENT_SECTIONS.get(key.split(".", 1)[0]) if "." in key else None


def applies(key: str, agent: str) -> bool:
    return owner(key) in (None, agent, AGENT_FAMILY.get(agent))


@dataclass
class Grid:
    agents: list[str]
    tasks: list[str]
    seeds: Sequence[int]  # a list, or a range for seeds=N
    axes: dict[str, list[str]]  # option → its values as written (one or more)
    shared: dict[str, str]  # options given to every run they apply to
    notes: list[str] = field(default_factory=list)


def make_grid(
    raw: dict[str, str], agents: list[str], tasks: list[str], seeds: Sequence[int], manifest: Mapping[str, Any]
) -> Grid:
    """Split the remaining options into axes and shared ones. The axes of a sweep
    directory are those of its first command (``manifest``): a later command names the
    same ones, with the same or new values."""
    axes, shared = {}, {}
    old_axes = set(manifest.get("axes", {}))
    for key, value in raw.items():
        values = option_values(key, value)
        if len(values) > 1 and (key in NOT_AXES or key.startswith("log.")):
            raise ConfigError(f"{key} cannot be a sweep axis (it does not change what is trained); give one value")
        if len(values) > 1 or key in old_axes:
            axes[key] = values
        else:
            shared[key] = values[0]
    if manifest.get("runs"):
        needed = {k for k in old_axes if owner(k) is None or owner(k) in agents}
        added, missing = sorted(set(axes) - old_axes), sorted(needed - set(axes))
        if added:
            before = "; ".join(f"{k}={manifest['shared'][k]}" for k in added if k in manifest.get("shared", {}))
            raise ConfigError(
                f"the sweep in this out= has no {', '.join(added)} axis"
                + (f" (every run has {before})" if before else "")
                + ": its runs would need other directories; use another out= and report both"
            )
        if missing:
            raise ConfigError(
                f"the sweep in this out= has the axis {', '.join(missing)} ("
                + "; ".join(f"{k}={','.join(manifest['axes'][k])}" for k in missing)
                + "): name it in this command too, with one or more values"
            )
    grid = Grid(agents, tasks, seeds, axes, shared)
    for agent in sorted(set(AGENT_SECTIONS.values()) & set(agents)):
        own = sorted(k for k in [*axes, *shared] if owner(k) == agent)
        others = [a for a in agents if a != agent]
        if own and others:
            one = len(own) == 1
            grid.notes.append(
                f"{', '.join(own)} appl{'ies' if one else 'y'} to agent={agent} only: the "
                f"{', '.join(others)} runs do not take {'it' if one else 'them'}"
                + (" and are not repeated for each value" if set(own) & set(axes) else "")
            )
    return grid


def _keys_of(grid: Grid, agent: str) -> tuple[list[str], dict[str, str]]:
    """The axes (sorted) and the shared options that reach ``agent``'s runs."""
    # An agent's own options reach every run when that agent is not in the sweep, which refuses them by name.
    takes = [k for k in [*grid.axes, *grid.shared] if applies(k, agent) or owner(k) not in grid.agents]
    return sorted(k for k in takes if k in grid.axes), {k: grid.shared[k] for k in takes if k in grid.shared}


def count_runs(grid: Grid) -> tuple[int, str]:
    """How many runs the grid holds, and how that number is made (``2 agents × 3 tasks × 5
    seeds``), known before any run is resolved: a big grid is announced at once."""
    keys = {agent: _keys_of(grid, agent)[0] for agent in grid.agents}
    combos = sum(math.prod(len(grid.axes[k]) for k in agent_keys) for agent_keys in keys.values())
    total = len(grid.tasks) * combos * len(grid.seeds)

    def n(count: int, word: str) -> str:
        return f"{count:,} {word}{'s' if count != 1 else ''}"

    factors = [n(len(grid.agents), "agent"), n(len(grid.tasks), "task")]
    if len({tuple(k) for k in keys.values()}) == 1:  # every agent takes the same axes
        factors[1:1] = [f"{len(grid.axes[k]):,} {k}" for k in next(iter(keys.values()))]
    else:  # agent-specific axes: the agents do not share one product
        factors[0] = f"{combos:,} agent/value combinations"
    return total, " × ".join([*factors, n(len(grid.seeds), "seed")]) + " = " + f"{total:,}"


def expand(grid: Grid, out: Path) -> list[RunSpec]:
    """Every run of the grid, each resolved (a bad value in any combination stops the
    sweep, naming the run). Seeds share their combination's resolution (the seed changes
    no other option), so the cost grows with the combinations, not with the seeds. Without
    hyperparameter axes a run lives in ``out/<suite>_<task>/<agent>/seed<k>``; with them,
    one directory per axis that applies to it, sorted by option, comes before ``seed<k>``."""
    runs: list[RunSpec] = []
    for task in grid.tasks:
        for agent in grid.agents:
            keys, shared = _keys_of(grid, agent)
            seen: dict[str, dict[str, str]] = {}  # per axis: the resolved value → how it was written
            for combo in itertools.product(*(grid.axes[k] for k in keys)):
                overrides = {"agent": agent, "task": task, **shared, **dict(zip(keys, combo, strict=True))}
                overrides.setdefault("log.progress", "false")
                where = f"{task} {agent} seed {grid.seeds[0]}" + "".join(
                    f" {k}={v}" for k, v in zip(keys, combo, strict=True)
                )
                try:
                    base = resolve({**overrides, "seed": str(grid.seeds[0])})
                except ConfigError as err:
                    raise ConfigError(f"{err} (in the run {where})") from None
                flat = flatten(base.to_dict())
                params = {k: display(flat[k]) for k in keys}
                for k, written in zip(keys, combo, strict=True):
                    other = seen.setdefault(k, {}).setdefault(params[k], written)
                    if other != written:
                        raise ConfigError(f"{k}: {other} and {written} are the same value ({params[k]})")
                prefix = [task_filename(task, suite_separator="_"), agent, *(dir_part(k, params[k]) for k in keys)]
                for seed in grid.seeds:
                    run_id = "/".join([*prefix, f"seed{seed}"])
                    # base.task: a named scenario as its task list, as the run's config.yaml (and a report) has it
                    runs.append(
                        RunSpec(
                            run_id,
                            base.task,
                            agent,
                            seed,
                            out / run_id,
                            base.frames,
                            {**overrides, "seed": str(seed)},
                            dict(params),
                            config=dataclasses.replace(base, seed=seed),
                        )
                    )
    return runs


def check_manifest(out: Path, shared: dict[str, str]) -> dict[str, Any]:
    """The sweep already in ``out`` (``{}`` if none); it must share this command's
    settings: a later command may add agents, tasks, seeds and values of its axes, or
    raise frames."""
    path = out / MANIFEST
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    old_shared = {k: v for k, v in old.get("shared", {}).items() if k not in NOT_COMPARED}
    new_shared = {k: v for k, v in shared.items() if k not in NOT_COMPARED}
    if old_shared != new_shared:
        changed = sorted(k for k in set(old_shared) | set(new_shared) if old_shared.get(k) != new_shared.get(k))
        raise ConfigError(
            f"{out} holds a sweep with other settings ({', '.join(changed)}: "
            f"{ {k: old_shared.get(k) for k in changed} } there); use another out="
        )
    return old


def write_manifest(out: Path, runs: list[RunSpec], shared: dict[str, str], argv: Sequence[str]) -> None:
    """``sweep.json`` lists every run the sweep owns, so a report can name missing ones,
    and its hyperparameter axes with every value any command gave (as resolved)."""
    path = out / MANIFEST
    old = check_manifest(out, shared)
    entries = dict(old.get("runs", {}))
    axes: dict[str, list[str]] = {key: list(values) for key, values in old.get("axes", {}).items()}
    for spec in runs:
        entries[spec.run_id] = {
            "task": spec.task,
            "agent": spec.agent,
            "seed": spec.seed,
            "frames": spec.frames,
            **({"params": spec.params} if spec.params else {}),
        }
        for key, value in spec.params.items():
            if value not in axes.setdefault(key, []):
                axes[key].append(value)
    manifest = {
        "version": 1,
        "shared": shared,
        **({"axes": axes} if axes else {}),
        "runs": entries,
        "commands": [*old.get("commands", []), " ".join(["dormant", "sweep", *argv])],
    }
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
