"""Cross-check dormant.experiments.stats against rliable on random score matrices.

Not part of the install: rliable 1.2.0 needs `arch`, whose 7.2.0 fails to import with
pandas 3 (`deprecate_kwarg` TypeError), so run it in a scratch environment:
    pip install rliable==1.2.0 "pandas<3" && python scripts/compare_rliable.py
Both bootstraps are random (rliable's through arch), so intervals agree to ~0.01.
"""

from __future__ import annotations

import numpy as np
from rliable import library as rly
from rliable import metrics

from dormant.experiments.stats import iqm, mean, stratified_bootstrap

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
            delta = max(abs(a - b) for a, b in zip(theirs, (ours.point, ours.low, ours.high)))
            print(f"{seeds:>5}×{tasks:<6} {name:>9} {theirs[0]:.3f} [{theirs[1]:.3f}, {theirs[2]:.3f}]"
                  f"{'':>4} {ours}  {delta:.4f}")


if __name__ == "__main__":
    main()
