"""The `dormant` commands on a tiny finished run."""

import subprocess
import sys

import pytest

from dormant.training.trainer import Trainer
from helpers import tiny_states


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "dormant.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    Trainer(tiny_states(frames=3000), run).train()
    return run


def test_eval_plot_config_tasks(finished_run):
    out = _cli("eval", str(finished_run), "episodes=2")
    assert out.returncode == 0, out.stderr
    assert "return" in out.stdout and "over 2 episodes" in out.stdout
    out = _cli("eval", str(finished_run), "episode=2")
    assert out.returncode == 2 and "episodes=" in out.stderr
    out = _cli("plot", str(finished_run))
    assert out.returncode == 0 and (finished_run / "learning_curve.png").stat().st_size > 10_000
    out = _cli("config", "task=dmc/quadruped_run")
    assert out.returncode == 0 and "camera_id: 2" in out.stdout and "capacity: 100000" in out.stdout
    out = _cli("tasks")
    assert out.returncode == 0 and "dmc/cartpole_swingup" in out.stdout and "dmc/dog_run" in out.stdout


def test_train_help_documents_every_option_from_the_schema():
    from dormant.cli import options_help
    from dormant.config import field_paths

    text = options_help()
    assert "frames=1100000" in text and "training budget in simulator frames" in text
    documented = [line.split("=")[0].strip() for line in text.splitlines() if line.startswith("  ")]
    bare = {key.rsplit(".", 1)[-1] for key in field_paths()}
    assert bare <= {key.rsplit(".", 1)[-1] for key in documented}
    assert all(len(line.split(None, 1)) == 2 for line in text.splitlines() if line.startswith("  ")), (
        "an option without its description"
    )


@pytest.mark.parametrize(
    "command, options",
    [
        (
            "sweep",
            [
                "out=DIR",
                "jobs=N",
                "retries=N",
                "backend=local|ray",
                "address=ADDR",
                "cpus_per_run=X",
                "gpus_per_run=X",
                "seeds=N",
                "agent=a,b",
                "task=x,y",
            ],
        ),
        ("report", ["out=DIR", "reps=N", "seed=N", "broken_fraction=X"]),
        ("eval", ["episodes=N", "video=true", "device=NAME", "seed=N"]),
        ("plot", []),
        ("config", []),
        ("tasks", []),
    ],
)
def test_every_command_has_its_own_usage_and_lists_its_options(command, options):
    out = _cli(command, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: dormant {command}"), out.stdout.splitlines()[0]
    assert "commands:" not in out.stdout  # not the top-level usage garbled into this one
    for option in options:
        assert option in out.stdout, (command, option)


GYM_MODULE = """
import gymnasium as gym
import numpy as np
from gymnasium import spaces


class MyEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, render_mode=None):
        self.observation_space = spaces.Box(-1, 1, (3,), np.float32)
        self.action_space = spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 0.0, False, False, {}


gym.register("MyEnv-v0", entry_point="cwd_gym_module:MyEnv")
"""


def test_console_script_imports_modules_from_the_working_directory(tmp_path):
    """`dormant train task=gym:mymodule:MyEnv` from the folder holding mymodule.py (issue: the
    console script, unlike `python -m`, did not see the working directory)."""
    from pathlib import Path

    script = Path(sys.executable).parent / "dormant"
    if not script.exists():
        pytest.skip("the dormant console script is not installed beside this interpreter")
    (tmp_path / "cwd_gym_module.py").write_text(GYM_MODULE)
    out = subprocess.run(
        [str(script), "config", "task=gym:cwd_gym_module:MyEnv", "obs=states", "agent=sac"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "task: gym:cwd_gym_module:MyEnv" in out.stdout, out.stderr
    # a typo in the module:id form suggests the id the module registers, not an attribute
    out = subprocess.run(
        [str(script), "config", "task=gym:cwd_gym_module:MyEnv-v1", "obs=states", "agent=sac"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "did you mean 'MyEnv-v0'?" in out.stderr, out.stderr


def test_sweep_header_says_the_threads_each_run_gets():
    """`threads=1` given: the header said "2 thread(s) each" (the plan), not what runs got."""
    from pathlib import Path

    from dormant.experiments.backends import RunSpec
    from dormant.experiments.sweep import _threads_each

    def runs(threads):
        return [
            RunSpec(f"r{i}", "dmc/cartpole_balance", "drqv2", i, Path("x"), 1000, {"threads": threads})
            for i in range(2)
        ]

    assert _threads_each(runs("1"), 2, True) == "1 torch thread each (threads= given)"
    assert _threads_each(runs("3"), 1, True) == "3 torch threads each (threads= given)"
    assert _threads_each(runs("0"), 1, True) == "1 torch thread each (threads= given)"  # 0: the default
    assert _threads_each(runs("2"), 2, False, ray=True) == "2 torch threads each (Ray's cpus_per_run)"
    assert _threads_each(runs("1"), 1, False, ray=True) == "1 torch thread each (Ray's cpus_per_run)"
    assert _threads_each([], 1, False).startswith("1 torch thread each (the default, measured fastest or within 6 %")
