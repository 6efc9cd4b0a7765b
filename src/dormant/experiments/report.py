"""`dormant report`: learning curves, dormant ratios, score tables and aggregate
statistics for a sweep or any run directories, as Markdown and self-contained HTML.

Every run the sweep planned appears in the report: finished runs make the tables and
aggregates, partial ones are drawn as far as they got and listed, missing ones are
listed. Scores are normalized to [0, 1] for aggregation: DMC return / 1000 (the
suite's maximum), success rate for tasks that have success (MetaWorld, Adroit).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dormant.errors import ConfigError
from dormant.experiments.collect import Run, collect, group_runs
from dormant.experiments.document import Doc
from dormant.experiments.plot import reference_curve
from dormant.experiments.stats import STATISTICS, Interval, broken_seeds, stratified_bootstrap


def _mean_std(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std and count over runs at every frame any run reached (runs that stopped
    early are averaged only where they have data)."""
    frames = np.unique(np.concatenate([f for f, _ in curves])) if curves else np.zeros(0)
    table = np.full((len(curves), len(frames)), np.nan)
    for i, (f, v) in enumerate(curves):
        table[i, np.searchsorted(frames, f)] = v
    count = np.isfinite(table).sum(0)
    with warnings.catch_warnings():  # all-NaN columns cannot occur; empty slices are fine
        warnings.simplefilter("ignore", RuntimeWarning)
        return frames, np.nanmean(table, 0), np.nanstd(table, 0), count


def _dormant_curve(run: Run) -> tuple[np.ndarray, np.ndarray] | None:
    if "actor_dormant_ratio" in run.diagnostics:
        return run.diagnostics["frame"], run.diagnostics["actor_dormant_ratio"]
    if "dormant_ratio" in run.train and np.isfinite(run.train["dormant_ratio"]).any():
        keep = np.isfinite(run.train["dormant_ratio"])
        return run.train["frame"][keep], run.train["dormant_ratio"][keep]
    return None


def plot_task(task: str, methods: dict[str, list[Run]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    success = any(r.has_success for runs in methods.values() for r in runs)
    panels = ["episode_reward", *(["success_rate"] if success else []), "dormant"]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 2.9 * len(panels) + 0.6), sharex=True)
    last_frame = 0.0
    for i, (label, runs) in enumerate(methods.items()):
        color = f"C{i}"
        started = [r for r in runs if r.evals]
        partial = sum(r.status != "finished" for r in started)
        seeds = f"{len(started)} seeds" + (f", {partial} partial" if partial else "")
        for ax, key in zip(axes, panels):
            if key == "dormant":
                curves = [c for c in map(_dormant_curve, started) if c is not None]
            else:
                curves = [(r.evals["frame"], r.evals[key]) for r in started if key in r.evals]
            if not curves:
                continue
            frames, mu, sd, _ = _mean_std(curves)
            last_frame = max(last_frame, float(frames[-1]))
            ax.plot(frames, mu, color=color, lw=1.6, label=f"{label} ({seeds})")
            ax.fill_between(frames, mu - sd, mu + sd, color=color, alpha=0.2)
    ref = reference_curve(task, max_frame=max(last_frame, 20_000) * 1.05)
    if ref is not None:
        frames, mu, sd = ref
        axes[0].plot(frames, mu, color="k", ls="--", lw=1.2, label="DrQ-v2 published (pixels, 10 seeds)")
        axes[0].fill_between(frames, mu - sd, mu + sd, color="k", alpha=0.08)
    names = {"episode_reward": "evaluation return", "success_rate": "evaluation success rate",
             "dormant": "actor dormant ratio (τ 0.025)"}
    for ax, key in zip(axes, panels):
        ax.set_ylabel(names[key])
        ax.grid(alpha=0.3)
        if key == "success_rate":
            ax.set_ylim(-0.03, 1.03)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    axes[0].set_title(f"{task}: mean ± std over seeds")
    axes[-1].set_xlabel("environment frames")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


@dataclass
class Aggregate:
    label: str
    tasks: list[str]
    intervals: dict[str, Interval]  # "IQM final", "mean final", "IQM AUC", "mean AUC"


def aggregates(grouped: dict[str, dict[str, list[Run]]], *, reps: int, seed: int) -> tuple[list[Aggregate], list[str]]:
    """IQM and mean of normalized scores over the tasks every method finished (at least
    one seed each), so methods are compared on the same tasks; other tasks are named."""
    labels = sorted({label for methods in grouped.values() for label in methods})
    common = [t for t, methods in grouped.items()
              if all(any(r.status == "finished" for r in methods.get(label, [])) for label in labels)]
    left_out = [t for t in grouped if t not in common]
    out = []
    for label in labels:
        finals, aucs = [], []
        for task in common:
            done = [r for r in grouped[task][label] if r.status == "finished"]
            finals.append(np.array([r.normalized(r.final) for r in done]))
            aucs.append(np.array([r.normalized(r.auc) for r in done]))
        intervals = {}
        for name, stat in STATISTICS.items():
            intervals[f"{name} final"] = stratified_bootstrap(finals, stat, reps=reps, seed=seed)
            intervals[f"{name} AUC"] = stratified_bootstrap(aucs, stat, reps=reps, seed=seed)
        out.append(Aggregate(label, common, intervals))
    return out, left_out


def plot_aggregates(aggs: list[Aggregate], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["IQM final", "mean final", "IQM AUC", "mean AUC"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 0.6 * len(aggs) + 1.4), sharey=True)
    for ax, name in zip(axes, names):
        for i, agg in enumerate(aggs):
            iv = agg.intervals[name]
            if math.isfinite(iv.point):
                ax.barh(i, iv.high - iv.low, left=iv.low, height=0.6, color=f"C{i}", alpha=0.6)
                ax.plot([iv.point, iv.point], [i - 0.3, i + 0.3], color="k", lw=1.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("normalized score", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(aggs)), [a.label for a in aggs], fontsize=8)
    fig.suptitle("95% stratified-bootstrap CIs (bar) and point estimate (line)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _fmt(values: list[float], digits: int) -> str:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return "–"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def write_report(paths: Sequence[Path], out: Path, *, reps: int = 2000, seed: int = 0,
                 broken_fraction: float = 0.5) -> tuple[Path, Path]:
    runs = collect(paths)
    if not runs:
        raise ConfigError("no runs found")
    out = Path(out)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    grouped = group_runs(runs)
    doc = Doc()
    finished = sum(r.status == "finished" for r in runs)
    doc.heading(1, "dormant report")
    doc.text(f"{len(runs)} runs from {', '.join(str(p) for p in paths)}: {finished} finished, "
             f"{sum(r.status == 'partial' for r in runs)} partial, {sum(r.status == 'failed' for r in runs)} failed, "
             f"{sum(r.status == 'missing' for r in runs)} missing. Written {time.strftime('%Y-%m-%d %H:%M')}.")
    doc.text("Scores are evaluation returns (mean-action episodes) or, for tasks with success, success rates. "
             "*Final* is the last evaluation; *AUC* is the area under the evaluation curve divided by its frame "
             "span (the curve's average). Tables and aggregates use finished runs only; curves also draw "
             "partial runs as far as they got.")

    doc.heading(2, "Aggregate over tasks")
    aggs, left_out = aggregates(grouped, reps=reps, seed=seed)
    if aggs and aggs[0].tasks:
        doc.text(f"Normalized scores (DMC return / 1000; success rate) over {len(aggs[0].tasks)} task(s): "
                 f"{', '.join(aggs[0].tasks)}. Interquartile mean (IQM) and mean with 95% percentile intervals "
                 f"from a stratified bootstrap ({reps} replicates, seeds resampled within each task, rliable's "
                 f"method).")
        doc.table(["method", "runs", "IQM final", "mean final", "IQM AUC", "mean AUC"],
                  [[a.label, str(sum(r.status == "finished" and r.label == a.label and r.task in a.tasks
                                     for r in runs)), *(str(a.intervals[k]) for k in
                                                        ("IQM final", "mean final", "IQM AUC", "mean AUC"))]
                   for a in aggs])
        doc.image(plot_aggregates(aggs, figures / "aggregate.png"), "aggregate scores")
    else:
        doc.text("No task has a finished run of every method: no aggregate.")
    if left_out:
        doc.text(f"Left out of the aggregate (not every method has a finished run): {', '.join(left_out)}.")

    doc.heading(2, "Scores per task")
    rows = []
    for task, methods in grouped.items():
        for label, members in methods.items():
            done = [r for r in members if r.status == "finished"]
            unit = "success" if any(r.has_success for r in members) else "return"
            digits = 2 if unit == "success" else 1
            frames = sorted({r.final_frame for r in done if r.final_frame is not None})
            at = ", ".join(map(str, frames)) if len(frames) <= 3 else f"{frames[0]}–{frames[-1]}"
            rows.append([task, label, f"{len(done)}/{len(members)}", unit, _fmt([r.final for r in done], digits),
                         at or "–", _fmt([r.auc for r in done], digits)])
    doc.table(["task", "method", "finished seeds", "score", "final (mean ± std)", "final at frame",
               "AUC (mean ± std)"], rows)
    doc.text("\"Final\" is each run's last evaluation; training always ends with one at the end of its budget.")

    doc.heading(2, "Broken seeds")
    broken_rows = []
    for task, methods in grouped.items():
        for label, members in methods.items():
            done = {r.seed: r.normalized(r.final) for r in members if r.status == "finished"}
            for s in broken_seeds(done, fraction=broken_fraction):
                median = float(np.median([v for k, v in done.items() if k != s]))
                broken_rows.append([task, label, str(s), f"{done[s]:.3f}", f"{median:.3f}"])
    doc.text(f"A seed is broken when its normalized final score is below {broken_fraction:g} × the median of the "
             "other seeds of the same method and task (when that median is at least 0.1).")
    if broken_rows:
        doc.table(["task", "method", "seed", "normalized final", "median of the other seeds"], broken_rows)
    else:
        doc.text("None found.")

    doc.heading(2, "Learning curves")
    for task, methods in grouped.items():
        png = plot_task(task, methods, figures / f"{task.replace('/', '_')}.png")
        doc.heading(3, task)
        doc.image(png, f"{task} learning curves")

    doc.heading(2, "Every run")
    doc.table(["task", "method", "seed", "status", "frames", "final (at frame)", "AUC", "directory"],
              [[r.task, r.label, str(r.seed), r.status + (f" ({r.detail})" if r.detail else ""),
                f"{r.frame}/{r.planned_frames}", f"{r.final:.3g} ({r.final_frame})" if r.evals else "–",
                f"{r.auc:.3g}" if r.evals else "–", str(r.path)] for tr in grouped.values() for m in tr.values()
               for r in m])
    incomplete = [r for r in runs if r.status != "finished"]
    if incomplete:
        doc.text(f"**{len(incomplete)} run(s) not finished** (left out of tables and aggregates): "
                 + "; ".join(f"{r.path} ({r.status}{': ' + r.detail if r.detail else ''})" for r in incomplete))
    md = out / "report.md"
    md.write_text(doc.markdown(out))
    page = out / "report.html"
    page.write_text(doc.html())
    return md, page
