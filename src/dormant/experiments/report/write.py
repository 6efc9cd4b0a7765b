"""`dormant report`: settings, aggregate statistics, score tables, learning curves, DrM
and plasticity panels and the list of every run, for a sweep or any run directories, as
Markdown and self-contained HTML.

Every run the sweep planned appears in the report: finished runs make the tables and
aggregates; unfinished ones (interrupted, killed, failed, still running) are drawn dashed
as far as they got, counted per group and left out of every final-score statistic;
missing ones are listed. Scores are normalized to [0, 1] for aggregation: DMC return /
1000 (the suite's maximum), success rate for tasks that have success (MetaWorld, Adroit);
Atari scores are human-normalised, (score − random) / (human − random), with the published
constants of envs/atari/scores.py (above 1 beats the human tester).
What each section shows and the conventions: docs/report.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dormant.config.overrides import task_filename
from dormant.errors import ConfigError
from dormant.experiments.collect import Run, Unusable, collect, group_runs
from dormant.experiments.continual import write_continual_section
from dormant.experiments.document import Doc, Link
from dormant.experiments.report.figures import (
    plot_aggregates,
    plot_improvement,
    plot_iqm_curves,
    plot_profiles,
    plot_task,
)
from dormant.experiments.report.plasticity import coverage, plot_layers, plot_plasticity
from dormant.experiments.report.settings import write_settings
from dormant.experiments.report.stats import TAUS, aggregates, improvements, iqm_curves, profiles
from dormant.experiments.stats import STD_DDOF, broken_seeds, mean_std

STD_WORDS = f"sample std over seeds (ddof={STD_DDOF})"


def _fmt(values: list[float], digits: int) -> str:
    mu, sd, n = mean_std(values)
    if n == 0:
        return "–"
    if n == 1:
        return f"{mu:.{digits}f} (1 seed, no std)"
    return f"{mu:.{digits}f} ± {sd:.{digits}f}"


def _by_group(grouped: dict[str, dict[str, list[Run]]]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for methods in grouped.values():
        for label, runs in methods.items():
            out.setdefault(label, []).extend(runs)
    return dict(sorted(out.items()))


def _aggregate_section(doc: Doc, grouped: dict[str, dict[str, list[Run]]], figures: Path, reps: int, seed: int) -> None:
    doc.heading(2, "Aggregate over tasks")
    aggs, left_out = aggregates(grouped, reps=reps, seed=seed)
    if not (aggs and aggs[0].tasks):
        doc.text("No task has a finished run of every group: no aggregate.")
        if left_out:
            doc.text(
                f"Tasks without a finished run of every group, or with no known score range to normalise by "
                f"(e.g. a gym: task: declare one with `dormant report ... score_range.<task>=low,high`): "
                f"{', '.join(left_out)}."
            )
        return
    doc.text(
        "Normalized scores (DMC return / 1000; success rate; Atari human-normalised; declared score ranges) "
        f"over {len(aggs[0].tasks)} task(s) where every "
        f"group has a finished run: {', '.join(aggs[0].tasks)}. Statistics as rliable (Agarwal et al. 2021) "
        f"reports them: interquartile mean (IQM) and mean with 95% percentile intervals from a stratified "
        f"bootstrap ({reps} replicates, seed {seed}; runs resampled within each task). Only finished runs "
        "count: "
        + "; ".join(
            f"{a.label}: {a.used} finished run(s) used, {a.unfinished} unfinished left out"
            + (f", {a.missing} planned but never started" if a.missing else "")
            for a in aggs
        )
        + "."
    )
    doc.table(
        ["group", "runs used", "unfinished (left out)", "IQM final", "mean final", "IQM AUC", "mean AUC"],
        [
            [
                a.label,
                str(a.used),
                str(a.unfinished),
                *(str(a.intervals[k]) for k in ("IQM final", "mean final", "IQM AUC", "mean AUC")),
            ]
            for a in aggs
        ],
    )
    doc.image(plot_aggregates(aggs, figures / "aggregate.png"), "aggregate scores")
    if left_out:
        doc.text(
            f"Left out of every aggregate (not every group has a finished run there, or the task's score has "
            f"no known range to normalise by): {', '.join(left_out)}."
        )
    runs = {a.label: a.used for a in aggs}

    doc.heading(3, "Probability of improvement")
    if len(aggs) < 2:
        doc.text("One group only: no pair to compare.")
    else:
        pairs = improvements(aggs, reps=reps, seed=seed)
        doc.text(
            "P(X > Y): for each task, the probability that a finished run of X has a higher normalized final "
            "score than a finished run of Y (every pair of runs compared, a tie counting ½), averaged over the "
            f"{len(aggs[0].tasks)} task(s); 95% interval from a stratified bootstrap that resamples X's and Y's "
            "runs independently within each task. 0.5: neither tends to score higher; an interval that "
            "excludes 0.5 shows a difference larger than the resampling noise of these runs."
        )
        doc.table(
            ["X", "Y", "P(X > Y) [95% CI]", "runs of X", "runs of Y"],
            [[x, y, str(iv), str(runs[x]), str(runs[y])] for x, y, iv in pairs],
        )
        doc.image(plot_improvement(pairs, figures / "improvement.png"), "probability of improvement")

    doc.heading(3, "Performance profiles")
    doc.text(
        f"For each threshold τ from 0 to 1 (step {TAUS[1] - TAUS[0]:.2f}), the fraction of finished runs (all "
        "tasks pooled) whose normalized final score is strictly above τ; the band is the pointwise 95% "
        f"interval of a stratified bootstrap ({reps} replicates). Runs: "
        + ", ".join(f"{k} {v}" for k, v in runs.items())
        + "."
    )
    doc.image(
        plot_profiles(profiles(aggs, reps=reps, seed=seed), TAUS, runs, figures / "profiles.png"),
        "performance profiles",
    )

    doc.heading(3, "IQM over frames")
    doc.text(
        "At each evaluation frame, the IQM of the normalized evaluation score over every finished run of the "
        "common tasks, with its pointwise 95% stratified-bootstrap band (whole runs resampled within their "
        "task). The curve stops at the earliest last evaluation among the runs; runs evaluated at different "
        "frames are interpolated linearly between their evaluations."
    )
    doc.image(
        plot_iqm_curves(iqm_curves(aggs, reps=reps, seed=seed), runs, figures / "iqm_frames.png"), "IQM over frames"
    )


def _scores_section(doc: Doc, grouped: dict[str, dict[str, list[Run]]], broken_fraction: float) -> None:
    doc.heading(2, "Scores per task")
    rows = []
    for task, methods in grouped.items():
        for label, members in methods.items():
            done = [r for r in members if r.finished]
            unit = "success" if any(r.has_success for r in members) else "return"
            digits = 2 if unit == "success" else 1
            frames = sorted({r.final_frame for r in done if r.final_frame is not None})
            at = ", ".join(map(str, frames)) if len(frames) <= 3 else f"{frames[0]}–{frames[-1]}"
            rows.append(
                [
                    task,
                    label,
                    f"{len(done)}/{len(members)}",
                    unit,
                    _fmt([r.final for r in done], digits),
                    at or "–",
                    _fmt([r.auc for r in done], digits),
                ]
            )
    doc.table(
        ["task", "group", "finished seeds", "score", "final (mean ± std)", "final at frame", "AUC (mean ± std)"], rows
    )
    doc.text(
        f"Mean ± {STD_WORDS} of the finished seeds (their number: the *finished seeds* column, finished / "
        "planned). "
        "*Final* is each run's last evaluation (training ends with one at its budget); *AUC* is the area under "
        "the evaluation curve divided by its frame span (the curve's average)."
    )

    doc.heading(2, "Broken seeds")
    broken_rows = []
    for task, methods in grouped.items():
        for label, members in methods.items():
            finals = {r.seed: r.normalized(r.final) for r in members if r.finished}
            for s in broken_seeds(finals, fraction=broken_fraction):
                median = float(np.median([v for k, v in finals.items() if k != s]))
                broken_rows.append([task, label, str(s), f"{finals[s]:.3f}", f"{median:.3f}"])
    doc.text(
        f"A seed is broken when its normalized final score is below {broken_fraction:g} × the median of the "
        "other finished seeds of the same group and task (when that median is at least 0.1)."
    )
    if broken_rows:
        doc.table(["task", "group", "seed", "normalized final", "median of the other seeds"], broken_rows)
    else:
        doc.text("None found.")


def _curves_section(doc: Doc, grouped: dict[str, dict[str, list[Run]]], figures: Path) -> None:
    doc.heading(2, "Learning curves")
    doc.text(
        f"Finished runs: mean ± {STD_WORDS}, the band clipped to the score's range (DMC return [0, 1000], "
        "success rate [0, 1]). Unfinished runs: one dashed line each, ending in ×, never in the mean. The "
        "published DrQ-v2 curve (pixels, 10 seeds) is drawn only for groups whose runs used its environment "
        "settings (pixels, action repeat 2, frame stack 3, 84×84 images, camera 0, full-quality rendering, no "
        "fused proprioception); state-based runs never get it."
    )
    for task, methods in grouped.items():
        png, note = plot_task(task, methods, figures / f"{task_filename(task, suite_separator='_')}.png")
        doc.heading(3, task)
        doc.image(png, f"{task} learning curves")
        unfinished = {label: sum(not r.finished and bool(r.evals) for r in runs) for label, runs in methods.items()}
        doc.text(
            note
            + (
                " Unfinished runs drawn: " + ", ".join(f"{k} {v}" for k, v in unfinished.items() if v) + "."
                if any(unfinished.values())
                else ""
            )
        )


def _plasticity_section(doc: Doc, grouped: dict[str, dict[str, list[Run]]], figures: Path) -> None:
    doc.heading(2, "DrM and plasticity")
    doc.text(
        "From each run's diagnostics.csv (every `log.diagnostics_every_updates` updates, un-augmented batch) and "
        "train.csv (episode means of every update): dormant ratios of both kinds (DrM's at τ of the agent, "
        "ReDo's at `log.redo_tau`), FAU, srank (Kumar et al. 2021, δ = 0.01), feature norms and weight norms "
        "(Lyle et al. 2022, 2023), gradient norms of one extra critic and actor backward pass, DrM's σ(β), λ, "
        f"α(β), the exploration σ and the replay ratio. Lines: mean ± {STD_WORDS} over the runs that logged "
        "the quantity (finished and unfinished). Markers along the top: interventions from events.csv and DrM's "
        "awakening, in their group's colour. Per-layer figures show each layer's mean over the group's runs."
    )
    for task, methods in grouped.items():
        doc.heading(3, task)
        missing, never = coverage(methods)
        if missing:
            doc.text(
                "Not logged by every run that should have (a panel averages the runs that have it; a "
                "quantity no run logged is not drawn):"
            )
            doc.table(["quantity", *(f"runs of {label}" for label in methods), "why"], missing)
        if never:
            doc.text(
                f"Not applicable to these runs (state runs have no encoder; σ(β), λ, α(β) are DrM's): "
                f"{', '.join(never)}."
            )
        png = plot_plasticity(task, methods, figures / f"{task_filename(task, suite_separator='_')}_plasticity.png")
        if png is None:
            doc.text("No run of this task logged diagnostics or DrM values.")
            continue
        doc.image(png, f"{task} plasticity")
        for i, (label, runs) in enumerate(methods.items()):
            layers = plot_layers(
                task,
                label,
                [r for r in runs if r.status != "missing"],
                figures / f"{task_filename(task, suite_separator='_')}_layers_{i}.png",
            )
            if layers is not None:
                doc.image(layers, f"{task} {label} per layer")


def _runs_section(doc: Doc, grouped: dict[str, dict[str, list[Run]]], runs: list[Run]) -> None:
    doc.heading(2, "Every run")
    rows = []
    for members in (m for tr in grouped.values() for m in tr.values()):
        for r in members:
            links: list = [Link("config.yaml", r.path / "config.yaml")] if (r.path / "config.yaml").exists() else []
            links.append(Link("TensorBoard", r.path / "tb") if r.has_tensorboard else "no TensorBoard logs")
            rows.append(
                [
                    r.task,
                    r.label,
                    str(r.seed),
                    r.status + (f" ({r.detail})" if r.detail else ""),
                    f"{r.frame}/{r.planned_frames}",
                    f"{r.final:.3g} ({r.final_frame})" if r.evals else "–",
                    f"{r.auc:.3g}" if r.evals else "–",
                    Link(str(r.path), r.path) if r.path.is_dir() else f"{r.path} (does not exist)",
                    links,
                ]
            )
    doc.table(["task", "group", "seed", "status", "frames", "final (at frame)", "AUC", "directory", "links"], rows)
    doc.text("TensorBoard: `tensorboard --logdir DIR` on a run's `tb/` folder or on the sweep's folder (every run).")
    incomplete = [r for r in runs if not r.finished]
    if incomplete:
        doc.text(
            f"**{len(incomplete)} run(s) not finished** (left out of tables and aggregates): "
            + "; ".join(f"{r.path} ({r.status}{': ' + r.detail if r.detail else ''})" for r in incomplete)
        )


def write_report(
    paths: Sequence[Path],
    out: Path,
    *,
    reps: int = 2000,
    seed: int = 0,
    broken_fraction: float = 0.5,
    score_ranges: dict[str, tuple[float, float]] | None = None,
) -> tuple[Path, Path]:
    """``score_ranges``: task → (low, high) to normalise its scores by, for tasks whose range
    dormant does not know (``gym:`` tasks, your own suites) or to override one."""
    unusable: list[Unusable] = []
    notes: list[str] = []
    runs = collect(paths, unusable=unusable, notes=notes)
    if not runs:
        why = "; ".join(f"{u.path}: {u.reason}" for u in unusable)
        raise ConfigError("no run could be used" + (f": {why}" if why else ""))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for item in unusable:
        print(f"warning: not used: {item.path}: {item.reason}", file=sys.stderr)
    for run in runs:
        run.declared_range = (score_ranges or {}).get(run.task)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} is a file, not a directory; choose another out=")
    figures = out / "figures"
    try:
        figures.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"out={out}: cannot create the report directory ({err.strerror or err})") from None
    grouped = group_runs(runs)
    groups = _by_group(grouped)
    doc = Doc()
    doc.heading(1, "dormant report")
    counts = {s: sum(r.status == s for r in runs) for s in ("finished", "partial", "failed", "missing")}
    doc.text(
        f"{len(runs)} runs from {', '.join(str(p) for p in paths)}: {counts['finished']} finished, "
        f"{counts['partial']} partial, {counts['failed']} failed, {counts['missing']} missing. Written "
        f"{time.strftime('%Y-%m-%d %H:%M')}. Per group: "
        + "; ".join(f"{label}: {sum(r.finished for r in rs)} finished of {len(rs)}" for label, rs in groups.items())
        + "."
    )
    if unusable:
        doc.text(
            f"**{len(unusable)} run director{'y' if len(unusable) == 1 else 'ies'} not used** (not counted "
            "anywhere in this report): " + "; ".join(f"{u.path}: {u.reason}" for u in unusable) + "."
        )
    if notes:
        doc.text("Notes: " + "; ".join(notes) + ".")
    doc.text(
        "Scores are evaluation returns (mean-action episodes) or, for tasks with success, success rates. Tables "
        "and aggregates use finished runs only (a run that has not reached its budget has no final score); "
        "curves also draw unfinished runs, dashed, as far as they got. What every section means: the "
        "project's docs/report.md."
    )
    write_settings(doc, groups)
    _aggregate_section(doc, grouped, figures, reps, seed)
    _scores_section(doc, grouped, broken_fraction)
    _curves_section(doc, grouped, figures)
    _plasticity_section(doc, grouped, figures)
    write_continual_section(doc, grouped)
    _runs_section(doc, grouped, runs)
    md = out / "report.md"
    md.write_text(doc.markdown(out))
    page = out / "report.html"
    page.write_text(doc.html(out))
    return md, page
