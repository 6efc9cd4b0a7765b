"""Continual runs in plots and reports: where the switches fall (from a run's saved
configuration), vertical lines and task labels on a figure, each task's evaluation curve,
and the report's table of every phase (return, dormant ratio and effective rank when it ends,
and what is left of each task at the end of the run)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dormant.envs.continual import COLUMN_PREFIX, eval_column, switch_frames, task_sequence
from dormant.errors import ConfigError
from dormant.experiments.stats import mean_std

# diagnostics.csv columns the phase table reports at the end of each phase
PHASE_DIAGNOSTICS = (
    ("critic_redo_dormant_ratio", "critic dormant ratio (ReDo kind)", 3),
    ("critic_srank", "critic srank", 1),
)


def phase_label(tasks: Sequence[str], phase: int, permute: bool) -> str:
    """``walker_walk``, with the permutation's phase when observations are permuted."""
    name = tasks[phase % len(tasks)].split("/", 1)[-1]
    return f"{name} (permutation {phase})" if permute and phase else name


def phases(config: Mapping[str, Any]) -> list[tuple[int, int, str]]:
    """(start frame, end frame, label) of every phase of a saved configuration; [] for a run
    that does not switch (or predates continual runs)."""
    section = config["continual"] if isinstance(config.get("continual"), Mapping) else {}
    every = int(section.get("switch_every_frames", 0) or 0)
    frames = int(config.get("frames", 0) or 0)
    if every <= 0 or frames <= 0:
        return []
    try:
        tasks = task_sequence(str(config.get("task", "")))
    except ConfigError:
        return []
    starts = [0, *switch_frames(frames, every)]
    permute = bool(section.get("permute_obs", False))
    return [(start, min(start + every, frames), phase_label(tasks, k, permute)) for k, start in enumerate(starts)]


def mark_switches(ax: Any, config: Mapping[str, Any], *, labels: bool = True) -> list:
    """A dotted vertical line at every switch and (``labels``) each phase's task along the top;
    returns the artists drawn (none for a run that does not switch)."""
    drawn = []
    for k, (start, _, label) in enumerate(phases(config)):
        if k:
            drawn.append(ax.axvline(start, color="0.35", ls=":", lw=1.0))
        if labels:
            drawn.append(
                ax.text(
                    start,
                    0.98,
                    f" {label}",
                    transform=ax.get_xaxis_transform(),
                    fontsize=7,
                    color="0.3",
                    ha="left",
                    va="top",
                    rotation=90,
                )
            )
    return drawn


def task_curves(evals: Mapping[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each task's evaluation return (``episode_reward@<task>`` columns) where it was evaluated."""
    curves = {}
    for key, values in evals.items():
        if key.startswith(COLUMN_PREFIX):
            keep = np.isfinite(values)
            if keep.any():
                curves[key[len(COLUMN_PREFIX) :]] = (evals["frame"][keep], values[keep])
    return curves


def _at(
    columns: Mapping[str, np.ndarray], key: str, *, end: float, phase: int | None = None, first: bool = False
) -> float:
    """The last (``first``: the first) finite value of ``key`` at frames ≤ ``end`` (and of ``phase``)."""
    if key not in columns or "frame" not in columns:
        return math.nan
    keep = np.isfinite(columns[key]) & (columns["frame"] <= end)
    if phase is not None:
        keep &= columns.get("phase", np.full(len(keep), np.nan)) == phase
    values = columns[key][keep]
    return float(values[0] if first else values[-1]) if len(values) else math.nan


def _cell(values: list[float], digits: int) -> str:
    mu, sd, n = mean_std([v for v in values if math.isfinite(v)])
    if n == 0:
        return "–"
    return f"{mu:.{digits}f}" + (f" ± {sd:.{digits}f}" if n > 1 else "") + f" ({n})"


def phase_rows(label: str, runs: Sequence[Any]) -> list[list[str]]:
    """The phase table's rows of one group (``runs``: report runs, with ``config``, ``evals``, ``diagnostics``)."""
    config: Mapping[str, Any] = next((r.config for r in runs if r.config), {})
    tasks = task_sequence(str(config.get("task", "")))
    rows = []
    for k, (start, end, name) in enumerate(phases(config)):
        column = eval_column(tasks[k % len(tasks)])
        row = [
            label,
            str(k),
            name,
            f"{start}–{end}",
            _cell([_at(r.evals, "episode_reward", end=end, phase=k, first=True) for r in runs], 1),
            _cell([_at(r.evals, "episode_reward", end=end, phase=k) for r in runs], 1),
        ]
        row += [_cell([_at(r.diagnostics, key, end=end) for r in runs], digits) for key, _, digits in PHASE_DIAGNOSTICS]
        row.append(_cell([_at(r.evals, column, end=math.inf) for r in runs if r.finished], 1))
        rows.append(row)
    return rows


PHASE_HEADER = [
    "group",
    "phase",
    "task",
    "frames",
    "return, first evaluation",
    "return, end of phase",
    *(f"{title}, end of phase" for _, title, _ in PHASE_DIAGNOSTICS),
    "return on this task, end of run",
]


def write_continual_section(doc: Any, grouped: Mapping[str, Mapping[str, list]]) -> None:
    """The report's section on continual runs (nothing when none of its tasks is a continual one)."""
    continual = {
        task: methods
        for task, methods in grouped.items()
        if any(phases(r.config) for runs in methods.values() for r in runs if r.config)
    }
    if not continual:
        return
    doc.heading(2, "Continual scenarios")
    doc.text(
        "Runs that switch tasks (or observation permutations) every `continual.switch_every_frames`: one row "
        "per group and phase. Returns are evaluation returns on the phase's task (its first and last "
        "evaluation in the phase); the dormant ratio and srank are the last diagnostics row of the phase; the "
        "last column is the return on the phase's task at the run's last evaluation (finished runs), which "
        "shows what a later phase left of it. Cells: mean ± sample std over runs (their number). A loss of "
        "plasticity shows as later phases reaching lower returns while the dormant ratio rises and srank "
        "falls; the learning curves mark every switch with a dotted line."
    )
    for task, methods in continual.items():
        doc.heading(3, task)
        doc.table(PHASE_HEADER, [row for label, runs in methods.items() for row in phase_rows(label, runs)])
