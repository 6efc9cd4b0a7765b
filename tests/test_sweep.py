"""`dormant sweep`: grid expansion (hyperparameter axes, their quoting and run directories),
planning, skip/resume/retry on tiny state runs, locks, conflicts, errors; the Ray backend
(resource checks on a stand-in, then a sweep against a `ray start` head); the example script."""

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dormant.cli import main
from dormant.config import ConfigError
from dormant.experiments import backends
from dormant.experiments.grid import check_manifest, dir_part, option_values, split_values, write_manifest
from dormant.experiments.runs import run_state
from dormant.experiments.sweep import parse_sweep, plan_jobs, run_sweep
from dormant.training.lock import DirLock, is_locked
from helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "obs=states",
    "frames=3000",
    "num_seed_frames=1000",
    "eval.every_frames=1000",
    "eval.episodes=1",
    "agent.hidden_dim=64",
    "agent.batch_size=64",
    "log.tensorboard=false",
    "log.diagnostics_every_updates=0",
]


def _attempts(run_dir: Path) -> list[str]:
    return [line for line in (run_dir / "sweep.log").read_text().splitlines() if line.startswith("=== attempt")]


def test_grid_expansion(tmp_path):
    runs, options, shared = parse_sweep(
        [
            "agent=drqv2,drm",
            "task=dmc/cartpole_swingup,dmc/walker_walk",
            "seeds=2",
            "frames=500000",
            f"out={tmp_path}",
            "jobs=3",
        ]
    )
    assert len(runs) == 8 and options.jobs == 3 and options.retries == 2 and shared == {"frames": "500000"}
    assert [r.run_id for r in runs[:4]] == [
        "dmc_cartpole_swingup/drqv2/seed1",
        "dmc_cartpole_swingup/drqv2/seed2",
        "dmc_cartpole_swingup/drm/seed1",
        "dmc_cartpole_swingup/drm/seed2",
    ]
    assert runs[0].run_dir == tmp_path / "dmc_cartpole_swingup" / "drqv2" / "seed1"
    assert runs[-1].overrides == {
        "agent": "drm",
        "task": "dmc/walker_walk",
        "seed": "2",
        "frames": "500000",
        "log.progress": "false",
    }
    assert {r.frames for r in runs} == {500000}
    runs, _, _ = parse_sweep(["agent=drqv2", "task=dmc/cartpole_swingup", "seed=3,7", f"out={tmp_path}"])
    assert [r.seed for r in runs] == [3, 7]
    # Values with commas in other options are passed as written, not expanded.
    runs, _, shared = parse_sweep(
        ["agent=drm", "task=dmc/cartpole_swingup", f"out={tmp_path}", "agent.stddev_schedule=linear(1.0,0.1,500000)"]
    )
    assert len(runs) == 1 and shared["agent.stddev_schedule"] == "linear(1.0,0.1,500000)"


@pytest.mark.parametrize(
    "args, message",
    [
        (["agent=drqv2", "task=dmc/cartpole_swingupp"], "did you mean 'dmc/cartpole_swingup'"),
        (["agent=drqv2", "agent.lr=1e-4,-1"], "(in the run dmc/cartpole_swingup drqv2 seed 1 agent.lr=-1)"),
        (["agent=drqv2,drm", "seeds=2", "drm.threshold=0.1,2"], "drm.threshold"),
        (["agent=drqv2", "agent.lr=1e-4,0.0001"], "agent.lr: 1e-4 and 0.0001 are the same value (0.0001)"),
        (["agent=drqv2", "drm.threshold=0.1,0.2"], "drm.* options apply to agent=drm only"),
        (["agent=drqv2", "agent.stddev_schedule=linear(1.0,0.1,500000"], "an opening bracket is never closed"),
        (["agent=drqv2", "agent.lr=1e-4,,3e-4"], "has an empty item"),
        (["frames=100000,200000"], "frames cannot be a sweep axis"),
        (["log.tensorboard=true,false"], "log.tensorboard cannot be a sweep axis"),
        (["cpus_per_run=2"], "cpus_per_run ask Ray for resources per run (backend=ray)"),
        (["backend=ray", "cpus_per_run=0"], "cpus_per_run must be > 0"),
        (["backend=ray", "gpus_per_run=1.5"], "gpus_per_run must be a fraction ≤ 1 (runs share a GPU) or a whole"),
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
    ],
)
def test_bad_sweeps_are_refused_before_anything_runs(tmp_path, capsys, args, message):
    assert main(["sweep", *args, f"out={tmp_path / 's'}"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    assert main(["sweep", "agent=drm"]) == 2 and "needs out=DIR" in capsys.readouterr().err


def test_value_lists_split_at_top_level_commas_only():
    assert split_values("1e-4,3e-4") == ["1e-4", "3e-4"]
    assert split_values("linear(1.0,0.1,500000)") == ["linear(1.0,0.1,500000)"]  # nested: one value
    assert split_values("linear(1.0,0.1,500000), step_linear(1.0,0.1,100,0.05,500)") == [
        "linear(1.0,0.1,500000)",
        "step_linear(1.0,0.1,100,0.05,500)",
    ]
    assert split_values("[a,b],c") == ["a,b", "c"]  # brackets hold a value with a top-level comma
    assert split_values("[a],[b]") == ["a", "b"]
    for bad, message in [
        ("a,(b", "never closed"),
        ("a)", "without its opening"),
        ("a,,b", "empty item"),
        ("[]", "empty item"),
        ("a,[a]", "lists a value twice"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            split_values(bad, "k")
    # plasticity.redo_nets is itself a list: one value as written, an axis only with brackets.
    assert option_values("plasticity.redo_nets", "critic,actor") == ["critic,actor"]
    assert option_values("plasticity.redo_nets", "[critic],[critic,actor]") == ["critic", "critic,actor"]
    assert option_values("plasticity.redo_nets", "critic,[critic,actor]") == ["critic", "critic,actor"]
    assert option_values("agent.lr", "[1e-4]") == ["1e-4"]
    assert option_values("env.camera", "") == [""]  # an empty value is a value (the default camera)


def test_hyperparameter_axes_are_crossed_with_agents_tasks_and_seeds(tmp_path):
    runs, _options, shared = parse_sweep(
        [
            "agent=drqv2",
            "task=dmc/cartpole_balance",
            "seeds=2",
            f"out={tmp_path}",
            "agent.lr=1e-4,3e-4",
            "plasticity.redo=true,false",
            *TINY,
        ]
    )
    assert len(runs) == 8 and "agent.lr" not in shared and shared["env.obs"] == "states"
    assert [r.run_id for r in runs[:3]] == [  # values in the order given; axes by name
        "dmc_cartpole_balance/drqv2/agent.lr=0.0001/plasticity.redo=True/seed1",
        "dmc_cartpole_balance/drqv2/agent.lr=0.0001/plasticity.redo=True/seed2",
        "dmc_cartpole_balance/drqv2/agent.lr=0.0001/plasticity.redo=False/seed1",
    ]
    assert runs[2].params == {"agent.lr": "0.0001", "plasticity.redo": "False"}
    assert runs[2].overrides["agent.lr"] == "1e-4" and runs[2].overrides["plasticity.redo"] == "false"
    assert runs[2].label == "dmc/cartpole_balance drqv2 agent.lr=0.0001 plasticity.redo=False seed 1"
    assert runs[0].run_dir == tmp_path / runs[0].run_id
    # The order options are given in does not change the directories.
    again, _, _ = parse_sweep(
        [
            "plasticity.redo=false,true",
            "agent.lr=3e-4,0.0001",
            "agent=drqv2",
            "seeds=2",
            "task=dmc/cartpole_balance",
            f"out={tmp_path}",
            *TINY,
        ]
    )
    assert sorted(r.run_id for r in again) == sorted(r.run_id for r in runs)
    # redo_nets: one value without brackets, an axis with them.
    runs, _, shared = parse_sweep(
        ["agent=drqv2", f"out={tmp_path}", "plasticity.redo=true", "plasticity.redo_nets=critic,actor", *TINY]
    )
    assert len(runs) == 1 and shared["plasticity.redo_nets"] == "critic,actor"
    assert runs[0].run_id == "dmc_cartpole_swingup/drqv2/seed1"
    runs, _, _ = parse_sweep(
        [
            "agent=drqv2",
            f"out={tmp_path}",
            "plasticity.redo=true",
            "plasticity.redo_nets=[critic],[critic,actor]",
            *TINY,
        ]
    )
    assert [r.overrides["plasticity.redo_nets"] for r in runs] == ["critic", "critic,actor"]
    assert runs[0].run_id.split("/")[2] == "plasticity.redo_nets=critic"
    assert re.fullmatch(r"plasticity\.redo_nets=critic-actor~[0-9a-f]{6}", runs[1].run_id.split("/")[2])
    # A list of schedules is an axis; each keeps its commas.
    runs, _, _ = parse_sweep(
        ["agent=drqv2", f"out={tmp_path}", *TINY, "agent.stddev_schedule=linear(1.0,0.1,500000),linear(0.5,0.1,500000)"]
    )
    assert [r.overrides["agent.stddev_schedule"] for r in runs] == ["linear(1.0,0.1,500000)", "linear(0.5,0.1,500000)"]


def test_drm_axes_apply_to_drm_runs_only(tmp_path, capsys):
    runs, options, shared = parse_sweep(
        [
            "agent=drqv2,drm",
            "task=dmc/cartpole_balance",
            "seeds=2",
            "drm.threshold=0.1,0.2",
            "drm.expectile=0.8",
            f"out={tmp_path}",
            *TINY,
        ]
    )
    drqv2 = [r for r in runs if r.agent == "drqv2"]
    drm = [r for r in runs if r.agent == "drm"]
    assert len(drqv2) == 2 and len(drm) == 4  # drqv2: one run per seed, not one per threshold
    assert not any(k.startswith("drm.") for r in drqv2 for k in r.overrides)
    assert [r.run_id for r in drqv2] == ["dmc_cartpole_balance/drqv2/seed1", "dmc_cartpole_balance/drqv2/seed2"]
    assert drm[0].run_id == "dmc_cartpole_balance/drm/drm.threshold=0.1/seed1"
    assert all(r.overrides["drm.expectile"] == "0.8" for r in drm) and shared["drm.expectile"] == "0.8"
    assert options.notes == [
        "drm.expectile, drm.threshold apply to agent=drm only: the drqv2 runs do not take "
        "them and are not repeated for each value"
    ]


def test_run_directory_names_are_safe_unique_and_stable():
    assert dir_part("agent.lr", "0.0003") == "agent.lr=0.0003"  # readable when it can be
    assert dir_part("k", "-0.5") == "k=-0.5"
    values = [
        "linear(1.0,0.1,500000)",
        "linear(1.0,0.1,50000)",
        "linear-1.0-0.1-500000",
        "a/b",
        "a b",
        "..",
        "critic,actor",
        "critic actor",
        "x" * 300,
        "x" * 301,
        "é",
        "-0.5",
        "(0.5)",
        "0.5",
    ]
    parts = [dir_part("k", v) for v in values]
    assert len(set(parts)) == len(parts)  # unique
    assert all(re.fullmatch(r"k=[A-Za-z0-9._+~-]{1,110}", p) for p in parts), parts  # one safe path component
    assert parts == [dir_part("k", v) for v in values]  # stable
    assert dir_part("k", "linear(1.0,0.1,500000)").startswith("k=linear-1.0-0.1-500000~")


def _record(tmp_path, *args):
    runs, _options, shared = parse_sweep(["agent=drqv2", "task=dmc/cartpole_balance", f"out={tmp_path}", *TINY, *args])
    tmp_path.mkdir(exist_ok=True)
    check_manifest(tmp_path, shared)
    write_manifest(tmp_path, runs, shared, args)
    return runs, json.loads((tmp_path / "sweep.json").read_text())


def test_manifest_records_axes_and_a_later_command_adds_values(tmp_path, capsys):
    runs, manifest = _record(tmp_path, "agent.lr=1e-4,3e-4")
    assert manifest["axes"] == {"agent.lr": ["0.0001", "0.0003"]} and "agent.lr" not in manifest["shared"]
    assert manifest["runs"]["dmc_cartpole_balance/drqv2/agent.lr=0.0003/seed1"] == {
        "task": "dmc/cartpole_balance",
        "agent": "drqv2",
        "seed": 1,
        "frames": 3000,
        "params": {"agent.lr": "0.0003"},
    }
    # The same command again plans the same runs; a later one may add values (or give one).
    assert [r.run_id for r in _record(tmp_path, "agent.lr=1e-4,3e-4")[0]] == [r.run_id for r in runs]
    _more, manifest = _record(tmp_path, "agent.lr=0.0003,1e-3", "seeds=2")
    assert manifest["axes"] == {"agent.lr": ["0.0001", "0.0003", "0.001"]} and len(manifest["runs"]) == 5
    one, manifest = _record(tmp_path, "agent.lr=3e-3")
    assert one[0].run_id == "dmc_cartpole_balance/drqv2/agent.lr=0.003/seed1" and len(manifest["runs"]) == 6
    # Axes are fixed by the first command: none added, none dropped; other options must match.
    args = ["sweep", "agent=drqv2", "task=dmc/cartpole_balance", f"out={tmp_path}", *TINY]
    assert main([*args, "agent.lr=1e-4", "agent.nstep=1,3"]) == 2
    assert "has no agent.nstep axis" in capsys.readouterr().err
    assert main(args) == 2
    assert (
        "has the axis agent.lr (agent.lr=0.0001,0.0003,0.001,0.003): name it in this command too"
        in capsys.readouterr().err
    )
    assert main([*args, "agent.lr=1e-4", "agent.nstep=1"]) == 2
    assert "holds a sweep with other settings (agent.nstep" in capsys.readouterr().err
    # A sweep without axes cannot grow one (its runs would be renamed).
    plain = tmp_path / "plain"
    _record(plain, "agent.lr=1e-4")
    assert main([*args[:3], f"out={plain}", *TINY, "agent.lr=1e-4,3e-4"]) == 2
    assert "has no agent.lr axis (every run has agent.lr=1e-4)" in capsys.readouterr().err


def test_drm_axis_of_a_sweep_need_not_be_named_for_drqv2_runs(tmp_path):
    runs, _options, shared = parse_sweep(
        ["agent=drm", "task=dmc/cartpole_balance", f"out={tmp_path}", *TINY, "drm.threshold=0.1,0.2"]
    )
    write_manifest(tmp_path, runs, shared, [])
    runs, _, _ = parse_sweep(["agent=drqv2", "task=dmc/cartpole_balance", f"out={tmp_path}", *TINY])
    assert [r.run_id for r in runs] == ["dmc_cartpole_balance/drqv2/seed1"]


def test_sweeps_without_hyperparameter_axes_keep_their_layout(tmp_path):
    """The evidence sweep, planned again by its own command, is the same sweep: same run
    directories and the same settings in its manifest."""
    evidence = ROOT / "docs" / "evidence" / "sweep" / "s1"
    manifest = json.loads((evidence / "sweep.json").read_text())
    command = manifest["commands"][0].split()[2:]
    runs, _, shared = parse_sweep([a if not a.startswith("out=") else f"out={evidence}" for a in command])
    assert [r.run_id for r in runs] == list(manifest["runs"]) and all(not r.params for r in runs)
    assert check_manifest(evidence, shared) == manifest


class FakeRay:
    """Just enough of ray for RayBackend: a cluster of the given nodes, recording requests."""

    def __init__(self, *nodes):
        self.nodes_ = [{"Alive": True, "Resources": n} for n in nodes]
        self.requests, self.exceptions = [], type("exceptions", (), {"RayError": RuntimeError})
        self.up = False

    def is_initialized(self):
        return self.up

    def init(self, **kwargs):
        self.up = True

    def shutdown(self):
        self.up = False

    def nodes(self):
        return self.nodes_

    def cluster_resources(self):
        return {k: sum(n["Resources"].get(k, 0) for n in self.nodes_) for k in ("CPU", "GPU")}

    def remote(self, fn):
        fake = self

        class Remote:
            def options(self, **kwargs):
                fake.requests.append(kwargs)
                return self

        return Remote()


def test_ray_resources_per_run_are_checked_and_passed_through(monkeypatch):
    from dormant.experiments.backends import RayBackend

    fake = FakeRay({"CPU": 16, "GPU": 2}, {"CPU": 16, "GPU": 2})
    monkeypatch.setitem(sys.modules, "ray", fake)
    backend = RayBackend("stop", address="10.0.0.1:6379", cpus_per_run=4, gpus_per_run=0.5, threads=4)
    assert fake.requests[-1] == {"num_cpus": 4, "num_gpus": 0.5, "max_retries": 0}
    assert backend.jobs == 8  # 32 CPUs / 4, 4 GPUs / 0.5
    assert RayBackend("stop", address="", cpus_per_run=1, gpus_per_run=None, threads=1).gpus_per_run == 1.0
    for nodes, cpus, gpus, message in [
        ([{"CPU": 8}], 1, 0.5, "gpus_per_run=0.5 but the Ray cluster has no GPUs (its nodes: 8 CPU + 0 GPU)"),
        ([{"CPU": 8, "GPU": 1}], 16, 0, "no node of the Ray cluster has 16 CPU + 0 GPU for one run"),
        ([{"CPU": 8, "GPU": 1}, {"CPU": 2, "GPU": 0}], 4, 2, "no node of the Ray cluster has 4 CPU + 2 GPU"),
    ]:
        fake = FakeRay(*nodes)
        monkeypatch.setitem(sys.modules, "ray", fake)
        with pytest.raises(ConfigError, match=re.escape(message)):
            RayBackend("stop", address="head:6379", cpus_per_run=cpus, gpus_per_run=gpus, threads=1)
        assert not fake.up  # the connection it opened is closed again


def test_plan_jobs(tmp_path):
    runs, _, _ = parse_sweep(["agent=drqv2,drm", "task=dmc/cartpole_swingup", "seeds=4", f"out={tmp_path}", *TINY])
    assert plan_jobs(runs, None, cpus=8, gpus=0, mem_available=None)[:2] == (4, 1)  # a run per 2 cores, 1 thread
    assert plan_jobs(runs, None, cpus=16, gpus=2, mem_available=None)[:2] == (2, 1)  # a run per GPU
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
    assert (
        run_sweep(
            ["agent=drqv2", "task=dmc/cartpole_balance", "seed=1,2", f"out={tmp_path}", "jobs=2", "retries=1", *TINY]
        )
        == 1
    )
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
        out = subprocess.run(
            [sys.executable, "-m", "dormant.cli", "train", "task=dmc/cartpole_balance", *TINY, f"out={run}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
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
    args = [
        "agent=drqv2",
        "task=dmc/cartpole_balance",
        "seeds=3",
        f"out={tmp_path}",
        "jobs=2",
        *(a for a in TINY if not a.startswith("frames=")),
        "frames=10000",
        "checkpoint_every_frames=1000",
    ]
    runs = [tmp_path / "dmc_cartpole_balance" / "drqv2" / f"seed{s}" for s in (1, 2, 3)]
    # A terminal's process gets SIGINT by default; a background job of a shell (CI) may
    # inherit it ignored, and Python then leaves it ignored: restore it, as a terminal has it.
    sweep = subprocess.Popen(
        [sys.executable, "-m", "dormant.cli", "sweep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
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
            # 300 s: once, on CI's loaded 2 cores, the SIGKILL case missed 120 s (it passes in ~45 s
            # beside two spinning processes); the runs' logs say where they were if it happens again.
            assert wait_for(lambda: all((r / "status.json").exists() for r in runs[:2]), timeout=300), "\n".join(
                f"{r}: " + ((r / "sweep.log").read_text()[-2000:] if (r / "sweep.log").exists() else "no sweep.log")
                for r in runs[:2]
            )
            for run in runs[:2]:
                status = json.loads((run / "status.json").read_text())
                assert status["status"] == "interrupted" and 0 < status["frame"] < 10000
                assert "stopping at the next safe point and saving a checkpoint" in (run / "sweep.log").read_text()
    finally:
        sweep.kill()
    assert wait_for(lambda: not any(DirLock(r).path.exists() and _locked(r) for r in runs), timeout=60)
    out = subprocess.run(
        [sys.executable, "-m", "dormant.cli", "sweep", *args], capture_output=True, text=True, timeout=900
    )
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def ray_head():
    """A Ray cluster of one node started as a cluster is (`ray start --head`), in its own
    temporary directory (so `ray.init()` elsewhere on this machine does not find it) and
    without token authentication (whatever ~/.ray holds). Stopped by its own pid: `ray stop`
    would stop every Ray instance of this user on the machine."""
    pytest.importorskip("ray")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ray"),
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--num-gpus=0",
            "--disable-usage-stats",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--block",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: _port_open(port), timeout=120), "the Ray head did not start"
        yield f"127.0.0.1:{port}", env
    finally:
        head.terminate()  # `ray start --block` stops its processes on SIGTERM
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # anything of its session still there
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_sweep_on_an_existing_ray_cluster(tmp_path, ray_head):
    """`dormant sweep backend=ray address=HOST:PORT` against a running head: a GPU request
    the cluster cannot meet is refused at once, before the sweep records anything; CPU
    runs then train on the cluster's workers (out= relative to the sweep's directory)."""
    address, env = ray_head
    sweep = [
        sys.executable,
        "-m",
        "dormant.cli",
        "sweep",
        "task=dmc/cartpole_balance",
        "seeds=1",
        "out=s",
        "backend=ray",
        f"address={address}",
        *TINY,
    ]
    t0 = time.time()
    refused = subprocess.run(
        [*sweep, "agent=drqv2", "gpus_per_run=0.5"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "gpus_per_run=0.5 but the Ray cluster has no GPUs (its nodes: 2 CPU + 0 GPU)" in refused.stderr
    assert time.time() - t0 < 120 and not (tmp_path / "s" / "sweep.json").exists()
    done = subprocess.run(
        [*sweep, "agent=drqv2,drm", "cpus_per_run=1", "gpus_per_run=0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ray, 1 CPU + 0 GPU per run, up to 2 at once" in done.stderr and "2/2 finished" in done.stdout
    for agent in ("drqv2", "drm"):
        run = tmp_path / "s" / "dmc_cartpole_balance" / agent / "seed1"
        assert json.loads((run / "status.json").read_text())["status"] == "finished"
        assert "threads=1" in _attempts(run)[0] and f"out={run}" in _attempts(run)[0]


@pytest.mark.slow
def test_hyperparameter_sweep_example_then_report(tmp_path):
    """examples/hyperparameter_sweep.sh with a tiny budget: two learning rates, then the
    report, whose methods are the two values; running it again trains nothing."""
    out = tmp_path / "lr"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "OUT": str(out),
        "FRAMES": "3000",
        "SEEDS": "1",
    }
    command = [
        "bash",
        str(ROOT / "examples" / "hyperparameter_sweep.sh"),
        "jobs=2",
        *(a for a in TINY if not a.startswith(("obs=", "frames="))),
    ]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2/2 finished" in first.stdout
    for lr in ("0.0001", "0.0003"):
        run = out / "dmc_cartpole_balance" / "drqv2" / f"agent.lr={lr}" / "seed1"
        assert json.loads((run / "status.json").read_text())["status"] == "finished"
    assert json.loads((out / "sweep.json").read_text())["axes"] == {"agent.lr": ["0.0001", "0.0003"]}
    report = (out / "report" / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| dmc/cartpole_balance |")]
    for label in ("drqv2 agent.lr=0.0001", "drqv2 agent.lr=0.0003"):
        assert any(f"| {label} |" in row for row in rows), report  # its own rows in the tables
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "2 already finished, 0 to run" in again.stderr, again.stdout + again.stderr


def test_example_scripts_are_valid_shell():
    for script in ("hyperparameter_sweep.sh", "ray_slurm.sbatch"):  # the SLURM one cannot run here
        check = subprocess.run(["bash", "-n", str(ROOT / "examples" / script)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


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


def test_run_directories_and_figures_of_gym_tasks_have_no_colons(tmp_path):
    """`gym:` task names hold colons, which scp, rsync and some filesystems refuse: the run
    directory spells the task safely; the configuration keeps the real name."""
    from dormant.config import task_filename

    runs, _, _ = parse_sweep(["agent=sac", "task=gym:Pendulum-v1", "obs=states", "seeds=1", f"out={tmp_path}"])
    assert [spec.run_id for spec in runs] == ["gym-Pendulum-v1/sac/seed1"]
    assert ":" not in str(runs[0].run_dir.relative_to(tmp_path)) and runs[0].task == "gym:Pendulum-v1"
    assert task_filename("gym:mymod:Env", suite_separator="_") == "gym-mymod-Env"
    assert task_filename("dmc/cartpole_swingup", suite_separator="_") == "dmc_cartpole_swingup"  # unchanged


def test_grid_size_is_said_at_once_bounded_and_costs_one_resolution_per_combination(tmp_path, monkeypatch):
    """Generated grids (agents, tasks, seeds, shared and agent-specific axes): the count said
    before any configuration is resolved equals the runs expanded; above max_runs (default
    1,000) the sweep is refused, naming the size, unless --yes; resolutions do not grow with seeds."""
    import random

    from dormant.experiments import grid as grid_module

    calls = []
    real_resolve = grid_module.resolve
    monkeypatch.setattr(grid_module, "resolve", lambda overrides: calls.append(1) or real_resolve(overrides))
    rng = random.Random(0)
    axes_pool = [
        ("agent.lr", "1e-4,3e-4,1e-3"),
        ("drm.threshold", "0.1,0.2"),
        ("plasticity.redo", "true,false"),
        ("agent.nstep", "1,3"),
        ("agent.feature_dim", "50"),
    ]
    cases = 0
    said: list[tuple[str, int]] = []  # what the sweep said, and the resolutions made by then

    def say(text: str) -> None:
        said.append((text, len(calls)))

    for _ in range(40):
        agents = rng.sample(["drqv2", "drm", "sac"], rng.randint(1, 3))
        if "sac" in agents:
            agents = ["sac"] if rng.random() < 0.5 else [a for a in agents if a != "sac"] or ["drqv2"]
        tasks = rng.sample(["dmc/cartpole_balance", "dmc/walker_walk", "dmc/cheetah_run"], rng.randint(1, 3))
        axes = [
            a for a in rng.sample(axes_pool, rng.randint(0, 3)) if not (a[0] == "drm.threshold" and "drm" not in agents)
        ]
        seeds = rng.choice([1, 3, 40, 400])
        items = [
            f"agent={','.join(agents)}",
            f"task={','.join(tasks)}",
            f"seeds={seeds}",
            "obs=states",
            f"out={tmp_path / 'never'}",
            *(f"{k}={v}" for k, v in axes),
        ]
        said.clear()
        calls.clear()
        try:
            runs, _, _ = parse_sweep(items, say=say)
        except ConfigError as err:
            total = int(re.search(r"holds ([\d,]+) runs", str(err)).group(1).replace(",", ""))
            assert total > 1000 and "--yes" in str(err) and f"max_runs={total}" in str(err) and not calls
            assert len(parse_sweep([*items, f"max_runs={total}"])[0]) == total
            calls.clear()
            runs, _, _ = parse_sweep(items, yes=True, say=say)
            assert len(runs) == total
        else:
            assert len(runs) <= 1000
        if len(runs) >= 100:  # a big grid is announced before any resolution (smaller ones: by the header)
            text, resolved_before = said[-1]
            assert f"{len(runs):,} runs (" in text and resolved_before == 0
        else:
            assert not said
        assert len(calls) == len(runs) // seeds  # one resolution per combination, whatever the seed count
        assert len({r.run_id for r in runs}) == len(runs)
        assert all(r.config.seed == r.seed and r.overrides["seed"] == str(r.seed) for r in runs)
        cases += 1
    assert cases == 40
    with pytest.raises(ConfigError, match="above the 5 runs of max_runs="):
        parse_sweep(["agent=drqv2", "seeds=6", "max_runs=5", f"out={tmp_path / 'never'}"])
    with pytest.raises(ConfigError, match=re.escape("1,000,000,000 runs (1 agent × 1 task × 1,000,000,000 seeds")):
        parse_sweep(["agent=drqv2", "seeds=1000000000", f"out={tmp_path / 'never'}"])  # counted, never listed
    with pytest.raises(ConfigError, match=re.escape("is above 4294967295")):
        parse_sweep(["agent=drqv2", "seed=4294967296", f"out={tmp_path / 'never'}"])
    assert not (tmp_path / "never").exists()


def test_cli_sweep_says_its_size_and_needs_yes_above_the_bound(tmp_path, capsys, monkeypatch):
    from dormant.experiments import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "_execute", lambda *args, **kwargs: 0)  # launch nothing
    args = ["sweep", "agent=drqv2,drm", "task=dmc/cartpole_balance", "seeds=501", "obs=states", f"out={tmp_path / 's'}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "1,002 runs (2 agents × 1 task × 501 seeds = 1,002)" in err and "--yes" in err
    assert not (tmp_path / "s").exists()
    assert main([*args, "--yes"]) == 0
    assert "sweep " in capsys.readouterr().err
