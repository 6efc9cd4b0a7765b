"""Aggregate statistics for many seeds and tasks, following rliable (Agarwal et al.,
*Deep Reinforcement Learning at the Edge of the Statistical Precipice*, NeurIPS 2021):
interquartile mean and mean of normalized scores, probability of improvement between
two methods, performance profiles and IQM over frames, each with percentile confidence
intervals from a stratified bootstrap (runs resampled within each task, tasks never mixed).

Our own numpy implementation (rliable pins 2022-era dependencies); the tests check it
against hand-computed values, ``scipy.stats.trim_mean`` and ``scipy.stats.mannwhitneyu``.
Spread over seeds is the sample standard deviation (``STD_DDOF`` = 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
    return values[..., cut : n - cut].mean(axis=-1)


def mean(scores: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    values = np.asarray(scores, np.float64)
    return values.ravel().mean() if axis is None else values.mean(axis=axis)


STATISTICS: dict[str, Callable] = {"IQM": iqm, "mean": mean}
STD_DDOF = 1  # spread over seeds: the sample standard deviation (n − 1 in the denominator)


@dataclass
class Interval:
    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.point:.3f} [{self.low:.3f}, {self.high:.3f}]"


def stratified_bootstrap(
    per_task: Sequence[np.ndarray], statistic: Callable, *, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Point estimate and percentile CI of ``statistic`` over all scores.

    ``per_task``: one array of per-seed scores for each task (seed counts may differ).
    Each bootstrap replicate draws, for every task separately, as many seeds as it has,
    with replacement; tasks are never mixed (the stratification).
    """
    groups = [np.asarray(g, np.float64).ravel() for g in per_task if len(g)]
    if not groups:
        return Interval(math.nan, math.nan, math.nan)
    point = float(statistic(np.concatenate(groups)))
    boot = statistic(_resample(groups, reps, np.random.default_rng(seed)), axis=-1)
    low, high = _percentiles(boot, confidence)
    return Interval(point, float(low), float(high))


def _resample(groups: Sequence[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` stratified resamples of the runs: for each task, as many runs as it has,
    drawn with replacement from that task only; (reps, runs of all tasks, ...)."""
    return np.concatenate([g[rng.integers(0, len(g), size=(reps, len(g)))] for g in groups], axis=1)


def _percentiles(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval over the replicates (axis 0)."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(boot, [tail, 100 - tail], axis=0)
    return low, high


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof = ``STD_DDOF``; NaN for fewer than two values)
    and count of the finite ``values``."""
    finite = np.asarray([v for v in values if math.isfinite(v)], np.float64)
    if not len(finite):
        return math.nan, math.nan, 0
    spread = float(np.std(finite, ddof=STD_DDOF)) if len(finite) > STD_DDOF else math.nan
    return float(finite.mean()), spread, len(finite)


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) on one task from runs ``x`` (..., n) and ``y`` (..., m): the share of the
    n·m pairs in which X scores higher, a tie counting ½."""
    diff = x[..., :, None] - y[..., None, :]
    return ((diff > 0) + 0.5 * (diff == 0)).mean(axis=(-2, -1))


def probability_of_improvement(x_per_task: Sequence[np.ndarray], y_per_task: Sequence[np.ndarray]) -> float:
    """P(X > Y) (Agarwal et al. 2021): for each task, the probability that a run of X
    scores higher than a run of Y (ties count ½; the Mann–Whitney U statistic ÷ n·m),
    averaged over tasks with equal weight. The two lists hold the same tasks in order."""
    if len(x_per_task) != len(y_per_task) or not len(x_per_task):
        raise ValueError("probability of improvement needs the same, non-empty list of tasks for both methods")
    return float(
        np.mean(
            [
                _improvement(np.asarray(x, np.float64), np.asarray(y, np.float64))
                for x, y in zip(x_per_task, y_per_task, strict=True)
            ]
        )
    )


def improvement_bootstrap(
    x_per_task: Sequence[np.ndarray],
    y_per_task: Sequence[np.ndarray],
    *,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """P(X > Y) with a percentile CI: every replicate resamples X's runs and Y's runs
    independently, each within its task (rliable's stratified independent bootstrap)."""
    point = probability_of_improvement(x_per_task, y_per_task)
    rng = np.random.default_rng(seed)
    boot = np.zeros(reps)
    for x, y in zip(x_per_task, y_per_task, strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        xs = x[rng.integers(0, len(x), size=(reps, len(x)))]
        ys = y[rng.integers(0, len(y), size=(reps, len(y)))]
        boot += _improvement(xs, ys)
    low, high = _percentiles(boot / len(x_per_task), confidence)
    return Interval(point, float(low), float(high))


def performance_profile(per_task: Sequence[np.ndarray], taus: np.ndarray) -> np.ndarray:
    """The score distribution of Agarwal et al. 2021: for each threshold τ, the fraction
    of all runs (of every task) whose normalized score is strictly above τ."""
    pooled = np.concatenate([np.asarray(g, np.float64).ravel() for g in per_task])
    return (pooled[:, None] > np.asarray(taus)[None, :]).mean(axis=0)


def profile_bootstrap(
    per_task: Sequence[np.ndarray], taus: np.ndarray, *, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The performance profile at ``taus`` and its pointwise percentile band from a
    stratified bootstrap (one set of resampled runs per replicate, shared by every τ)."""
    groups = [np.asarray(g, np.float64).ravel() for g in per_task if len(g)]
    taus = np.asarray(taus, np.float64)
    samples = _resample(groups, reps, np.random.default_rng(seed))
    boot = np.stack([(samples > tau).mean(axis=1) for tau in taus], axis=1)
    low, high = _percentiles(boot, confidence)
    return performance_profile(groups, taus), low, high


def iqm_curve(
    per_task: Sequence[np.ndarray], *, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM over frames: ``per_task`` holds, per task, a (runs, frames) array of normalized
    scores on a shared frame grid; returns the IQM over all runs at each frame and its
    pointwise percentile band (each replicate resamples whole runs, within their task, so
    a run's curve stays together, as rliable's sample-efficiency curves)."""
    groups = [np.asarray(g, np.float64) for g in per_task if len(g)]
    pooled = np.concatenate(groups, axis=0)
    samples = _resample(groups, reps, np.random.default_rng(seed))  # (reps, runs, frames)
    boot = np.asarray(iqm(np.swapaxes(samples, 1, 2), axis=-1))  # (reps, frames)
    low, high = _percentiles(boot, confidence)
    return np.asarray(iqm(pooled.T, axis=-1)), low, high


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
