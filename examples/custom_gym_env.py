"""Train DrQ-v2 from pixels on your own Gymnasium environment, then resume the run.

The environment, `PointReach`, lives in `point_reach.py` beside this file, which registers it
with Gymnasium as `PointReach-v0` when imported. dormant names it
`task=gym:point_reach:PointReach-v0`: importing `point_reach` registers the id, in this process
and in any later one (`dormant train --resume`), so the module must be importable there: run
from this folder (the working directory is importable), or put it on `PYTHONPATH`.

    python examples/custom_gym_env.py [--frames 400] [--out runs/point-reach]
    PYTHONPATH=examples dormant train --resume runs/point-reach frames=800

A few hundred frames only show the plumbing (a learning run needs ~100k frames).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import dormant


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="point-reach-"))
    result = dormant.train(
        {
            "task": "gym:point_reach:PointReach-v0",
            "obs": "pixels",
            "frames": args.frames,
            "env.image_size": 32,  # small renders: this toy task needs no more
            "num_seed_frames": args.frames * 3 // 4,
            "agent.num_expl_steps": args.frames // 4,
            "agent.batch_size": 16,
            "agent.hidden_dim": 64,
            "agent.feature_dim": 16,
            "eval.every_frames": args.frames,
            "eval.episodes": 1,
            "log.progress": False,
            "log.tensorboard": False,
            "threads": 1,  # a toy network: one CPU thread is enough
        },
        out=out,
    )
    print(
        f"{result.status}: {result.frames} frames of gym:point_reach:PointReach-v0 in {out} "
        f"(last evaluation return: {result.last_eval['episode_reward']:.1f})"
    )
    return {"status": result.status, "frames": result.frames, "out": out}


if __name__ == "__main__":
    main()
