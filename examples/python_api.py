"""Train, watch, stop early, reload and act: dormant's Python API in one script.

.venv/bin/python examples/python_api.py              # DrM from states, ≈ 4 min on a 2-core CPU
EXAMPLE_FRAMES=6000 .venv/bin/python examples/python_api.py   # a smoke run (what the tests do)
"""

import os
import tempfile

import dormant

FRAMES = int(os.environ.get("EXAMPLE_FRAMES", 40_000))
OUT = os.environ.get("EXAMPLE_OUT") or tempfile.mkdtemp(prefix="dormant-api-")


class PrintBeta(dormant.Callback):
    """Print the actor's dormant ratio β every 2,000 frames, and every evaluation."""

    every_frames = 2000

    def on_episode_end(self, trainer, row):
        self.beta = row.get("dormant_ratio")  # DrM logs β as a per-episode mean

    def on_frames(self, trainer):
        print(f"frame {trainer.frame}: β = {getattr(self, 'beta', None)}")

    def on_eval(self, trainer, result):
        print(f"eval at frame {result['frame']}: return {result['episode_reward']:.1f}")


config = dormant.make_config(
    agent="drm",
    task="dmc/cartpole_balance",
    obs="states",
    frames=FRAMES,
    agent__hidden_dim=256,
    eval__every_frames=2000,
    eval__episodes=2,
)
result = dormant.train(config, out=f"{OUT}/run", callbacks=[PrintBeta(), dormant.EarlyStopping(target=950)])
print(f"{result.status} after {result.frames} frames; last evaluation: {result.last_eval}")

logs = dormant.load_logs(result.run_dir)
print("evaluation returns:", logs.eval["episode_reward"])

policy = dormant.load_agent(result.run_dir)
env = policy.make_env(seed=123)
step, total = env.reset(), 0.0
while not step.last:
    step = env.step(policy.act(step.observation))
    total += step.reward
env.close()
print(f"one episode with the loaded policy: return {total:.1f}")
