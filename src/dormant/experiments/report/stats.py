"""The aggregate statistics of a report, computed from grouped runs: IQM and mean of
normalized final scores and AUCs, probability of improvement between every pair of
groups, performance profiles and IQM over frames (``experiments/stats.py`` holds the estimators).

Only finished runs count, on the tasks where every group has at least one: a run that
has not reached its budget has no final score yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from dormant.experiments.collect import Run
from dormant.experiments.stats import (
    STATISTICS,
    Interval,
    improvement_bootstrap,
    iqm_curve,
    profile_bootstrap,
    stratified_bootstrap,
)

TAUS = np.linspace(0.0, 1.0, 101)  # thresholds of the performance profiles (normalized score)


@dataclass
class Aggregate:
    label: str
    tasks: list[str]
    intervals: dict[str, Interval]  # "IQM final", "mean final", "IQM AUC", "mean AUC"
    finals: list[np.ndarray] = field(default_factory=list)  # per task: normalized finals of finished runs
    runs: list[list[Run]] = field(default_factory=list)  # per task: the finished runs
    unfinished: int = 0  # runs of these tasks that started but have not finished (left out)
    missing: int = 0  # runs of these tasks a sweep planned that never started

    @property
    def used(self) -> int:
        return sum(len(r) for r in self.runs)


def common_tasks(grouped: dict[str, dict[str, list[Run]]]) -> tuple[list[str], list[str], list[str]]:
    """(group labels, tasks where every group has a finished run and whose score has a known
    range to normalise by, the other tasks)."""
    labels = sorted({label for methods in grouped.values() for label in methods})
    common = [
        t
        for t, methods in grouped.items()
        if all(any(r.finished for r in methods.get(label, [])) for label in labels)
        and all(r.score_range is not None for runs in methods.values() for r in runs if r.finished)
    ]
    return labels, common, [t for t in grouped if t not in common]


def aggregates(grouped: dict[str, dict[str, list[Run]]], *, reps: int, seed: int) -> tuple[list[Aggregate], list[str]]:
    """IQM and mean of normalized scores over the tasks every group finished (at least
    one seed each), so groups are compared on the same tasks; other tasks are returned."""
    labels, common, left_out = common_tasks(grouped)
    out = []
    for label in labels:
        runs = [[r for r in grouped[task][label] if r.finished] for task in common]
        finals = [np.array([r.normalized(r.final) for r in done]) for done in runs]
        aucs = [np.array([r.normalized(r.auc) for r in done]) for done in runs]
        intervals = {}
        for name, stat in STATISTICS.items():
            intervals[f"{name} final"] = stratified_bootstrap(finals, stat, reps=reps, seed=seed)
            intervals[f"{name} AUC"] = stratified_bootstrap(aucs, stat, reps=reps, seed=seed)
        members = [r for task in common for r in grouped[task][label]]
        out.append(
            Aggregate(
                label,
                common,
                intervals,
                finals,
                runs,
                unfinished=sum(r.status in ("partial", "failed") for r in members),
                missing=sum(r.status == "missing" for r in members),
            )
        )
    return out, left_out


def improvements(aggs: list[Aggregate], *, reps: int, seed: int) -> list[tuple[str, str, Interval]]:
    """P(X > Y) of normalized final scores for every ordered pair of groups (X, Y), X ≠ Y."""
    out = []
    for a, b in combinations(aggs, 2):
        out.append((a.label, b.label, improvement_bootstrap(a.finals, b.finals, reps=reps, seed=seed)))
        out.append((b.label, a.label, improvement_bootstrap(b.finals, a.finals, reps=reps, seed=seed)))
    return out


def profiles(aggs: list[Aggregate], *, reps: int, seed: int) -> dict[str, tuple[np.ndarray, ...]]:
    """Performance profile of normalized final scores at ``TAUS``, with its 95 % band."""
    return {a.label: profile_bootstrap(a.finals, TAUS, reps=reps, seed=seed) for a in aggs if a.used}


def curve_grid(runs: list[Run]) -> np.ndarray:
    """The frames every run's evaluation curve covers: each run's evaluation frames, up to
    the earliest last evaluation (so no run is extrapolated)."""
    frames = np.unique(np.concatenate([r.score_curve()[0] for r in runs]))
    return frames[frames <= min(r.score_curve()[0][-1] for r in runs)]


def iqm_curves(aggs: list[Aggregate], *, reps: int, seed: int) -> dict[str, tuple[np.ndarray, ...]]:
    """IQM of normalized evaluation scores over frames, per group: (frames, IQM, low, high).
    Runs whose evaluation frames differ are interpolated linearly between evaluations."""
    out: dict[str, tuple[np.ndarray, ...]] = {}
    for agg in aggs:
        runs = [r for task in agg.runs for r in task]
        if not runs:
            continue
        frames = curve_grid(runs)
        per_task = [
            np.stack([r.normalized(np.interp(frames, *r.score_curve())) for r in task]) for task in agg.runs if task
        ]
        out[agg.label] = (frames, *iqm_curve(per_task, reps=reps, seed=seed))
    return out
