"""Aggregate statistics for many seeds and tasks, following rliable (Agarwal et al.,
NeurIPS 2021): interquartile mean and mean of normalized scores, with percentile
confidence intervals from a stratified bootstrap (seeds resampled within each task).

Our own numpy implementation (rliable pins 2022-era dependencies); the tests check it
against hand-computed values and against ``scipy.stats.trim_mean``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


def iqm(scores: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Interquartile mean: drop the lowest and highest ⌊n/4⌋ scores, average the rest
    (what rliable computes with ``scipy.stats.trim_mean(x, 0.25)``). ``axis=None``
    pools every score; ``axis=-1`` reduces each row (one bootstrap replicate per row)."""
    values = np.asarray(scores, np.float64)
    if axis is None:
        values = values.ravel()
    elif axis not in (-1, values.ndim - 1):
        raise ValueError("iqm reduces the last axis only")
    values = np.sort(values, axis=-1)
    n = values.shape[-1]
    if n == 0:
        return math.nan
    cut = int(0.25 * n)
    return values[..., cut:n - cut].mean(axis=-1)


def mean(scores: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    values = np.asarray(scores, np.float64)
    return values.ravel().mean() if axis is None else values.mean(axis=axis)


STATISTICS: dict[str, Callable] = {"IQM": iqm, "mean": mean}


@dataclass
class Interval:
    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.point:.3f} [{self.low:.3f}, {self.high:.3f}]"


def stratified_bootstrap(per_task: Sequence[np.ndarray], statistic: Callable, *, reps: int = 2000,
                         confidence: float = 0.95, seed: int = 0) -> Interval:
    """Point estimate and percentile CI of ``statistic`` over all scores.

    ``per_task``: one array of per-seed scores for each task (seed counts may differ).
    Each bootstrap replicate draws, for every task separately, as many seeds as it has,
    with replacement; tasks are never mixed (the stratification).
    """
    groups = [np.asarray(g, np.float64).ravel() for g in per_task if len(g)]
    if not groups:
        return Interval(math.nan, math.nan, math.nan)
    point = float(statistic(np.concatenate(groups)))
    rng = np.random.default_rng(seed)
    samples = np.concatenate([g[rng.integers(0, len(g), size=(reps, len(g)))] for g in groups], axis=1)
    boot = statistic(samples, axis=-1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(boot, [tail, 100 - tail])
    return Interval(point, float(low), float(high))


def normalized_auc(frames: np.ndarray, values: np.ndarray) -> float:
    """Area under the curve by the trapezoid rule divided by the frame span: the
    curve's average height, in the score's own units (a single point is its value)."""
    frames, values = np.asarray(frames, np.float64), np.asarray(values, np.float64)
    keep = np.isfinite(values)
    frames, values = frames[keep], values[keep]
    if len(values) == 0:
        return math.nan
    if len(values) == 1 or frames[-1] == frames[0]:
        return float(values[-1])
    area = np.sum((values[1:] + values[:-1]) / 2 * np.diff(frames))
    return float(area / (frames[-1] - frames[0]))


def broken_seeds(scores: dict[int, float], *, fraction: float = 0.5, floor: float = 0.1) -> list[int]:
    """Seeds whose normalized final score is below ``fraction`` × the median of the
    other seeds of the same agent and task, where that median is at least ``floor``
    (a group in which nothing learned has no broken seed, only a broken method)."""
    broken = []
    for seed, score in scores.items():
        others = [s for k, s in scores.items() if k != seed and math.isfinite(s)]
        if not others or not math.isfinite(score):
            continue
        median = float(np.median(others))
        if median >= floor and score < fraction * median:
            broken.append(seed)
    return sorted(broken)
