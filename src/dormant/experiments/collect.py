"""The runs a report covers: found from sweeps (every run their manifest planned, found
or not) and run directories, loaded with their logs and status, and labelled by method
(runs of one agent that differ in a setting are different methods)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dormant.config import ConfigError, flatten, with_defaults
from dormant.experiments.plot import read_csv
from dormant.experiments.runs import MANIFEST, read_config, read_json
from dormant.experiments.stats import normalized_auc
from dormant.training.lock import is_locked
from dormant.training.run_environment import FILENAME as ENVIRONMENT

# Keys that differ between runs of one method without making it another method.
NOT_A_METHOD = {"seed", "out", "frames", "threads", "device", "task", "log.progress", "log.tensorboard",
                "eval.video", "checkpoint_every_frames", "replay.device"}


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
            from dormant.envs.atari_scores import RANDOM_HUMAN

            return RANDOM_HUMAN.get(self.task.split("/", 1)[1])
        if self.task.startswith("dmc/"):
            return 0.0, 1000.0
        from dormant.envs.registry import suite_score_range

        return suite_score_range(self.task)


def read_events(path: Path) -> list[tuple[float, str, float]]:
    """(frame, event, count) of every row of an events.csv (interventions); [] if none."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        return []
    out = []
    for row in rows:
        try:
            out.append((float(row["frame"]), str(row.get("event", "")), float(row.get("count") or "nan")))
        except (KeyError, ValueError):
            continue
    return out


def load_run(path: Path, *, task: str = "", agent: str = "", seed: int = -1, frames: int = 0) -> Run:
    config = read_config(path)
    unreadable = config is None and (path / "config.yaml").exists()
    config = config if isinstance(config, dict) else {}
    task = config.get("task", task) or "unknown"
    agent = config.get("agent", {}).get("name", agent)
    seed = int(config.get("seed", seed))
    planned = int(frames or config.get("frames", 0))
    run = Run(path, task, agent, seed, planned, "missing", config=config)
    if not path.is_dir() or not (path / "eval.csv").exists():
        run.detail = "not started" if not path.is_dir() else "no evaluation yet"
        return run
    run.evals = read_csv(path / "eval.csv")
    run.train = read_csv(path / "train.csv") if (path / "train.csv").exists() else {}
    run.diagnostics = read_csv(path / "diagnostics.csv") if (path / "diagnostics.csv").exists() else {}
    run.events = read_events(path / "events.csv")
    run.environment = read_json(path / ENVIRONMENT)
    status = read_json(path / "status.json") or {}
    run.frame = int(status.get("frame", run.evals["frame"][-1] if run.evals else 0))
    word = status.get("status", "")
    if unreadable:
        run.status, run.detail = "failed", "its config.yaml is unreadable (corrupt?), so its task and method are unknown"
    elif word == "finished" and run.frame >= planned:
        run.status = "finished"
    elif word in ("failed", "nonfinite", "write_failed"):
        run.status, run.detail = "failed", f"{word} at frame {run.frame}"
    else:
        run.status = "partial"
        word = "running" if is_locked(path) else word or "killed"
        run.detail = f"{word} at frame {run.frame} of {planned}"
    return run


def collect(paths: Sequence[Path]) -> list[Run]:
    """Runs of sweeps (every run their manifest lists, found or not), run directories,
    and folders holding either."""
    runs: list[Run] = []
    seen: set[Path] = set()
    for path in map(Path, paths):
        if not path.exists():
            raise ConfigError(f"{path} does not exist")
        sweeps = [path] if (path / MANIFEST).exists() else sorted(p.parent for p in path.rglob(MANIFEST))
        for sweep in sweeps:
            manifest = read_json(sweep / MANIFEST) or {}
            for run_id, entry in manifest.get("runs", {}).items():
                seen.add((sweep / run_id).resolve())
                run = load_run(sweep / run_id, task=entry["task"], agent=entry["agent"], seed=entry["seed"],
                            frames=entry["frames"])
                run.sweep = sweep
                run.params = dict(entry.get("params", {}))
                runs.append(run)
        singles = [path] if (path / "config.yaml").exists() else sorted(p.parent for p in path.rglob("config.yaml"))
        singles = [d for d in singles if d.resolve() not in seen]
        if not sweeps and not singles:
            raise ConfigError(f"{path} holds no sweep (sweep.json) and no run directory (config.yaml)")
        for run_dir in singles:
            seen.add(run_dir.resolve())
            runs.append(load_run(run_dir))
    label_methods(runs)
    return runs


def label_methods(runs: list[Run]) -> None:
    """Runs of one agent that differ in a setting within a task are different methods:
    their label names the setting (e.g. ``drqv2 plasticity.redo=True``)."""
    flat = {id(r): {k: v for k, v in with_defaults(flatten(r.config)).items()
                    if k not in NOT_A_METHOD and not k.startswith("log.")} for r in runs}
    distinguishing: dict[str, set[str]] = {}
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.agent, run.task), []).append(run)
    for (agent, _), members in groups.items():
        keys = set().union(*(flat[id(r)] for r in members))
        varying = {k for k in keys if len({repr(flat[id(r)].get(k)) for r in members if r.config}) > 1}
        distinguishing.setdefault(agent, set()).update(varying)
        for run in members:  # a sweep's axes name methods even where only one value has started
            distinguishing[agent].update(run.params)
    for run in runs:
        if not run.config:  # never started: its sweep sibling with the same axis values is its method
            sibling = next((r for r in runs if r.config and r.sweep == run.sweep and r.agent == run.agent
                            and r.params == run.params), None)
            flat[id(run)] = {**(flat[id(sibling)] if sibling else {}), **run.params}
    for run in runs:
        keys = sorted(k for k in distinguishing.get(run.agent, ()) if k in flat[id(run)])
        run.label = " ".join([run.agent, *(f"{k}={flat[id(run)][k]}" for k in keys)])


def group_runs(runs: list[Run]) -> dict[str, dict[str, list[Run]]]:
    """task → method label → runs (sorted by seed)."""
    out: dict[str, dict[str, list[Run]]] = {}
    for run in sorted(runs, key=lambda r: (r.task, r.label, r.seed)):
        out.setdefault(run.task, {}).setdefault(run.label, []).append(run)
    return out
