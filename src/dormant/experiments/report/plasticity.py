"""The report's DrM and plasticity figures: per task, each network's dormant ratios (both
kinds), FAU, srank, feature, weight and gradient norms, DrM's σ(β), λ, α(β), the
exploration σ and the replay ratio against frames (mean ± std over the runs that logged
each), with the interventions of events.csv and DrM's awakening marked; per task and
group, the same quantities per layer. Quantities some runs did not log are counted, so
the report can say what is missing instead of drawing a silent gap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dormant.experiments.collect import Run
from dormant.experiments.report.figures import STD, draw_band, mean_band, pyplot

RATIO, POSITIVE = (0.0, 1.0), (0.0, float("inf"))
# (title, log, column, bounds): one panel each, drawn where any run logged the column.
PANELS = [
    ("encoder dormant ratio (ReDo kind)", "diagnostics", "encoder_redo_dormant_ratio", RATIO),
    ("DrM β (actor dormant ratio, episode mean of every update)", "train", "dormant_ratio", RATIO),
    ("actor dormant ratio (DrM kind: β)", "diagnostics", "actor_dormant_ratio", RATIO),
    ("critic dormant ratio (DrM kind)", "diagnostics", "critic_dormant_ratio", RATIO),
    ("actor dormant ratio (ReDo kind)", "diagnostics", "actor_redo_dormant_ratio", RATIO),
    ("critic dormant ratio (ReDo kind)", "diagnostics", "critic_redo_dormant_ratio", RATIO),
    ("encoder FAU", "diagnostics", "encoder_fau", RATIO),
    ("actor FAU", "diagnostics", "actor_fau", RATIO),
    ("critic FAU", "diagnostics", "critic_fau", RATIO),
    ("encoder srank (output features)", "diagnostics", "encoder_srank", POSITIVE),
    ("critic srank (penultimate, mean of heads)", "diagnostics", "critic_srank", POSITIVE),
    ("encoder feature norm", "diagnostics", "encoder_feature_norm", POSITIVE),
    ("critic feature norm (penultimate)", "diagnostics", "critic_feature_norm", POSITIVE),
    ("encoder weight norm", "diagnostics", "encoder_weight_norm", POSITIVE),
    ("actor weight norm", "diagnostics", "actor_weight_norm", POSITIVE),
    ("critic weight norm", "diagnostics", "critic_weight_norm", POSITIVE),
    ("encoder gradient norm", "diagnostics", "encoder_grad_norm", POSITIVE),
    ("actor gradient norm", "diagnostics", "actor_grad_norm", POSITIVE),
    ("critic gradient norm", "diagnostics", "critic_grad_norm", POSITIVE),
    ("DrM σ(β)", "train", "sigma_beta", RATIO),
    ("DrM λ (V mix)", "train", "lambda", RATIO),
    ("DrM α(β) (perturbation factor)", "train", "alpha_beta", RATIO),
    ("exploration σ used", "train", "stddev", POSITIVE),
    ("replay ratio (updates per agent step)", "train", "replay_ratio", POSITIVE),
]
# Per-layer columns: ``<prefix><layer>``; train.csv's ``dormant_ratio/<layer>`` is DrM's β per layer.
LAYERED = [
    ("actor β per layer (DrM kind, every update)", "train", "dormant_ratio/"),
    ("actor dormant ratio per layer (DrM kind)", "diagnostics", "actor_dormant/"),
    ("critic dormant ratio per layer (DrM kind)", "diagnostics", "critic_dormant/"),
    ("encoder dormant ratio per layer (ReDo kind)", "diagnostics", "encoder_redo_dormant/"),
    ("actor dormant ratio per layer (ReDo kind)", "diagnostics", "actor_redo_dormant/"),
    ("critic dormant ratio per layer (ReDo kind)", "diagnostics", "critic_redo_dormant/"),
    ("encoder FAU per layer", "diagnostics", "encoder_fau/"),
    ("actor FAU per layer", "diagnostics", "actor_fau/"),
    ("critic FAU per layer", "diagnostics", "critic_fau/"),
    ("critic srank per Q head", "diagnostics", "critic_srank/"),
]
MARKERS = {
    "drm_perturb": ("*", "DrM perturbation"),
    "redo": ("v", "ReDo recycling"),
    "shrink_perturb": ("d", "shrink-and-perturb"),
    "replay_ratio": ("^", "replay-ratio switch"),
    "reset": ("|", "reset"),
    "awaken": ("o", "DrM awakening"),
    "task_switch": (">", "task switch"),
}


def series(run: Run, log: str, column: str) -> tuple[np.ndarray, np.ndarray] | None:
    data = run.train if log == "train" else run.diagnostics
    if column not in data:
        return None
    keep = np.isfinite(data[column])
    return (data["frame"][keep], data[column][keep]) if keep.any() else None


def interventions(run: Run) -> dict[str, list[float]]:
    """Frames of each kind of intervention (events.csv) and of DrM's awakening (train.csv)."""
    out: dict[str, list[float]] = {}
    for frame, event, _ in run.events:
        out.setdefault("reset" if event.startswith("reset") else event, []).append(frame)
    awake = run.train.get("awaken_frame")
    if awake is not None and (awake >= 0).any():
        out["awaken"] = [float(awake[awake >= 0][-1])]
    return out


def _mark(ax: Any, methods: dict[str, list[Run]], seen: set[str]) -> None:
    """Interventions as markers along the top of a panel, in their group's colour."""
    for i, runs in enumerate(methods.values()):
        for run in runs:
            for kind, frames in interventions(run).items():
                marker = MARKERS.get(kind, ("x", kind))[0]
                ax.plot(
                    frames,
                    [1.0] * len(frames),
                    transform=ax.get_xaxis_transform(),
                    ls="none",
                    marker=marker,
                    ms=6,
                    color=f"C{i}",
                    clip_on=False,
                    alpha=0.8,
                )
                seen.add(kind)


def _grid(n: int, plt: Any, height: float = 2.4):
    cols = min(3, max(n, 1))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, height * rows + 0.9), squeeze=False, sharex=True)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _finish(fig: Any, plt: Any, axes: list, seen: set[str], title: str, out: Path) -> Path:
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    cols = min(3, len(axes))
    for ax in axes[-cols:]:  # the lowest panel of each column (the grid's last row may be short)
        ax.set_xlabel("environment frames", fontsize=8)
        ax.xaxis.set_tick_params(labelbottom=True)
    handles = [
        plt.Line2D([], [], ls="none", marker=MARKERS.get(k, ("x", k))[0], color="k", label=MARKERS.get(k, ("x", k))[1])
        for k in sorted(seen)
    ]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.03 if handles else 0, 1, 0.97))
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def plot_plasticity(task: str, methods: dict[str, list[Run]], out: Path) -> Path | None:
    """One panel per quantity any run logged; a line per group (mean ± std over its runs)."""
    drawn = [p for p in PANELS if any(series(r, p[1], p[2]) for runs in methods.values() for r in runs)]
    if not drawn:
        return None
    plt = pyplot()
    fig, axes = _grid(len(drawn), plt)
    seen: set[str] = set()
    for ax, (title, log, column, bounds) in zip(axes, drawn, strict=True):
        for i, (label, runs) in enumerate(methods.items()):
            curves = [c for c in (series(r, log, column) for r in runs) if c is not None]
            if curves:
                frames, mu, sd, _ = mean_band(curves)
                draw_band(ax, frames, mu, sd, f"C{i}", bounds, lw=1.3, label=f"{label} ({len(curves)} runs)")
        ax.set_title(title, fontsize=8)
        if bounds == RATIO:
            ax.set_ylim(-0.02, 1.02)
        _mark(ax, methods, seen)
    axes[0].legend(fontsize=6, loc="best")
    return _finish(
        fig,
        plt,
        axes,
        seen,
        f"{task}: plasticity and DrM, mean ± {STD} over the runs that logged each; markers: interventions",
        out,
    )


def plot_layers(task: str, label: str, runs: list[Run], out: Path) -> Path | None:
    """Per-layer values of one group: a line per layer, the mean over its runs."""
    drawn = []
    for title, log, prefix in LAYERED:
        layers = sorted(
            {
                k[len(prefix) :]
                for r in runs
                for k in (r.train if log == "train" else r.diagnostics)
                if k.startswith(prefix)
            }
        )
        if layers and any(series(r, log, prefix + layer) for r in runs for layer in layers):
            drawn.append((title, log, prefix, layers))
    if not drawn:
        return None
    plt = pyplot()
    fig, axes = _grid(len(drawn), plt, height=2.2)
    seen: set[str] = set()
    for ax, (title, log, prefix, layers) in zip(axes, drawn, strict=True):
        for j, layer in enumerate(layers):
            curves = [c for c in (series(r, log, prefix + layer) for r in runs) if c is not None]
            if curves:
                frames, mu, _, _ = mean_band(curves)
                ax.plot(frames, mu, lw=1.1, color=f"C{j}", label=layer)
        ax.set_title(title, fontsize=8)
        if "srank" not in prefix:
            ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=6, loc="best")
        _mark(ax, {label: runs}, seen)
    return _finish(fig, plt, axes, seen, f"{task}, {label}: per layer, mean over {len(runs)} run(s)", out)


DRM_ONLY = ("dormant_ratio", "sigma_beta", "lambda", "alpha_beta")


def expected(run: Run, column: str) -> bool:
    """Whether ``run`` should have logged ``column``: encoder values need pixels (a state
    run has no encoder), DrM's schedules need DrM."""
    if column.startswith("encoder_"):
        return run.config.get("env", {}).get("obs") == "pixels"
    if column in DRM_ONLY:
        return run.agent == "drm"
    return True


def coverage(methods: dict[str, list[Run]]) -> tuple[list[list[str]], list[str]]:
    """(rows, not applicable). A row (quantity, "k of n" runs per group, why) for each
    quantity that some run which should have logged it did not; ``not applicable`` names
    the quantities no run of this task could log (encoder values of state runs, DrM's
    schedules without a DrM group)."""
    rows, never = [], []
    started = {label: [r for r in runs if r.status != "missing"] for label, runs in methods.items()}
    for title, log, column, _ in PANELS:
        want = {label: [r for r in runs if expected(r, column)] for label, runs in started.items()}
        if not any(want.values()):
            never.append(title)
            continue
        lacking = [r for runs in want.values() for r in runs if series(r, log, column) is None]
        if not lacking:
            continue
        data = "train.csv" if log == "train" else "diagnostics.csv"
        why = (
            f"no {data} (diagnostics off, or stopped before the first row)"
            if all(not (r.train if log == "train" else r.diagnostics) for r in lacking)
            else f"their {data} predates this column (written by an older dormant)"
        )
        rows.append(
            [
                title,
                *(
                    f"{len(runs) - sum(r in lacking for r in runs)} of {len(runs)}" if runs else "–"
                    for runs in want.values()
                ),
                why,
            ]
        )
    return rows, never
