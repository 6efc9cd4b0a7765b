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
    assert all(len(line.split(None, 1)) == 2 for line in text.splitlines() if line.startswith("  ")), \
        "an option without its description"
