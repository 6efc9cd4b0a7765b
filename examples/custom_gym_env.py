"""Train DrQ-v2 from pixels on your own Gymnasium environment.

`PointReach` is a tiny continuous task: a point in the unit square moves by its action
(a velocity in [−0.1, 0.1]², so dormant's [−1, 1] actions are rescaled onto that Box) and
is rewarded by minus its distance to a goal drawn from the env's own RNG at each reset.
It renders itself as a small RGB image (`render_mode="rgb_array"`), which dormant resizes
to `env.image_size`. Registered with Gymnasium with a 50-step time limit, it is then
`task=gym:PointReach-v0` like any registered environment.

    python examples/custom_gym_env.py [--frames 400] [--out runs/point-reach]

A few hundred frames only show the plumbing (a learning run needs ~100k frames).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np

SIZE = 24  # side of the rendered image, in pixels


class PointReach(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None):
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(-0.1, 0.1, shape=(2,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(4,), dtype=np.float32)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.point, self.goal]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)  # seeds self.np_random when a seed is given
        self.point = self.np_random.uniform(0, 1, 2)
        self.goal = self.np_random.uniform(0, 1, 2)
        return self._obs(), {}

    def step(self, action):
        self.point = np.clip(self.point + np.asarray(action, np.float64), 0.0, 1.0)
        distance = float(np.linalg.norm(self.point - self.goal))
        return self._obs(), -distance, distance < 0.05, False, {}  # terminated on reaching the goal

    def render(self) -> np.ndarray:
        image = np.zeros((SIZE, SIZE, 3), np.uint8)
        for (x, y), colour in ((self.goal, (255, 0, 0)), (self.point, (255, 255, 255))):
            row, col = int(y * (SIZE - 2)), int(x * (SIZE - 2))
            image[row:row + 2, col:col + 2] = colour
        return image


gym.register("PointReach-v0", entry_point=PointReach, max_episode_steps=50)


def main(argv: list[str] | None = None) -> dict:
    from dormant.config import resolve
    from dormant.training.trainer import Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    cfg = resolve({
        "task": "gym:PointReach-v0", "obs": "pixels", "frames": args.frames,
        "env.image_size": 32,  # small renders: this toy task needs no more
        "num_seed_frames": args.frames * 3 // 4, "agent.num_expl_steps": args.frames // 4,
        "agent.batch_size": 16, "agent.hidden_dim": 64, "agent.feature_dim": 16,
        "eval.every_frames": args.frames, "eval.episodes": 1, "log.progress": False, "log.tensorboard": False,
        "threads": 1,  # a toy network: one CPU thread is enough
    })
    out = args.out or Path(tempfile.mkdtemp(prefix="point-reach-"))
    trainer = Trainer(cfg, out)
    try:
        status = trainer.train()
    finally:
        trainer.close()
    print(f"{status}: {trainer.frame} frames of {cfg.task} in {out} (last eval: {trainer.last_eval})")
    return {"status": status, "frames": trainer.frame, "out": out}


if __name__ == "__main__":
    main()
