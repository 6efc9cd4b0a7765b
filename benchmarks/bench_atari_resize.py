#!/usr/bin/env python
"""The Atari resize (210×160 → 84×84 grayscale): time per frame of ``area_resize`` (OpenCV's
``INTER_AREA`` in numpy, what the ale-py path uses) against Pillow's box filter (what it used
before), and how often each disagrees with ``area_resize``.

Run from the repository root with the project's environment active (needs the ``atari`` extra):

    python benchmarks/bench_atari_resize.py --out benchmarks/results/NAME.json   # ≈ 30 s on a 2-core CPU

The frames are the max-pooled 210×160 frames of ``AtariEnv`` under uniformly random actions
(no sticky actions, seed 3). Each filter resizes all of them once per round; the filters
alternate in order each round, and each figure is the median over the rounds, in µs per frame
on one thread. ``float64_matmul`` is exact real-number area averaging (``R @ frame @ C.T`` with
float64 weights, rounded): the same averages up to float rounding, which decides the ties (x.5)
differently from OpenCV. Where ``cv2`` is importable (not a dependency) it is timed and
compared too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from machine import machine  # noqa: E402


def atari_frames(game: str, count: int) -> np.ndarray:
    from dormant.envs.atari import AtariEnv

    env = AtariEnv(game, seed=3, sticky_actions=0.0, noop_max=1)
    try:
        env.reset()
        frames = []
        for action in np.random.default_rng(0).integers(env.num_actions, size=count):
            if env.step(np.array([action], np.float32)).last:
                env.reset()
            frames.append(np.maximum(env._previous, env._last_obs))
        return np.stack(frames)
    finally:
        env.close()


def filters(size: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    from PIL import Image

    from dormant.envs.atari.resize import area_resize

    def exact_weights(n_in: int) -> np.ndarray:
        scale, w = n_in / size, np.zeros((size, n_in))
        for j in range(size):
            lo, hi = j * scale, (j + 1) * scale
            for i in range(int(np.floor(lo)), int(np.ceil(hi))):
                w[j, i] = min(hi, i + 1) - max(lo, i)
        return w / scale

    rows, cols = exact_weights(210), exact_weights(160).T.copy()
    out = {
        "area_resize": lambda f: area_resize(f, size),
        "pillow_box": lambda f: np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BOX)),
        "float64_matmul": lambda f: np.rint(rows @ f.astype(np.float64) @ cols).astype(np.uint8),
    }
    try:
        import cv2
    except ImportError:
        return out
    out["cv2_inter_area"] = lambda f: cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--frames", type=int, default=400, help="frames per game (default 400)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--games", nargs="+", default=["Pong", "Breakout"])
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    frames = np.concatenate([atari_frames(g, args.frames) for g in args.games])
    named = filters(84)
    times: dict[str, list[float]] = {name: [] for name in named}
    for r in range(args.rounds):
        for name in list(named) if r % 2 == 0 else list(named)[::-1]:
            t0 = time.perf_counter()
            for frame in frames:
                named[name](frame)
            times[name].append((time.perf_counter() - t0) / len(frames) * 1e6)
    ours = np.stack([named["area_resize"](f) for f in frames]).astype(int)
    result: dict[str, Any] = {"games": args.games, "frames": len(frames), "rounds": args.rounds, "filters": {}}
    for name, fn in named.items():
        delta = np.abs(np.stack([fn(f) for f in frames]).astype(int) - ours)
        result["filters"][name] = {
            "us_per_frame": round(statistics.median(times[name]), 1),
            "pixels_differing_from_area_resize": float((delta > 0).mean()),
            "max_difference": int(delta.max()),
        }
    result["machine"] = machine(torch.device("cpu"))
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
