"""`dormant sweep`: grid expansion, planning, skip/resume/retry on tiny state runs,
locks, conflicts, errors; and the Ray backend on a local Ray instance."""

import errno
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dormant.cli import main
from dormant.experiments import backends
from dormant.experiments.runs import run_state
from dormant.experiments.sweep import parse_sweep, plan_jobs, run_sweep
from dormant.training.lock import DirLock, is_locked
from helpers import wait_for

TINY = ["obs=states", "frames=3000", "num_seed_frames=1000", "eval.every_frames=1000", "eval.episodes=1",
        "agent.hidden_dim=64", "agent.batch_size=64", "log.tensorboard=false", "log.diagnostics_every_updates=0"]


def _attempts(run_dir: Path) -> list[str]:
    return [line for line in (run_dir / "sweep.log").read_text().splitlines() if line.startswith("=== attempt")]


def test_grid_expansion(tmp_path):
    runs, options, shared = parse_sweep(["agent=drqv2,drm", "task=dmc/cartpole_swingup,dmc/walker_walk",
                                         "seeds=2", "frames=500000", f"out={tmp_path}", "jobs=3"])
    assert len(runs) == 8 and options.jobs == 3 and options.retries == 2 and shared == {"frames": "500000"}
    assert [r.run_id for r in runs[:4]] == ["dmc_cartpole_swingup/drqv2/seed1", "dmc_cartpole_swingup/drqv2/seed2",
                                            "dmc_cartpole_swingup/drm/seed1", "dmc_cartpole_swingup/drm/seed2"]
    assert runs[0].run_dir == tmp_path / "dmc_cartpole_swingup" / "drqv2" / "seed1"
    assert runs[-1].overrides == {"agent": "drm", "task": "dmc/walker_walk", "seed": "2", "frames": "500000",
                                  "log.progress": "false"}
    assert {r.frames for r in runs} == {500000}
    runs, _, _ = parse_sweep(["agent=drqv2", "task=dmc/cartpole_swingup", "seed=3,7", f"out={tmp_path}"])
    assert [r.seed for r in runs] == [3, 7]
    # Values with commas in other options are passed as written, not expanded.
    runs, _, shared = parse_sweep(["agent=drm", "task=dmc/cartpole_swingup", f"out={tmp_path}",
                                   "agent.stddev_schedule=linear(1.0,0.1,500000)"])
    assert len(runs) == 1 and shared["agent.stddev_schedule"] == "linear(1.0,0.1,500000)"


@pytest.mark.parametrize("args, message", [
    (["agent=drqv2", "task=dmc/cartpole_swingupp"], "did you mean 'dmc/cartpole_swingup'"),
    (["agent=drqv3", "task=dmc/cartpole_swingup"], "did you mean 'drqv2'"),
    (["agent=drqv2,drqv2"], "lists a value twice"),
    (["seeds=0"], "seeds must be ≥ 1"),
    (["seeds=2", "seed=1,2"], "not both"),
    (["jobs=0"], "jobs must be ≥ 1"),
    (["jobs=two"], "jobs must be an integer"),
    (["backend=slurm"], "backend must be local or ray"),
    (["address=ray://head:10001"], "address= is for backend=ray"),
    (["gpus_per_run=-1", "backend=ray"], "gpus_per_run must be ≥ 0"),
    (["frames=1000"], "impossible budget"),
    (["agent.hiden_dim=3"], "did you mean 'agent.hidden_dim'"),
])
def test_bad_sweeps_are_refused_before_anything_runs(tmp_path, capsys, args, message):
    assert main(["sweep", *args, f"out={tmp_path / 's'}"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    assert main(["sweep", "agent=drm"]) == 2 and "needs out=DIR" in capsys.readouterr().err


def test_plan_jobs(tmp_path):
    runs, _, _ = parse_sweep(["agent=drqv2,drm", "task=dmc/cartpole_swingup", "seeds=4", f"out={tmp_path}", *TINY])
    assert plan_jobs(runs, None, cpus=8, gpus=0, mem_available=None)[:2] == (4, 2)  # a run per 2 cores
    assert plan_jobs(runs, None, cpus=16, gpus=2, mem_available=None)[:2] == (2, 8)  # a run per GPU
    assert plan_jobs(runs, 5, cpus=2, gpus=0, mem_available=None)[:2] == (5, 1)  # jobs= wins
    assert plan_jobs(runs[:3], 8, cpus=2, gpus=0, mem_available=None)[0] == 3  # never more than runs
    jobs, _, why = plan_jobs(runs, None, cpus=64, gpus=0, mem_available=6 * 2**30)  # ~1.5 GiB a run
    assert jobs == 3 and "memory" in why
    pixels, _, _ = parse_sweep(["task=dmc/cartpole_swingup", "frames=1000000", f"out={tmp_path}"])
    # 500k transitions × 21 kB ≈ 10.6 GB + 1.5 GiB: 24 GiB holds one such run.
    assert plan_jobs(pixels * 4, None, cpus=64, gpus=0, mem_available=24 * 2**30)[0] == 1


def test_run_state(tmp_path):
    run = tmp_path / "r"
    assert run_state(run, 100).kind == "new"
    run.mkdir()
    (run / "sweep.log").write_text("=== attempt 1\n")
    assert run_state(run, 100).kind == "new"  # only the sweep's own log: nothing trained
    (run / "train.csv").write_text("frame,step\n40,20\n")
    assert run_state(run, 100).kind == "restart"  # died before its first checkpoint
    (run / "checkpoint.pt").write_bytes(b"x")
    assert run_state(run, 100).kind == "resume" and run_state(run, 100).frame == 40  # killed: no status.json
    (run / "status.json").write_text(json.dumps({"status": "interrupted", "frame": 60}))
    assert run_state(run, 100).kind == "resume"
    (run / "status.json").write_text(json.dumps({"status": "finished", "frame": 100}))
    assert run_state(run, 100).kind == "finished"
    assert run_state(run, 200).kind == "resume"  # more frames wanted: extend


@pytest.mark.slow
def test_sweep_runs_skips_finished_and_extends(tmp_path, capsys):
    args = ["agent=drqv2,drm", "task=dmc/cartpole_balance", "seeds=1", f"out={tmp_path}", "jobs=2", *TINY]
    assert run_sweep(args) == 0
    out = capsys.readouterr()
    assert "2/2 finished" in out.out and "finished dmc/cartpole_balance drm seed 1: 3000 frames, return" in out.err
    runs = [tmp_path / "dmc_cartpole_balance" / agent / "seed1" for agent in ("drqv2", "drm")]
    for run in runs:
        assert json.loads((run / "status.json").read_text())["status"] == "finished"
        assert len(_attempts(run)) == 1 and "(started)" in _attempts(run)[0]
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    assert sorted(manifest["runs"]) == ["dmc_cartpole_balance/drm/seed1", "dmc_cartpole_balance/drqv2/seed1"]
    assert run_sweep(args) == 0  # again: nothing to do
    assert "2 already finished, 0 to run" in capsys.readouterr().err
    assert all(len(_attempts(run)) == 1 for run in runs)
    assert run_sweep([a if not a.startswith("frames=") else "frames=4000" for a in args]) == 0  # a larger budget
    for run in runs:
        assert "(resumed)" in _attempts(run)[-1] and "frames=4000" in _attempts(run)[-1]
        assert json.loads((run / "status.json").read_text())["frame"] == 4000
    # Another command into the same out= must keep its settings (frames may grow).
    assert main(["sweep", *args, "agent.lr=0.001"]) == 2
    assert "holds a sweep with other settings (agent.lr" in capsys.readouterr().err


@pytest.mark.slow
def test_failed_attempts_are_retried_then_reported(tmp_path, monkeypatch, capsys):
    real = backends.train_command
    calls = []

    def flaky(spec, action, *budget):
        calls.append((spec.seed, action))
        if (spec.seed == 1 and len([c for c in calls if c[0] == 1]) == 1) or spec.seed == 2:
            return [sys.executable, "-c", "import sys; print('simulated crash'); sys.exit(1)"]  # 1: a crash
        return real(spec, action, *budget)

    monkeypatch.setattr(backends, "train_command", flaky)
    assert run_sweep(["agent=drqv2", "task=dmc/cartpole_balance", "seed=1,2", f"out={tmp_path}", "jobs=2",
                      "retries=1", *TINY]) == 1
    out = capsys.readouterr()
    assert "attempt 1 of dmc/cartpole_balance drqv2 seed 1 failed (exit code 1: simulated crash)" in out.err
    assert "1/2 finished, 1 failed" in out.out
    seed2 = tmp_path / "dmc_cartpole_balance" / "drqv2" / "seed2"
    assert f"failed dmc_cartpole_balance/drqv2/seed2 (exit code 1: simulated crash); last lines of {seed2}" in out.out
    assert len(_attempts(seed2)) == 2  # one try and one retry, then reported
    seed1 = tmp_path / "dmc_cartpole_balance" / "drqv2" / "seed1"
    assert json.loads((seed1 / "status.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_locks_two_writers_never_share_a_run_directory(tmp_path, capsys):
    args = ["agent=drqv2", "task=dmc/cartpole_balance", "seeds=1", f"out={tmp_path}", *TINY]
    with DirLock(tmp_path, what="sweep", name=".sweep.lock"):
        assert main(["sweep", *args]) == 75
        assert "in use by pid" in capsys.readouterr().err
    run = tmp_path / "dmc_cartpole_balance" / "drqv2" / "seed1"
    with DirLock(run):  # e.g. someone's `dormant train` holds this run
        assert run_sweep(args) == 1
        assert "in use by another process (skipped)" in capsys.readouterr().out
        out = subprocess.run([sys.executable, "-m", "dormant.cli", "train", "task=dmc/cartpole_balance", *TINY,
                              f"out={run}"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 75 and "is in use by pid" in out.stderr
    assert not (run / "checkpoint.pt").exists()
    assert not is_locked(run)
    with DirLock(run):
        assert is_locked(run)


def test_conflicting_run_directories_are_left_alone(tmp_path, capsys):
    run = tmp_path / "dmc_cartpole_balance" / "drqv2" / "seed1"
    run.mkdir(parents=True)
    from helpers import tiny_states

    (run / "config.yaml").write_text(tiny_states(**{"agent.hidden_dim": 32}).to_yaml())
    assert main(["sweep", "agent=drqv2", "task=dmc/cartpole_balance", f"out={tmp_path}", *TINY]) == 2
    err = capsys.readouterr().err
    assert "hold runs with other settings" in err and str(run) in err and "agent.hidden_dim: 32 there, 64 here" in err


def test_disk_full_and_permission_errors_name_the_path(tmp_path, monkeypatch, capsys):
    from dormant.experiments import sweep

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "sweep.json.tmp"))

    monkeypatch.setattr(sweep, "write_manifest", full)
    assert main(["sweep", "agent=drqv2", "task=dmc/cartpole_balance", f"out={tmp_path}", *TINY]) == 4
    assert f"cannot write {tmp_path / 'sweep.json.tmp'}: no space left on the device" in capsys.readouterr().err

    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    assert main(["sweep", "agent=drqv2", "task=dmc/cartpole_balance", f"out={tmp_path / 'new'}", *TINY]) == 4
    assert f"cannot write {tmp_path / 'new'}: permission denied" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGINT twice", "SIGKILL"])
def test_sweep_process_death_then_rerun_continues(tmp_path, how):
    """With a run still queued: Ctrl-C (SIGINT) or SIGTERM asks the running runs to
    checkpoint and stop, drops the queue and exits 130 within seconds; a second Ctrl-C
    stops the runs at once; SIGKILL of the sweep makes the kernel send its runs SIGTERM.
    Every way, the same command then finishes every run, with no log row twice."""
    args = ["agent=drqv2", "task=dmc/cartpole_balance", "seeds=3", f"out={tmp_path}", "jobs=2",
            *(a for a in TINY if not a.startswith("frames=")), "frames=10000", "checkpoint_every_frames=1000"]
    runs = [tmp_path / "dmc_cartpole_balance" / "drqv2" / f"seed{s}" for s in (1, 2, 3)]
    # A terminal's process gets SIGINT by default; a background job of a shell (CI) may
    # inherit it ignored, and Python then leaves it ignored: restore it, as a terminal has it.
    sweep = subprocess.Popen([sys.executable, "-m", "dormant.cli", "sweep", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert wait_for(lambda: all((r / "checkpoint.pt").exists() for r in runs[:2]))
        signum = getattr(signal, how.split()[0])
        sweep.send_signal(signum)
        if how == "SIGINT twice":
            time.sleep(0.5)
            sweep.send_signal(signum)
        t0 = time.time()
        code = sweep.wait(timeout=120)
        output = sweep.stdout.read()
        assert code == (-9 if how == "SIGKILL" else 130), output
        if how != "SIGKILL":
            assert time.time() - t0 < 60 and "re-run the same command to continue" in output, output
        assert not runs[2].exists() or not (runs[2] / "train.csv").exists()  # the queued run never started
        if how in ("SIGINT", "SIGTERM", "SIGKILL"):
            assert wait_for(lambda: all((r / "status.json").exists() for r in runs[:2]))
            for run in runs[:2]:
                status = json.loads((run / "status.json").read_text())
                assert status["status"] == "interrupted" and 0 < status["frame"] < 10000
                assert "stopping at the next safe point and saving a checkpoint" in (run / "sweep.log").read_text()
    finally:
        sweep.kill()
    assert wait_for(lambda: not any(DirLock(r).path.exists() and _locked(r) for r in runs), timeout=60)
    out = subprocess.run([sys.executable, "-m", "dormant.cli", "sweep", *args], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    for run in runs:
        assert json.loads((run / "status.json").read_text())["frame"] == 10000
        for log in ("train.csv", "eval.csv"):
            frames = [line.split(",", 1)[0] for line in (run / log).read_text().splitlines()[1:]]
            assert len(frames) == len(set(frames)), (run, log)
    for run in runs[:2]:
        assert "(resumed)" in _attempts(run)[-1]


def _locked(run: Path) -> bool:
    try:
        DirLock(run).acquire().release()
        return False
    except Exception:
        return True


@pytest.mark.slow
def test_ray_backend_on_a_local_cluster(tmp_path, capsys):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert run_sweep(["agent=drqv2,drm", "task=dmc/cartpole_balance", "seeds=1", f"out={tmp_path}",
                          "backend=ray", "cpus_per_run=1", *TINY]) == 0
    finally:
        ray.shutdown()
    out = capsys.readouterr()
    assert "Ray, 1 CPU + 0 GPU per run, up to 2 at once" in out.err and "2/2 finished" in out.out
    for agent in ("drqv2", "drm"):
        run = tmp_path / "dmc_cartpole_balance" / agent / "seed1"
        assert json.loads((run / "status.json").read_text()) ["status"] == "finished"
        assert "threads=1" in _attempts(run)[0]


def test_outcomes_that_a_retry_cannot_change_are_not_retried():
    from dormant.experiments.backends import AttemptResult
    from dormant.experiments.sweep import _outcome

    def result(code, status=""):
        return AttemptResult("r", 1, code, status, 0, "started", "log", [], "host", 0.0)

    assert _outcome(result(0, "finished"), stopping=False) == "finished"
    assert _outcome(result(1, "failed"), stopping=False) == "retry"
    assert _outcome(result(-9), stopping=False) == "retry"  # killed (OOM, a lost node)
    for code in (2, 3, 4):  # refused config, diverged, cannot write
        assert _outcome(result(code), stopping=False) == "failed"
    assert _outcome(result(-9), stopping=True) == "interrupted"  # stopped by the sweep itself: never retried
