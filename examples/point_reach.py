"""`PointReach`, a tiny continuous Gymnasium task with its own RGB rendering, registered as
`PointReach-v0` when this module is imported.

A point in the unit square moves by its action (a velocity in [−0.1, 0.1]², so dormant's
[−1, 1] actions are rescaled onto that Box) and is rewarded by minus its distance to a goal
drawn from the env's own RNG at each reset; reaching the goal ends the episode, and the
registration adds a 50-step time limit. It renders itself as a small RGB image
(`render_mode="rgb_array"`), which dormant resizes to `env.image_size`.

dormant names it `task=gym:point_reach:PointReach-v0`: the `module:id` form imports this
module (which registers the id) in every process that needs it, a resumed run included.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

SIZE = 24  # side of the rendered image, in pixels


class PointReach(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}  # noqa: RUF012 (Gymnasium's class-level dict)

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
            image[row : row + 2, col : col + 2] = colour
        return image


gym.register("PointReach-v0", entry_point="point_reach:PointReach", max_episode_steps=50)
