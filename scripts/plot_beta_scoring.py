"""Two DrM runs side by side, one per dormant-ratio scoring: β (and β per layer), σ,
σ(β), λ, α(β), the awakening and the evaluation return, against frames.

    python scripts/plot_beta_scoring.py RUN_POST RUN_PRE out.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dormant.experiments.plot import _awakening_frame, _layer_series, read_csv


def main(post: Path, pre: Path, out: Path) -> None:
    runs = {"post-activation β (DrM's code; default)": post, "pre-activation β (literal reading; before the fix)": pre}
    fig, axes = plt.subplots(4, 2, figsize=(12, 11), sharex=True, sharey="row")
    for col, (title, run) in enumerate(runs.items()):
        train, evals = read_csv(run / "train.csv"), read_csv(run / "eval.csv")
        keep = np.isfinite(train["dormant_ratio"])
        frames = train["frame"][keep]
        ax = axes[0, col]
        ax.plot(frames, train["dormant_ratio"][keep], lw=2, label="β (actor, episode mean)")
        for name, (f, v) in _layer_series(train).items():
            ax.plot(f, v, lw=0.9, ls="--", label=f"β of {name}")
        ax.axhline(0.2, color="k", ls=":", lw=0.8, label="threshold β̂ = 0.2")
        ax.set_title(title, fontsize=10)
        ax = axes[1, col]
        for key, label in (("stddev", "σ used"), ("sigma_beta", "σ(β)")):
            ax.plot(frames, train[key][keep], lw=1.4, label=label)
        ax = axes[2, col]
        for key, label in (("lambda", "λ (V mix)"), ("alpha_beta", "α(β)")):
            ax.plot(frames, train[key][keep], lw=1.4, label=label)
        ax = axes[3, col]
        ax.plot(train["frame"], train["episode_reward"], color="0.6", lw=1, label="train episodes")
        ax.plot(evals["frame"], evals["episode_reward"], "o-", ms=3, label="evaluation (mean action)")
        ax.set_xlabel("environment frames")
        awake = _awakening_frame(train)
        for axis in axes[:, col]:
            if awake is not None:
                axis.axvline(awake, color="C3", ls="--", lw=1, label="awakening")
            axis.grid(alpha=0.3)
            axis.legend(fontsize=7, loc="best")
    for row, label in enumerate(("dormant ratio β", "exploration σ", "λ, α(β)", "episode return")):
        axes[row, 0].set_ylabel(label)
    fig.suptitle(
        "DrM, pixels, dmc/cartpole_swingup (batch 64, fast render, 2-core CPU): β scoring before/after", fontsize=11
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
