"""End-to-end runs: the run directory, exact resume, Ctrl-C, NaN, and learning."""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dormant.config import resolve
from dormant.training.checkpoint import load_checkpoint
from dormant.training.trainer import NonFiniteLossError, Trainer, load_trainer
from helpers import TINY_STATES, tiny_states

TIMING = {"fps", "elapsed_s"}


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(handle)]


@pytest.mark.slow
def test_short_pixel_run_writes_the_run_directory(tmp_path):
    cfg = resolve(
        {
            "task": "dmc/cartpole_swingup",
            "frames": 3000,
            "num_seed_frames": 2000,
            "agent.num_expl_steps": 500,
            "agent.batch_size": 16,
            "agent.hidden_dim": 32,
            "env.fast_render": True,
            "eval.every_frames": 4000,
            "eval.episodes": 1,
            "eval.video": True,
            "log.progress": False,
            "log.tensorboard": True,
        }
    )
    trainer = Trainer(cfg, tmp_path)
    assert trainer.train() == "finished"
    for name in ("config.yaml", "train.csv", "eval.csv", "checkpoint.pt", "status.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    assert videos and all(v.stat().st_size > 1000 for v in videos)
    train = rows(tmp_path / "train.csv")
    assert {"frame", "step", "episode", "episode_reward", "critic_loss", "critic_q1", "stddev"} <= set(train[0])
    assert train[-1]["critic_loss"] != ""  # updates happened after the seed frames
    evals = rows(tmp_path / "eval.csv")
    assert [int(r["frame"]) for r in evals] == [0, 3000]  # the end of the budget is always evaluated
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "finished"
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["replay"]["frames"].dtype == torch.uint8
    assert tuple(ckpt["replay"]["frames"].shape[1:]) == (3, 84, 84)  # single frames, not stacks


@pytest.mark.slow
def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(tmp_path):
    full = tiny_states(frames=6000)
    Trainer(full, tmp_path / "full").train()
    # Stop mid-episode (3100 frames is 50 agent steps into the fourth episode) and resume.
    part = tiny_states(frames=3100)
    Trainer(part, tmp_path / "part").train()
    ckpt = load_checkpoint(tmp_path / "part")
    assert ckpt["counters"]["step"] == 1550 and ckpt["counters"]["episode_steps"] == [50]
    part.frames = 6000
    assert load_trainer(tmp_path / "part", part).train() == "finished"
    assert rows(tmp_path / "part" / "train.csv") == rows(tmp_path / "full" / "train.csv")
    # The same evaluations, plus the one at the end of the first budget (3100 frames).
    part_evals = rows(tmp_path / "part" / "eval.csv")
    assert [r for r in part_evals if r["frame"] != "3100"] == rows(tmp_path / "full" / "eval.csv")
    assert [r["frame"] for r in part_evals] == ["0", "2000", "3100", "4000", "6000"]
    a, b = load_checkpoint(tmp_path / "part"), load_checkpoint(tmp_path / "full")
    for key, value in a["agent"]["critic"].items():
        assert torch.equal(value, b["agent"]["critic"][key]), key


def test_nonfinite_loss_stops_with_last_good_state(tmp_path, monkeypatch):
    cfg = tiny_states(frames=4400)
    trainer = Trainer(cfg, tmp_path)
    real_update = trainer.agent.update
    calls = {"n": 0}

    def poisoned(batch, step):
        calls["n"] += 1
        out = real_update(batch, step)
        if calls["n"] == 3:
            for p in trainer.agent.critic.parameters():
                p.data.fill_(float("nan"))
            return out * float("nan")
        return out

    monkeypatch.setattr(trainer.agent, "update", poisoned)
    with pytest.raises(NonFiniteLossError, match="non-finite critic_loss"):
        trainer.train()
    ckpt = load_checkpoint(tmp_path)
    assert all(torch.isfinite(v).all() for v in ckpt["agent"]["critic"].values())
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "nonfinite"


def _cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "dormant.cli", *args], capture_output=True, text=True, timeout=600, **kwargs
    )


def test_cli_refuses_bad_input_before_work(tmp_path):
    out = _cli("train", "task=dmc/cartpol_swingup", f"out={tmp_path}/x")
    assert out.returncode == 2 and "did you mean 'dmc/cartpole_swingup'" in out.stderr
    assert not (tmp_path / "x").exists()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "checkpoint.pt").write_bytes(b"\x00garbage")
    out = _cli("train", "--resume", str(tmp_path / "r"))
    assert out.returncode == 2 and "not a readable dormant checkpoint" in out.stderr
    torch.save({"weights": torch.zeros(2)}, tmp_path / "r" / "checkpoint.pt")
    out = _cli("train", "--resume", str(tmp_path / "r"))
    assert out.returncode == 2 and "not a dormant checkpoint" in out.stderr


@pytest.mark.slow
def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path):
    run = tmp_path / "run"
    args = [f"{k}={v}" for k, v in TINY_STATES.items()] + ["frames=200000", f"out={run}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dormant.cli", "train", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "train.csv").exists():
        time.sleep(0.2)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "dormant train --resume" in stdout
    ckpt = load_checkpoint(run)
    stopped_at = ckpt["counters"]["step"]
    assert 0 < stopped_at < 100_000
    assert json.loads((run / "status.json").read_text())["status"] == "interrupted"
    out = _cli("train", "--resume", str(run), "agent.lr=1")
    assert out.returncode == 2 and "refused: agent.lr" in out.stderr
    out = _cli("train", "--resume", str(run), f"frames={stopped_at * 2 + 1000}")
    assert out.returncode == 0, out.stderr
    assert load_checkpoint(run)["counters"]["step"] == stopped_at + 500
    out = _cli("train", *args)  # a new run may not reuse the directory
    assert out.returncode == 2 and "already holds a run" in out.stderr


@pytest.mark.slow
def test_state_based_drqv2_learns_cartpole_balance(tmp_path):
    """cartpole_balance from states: random policies score 216–492 and a zero action ≈ 750; learning means ≥ 900."""
    cfg = resolve(
        {
            "task": "dmc/cartpole_balance",
            "obs": "states",
            "frames": 40_000,
            "agent.hidden_dim": 256,
            "eval.every_frames": 10_000,
            "eval.episodes": 5,
            "log.progress": False,
            "log.tensorboard": False,
            "seed": 1,
        }
    )
    Trainer(cfg, tmp_path).train()
    evals = {int(r["frame"]): float(r["episode_reward"]) for r in rows(tmp_path / "eval.csv")}
    assert evals[0] < 600
    assert max(v for f, v in evals.items() if f >= 30_000) >= 900, evals


def test_training_in_a_worker_thread_runs_without_a_signal_handler(tmp_path):
    """Signal handlers can only be installed in the main thread; a worker must still train."""
    import threading

    result = {}
    thread = threading.Thread(target=lambda: result.update(status=Trainer(tiny_states(frames=2200), tmp_path).train()))
    thread.start()
    thread.join(timeout=300)
    assert result.get("status") == "finished"
