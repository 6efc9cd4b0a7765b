"""The report's score figures: learning curves per task (finished runs as mean ± std,
unfinished runs dashed, bands clipped to the score's range, the published DrQ-v2 curve
where the runs' settings match it), and the aggregate figures (IQM and mean intervals,
probability of improvement, performance profiles, IQM over frames)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dormant.experiments.collect import Run
from dormant.experiments.continual import mark_switches
from dormant.experiments.plot import config_reference_mismatch, reference_curve
from dormant.experiments.stats import STD_DDOF, Interval

STD = f"std over seeds, ddof={STD_DDOF}"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reference_mismatch(run: Run) -> list[str]:
    """The settings in which ``run`` differs from the published DrQ-v2 curves' (empty: it matches)."""
    return config_reference_mismatch(run.config)


def mean_band(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frames, mean, sample std (NaN where fewer than two runs) and count over runs at every
    frame any run reached."""
    frames = np.unique(np.concatenate([f for f, _ in curves])) if curves else np.zeros(0)
    table = np.full((len(curves), len(frames)), np.nan)
    for i, (f, v) in enumerate(curves):
        table[i, np.searchsorted(frames, f)] = v
    count = np.isfinite(table).sum(0)
    with warnings.catch_warnings():  # columns with one value have no std: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return frames, np.nanmean(table, 0), np.nanstd(table, 0, ddof=STD_DDOF), count


def draw_band(
    ax: Any,
    frames: np.ndarray,
    mu: np.ndarray,
    sd: np.ndarray,
    color: str,
    bounds: tuple[float, float] | None,
    **line: Any,
) -> None:
    """Mean line and mean ± std band, the band clipped to ``bounds`` (the quantity's range)."""
    ax.plot(frames, mu, color=color, **line)
    low, high = mu - sd, mu + sd
    if bounds is not None:
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
    ok = np.isfinite(low) & np.isfinite(high)
    if ok.any():
        ax.fill_between(frames, np.where(ok, low, mu), np.where(ok, high, mu), color=color, alpha=0.2, lw=0)


def plot_task(task: str, methods: dict[str, list[Run]], out: Path) -> tuple[Path, str]:
    """Evaluation return (and success rate) against frames; returns the figure and a note
    on the reference overlay (drawn or why not)."""
    plt = pyplot()
    success = any(r.has_success for runs in methods.values() for r in runs)
    panels = ["episode_reward", *(["success_rate"] if success else [])]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 3.1 * len(panels) + 0.6), sharex=True, squeeze=False)
    axes = list(axes[:, 0])
    last_frame = 0.0
    for i, (label, runs) in enumerate(methods.items()):
        color = f"C{i}"
        done = [r for r in runs if r.finished and r.evals]
        unfinished = [r for r in runs if not r.finished and r.evals]
        for ax, key in zip(axes, panels, strict=True):
            bounds = (0.0, 1.0) if key == "success_rate" else (done or unfinished or runs)[0].score_bounds
            curves = [(r.evals["frame"], r.evals[key]) for r in done if key in r.evals]
            if curves:
                frames, mu, sd, _ = mean_band(curves)
                last_frame = max(last_frame, float(frames[-1]))
                draw_band(
                    ax,
                    frames,
                    mu,
                    sd,
                    color,
                    bounds,
                    lw=1.6,
                    label=f"{label}: {len(curves)} finished seed(s), mean ± {STD}",
                )
            for j, run in enumerate(r for r in unfinished if key in r.evals):
                f, v = run.evals["frame"], run.evals[key]
                last_frame = max(last_frame, float(f[-1]))
                ax.plot(
                    f,
                    v,
                    color=color,
                    lw=0.9,
                    ls="--",
                    label=(f"{label}: {len(unfinished)} unfinished (dashed; not in the mean)" if j == 0 else None),
                )
                ax.plot(f[-1:], v[-1:], color=color, marker="x", ms=6)
    for ax in axes:  # a continual task's switches (the first run's: a sweep's runs share them)
        mark_switches(
            ax, next((r.config for runs in methods.values() for r in runs if r.config), {}), labels=ax is axes[0]
        )
    note = _reference(axes[0], task, methods, last_frame)
    names = {"episode_reward": "evaluation return", "success_rate": "evaluation success rate"}
    for ax, key in zip(axes, panels, strict=True):
        ax.set_ylabel(names[key])
        ax.grid(alpha=0.3)
        if key == "success_rate":
            ax.set_ylim(-0.03, 1.03)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    axes[0].set_title(
        f"{task}: mean ± std (ddof={STD_DDOF}) of finished runs, clipped to the score's range", fontsize=9
    )
    axes[-1].set_xlabel("environment frames")
    return save(fig, out), note


def _reference(ax: Any, task: str, methods: dict[str, list[Run]], last_frame: float) -> str:
    ref = reference_curve(task, max_frame=max(last_frame, 20_000) * 1.05)
    if ref is None:
        return "No published DrQ-v2 curve for this task."
    matching, other = [], {}
    for label, runs in methods.items():
        mismatch = sorted({m for r in runs if r.config for m in reference_mismatch(r)})
        if mismatch or not any(r.config for r in runs):
            other[label] = mismatch
        else:
            matching.append(label)
    why = "; ".join(f"{label}: {', '.join(m) or 'no saved configuration'}" for label, m in other.items())
    if not matching:
        return f"Published DrQ-v2 curve not drawn: no group ran with its settings ({why})."
    frames, mu, sd = ref
    draw_band(
        ax, frames, mu, sd, "k", (0.0, 1000.0), ls="--", lw=1.2, label="DrQ-v2 published (pixels, 10 seeds, mean ± std)"
    )
    return f"Published DrQ-v2 curve drawn: {', '.join(matching)} ran with its environment settings." + (
        f" Not comparable: {why}." if other else ""
    )


def plot_aggregates(aggs: list, out: Path) -> Path:
    plt = pyplot()
    names = ["IQM final", "mean final", "IQM AUC", "mean AUC"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 0.6 * len(aggs) + 1.5), sharey=True)
    for ax, name in zip(axes, names, strict=True):
        for i, agg in enumerate(aggs):
            _interval_bar(ax, i, agg.intervals[name], f"C{i}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("normalized score", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(aggs)), [f"{a.label} ({a.used} runs)" for a in aggs], fontsize=8)
    fig.suptitle("95% stratified-bootstrap CIs (bar) and point estimate (line)", fontsize=9)
    return save(fig, out)


def _interval_bar(ax: Any, row: int, iv: Interval, color: str) -> None:
    if math.isfinite(iv.point):
        ax.barh(row, max(iv.high - iv.low, 1e-3), left=iv.low, height=0.6, color=color, alpha=0.6)
        ax.plot([iv.point, iv.point], [row - 0.3, row + 0.3], color="k", lw=1.5)


def plot_improvement(pairs: list[tuple[str, str, Interval]], out: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(pairs) + 1.3))
    for i, (_, _, iv) in enumerate(pairs):
        _interval_bar(ax, i, iv, f"C{i // 2}")
    ax.axvline(0.5, color="0.4", ls=":", lw=1)
    ax.set_yticks(range(len(pairs)), [f"P({x} > {y})" for x, y, _ in pairs], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of improvement (normalized final score)", fontsize=8)
    ax.set_title("P(X > Y): 95% stratified-bootstrap CI (bar) and point estimate (line)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return save(fig, out)


def _band_figure(
    curves: dict[str, tuple[np.ndarray, ...]], runs: dict[str, int], out: Path, *, xlabel: str, ylabel: str, title: str
) -> Path:
    """One line per group with its band, ``curves``: label → (x, point, low, high), all in [0, 1]."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for i, (label, (x, point, low, high)) in enumerate(curves.items()):
        ax.plot(x, point, color=f"C{i}", lw=1.6, label=f"{label} ({runs[label]} runs)")
        ax.fill_between(x, np.clip(low, 0, 1), np.clip(high, 0, 1), color=f"C{i}", alpha=0.2, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out)


def save(fig: Any, out: Path) -> Path:
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    pyplot().close(fig)
    return out


def plot_profiles(curves: dict[str, tuple[np.ndarray, ...]], taus: np.ndarray, runs: dict[str, int], out: Path) -> Path:
    return _band_figure(
        {label: (taus, *band) for label, band in curves.items()},
        runs,
        out,
        xlabel="normalized final score threshold τ",
        ylabel="fraction of runs with score > τ",
        title="Performance profiles with 95% stratified-bootstrap bands",
    )


def plot_iqm_curves(curves: dict[str, tuple[np.ndarray, ...]], runs: dict[str, int], out: Path) -> Path:
    return _band_figure(
        curves,
        runs,
        out,
        xlabel="environment frames",
        ylabel="IQM of normalized evaluation score",
        title="IQM over frames with 95% stratified-bootstrap bands (finished runs)",
    )
