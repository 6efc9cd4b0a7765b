"""The runs a report covers: found from sweeps (every run their manifest planned, found
or not) and run directories, loaded with their logs and status, and labelled by method
(runs of one agent that differ in a setting are different methods)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dormant.config import Config, ConfigError, flatten, with_defaults
from dormant.experiments.plot import read_csv
from dormant.experiments.runfiles import RunFileError, read_checked_json, read_run_config, read_status
from dormant.experiments.runs import MANIFEST, read_json
from dormant.experiments.stats import normalized_auc
from dormant.training.lock import is_locked
from dormant.training.run_environment import FILENAME as ENVIRONMENT

# Keys that differ between runs of one method without making it another method.
NOT_A_METHOD = {
    "seed",
    "out",
    "frames",
    "threads",
    "device",
    "task",
    "log.progress",
    "log.tensorboard",
    "eval.video",
    "checkpoint_every_frames",
    "replay.device",
}


@dataclass
class Run:
    path: Path
    task: str
    agent: str  # the agent's name; `label` adds the options that set it apart
    seed: int
    planned_frames: int
    status: str  # finished, partial, failed, missing
    detail: str = ""
    frame: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    sweep: Path | None = None  # the sweep that planned it, if any
    evals: dict[str, np.ndarray] = field(default_factory=dict)
    train: dict[str, np.ndarray] = field(default_factory=dict)
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)
    events: list[tuple[float, str, float]] = field(default_factory=list)  # (frame, event, count) from events.csv
    environment: dict[str, Any] | None = None  # environment.json (versions, device); None: the run predates it
    params: dict[str, str] = field(default_factory=dict)  # the sweep's hyperparameter-axis values of this run
    declared_range: tuple[float, float] | None = None  # `dormant report score_range.<task>=low,high`

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def has_tensorboard(self) -> bool:
        return (self.path / "tb").is_dir()

    @property
    def has_success(self) -> bool:
        return "success_rate" in self.evals

    @property
    def metric(self) -> str:
        return "success_rate" if self.has_success else "episode_reward"

    def score_curve(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.evals:
            return np.zeros(0), np.zeros(0)
        return self.evals["frame"], self.evals[self.metric]

    @property
    def final(self) -> float:
        return float(self.score_curve()[1][-1]) if self.evals else math.nan

    @property
    def final_frame(self) -> int | None:
        """The frame of the evaluation that ``final`` reports."""
        return int(self.score_curve()[0][-1]) if self.evals else None

    @property
    def auc(self) -> float:
        return normalized_auc(*self.score_curve())

    @property
    def score_bounds(self) -> tuple[float, float] | None:
        """The range the score can take (plots clip bands to it): ``score_range``, except for
        Atari, whose scores are not bounded by the random and human scores that normalise them."""
        return None if self.task.startswith("atari/") else self.score_range

    def normalized(self, value: float) -> float:
        """The score on [0, 1] by its range (NaN where the range is unknown: such tasks stay out of aggregates)."""
        if self.score_range is None:
            return math.nan
        low, high = self.score_range
        return (value - low) / (high - low)

    @property
    def score_range(self) -> tuple[float, float] | None:
        """The range the score is normalised by: one declared for the report (``score_range.<task>``),
        success rate [0, 1], DMC return [0, 1000] (≤ 1 per step for 1000 steps), an Atari game's
        (random, human) scores (human-normalised: 0 is random play, 1 a human tester's score; it
        can exceed 1), a registered suite's ``score_range``; None where no bound is known."""
        if self.declared_range is not None:
            return self.declared_range
        if self.has_success:
            return 0.0, 1.0
        if self.task.startswith("atari/"):
            from dormant.envs.atari.scores import RANDOM_HUMAN

            return RANDOM_HUMAN.get(self.task.split("/", 1)[1])
        if self.task.startswith("dmc/"):
            return 0.0, 1000.0
        from dormant.envs.registry import suite_score_range

        return suite_score_range(self.task)


def read_events(
    path: Path, notes: list[str] | None = None, status: dict[str, Any] | None = None
) -> list[tuple[float, str, float]]:
    """(frame, event, count) of every row of an events.csv (interventions); [] if none.
    Checked as every log is (``RunFileError`` naming the file and line)."""
    columns = read_csv(path, text=True, notes=notes, status=status)
    if not columns:
        return []
    counts = columns.get("count", np.full(len(columns["frame"]), np.nan))
    return [(float(f), str(e), float(c)) for f, e, c in zip(columns["frame"], columns["event"], counts, strict=True)]


@dataclass
class Unusable:
    """A run directory a report could not use, and why (the report's header lists them)."""

    path: Path
    reason: str


def load_run(
    path: Path, *, task: str = "", agent: str = "", seed: int = -1, frames: int = 0, notes: list[str] | None = None
) -> Run:
    """The run in ``path`` with its logs and status; ``RunFileError`` (naming the file and what
    is wrong) if one of its files cannot be used. A planned run that has not started gets
    ``task``, ``agent``, ``seed`` and ``frames`` from its sweep."""
    config = (read_run_config(path) if path.is_dir() else None) or {}
    task = config.get("task", task) or "unknown"
    agent = config.get("agent", {}).get("name", agent)
    seed = int(config.get("seed", seed))
    planned = int(frames or config.get("frames", 0))
    run = Run(path, task, agent, seed, planned, "missing", config=config)
    if not path.is_dir() or not (path / "eval.csv").exists():
        run.detail = "not started" if not path.is_dir() else "no evaluation yet"
        return run
    status = read_status(path / "status.json") or {}
    run.evals = read_csv(path / "eval.csv", notes=notes, status=status)
    run.train = read_csv(path / "train.csv", notes=notes, status=status)
    run.diagnostics = read_csv(path / "diagnostics.csv", notes=notes, status=status)
    run.events = read_events(path / "events.csv", notes=notes, status=status)
    try:
        run.environment = read_checked_json(path / ENVIRONMENT)
    except RunFileError as err:  # only the versions are lost: the run is used, the report says so
        run.environment = None
        if notes is not None:
            notes.append(f"{err}; the run's versions and device are shown as unknown")
    last_eval = int(run.evals["frame"][-1]) if run.evals and len(run.evals["frame"]) else 0
    run.frame = int(status.get("frame", last_eval))
    word = status.get("status", "")
    if not run.evals or not len(run.evals["frame"]):
        run.evals = {}
    if word == "finished" and run.frame >= planned:
        if last_eval < run.frame:
            raise RunFileError(
                f"{path / 'status.json'} says the run finished at frame {run.frame}, but "
                f"{path / 'eval.csv'} ends at frame {last_eval} (a file is damaged or was replaced)"
            )
        run.status = "finished"
    elif word in ("failed", "nonfinite", "write_failed"):
        run.status, run.detail = "failed", f"{word} at frame {run.frame}"
    else:
        run.status = "partial"
        word = "running" if is_locked(path) else word or "killed"
        run.detail = f"{word} at frame {run.frame} of {planned}"
    return run


def collect(
    paths: Sequence[Path], *, unusable: list[Unusable] | None = None, notes: list[str] | None = None
) -> list[Run]:
    """Runs of sweeps (every run their manifest lists, found or not), run directories,
    and folders holding either, each directory once (however often it is reached).

    A run whose files cannot be used (damaged, or not a run's) is left out and goes to
    ``unusable`` with the reason; so does a duplicate: a second directory with the same
    seed and settings as another (the first one found, preferring finished runs, is kept).
    Notes (a last log row cut by a kill) go to ``notes``."""
    unusable = [] if unusable is None else unusable
    runs: list[Run] = []
    seen: set[Path] = set()
    for path in dict.fromkeys(Path(p).resolve() for p in paths):
        if not path.exists():
            raise ConfigError(f"{path} does not exist")
        if not path.is_dir():
            raise ConfigError(f"{path} is a file, not a sweep or run directory")
        sweeps = [path] if (path / MANIFEST).exists() else sorted(p.parent for p in path.rglob(MANIFEST))
        for sweep in sweeps:
            manifest = read_json(sweep / MANIFEST)
            entries = manifest.get("runs") if isinstance(manifest, dict) else None
            if not isinstance(entries, dict):
                unusable.append(Unusable(sweep, f"its {MANIFEST} is unreadable or has no runs list (damaged?)"))
                continue
            for run_id, entry in entries.items():
                run_dir = (sweep / run_id).resolve()
                if run_dir in seen:
                    continue
                seen.add(run_dir)
                try:
                    run = load_run(
                        run_dir,
                        task=str(entry["task"]),
                        agent=str(entry["agent"]),
                        seed=int(entry["seed"]),
                        frames=int(entry["frames"]),
                        notes=notes,
                    )
                except (KeyError, TypeError, ValueError) as err:
                    if isinstance(err, RunFileError):
                        unusable.append(Unusable(run_dir, str(err)))
                    else:
                        unusable.append(Unusable(run_dir, f"its entry in {sweep / MANIFEST} is incomplete ({err!r})"))
                    continue
                run.sweep = sweep
                run.params = dict(entry.get("params", {}))
                runs.append(run)
        singles = sorted({p.parent for p in path.rglob("config.yaml")})  # path itself included
        fresh = [d.resolve() for d in singles if d.resolve() not in seen]
        if not sweeps and not singles:
            raise ConfigError(f"{path} holds no sweep (sweep.json) and no run directory (config.yaml)")
        for run_dir in dict.fromkeys(fresh):
            seen.add(run_dir)
            try:
                runs.append(load_run(run_dir, notes=notes))
            except RunFileError as err:
                unusable.append(Unusable(run_dir, str(err)))
    runs = _drop_duplicates(runs, unusable)
    label_methods(runs)
    return runs


# Options that do not change what a run computes: two runs that differ only in them are the same run.
_NOT_THE_RUN = {
    "out",
    "frames",
    "threads",
    "device",
    "log.progress",
    "log.progress_every_s",
    "log.tensorboard",
    "log.wandb",
    "log.wandb_project",
    "log.wandb_mode",
    "eval.video",
    "checkpoint_every_frames",
    "replay.device",
}


def _drop_duplicates(runs: list[Run], unusable: list[Unusable]) -> list[Run]:
    """Keep one run per seed and resolved settings: finished first, then the most frames."""
    kept: dict[str, Run] = {}
    order: list[Run] = []
    for run in sorted(runs, key=lambda r: (not r.finished, -r.frame)):
        if not run.config:  # planned, never started: its sweep entry is its identity
            order.append(run)
            continue
        key = repr(sorted((k, repr(v)) for k, v in with_defaults(flatten(run.config)).items() if k not in _NOT_THE_RUN))
        if key in kept:
            unusable.append(
                Unusable(
                    run.path,
                    f"duplicate: the same seed ({run.seed}) and settings as {kept[key].path}, which is counted instead",
                )
            )
            continue
        kept[key] = run
        order.append(run)
    position = {id(r): i for i, r in enumerate(runs)}
    return sorted(order, key=lambda r: position[id(r)])


def label_methods(runs: list[Run]) -> None:
    """Runs of one agent that differ in a setting within a task are different methods:
    their label names the setting (e.g. ``drqv2 plasticity.redo=True``)."""
    flat = {
        id(r): {
            k: v
            for k, v in with_defaults(flatten(r.config)).items()
            if k not in NOT_A_METHOD and not k.startswith("log.")
        }
        for r in runs
    }
    distinguishing: dict[str, set[str]] = {}
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.agent, run.task), []).append(run)
    for (agent, _), members in groups.items():
        settings = set().union(*(flat[id(r)] for r in members))
        varying = {k for k in settings if len({repr(flat[id(r)].get(k)) for r in members if r.config}) > 1}
        distinguishing.setdefault(agent, set()).update(varying)
        for run in members:  # a sweep's axes name methods even where only one value has started
            distinguishing[agent].update(run.params)
    for run in runs:
        if not run.config:  # never started: its sweep sibling with the same axis values is its method
            sibling = next(
                (
                    r
                    for r in runs
                    if r.config and r.sweep == run.sweep and r.agent == run.agent and r.params == run.params
                ),
                None,
            )
            flat[id(run)] = {**(flat[id(sibling)] if sibling else {}), **run.params}
    defaults = flatten(Config().to_dict())
    for run in runs:
        keys = sorted(k for k in distinguishing.get(run.agent, ()) if k in flat[id(run)])
        # A setting at its default says nothing about this method unless it is a sweep axis, or
        # the method is the baseline of one or two varying settings (``plasticity.redo=False``).
        shown = [k for k in keys if k in run.params or flat[id(run)][k] != defaults.get(k, object())]
        if not shown and len(keys) <= 2:
            shown = keys
        parts = [f"{k}={flat[id(run)][k]}" for k in shown] or (["(defaults)"] if keys else [])
        run.label = " ".join([run.agent, *parts])


def group_runs(runs: list[Run]) -> dict[str, dict[str, list[Run]]]:
    """task → method label → runs (sorted by seed)."""
    out: dict[str, dict[str, list[Run]]] = {}
    for run in sorted(runs, key=lambda r: (r.task, r.label, r.seed)):
        out.setdefault(run.task, {}).setdefault(run.label, []).append(run)
    return out
