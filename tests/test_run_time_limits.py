"""Limits that used to show only at run time are refused before any work, with the
smallest valid value; what the configuration cannot know is refused at run time with a
clear ConfigError (exit 2, never retried by a sweep), not a traceback."""

from __future__ import annotations

import itertools
import math
import re

import gymnasium as gym
import pytest

from dormant import train
from dormant.config import ConfigError, resolve
from dormant.envs import register_suite
from dormant.envs.episodes import smallest_capacity
from dormant.envs.registry import _SUITES

TINY = {
    "frames": 600,
    "num_seed_frames": 100,
    "agent.num_expl_steps": 20,
    "agent.batch_size": 8,
    "agent.hidden_dim": 16,
    "agent.feature_dim": 8,
    "eval.every_frames": 600,
    "eval.episodes": 1,
    "log.progress": False,
    "log.tensorboard": False,
    "threads": 1,
}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@pytest.mark.parametrize(
    "task, agent, frames_per_episode",
    [
        ("dmc/cartpole_balance", "drqv2", 1000),
        ("dmc/walker_walk", "sac", 1000),
        ("gym:Pendulum-v1", "sac", 200),
        ("gym:CartPole-v1", "dqn", 500),
    ],
)
def test_replay_smaller_than_an_episode_is_refused_with_the_smallest_valid_capacity(task, agent, frames_per_episode):
    """Generated: action repeats × workers × budgets × capacities below the bound (a quarter, a
    half, one less): each refused naming the bound; the bound itself resolves. Before this
    check, two thirds of these (72 per task) crashed mid-run when an episode outgrew the
    buffer, and the rest ran with a buffer over its capacity."""
    cases = 0
    for repeat, workers, frames in itertools.product((1, 2, 3, 8), (1, 2, 3), (10**6, 700)):
        steps = min(math.ceil(frames_per_episode / repeat), math.ceil(math.ceil(frames / repeat) / workers))
        least = smallest_capacity(steps, workers)
        base = {
            "agent": agent,
            "task": task,
            "obs": "states",
            "env.action_repeat": repeat,
            "env.workers": workers,
            "frames": frames,
            "num_seed_frames": 0,
            "agent.batch_size": 1,
        }
        for capacity in sorted({max(1, least // 4), max(1, least // 2), least - 1}):
            with pytest.raises(ConfigError, match=re.escape(f"smallest valid value is replay.capacity={least}")):
                resolve({**base, "replay.capacity": capacity})
            cases += 1
        assert resolve({**base, "replay.capacity": least}).replay.capacity == least
    assert cases == 72


def test_the_smallest_valid_capacity_trains_across_episodes(tmp_path):
    """Pendulum: 200-step episodes; capacity 200 holds exactly one, and the run goes on
    past three episodes (evicting the oldest)."""
    result = train(
        {
            **TINY,
            "agent": "sac",
            "task": "gym:Pendulum-v1",
            "obs": "states",
            "env.action_repeat": 1,
            "replay.capacity": 200,
        },
        out=tmp_path / "run",
    )
    assert result.status == "finished" and result.frames == 600


def test_a_suite_without_a_known_time_limit_gets_a_clear_error_at_run_time(tmp_path):
    """A registered suite that declares no episode length: the configuration cannot check
    the capacity, and the buffer refuses the long episode with a ConfigError naming it."""
    register_suite(
        "limitless", make=lambda task, cfg, seed: gym.make("Pendulum-v1"), tasks=["pendulum"], obs=("states",)
    )
    try:
        with pytest.raises(ConfigError, match=r"replay\.capacity: an episode reached \d+ transitions"):
            base = {k: v for k, v in TINY.items() if k != "threads"}
            train(
                {
                    **base,
                    "agent": "sac",
                    "task": "limitless/pendulum",
                    "obs": "states",
                    "env.action_repeat": 1,
                    "replay.capacity": 100,
                },
                out=tmp_path / "run",
            )
    finally:
        _SUITES.pop("limitless")


def test_a_run_uses_one_torch_thread_by_default_and_its_header_says_so(tmp_path, capsys):
    """The default is measured (benchmarks/bench_threads.py); threads=N overrides it; the
    run's first line says how many threads and why."""
    import torch

    before = torch.get_num_threads()
    try:
        for extra, threads, why in (
            ({}, 1, "(the default, measured fastest or within 6 %"),
            ({"threads": 2}, 2, "(threads= given)"),
        ):
            base = {k: v for k, v in TINY.items() if k != "threads"}
            train(
                {
                    **base,
                    "agent": "sac",
                    "task": "gym:Pendulum-v1",
                    "obs": "states",
                    "frames": 200,
                    "num_seed_frames": 100,
                    "eval.every_frames": 200,
                    **extra,
                },
                out=tmp_path / str(threads),
            )
            header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("run directory:"))
            assert f"{threads} torch thread{'s' if threads > 1 else ''} {why}" in header, header
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


def test_importing_dormant_before_torch_makes_openmp_threads_sleep_not_spin():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    probe = "import os, sys; {first}; print(os.environ.get('OMP_WAIT_POLICY', 'unset'))"
    for first, expected in (("import dormant", "PASSIVE"), ("import torch, dormant", "unset")):
        out = subprocess.run(
            [sys.executable, "-c", probe.format(first=first)], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected, (first, out.stdout)
    out = subprocess.run(
        [sys.executable, "-c", probe.format(first="import dormant")],
        env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "ACTIVE"  # the user's own setting is kept


def test_env_workers_far_above_the_cores_are_warned_about(capsys, monkeypatch):
    from dormant.training import launch

    monkeypatch.setattr(launch.os, "sched_getaffinity", lambda pid: {0, 1})
    for workers, warned in ((1, False), (4, False), (5, True), (64, True)):
        launch._warn_workers(workers)
        err = capsys.readouterr().err
        assert ("env.workers=" in err) == warned, (workers, err)
        if warned:
            assert f"env.workers={workers} is far above this machine's 2 CPU cores" in err and "env.workers=2" in err
