"""The Python API (``import dormant``): configuration, training with callbacks, logs,
loading an agent, evaluation, resume; and the documented example, executed."""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dormant
from dormant.config import ConfigError
from helpers import TINY_STATES

ROOT = Path(__file__).resolve().parents[1]


def test_import_dormant_is_light_and_exports_the_api():
    code = "import sys, dormant; dormant.make_config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    for name in (
        "train",
        "resume",
        "evaluate",
        "load_logs",
        "load_agent",
        "make_config",
        "Trainer",
        "Callback",
        "EarlyStopping",
        "Config",
        "RunResult",
    ):
        assert hasattr(dormant, name), name
    with pytest.raises(AttributeError):
        _ = dormant.no_such_name


def test_make_config_takes_strings_mappings_and_keywords():
    cfg = dormant.make_config("agent.lr=3e-4", {"task": "dmc/walker_walk"}, agent="drm", drm__threshold=0.1)
    assert (cfg.agent.lr, cfg.task, cfg.agent.name, cfg.drm.threshold) == (3e-4, "dmc/walker_walk", "drm", 0.1)
    with pytest.raises(ConfigError, match=re.escape("did you mean 'agent.lr'")):
        dormant.make_config(agent__lrr=1e-4)
    with pytest.raises(ConfigError, match="expected 'key=value' strings or a mapping"):
        dormant.make_config(3)


class Recorder(dormant.Callback):
    every_frames = 1000

    def __init__(self):
        self.calls = []

    def on_train_start(self, trainer):
        self.calls.append(("start", trainer.frame))

    def on_episode_end(self, trainer, row):
        self.calls.append(("episode", row["frame"]))

    def on_eval(self, trainer, result):
        self.calls.append(("eval", result["frame"]))

    def on_intervention(self, trainer, event):
        self.calls.append((event["event"], event["frame"]))

    def on_frames(self, trainer):
        self.calls.append(("frames", trainer.frame))

    def on_train_end(self, trainer, status):
        self.calls.append(("end", status))


@pytest.mark.slow
def test_train_with_callbacks_then_logs_agent_evaluation_and_resume(tmp_path):
    recorder = Recorder()
    result = dormant.train(
        {**TINY_STATES, "frames": 3000, "plasticity.reset_every_frames": 2500},
        out=tmp_path / "run",
        callbacks=[recorder],
    )
    assert (result.status, result.frames, result.run_dir) == ("finished", 3000, tmp_path / "run")
    assert result.learning_curve.exists() and result.last_eval["frame"] == 3000
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds[0] == "start" and recorder.calls[-1] == ("end", "finished")
    assert [f for k, f in recorder.calls if k == "frames"] == [1000, 2000, 3000]
    assert [f for k, f in recorder.calls if k == "eval"] == [0, 2000, 3000]
    assert [f for k, f in recorder.calls if k == "reset_heads"] == [2500]
    assert kinds.count("episode") == 3  # cartpole episodes are 1000 frames

    logs = dormant.load_logs(result.run_dir)
    assert list(logs.eval["frame"]) == [0, 2000, 3000] and logs.config["frames"] == 3000
    assert logs.status["status"] == "finished" and list(logs.events["event"]) == ["reset_heads"]
    assert logs.train["episode_reward"].dtype == np.float64

    policy = dormant.load_agent(result.run_dir, device="cpu")
    env = policy.make_env()
    try:
        action = policy.act(env.reset().observation)
    finally:
        env.close()
    assert action.shape == (1,) and np.all(np.abs(action) <= 1)
    evaluation = dormant.evaluate(result.run_dir, episodes=1)
    assert evaluation["frame"] == 3000 and np.isfinite(evaluation["episode_reward"])

    later = Recorder()
    resumed = dormant.resume(result.run_dir, frames=4000, callbacks=[later])
    assert (resumed.status, resumed.frames) == ("finished", 4000)
    assert [f for k, f in later.calls if k == "frames"] == [4000]  # nothing repeated from before the resume


@pytest.mark.slow
def test_early_stopping_ends_with_a_resumable_checkpoint(tmp_path):
    result = dormant.train(
        dict(TINY_STATES, frames=6000), out=tmp_path / "run", callbacks=[dormant.EarlyStopping(target=-1.0)]
    )  # any return reaches it
    # the frame-0 evaluation (the untrained policy) does not count: the first one after an update does
    assert result.status == "interrupted" and 2000 < result.frames < 6000
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["stop_reason"].startswith("episode_reward") and (tmp_path / "run" / "checkpoint.pt").exists()
    result = dormant.train(
        dict(TINY_STATES, frames=6000),
        out=tmp_path / "asked",
        callbacks=[dormant.EarlyStopping(target=-1.0, from_start=True)],
    )
    assert (result.status, result.frames) == ("interrupted", 0)  # asked for: the frame-0 evaluation counts


class _ReadsBeforeItWrites(dormant.Callback):
    every_frames = 500

    def on_frames(self, trainer):
        print(self.beta)  # no default: AttributeError before the first episode ends


def test_a_failing_callback_is_named_in_status_json(tmp_path):
    with pytest.raises(AttributeError):
        dormant.train(dict(TINY_STATES, frames=3000), out=tmp_path / "run", callbacks=[_ReadsBeforeItWrites()])
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "failed" and status["error"].startswith("AttributeError:") and "beta" in status["error"]


def test_train_refuses_bad_input_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="unknown task"):
        dormant.train(task="dmc/cartpole_balanse", out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError, match="episodes must be ≥ 1"):
        dormant.evaluate(tmp_path, episodes=0)
    with pytest.raises(ConfigError, match="not a run directory"):
        dormant.load_logs(tmp_path)
    # the API is as strict as the command line, in the same words (tests/test_artefacts.py generates more)
    for options, expected in (
        ({"agent__lr": float("nan")}, "agent.lr='nan': expected float"),
        ({"frames": float("inf")}, "frames='inf': expected int"),
        ({"agent": {"lr": -1}}, "agent.lr must be > 0, got -1.0"),
        ({"callbacks": 5}, "callbacks= takes a list"),
        ({"callbacks": [object()]}, "is not a dormant.Callback"),
    ):
        with pytest.raises(ConfigError, match=re.escape(expected)):
            dormant.train(obs="states", out=tmp_path / "x", **options)
        assert not (tmp_path / "x").exists()
    cfg = dormant.make_config(obs="states")
    cfg.agent.lr = float("nan")
    with pytest.raises(ConfigError, match=re.escape("agent.lr='nan': expected float")):
        dormant.train(cfg, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError, match="is not a run directory"):
        dormant.load_logs(ROOT / "README.md")


@pytest.mark.slow
def test_the_documented_example_runs(tmp_path):
    env = dict(os.environ, EXAMPLE_FRAMES="6000", EXAMPLE_OUT=str(tmp_path))
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python_api.py")], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "one episode with the loaded policy: return" in done.stdout
    assert "frame 2000: β = " in done.stdout


def test_the_plasticity_example_on_a_foreign_cnn_runs():
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "plasticity_on_your_model.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "accuracy after training: 1.00" in done.stdout  # the toy task is learnt: the CNN trains normally
    recycled = next(line for line in done.stdout.splitlines() if line.startswith("ReDo recycled"))
    counts = ast.literal_eval(recycled.split(":", 1)[1].strip())
    assert sum(counts.values()) > 0, recycled  # the trained CNN had τ-dormant neurons to recycle
