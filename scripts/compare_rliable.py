"""Cross-check dormant.experiments.stats against rliable on random score matrices: IQM and
mean intervals, probability of improvement, performance profiles and IQM over frames.

Not part of the install: rliable 1.2.0 needs `arch`, whose 7.2.0 fails to import with
pandas 3 (`deprecate_kwarg` TypeError), so run it in a scratch environment:
    pip install rliable==1.2.0 "pandas<3" && python scripts/compare_rliable.py
(with dormant importable, e.g. a .pth file naming the project's site-packages).
Both bootstraps are random (rliable's through arch), so intervals agree to ~0.01; point
estimates agree exactly.
"""

from __future__ import annotations

import numpy as np
from rliable import library as rly
from rliable import metrics

from dormant.experiments.stats import (
    improvement_bootstrap,
    iqm,
    iqm_curve,
    mean,
    profile_bootstrap,
    stratified_bootstrap,
)

REPS = 50_000


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'seeds×tasks':>12} {'statistic':>9} {'rliable':>26} {'dormant':>26}  max |Δ|")
    for seeds, tasks in [(3, 5), (5, 3), (10, 2), (4, 19)]:
        scores = rng.beta(2, 2, size=(seeds, tasks))
        aggregate = lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])  # noqa: E731
        points, intervals = rly.get_interval_estimates({"m": scores}, aggregate, reps=REPS)
        for i, (name, stat) in enumerate((("IQM", iqm), ("mean", mean))):
            ours = stratified_bootstrap([scores[:, t] for t in range(tasks)], stat, reps=REPS, seed=1)
            theirs = (points["m"][i], intervals["m"][0, i], intervals["m"][1, i])
            delta = max(abs(a - b) for a, b in zip(theirs, (ours.point, ours.low, ours.high), strict=True))
            print(
                f"{seeds:>5}×{tasks:<6} {name:>9} {theirs[0]:.3f} [{theirs[1]:.3f}, {theirs[2]:.3f}]"
                f"{'':>4} {ours}  {delta:.4f}"
            )

    print(f"\n{'seeds×tasks':>12} {'P(X > Y)':>9} {'rliable':>26} {'dormant':>26}  max |Δ|")
    for seeds, tasks in [(3, 5), (5, 3), (10, 2)]:
        x = rng.beta(2, 2, size=(seeds, tasks))
        y = np.round(rng.beta(2, 3, size=(seeds + 1, tasks)), 1)  # rounded: some ties
        x[0] = y[0]
        points, intervals = rly.get_interval_estimates({"xy": (x, y)}, metrics.probability_of_improvement, reps=REPS)
        ours = improvement_bootstrap(
            [x[:, t] for t in range(tasks)], [y[:, t] for t in range(tasks)], reps=REPS, seed=1
        )
        theirs = (float(points["xy"]), *map(float, np.ravel(intervals["xy"])))
        delta = max(abs(a - b) for a, b in zip(theirs, (ours.point, ours.low, ours.high), strict=True))
        print(
            f"{seeds:>5}×{tasks:<6} {'':>9} {theirs[0]:.3f} [{theirs[1]:.3f}, {theirs[2]:.3f}]{'':>4} {ours}  "
            f"{delta:.4f}"
        )

    print(f"\n{'seeds×tasks':>12} {'profile':>9}  max |Δ| over τ: point, band low, band high")
    taus = np.linspace(0, 1, 101)
    for seeds, tasks in [(3, 5), (10, 2)]:
        scores = rng.beta(2, 2, size=(seeds, tasks))
        points, bands = rly.create_performance_profile({"m": scores}, taus, reps=REPS)
        point, low, high = profile_bootstrap([scores[:, t] for t in range(tasks)], taus, reps=REPS, seed=1)
        deltas = [
            np.abs(points["m"] - point).max(),
            np.abs(bands["m"][0] - low).max(),
            np.abs(bands["m"][1] - high).max(),
        ]
        print(f"{seeds:>5}×{tasks:<6} {'':>9}  " + "  ".join(f"{d:.4f}" for d in deltas))

    print(f"\n{'seeds×tasks':>12} {'IQM/frame':>9}  max |Δ| over 6 frames: point, band low, band high")
    for seeds, tasks in [(5, 3), (10, 2)]:
        scores = rng.beta(2, 2, size=(seeds, tasks, 6)).cumsum(-1) / 6
        curve = lambda x: np.array([metrics.aggregate_iqm(x[..., f]) for f in range(x.shape[-1])])  # noqa: E731
        points, bands = rly.get_interval_estimates({"m": scores}, curve, reps=REPS // 10)
        point, low, high = iqm_curve([scores[:, t] for t in range(tasks)], reps=REPS // 10, seed=1)
        deltas = [
            np.abs(points["m"] - point).max(),
            np.abs(bands["m"][0] - low).max(),
            np.abs(bands["m"][1] - high).max(),
        ]
        print(f"{seeds:>5}×{tasks:<6} {'':>9}  " + "  ".join(f"{d:.4f}" for d in deltas))


if __name__ == "__main__":
    main()
