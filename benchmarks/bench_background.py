#!/usr/bin/env python
"""Cost of `env.background` per observation on CPU: renders with and without it.

    python benchmarks/bench_background.py [--renders 300] [--task walker_walk] [--folder DIR]

Times ``DMCEnv.render(84)`` (the observation render, the path the trainer uses) for
each variant: no background, the sky replaced, sky and floor replaced, each with the
reference render and with ``env.fast_render``; plus the segmentation render alone and
the decoding of the folder's first clip. The variants render in turn (round robin), so a
busy machine slows them alike. Prints one JSON object; times are the median milliseconds
per render, the environments advancing by one agent step (and so one video frame) between
renders (the step is not timed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=300)
    parser.add_argument("--task", default="walker_walk")
    default = Path(__file__).resolve().parents[1] / "src/dormant/data/backgrounds"
    parser.add_argument("--folder", default=str(default))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from dormant.envs.rendering import configure_rendering

    backend = configure_rendering(True)
    from dormant.envs.background import background_mask, load_clip, scan
    from dormant.envs.dmc import DMCEnv

    out: dict[str, Any] = {
        "task": args.task,
        "renders": args.renders,
        "image_size": 84,
        "gl": backend,
        "folder": args.folder,
        "unit": "median ms per observation render",
    }
    variants = (
        ("none", {}),
        ("sky", {"background": args.folder}),
        ("sky_and_floor", {"background": args.folder, "background_floor": True}),
    )
    for fast in (False, True):
        envs = {label: DMCEnv(args.task, seed=1, fast_render=fast, **kwargs) for label, kwargs in variants}
        for env in envs.values():
            env.reset()
        rng = np.random.default_rng(0)
        times: dict[str, list[float]] = {label: [] for label in [*envs, "segmentation_render_alone"]}
        plain = envs["none"]._env.physics
        for _ in range(args.renders):  # round robin, so that a busy machine slows every variant alike
            action = rng.uniform(-1, 1, envs["none"].action_dim)
            for label, env in envs.items():
                env._env.step(action)  # the step itself is not timed
                if env._background is not None:
                    env._background.advance()
                t0 = time.perf_counter()
                env.render(84)
                times[label].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            background_mask(plain, 84, 0, None)
            times["segmentation_render_alone"].append(time.perf_counter() - t0)
        row = {label: round(1e3 * statistics.median(ts), 2) for label, ts in times.items()}
        row["sky_overhead_pct"] = round(100 * (row["sky"] / row["none"] - 1), 1)
        row["sky_and_floor_overhead_pct"] = round(100 * (row["sky_and_floor"] / row["none"] - 1), 1)
        out["fast_render" if fast else "reference_render"] = row
        for env in envs.values():
            env.close()
    first = scan(args.folder)[0]
    t0 = time.perf_counter()
    clip = load_clip(first, 84)
    out["decode_first_clip"] = {"clip": first.name, "frames": len(clip), "seconds": round(time.perf_counter() - t0, 3)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
