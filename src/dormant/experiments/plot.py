"""Learning-curve plots of one run, with the published DrQ-v2 curve where it exists (and, for a
continual run, every task's evaluation curve and its switches: ``experiments/continual.py``)."""

from __future__ import annotations

import csv
import functools
import gzip
import os
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from dormant.experiments.continual import mark_switches, task_curves


def reference_dir() -> Path | None:
    """A folder of the DrQ-v2 authors' per-task curve files, if $DORMANT_REFERENCE_DIR names one."""
    folder = os.environ.get("DORMANT_REFERENCE_DIR", "")
    return Path(folder) if folder and Path(folder).is_dir() else None


def read_csv(
    path: Path, *, text: bool = False, notes: list[str] | None = None, status: dict | None = None
) -> dict[str, np.ndarray]:
    """A log's columns as float arrays (NaN where a row has no value), with ``text=True`` also
    its text columns (events' names and details) as arrays of ``str``; checked as
    ``runfiles.read_log`` checks it (``RunFileError`` naming the file and line; a last row cut
    by a kill is left out with a note in ``notes``; verified against the sizes and SHA-256s
    that a run's checked ``status`` records)."""
    from dormant.experiments.runfiles import read_log

    return read_log(path, text=text, notes=notes, status=status)


@functools.lru_cache(maxsize=1)
def _packaged_curves() -> dict[str, list[tuple[float, float]]]:
    """task → [(frame, return)] from the curves shipped in the package (data/README.md)."""
    curves: dict[str, list[tuple[float, float]]] = {}
    data = resources.files("dormant") / "data" / "drqv2_curves.csv.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            curves.setdefault(row["task"], []).append((float(row["frame"]), float(row["episode_reward"])))
    return curves


def reference_curve(task: str, max_frame: float | None = None):
    """(frames, mean, std) over seeds of the published DrQ-v2 curve for a `dmc/<task>`, or None."""
    if not task.startswith("dmc/"):
        return None
    name = task.split("/", 1)[1]
    folder = reference_dir()
    points: list[tuple[float, float]] | None
    if folder is not None:
        path = folder / f"dmc_{name}.csv"
        if not path.exists():
            return None
        with open(path, newline="") as handle:
            points = [(float(r["frame"]), float(r["episode_reward"])) for r in csv.DictReader(handle)]
    else:
        points = _packaged_curves().get(name)
        if not points:
            return None
    data: dict[float, list[float]] = {}
    for frame, value in points:
        if max_frame is None or frame <= max_frame:
            data.setdefault(frame, []).append(value)
    frames = np.array(sorted(data))
    values = [np.array(data[f]) for f in frames]
    return frames, np.array([v.mean() for v in values]), np.array([v.std() for v in values])


# The published DrQ-v2 curves (Yarats et al. 2021, 10 seeds) were trained from pixels with
# these environment settings; runs of other settings get no overlay (their curve answers
# another question). The agent's own settings may differ: the overlay is the baseline.
REFERENCE_SETTINGS = {
    "env.obs": "pixels",
    "env.action_repeat": 2,
    "env.frame_stack": 3,
    "env.image_size": 84,
    "env.camera_id": 0,
    "env.fast_render": False,
    "env.proprio": False,
}


def config_reference_mismatch(config: dict) -> list[str]:
    """The settings in which a run's saved config differs from the published curves' (empty: it matches)."""
    from dormant.config import flatten, with_defaults

    flat = with_defaults(flatten(config))
    return [f"{k}={flat.get(k)}" for k, v in REFERENCE_SETTINGS.items() if flat.get(k) != v]


def plot_run(run_dir: Path, out: Path | None = None, *, task: str | None = None) -> Path:
    """Write ``learning_curve.png``: evaluation (and training) return against frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dormant.experiments.runfiles import read_run_config, read_status

    run_dir = Path(run_dir)
    saved = read_run_config(run_dir) or {}
    status = read_status(run_dir / "status.json")
    task = task or saved.get("task")
    env = saved["env"] if isinstance(saved.get("env"), dict) else {}
    agent = f"{saved.get('agent', {}).get('name', '')}, {env.get('obs', '')}".strip(", ")
    notes: list[str] = []
    train, evals, diag = (
        read_csv(run_dir / f"{kind}.csv", notes=notes, status=status) for kind in ("train", "eval", "diagnostics")
    )
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    dormant = _dormant_series(train, diag)
    drm_panel = "sigma_beta" in train and np.isfinite(train["sigma_beta"]).any()
    rows = 1 + bool(dormant) + drm_panel
    fig, grid = plt.subplots(
        rows,
        1,
        figsize=(7, 4.2 + 2.6 * (rows - 1)),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [3] + [2] * (rows - 1)},
    )
    axes = list(grid[:, 0])
    ax = axes[0]
    mismatch = config_reference_mismatch(saved) if saved else []
    if "success_rate" in evals:
        _plot_success(ax, train, evals)
    else:
        _plot_return(ax, train, evals, None if mismatch else task)
        if mismatch:
            ax.text(
                0.01,
                0.01,
                f"published DrQ-v2 curve not drawn: it was trained with other settings ({', '.join(mismatch)})",
                transform=ax.transAxes,
                fontsize=7,
                color="0.35",
            )
    if dormant:
        ax_dormant = axes[1]
        for label, (frames, values) in dormant.items():
            ax_dormant.plot(frames, values, lw=1.6 if label.startswith("actor β") else 1.0, label=label)
        for name, (frames, values) in _layer_series(train).items():
            ax_dormant.plot(frames, values, lw=0.8, ls="--", alpha=0.8, label=f"β of {name}")
        if drm_panel:
            threshold = float(saved.get("drm", {}).get("threshold", 0.2))
            ax_dormant.axhline(threshold, color="k", lw=0.8, ls=":", label=f"threshold β̂ = {threshold:g}")
        ax_dormant.set_ylabel("dormant ratio (τ = 0.025)")
        ax_dormant.set_ylim(bottom=0)
    if drm_panel:
        ax_drm = axes[-1]
        for key, label in (
            ("stddev", "σ used (exploration)"),
            ("sigma_beta", "σ(β)"),
            ("lambda", "λ (V mix)"),
            ("alpha_beta", "α(β) (perturbation factor)"),
        ):
            if key in train:
                keep = np.isfinite(train[key])
                ax_drm.plot(train["frame"][keep], train[key][keep], lw=1.2, label=label)
        ax_drm.set_ylabel("DrM schedules")
        ax_drm.set_ylim(-0.03, 1.03)
    awake = _awakening_frame(train)
    for axis in axes:
        mark_switches(axis, saved, labels=axis is ax)  # a continual run's switches, its tasks on top
        if awake is not None:
            axis.axvline(awake, color="C3", lw=1, ls="--", label="awakening" if axis is not ax else None)
        axis.grid(alpha=0.3)
        if axis is not ax and axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", fontsize=7)
    axes[-1].set_xlabel("environment frames")
    ax.set_title(f"{task or run_dir.name}" + (f" ({agent}, this run)" if agent else ""))
    if ax.get_legend_handles_labels()[0]:  # nothing to name when no episode ended and nothing was evaluated
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = Path(out) if out else run_dir / "learning_curve.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _plot_return(ax, train: dict, evals: dict, task: str | None) -> None:
    if train:
        ax.plot(train["frame"], train["episode_reward"], color="0.65", lw=1, label="train episodes")
    per_task = task_curves(evals)  # a continual run's tasks
    if evals:
        ax.errorbar(
            evals["frame"],
            evals["episode_reward"],
            yerr=evals.get("episode_reward_std"),
            marker="o",
            ms=3,
            capsize=2,
            color="C0",
            label="evaluation, current task (mean action)" if per_task else "evaluation (mean action)",
        )
    for i, (name, (frames, values)) in enumerate(per_task.items()):
        ax.plot(frames, values, lw=0.9, ls="--", marker=".", ms=3, color=f"C{i + 4}", label=f"evaluation on {name}")
    if task:
        last = max([*(train.get("frame", [0])), *(evals.get("frame", [0]))]) or None
        ref = reference_curve(task, max_frame=None if last is None else max(last, 20_000) * 1.05)
        if ref is not None:
            frames, mean, std = ref
            ax.plot(frames, mean, color="C3", label="DrQ-v2 published (pixels, 10 seeds)")
            ax.fill_between(frames, mean - std, mean + std, color="C3", alpha=0.15)
    ax.set_ylabel("episode return")


def _plot_success(ax, train: dict, evals: dict, window: int = 10) -> None:
    """Tasks with a success signal (MetaWorld, Adroit) are judged by success rate."""
    if "episode_success" in train and len(train["episode_success"]):
        values = np.nan_to_num(train["episode_success"])
        kernel = np.ones(min(window, len(values))) / min(window, len(values))
        ax.plot(
            train["frame"],
            np.convolve(values, kernel, mode="same"),
            color="0.65",
            lw=1,
            label=f"train episodes (mean of {len(kernel)})",
        )
    ax.plot(evals["frame"], evals["success_rate"], marker="o", ms=3, color="C0", label="evaluation (mean action)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("success rate")


def _dormant_series(train: dict, diag: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Actor dormant ratio per training episode (DrM logs it every update) and the
    per-layer diagnostics' actor and critic ratios, where the run has them."""
    series = {}
    if "dormant_ratio" in train and np.isfinite(train["dormant_ratio"]).any():
        keep = np.isfinite(train["dormant_ratio"])
        series["actor β (episode mean, every update)"] = (train["frame"][keep], train["dormant_ratio"][keep])
    for net in ("actor", "critic"):
        key = f"{net}_dormant_ratio"
        if key in diag:
            series[f"{net} (diagnostics, un-augmented batch)"] = (diag["frame"], diag[key])
    return series


def _layer_series(train: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """DrM's β per actor layer (``dormant_ratio/<layer>`` columns), where logged."""
    series = {}
    for key, values in train.items():
        if key.startswith("dormant_ratio/") and np.isfinite(values).any():
            keep = np.isfinite(values)
            series[key.split("/", 1)[1]] = (train["frame"][keep], values[keep])
    return series


def _awakening_frame(train: dict) -> float | None:
    """The frame DrM awakened at (its ``awaken_frame`` column is −2 until then)."""
    frames = train.get("awaken_frame")
    if frames is None:
        return None
    awake = frames[np.isfinite(frames) & (frames >= 0)]
    return float(awake[-1]) if len(awake) else None


PANEL_LABELS = {
    "actor_dormant_ratio": "actor dormant ratio (DrM, τ 0.025)",
    "critic_dormant_ratio": "critic dormant ratio (DrM, τ 0.025)",
    "critic_redo_dormant_ratio": "critic dormant ratio (ReDo, τ 0.025)",
    "actor_redo_dormant_ratio": "actor dormant ratio (ReDo, τ 0.025)",
    "encoder_redo_dormant_ratio": "encoder dormant ratio (ReDo, τ 0.025)",
    "critic_fau": "critic FAU",
    "actor_fau": "actor FAU",
    "encoder_fau": "encoder FAU",
}


def plot_compare(
    groups: dict[str, list[Path]], out: Path, *, title: str = "", panels: tuple[str, ...] = ("actor_dormant_ratio",)
) -> Path:
    """Evaluation return (mean ± std over seeds) and one panel per ``diagnostics.csv``
    column (one line per seed), for groups of runs.

    Every agent logs the same diagnostics, so agents are compared on the same
    measurement. Runs whose replay ratio switched are marked with a dotted line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1 + len(panels),
        1,
        figsize=(7, 3.6 + 2.2 * len(panels)),
        sharex=True,
        gridspec_kw={"height_ratios": [3] + [2] * len(panels)},
    )
    ax, panel_axes = axes[0], list(axes[1:])
    for i, (label, runs) in enumerate(groups.items()):
        curves = [read_csv(Path(r) / "eval.csv") for r in runs]
        frames = curves[0]["frame"]
        n = min(len(c["frame"]) for c in curves)
        values = np.stack([c["episode_reward"][:n] for c in curves])
        ax.plot(frames[:n], values.mean(0), color=f"C{i}", label=f"{label} ({len(runs)} seeds)")
        ax.fill_between(
            frames[:n], values.mean(0) - values.std(0), values.mean(0) + values.std(0), color=f"C{i}", alpha=0.2
        )
        for j, r in enumerate(runs):
            diag = read_csv(Path(r) / "diagnostics.csv") if (Path(r) / "diagnostics.csv").exists() else {}
            for key, ax_p in zip(panels, panel_axes, strict=True):
                if key in diag:
                    ax_p.plot(diag["frame"], diag[key], color=f"C{i}", lw=1, label=label if j == 0 else None)
            train = read_csv(Path(r) / "train.csv") if (Path(r) / "train.csv").exists() else {}
            switched = train.get("rr_switch_frame", np.array([-1.0]))
            if len(switched) and switched[-1] >= 0:
                for axis in axes:
                    axis.axvline(switched[-1], color=f"C{i}", ls=":", lw=1)
    from dormant.experiments.runfiles import read_run_config

    first = next((read_run_config(Path(r)) for runs in groups.values() for r in runs), None) or {}
    for axis in axes:  # continual runs: the switches of the first run (runs compared share their tasks)
        mark_switches(axis, first, labels=axis is ax)
    ax.set_ylabel("evaluation return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    for key, ax_p in zip(panels, panel_axes, strict=True):
        ax_p.set_ylabel(PANEL_LABELS.get(key, key), fontsize=8)
        ax_p.grid(alpha=0.3)
        if ax_p.get_legend_handles_labels()[0]:
            ax_p.legend(fontsize=7)
    axes[-1].set_xlabel("environment frames")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
