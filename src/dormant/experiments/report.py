"""`dormant report`: learning curves, dormant ratios, score tables and aggregate
statistics for a sweep or any run directories, as Markdown and self-contained HTML.

Every run the sweep planned appears in the report: finished runs make the tables and
aggregates, partial ones are drawn as far as they got and listed, missing ones are
listed. Scores are normalized to [0, 1] for aggregation: DMC return / 1000 (the
suite's maximum), success rate for tasks that have success (MetaWorld, Adroit).
"""

from __future__ import annotations

import base64
import html
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dormant.config import ConfigError, flatten, with_defaults
from dormant.experiments.plot import read_csv, reference_curve
from dormant.experiments.runs import MANIFEST, read_config, read_json
from dormant.experiments.stats import (
    STATISTICS,
    Interval,
    broken_seeds,
    normalized_auc,
    stratified_bootstrap,
)
from dormant.training.lock import is_locked

# Keys that differ between runs of one method without making it another method.
NOT_A_METHOD = {"seed", "out", "frames", "threads", "device", "task", "log.progress", "log.tensorboard",
                "eval.video", "checkpoint_every_frames"}


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

    def normalized(self, value: float) -> float:
        return value if self.has_success else value / 1000.0


def _load(path: Path, *, task: str = "", agent: str = "", seed: int = -1, frames: int = 0) -> Run:
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
                run = _load(sweep / run_id, task=entry["task"], agent=entry["agent"], seed=entry["seed"],
                            frames=entry["frames"])
                run.sweep = sweep
                runs.append(run)
        singles = [path] if (path / "config.yaml").exists() else sorted(p.parent for p in path.rglob("config.yaml"))
        singles = [d for d in singles if d.resolve() not in seen]
        if not sweeps and not singles:
            raise ConfigError(f"{path} holds no sweep (sweep.json) and no run directory (config.yaml)")
        for run_dir in singles:
            seen.add(run_dir.resolve())
            runs.append(_load(run_dir))
    _label(runs)
    return runs


def _label(runs: list[Run]) -> None:
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
    for run in runs:
        keys = sorted(distinguishing.get(run.agent, ()))
        run.label = " ".join([run.agent, *(f"{k}={flat[id(run)].get(k)}" for k in keys)])
    for run in runs:  # a run that never started has no config: it is its sweep siblings' method
        if not run.config:
            sibling = next((r for r in runs if r.config and r.sweep == run.sweep and r.agent == run.agent), None)
            run.label = sibling.label if sibling else run.agent


def _group(runs: list[Run]) -> dict[str, dict[str, list[Run]]]:
    """task → method label → runs (sorted by seed)."""
    out: dict[str, dict[str, list[Run]]] = {}
    for run in sorted(runs, key=lambda r: (r.task, r.label, r.seed)):
        out.setdefault(run.task, {}).setdefault(run.label, []).append(run)
    return out


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
    grouped = _group(runs)
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


class Doc:
    """A tiny document model rendered twice: Markdown (images linked) and one HTML file
    (images embedded, so it can be mailed or attached as it is)."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, Any]] = []

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", (level, text)))

    def text(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", (header, rows)))

    def image(self, path: Path, alt: str) -> None:
        self.blocks.append(("img", (Path(path), alt)))

    def markdown(self, base: Path) -> str:
        parts = []
        for kind, value in self.blocks:
            if kind == "h":
                parts.append("#" * value[0] + " " + value[1])
            elif kind == "p":
                parts.append(value)
            elif kind == "table":
                header, rows = value
                lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
                parts.append("\n".join(lines))
            else:
                parts.append(f"![{value[1]}]({value[0].relative_to(base)})")
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        body = []
        for kind, value in self.blocks:
            if kind == "h":
                body.append(f"<h{value[0]}>{html.escape(value[1])}</h{value[0]}>")
            elif kind == "p":
                text = html.escape(value)
                while "**" in text:  # the one Markdown emphasis the report uses
                    text = text.replace("**", "<b>", 1).replace("**", "</b>", 1)
                body.append(f"<p>{text.replace('*', '')}</p>")
            elif kind == "table":
                header, rows = value
                head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            else:
                data = base64.b64encode(value[0].read_bytes()).decode()
                body.append(f'<img alt="{html.escape(value[1])}" src="data:image/png;base64,{data}">')
        style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
                 "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
                 "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}img{max-width:100%}")
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>dormant report</title>"
                f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
