"""End-to-end faults: the final evaluation, kills before the first checkpoint, resume
without duplicated log rows, harmless options on resume, exit codes and status words,
write failures, crashes, and integers that keep their value."""

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dormant.config import ConfigError, resolve
from helpers import wait_for

TINY = [
    "task=dmc/cartpole_balance",
    "obs=states",
    "agent.hidden_dim=32",
    "agent.feature_dim=8",
    "agent.batch_size=32",
    "num_seed_frames=1000",
    "agent.num_expl_steps=200",
    "eval.episodes=1",
    "log.progress=false",
    "log.tensorboard=false",
    "threads=1",
]
TIMING = {"fps", "elapsed_s"}

# Runs `dormant` in a child process with a fault injected (a module attribute replaced).
INJECT = """
import errno, sys
import dormant.training.trainer as trainer
kind = sys.argv[1]
if kind == "crash":
    original = trainer.Trainer._act_and_learn
    def act_and_learn(self):
        if self.counters.step >= 600:
            raise RuntimeError("injected crash")
        original(self)
    trainer.Trainer._act_and_learn = act_and_learn
elif kind == "disk_full_checkpoint":
    def save_checkpoint(path, payload):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    trainer.save_checkpoint = save_checkpoint
elif kind == "disk_full_csv":
    import dormant.training.logger as logger
    original = logger.append_text
    def append_text(path, text):
        if path.name == "train.csv":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original(path, text)
    logger.append_text = append_text
from dormant.cli import main
sys.exit(main(sys.argv[2:]))
"""


def dormant(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dormant.cli", *args], capture_output=True, text=True, timeout=timeout)


def injected(kind: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", INJECT, kind, *args], capture_output=True, text=True, timeout=600)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(handle)]


def status(run: Path) -> dict:
    return json.loads((run / "status.json").read_text())


@pytest.mark.slow
def test_the_end_of_the_budget_is_always_evaluated_also_after_extending(tmp_path):
    run = tmp_path / "run"
    out = dormant("train", *TINY, "frames=3100", "eval.every_frames=2000", f"out={run}")
    assert out.returncode == 0, out.stderr
    assert [int(r["frame"]) for r in rows(run / "eval.csv")] == [0, 2000, 3100]
    out = dormant("train", "--resume", str(run), "frames=4500")
    assert out.returncode == 0, out.stderr
    assert [int(r["frame"]) for r in rows(run / "eval.csv")] == [0, 2000, 3100, 4000, 4500]


@pytest.mark.slow
def test_killed_before_its_first_checkpoint_the_run_can_start_again(tmp_path):
    run = tmp_path / "run"
    args = [*TINY, "frames=20000", "eval.every_frames=100000", f"out={run}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dormant.cli", "train", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_for(lambda: (run / "train.csv").exists())  # trained a little, no checkpoint yet
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert not (run / "checkpoint.pt").exists()
    (run / "checkpoint.pt.tmp").write_bytes(b"half a checkpoint")  # as a kill during a save leaves
    resumed = dormant("train", "--resume", str(run), "frames=3000")
    assert resumed.returncode == 0, resumed.stderr
    assert "stopped before its first checkpoint: starting it again from frame 0" in resumed.stdout
    assert status(run)["status"] == "finished" and not (run / "checkpoint.pt.tmp").exists()
    assert [int(r["frame"]) for r in rows(run / "train.csv")] == [1000, 2000, 3000]  # from scratch, once
    # A fresh `train out=DIR` into such a directory proceeds too; a finished run is never overwritten.
    (run / "checkpoint.pt").unlink()
    refused = dormant("train", *TINY, "frames=3000", f"out={run}")
    assert refused.returncode == 2 and "already holds a run" in refused.stderr
    (run / "status.json").unlink()  # now it looks killed: no checkpoint, no final status
    again = dormant("train", *TINY, "frames=3000", f"out={run}")
    assert again.returncode == 0 and "starting it again from frame 0" in again.stdout, again.stderr


@pytest.mark.slow
def test_resume_after_kill_9_repeats_no_log_row(tmp_path):
    """A run killed with SIGKILL after a checkpoint and resumed writes the same rows as an
    uninterrupted run: nothing logged after the checkpoint survives twice."""
    args = [
        *(a for a in TINY if not a.startswith("log.tensorboard")),
        "frames=8000",
        "eval.every_frames=1000",
        "checkpoint_every_frames=1000",
        "log.diagnostics_every_updates=100",
        "log.tensorboard=true",
    ]
    full = dormant("train", *args, f"out={tmp_path / 'full'}")
    assert full.returncode == 0, full.stderr
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dormant.cli", "train", *args, f"out={run}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: (run / "checkpoint.pt").exists() and len(rows(run / "eval.csv")) >= 5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    resumed = dormant("train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    for name in ("train.csv", "eval.csv", "diagnostics.csv"):
        assert rows(run / name) == rows(tmp_path / "full" / name), name
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb")).Reload()  # honours the resume's purge of later steps
    steps = [e.step for e in events.Scalars("eval/episode_reward")]
    assert steps == sorted(set(steps)) == [int(r["frame"]) for r in rows(run / "eval.csv")]


@pytest.mark.slow
def test_resume_accepts_options_that_leave_the_numbers_alone(tmp_path):
    run = tmp_path / "run"
    assert dormant("train", *TINY, "frames=2000", "eval.every_frames=1000", f"out={run}").returncode == 0
    ok = dormant(
        "train",
        "--resume",
        str(run),
        "frames=3000",
        "threads=2",
        "log.progress=false",
        "eval.video=false",
        "log.tensorboard=false",
        "checkpoint_every_frames=500",
    )
    assert ok.returncode == 0, ok.stderr
    refused = dormant("train", "--resume", str(run), "frames=4000", "agent.lr=0.1")
    assert refused.returncode == 2 and "refused: agent.lr" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
def test_exit_codes_and_status_words(tmp_path):
    finished = dormant("train", *TINY, "frames=2000", "eval.every_frames=1000", f"out={tmp_path / 'ok'}")
    assert finished.returncode == 0 and status(tmp_path / "ok")["status"] == "finished"
    refused = dormant("train", *TINY, "frames=2000", "agent.lr=-1", f"out={tmp_path / 'bad'}")
    assert refused.returncode == 2 and not (tmp_path / "bad").exists()
    crash = injected("crash", "train", *TINY, "frames=4000", "eval.every_frames=1000", f"out={tmp_path / 'crash'}")
    assert crash.returncode == 1 and status(tmp_path / "crash")["status"] == "failed"
    assert "injected crash" in crash.stderr and crash.stderr.count("Traceback") == 1
    assert "cannot schedule new futures" not in crash.stderr


@pytest.mark.slow
@pytest.mark.parametrize("fault, path", [("disk_full_checkpoint", "checkpoint.pt"), ("disk_full_csv", "train.csv")])
def test_a_write_failure_stops_with_one_message_and_its_own_status(tmp_path, fault, path):
    run = tmp_path / "run"
    out = injected(fault, "train", *TINY, "frames=3000", "eval.every_frames=1000", f"out={run}")
    assert out.returncode == 4, out.stdout + out.stderr
    message = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"cannot write {run / path}: no space left on the device" in message[0]
    assert "no checkpoint had been written yet" in message[0]  # never "the previous checkpoint is unchanged"
    assert status(run)["status"] == "write_failed"
    train_csv = (run / "train.csv").read_text()
    assert train_csv.startswith("frame,step,episode")  # never a 0-byte or header-less log
    assert all(line.count(",") == train_csv.splitlines()[0].count(",") for line in train_csv.splitlines())


def test_integers_keep_their_value():
    assert resolve({"seed": "4294967295"}).seed == 4294967295
    assert resolve({"frames": "1e6"}).frames == 1_000_000 and resolve({"frames": "2_000_000"}).frames == 2_000_000
    with pytest.raises(ConfigError, match="seed must be ≤ 4294967295"):
        resolve({"seed": "9007199254740993"})  # through a float it would silently become …992
    with pytest.raises(ConfigError, match="expected int"):
        resolve({"seed": "1.5"})
    with pytest.raises(ConfigError, match="out of range"):
        resolve({"frames": "1e400"})


@pytest.mark.slow
def test_progress_is_printed_as_plain_lines_when_output_is_not_a_terminal(tmp_path):
    run = tmp_path / "run"
    args = [a for a in TINY if not a.startswith("log.progress")]
    out = dormant("train", *args, "frames=3000", "eval.every_frames=1000", "log.progress_every_s=0.2", f"out={run}")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("frames ")]
    assert lines, out.stderr  # captured output is not a terminal: no bar, plain lines instead
    assert all("frames/s · ETA" in line for line in lines)
    assert any("last eval return" in line for line in lines)
