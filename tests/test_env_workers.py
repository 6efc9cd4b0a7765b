"""Parallel environment workers (``env.workers``): the worker group, the sharded replay, and
the trainer with N > 1 (updates per transition, exact resume, Ctrl-C)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dormant.config import ConfigError, resolve
from dormant.envs import make_env
from dormant.envs.workers import EnvWorkers, WorkerError, worker_seed
from dormant.replay import ReplayBuffer
from dormant.replay.shards import ShardedReplay
from dormant.training.checkpoint import load_checkpoint
from dormant.training.clock import crossed
from dormant.training.trainer import Trainer, load_trainer
from helpers import TINY_STATES, tiny_states, wait_for
from test_training import rows

pytestmark = pytest.mark.usefixtures("one_thread")


def test_crossed_is_the_modulo_rule_for_single_steps_and_catches_jumps():
    for start in (0, 1000, 3100):  # the last evaluation or checkpoint, on or off schedule
        last_new = last_old = start
        for step in range(start, 5000):  # one step at a time; each rule records when it fires
            new, old = crossed(step, last_new, 1000), step % 1000 == 0 and step != last_old
            assert new == old, (start, step)
            last_new, last_old = (step if new else last_new), (step if old else last_old)
    assert crossed(1002, 998, 1000) and not crossed(1002, 1000, 1000)  # 4 workers jumped over 1000
    assert crossed(0, -1, 1000)  # the evaluation at frame 0


def test_worker_zero_is_the_single_env_and_others_differ():
    cfg = resolve({"task": "dmc/cartpole_swingup", "obs": "states"})
    workers = EnvWorkers(cfg, [worker_seed(7, i) for i in range(2)])
    try:
        single = make_env(cfg, seed=7)
        assert workers.obs_shape == single.obs_shape and workers.action_dim == single.action_dim
        first = workers.reset_many([0, 1])
        reference = single.reset()
        assert np.array_equal(first[0].observation, reference.observation)
        assert not np.array_equal(first[1].observation, reference.observation)
        rng = np.random.default_rng(0)
        for _ in range(30):
            actions = [rng.uniform(-1, 1, workers.action_dim).astype(np.float32) for _ in range(2)]
            got, want = workers.step(actions), single.step(actions[0])
            assert np.array_equal(got[0].observation, want.observation) and got[0].reward == want.reward
            assert np.array_equal(got[1].action, actions[1])
        assert workers.episode_start_state(0) == single.episode_start_state()
        with pytest.raises(ValueError, match="3 actions for 2"):
            workers.step(actions + actions[:1])
        with pytest.raises(WorkerError, match="Traceback"):  # the worker's own error comes back whole
            workers.step([np.zeros(7, np.float32)] * 2)
    finally:
        workers.close()
        workers.close()  # twice, and after a worker died: no error


def _episode(buffer: ReplayBuffer, length: int, value: float) -> None:
    buffer.add(np.full(2, value, np.float32), np.zeros(1, np.float32), 0.0, 1.0, first=True, last=False)
    for t in range(length):
        buffer.add(
            np.full(2, value, np.float32), np.zeros(1, np.float32), value, 1.0, first=False, last=t == length - 1
        )


def _shard(seed: int, capacity: int = 1000, per_transition: bool = False) -> ReplayBuffer:
    return ReplayBuffer(
        (2,),
        np.float32,
        1,
        capacity=capacity,
        frame_stack=1,
        nstep=1,
        discount=0.99,
        seed=seed,
        per_transition=per_transition,
    )


def test_sharded_replay_samples_every_episode_equally_wherever_it_is_stored():
    # Shard 0 holds one episode, shard 1 three: each of the four episodes should get 1/4.
    a, b = _shard(1), _shard(2)
    _episode(a, 5, 1.0)
    for value in (2.0, 3.0, 4.0):
        _episode(b, 5, value)
    replay = ShardedReplay([a, b], seed=0)
    assert (a.sample_weight(), b.sample_weight()) == (1, 3) and len(replay) == 20
    counts = np.zeros(5)
    for _ in range(200):
        batch = replay.sample(64)
        assert batch["obs"].shape == (64, 2) and batch["reward"].shape == (64, 1)
        np.add.at(counts, batch["reward"][:, 0].astype(int), 1)
    share = counts[1:] / counts.sum()
    assert np.allclose(share, 0.25, atol=0.02), share


def test_sharded_replay_per_transition_weights_by_transitions():
    a, b = _shard(1, per_transition=True), _shard(2, per_transition=True)
    _episode(a, 30, 1.0)  # 30 transitions against 10: shard a should get 3/4 of the draws
    _episode(b, 10, 2.0)
    replay = ShardedReplay([a, b], seed=0)
    rewards = np.concatenate([replay.sample(64)["reward"][:, 0] for _ in range(200)])
    assert abs(np.mean(rewards == 1.0) - 0.75) < 0.02


def test_sharded_replay_checkpoint_round_trip_and_mismatch():
    a, b = _shard(1), _shard(2)
    _episode(a, 5, 1.0)
    _episode(b, 4, 2.0)
    replay = ShardedReplay([a, b], seed=0)
    state = replay.state_dict()
    expected = replay.sample(16)
    restored = ShardedReplay([_shard(1), _shard(2)], seed=5)
    restored.load_state_dict(state)
    got = restored.sample(16)
    assert all(np.array_equal(got[k], expected[k]) for k in expected)  # same slots and RNG streams
    with pytest.raises(ValueError, match="2 shard"):
        ShardedReplay([_shard(1), _shard(2), _shard(3)], seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="1 shard"):
        replay.load_state_dict(a.state_dict())


def test_worker_counts_are_checked():
    for bad in (0, -2):
        with pytest.raises(ConfigError, match=re.escape("env.workers must be > 0")):
            resolve({"env.workers": bad})
    with pytest.raises(ConfigError, match=re.escape("env.workers=1000 is above 256")):
        resolve({"env.workers": 1000})


@pytest.mark.slow
def test_two_workers_keep_updates_per_transition_and_resume_exactly(tmp_path):
    full = tiny_states(frames=6000, env__workers=2)
    trainer = Trainer(full, tmp_path / "full")
    assert trainer.train() == "finished"
    single = Trainer(tiny_states(frames=6000), tmp_path / "single")
    single.train()
    # The same updates per transition as one env: DrQ-v2's one every 2 agent steps after the seed steps.
    assert trainer.counters.step == single.counters.step == 3000
    assert trainer.counters.updates == single.counters.updates == (3000 - 2000 // 2) // 2
    assert [r["frame"] for r in rows(tmp_path / "full" / "eval.csv")] == ["0", "2000", "4000", "6000"]
    train = rows(tmp_path / "full" / "train.csv")
    assert len(train) == 6  # three 500-step episodes per worker
    # Stop mid-episode (1550 steps: 775 per worker, 275 into the second episodes) and resume:
    # the same rows and weights as the uninterrupted run.
    part = tiny_states(frames=3100, env__workers=2)
    Trainer(part, tmp_path / "part").train()
    ckpt = load_checkpoint(tmp_path / "part")
    assert ckpt["counters"]["episode_steps"] == [275, 275] and len(ckpt["replay"]["shards"]) == 2
    part.frames = 6000
    assert load_trainer(tmp_path / "part", part).train() == "finished"
    assert rows(tmp_path / "part" / "train.csv") == train
    part_evals = [r for r in rows(tmp_path / "part" / "eval.csv") if r["frame"] != "3100"]
    assert part_evals == rows(tmp_path / "full" / "eval.csv")
    a, b = load_checkpoint(tmp_path / "part"), load_checkpoint(tmp_path / "full")
    for key, value in a["agent"]["critic"].items():
        assert np.array_equal(value.numpy(), b["agent"]["critic"][key].numpy()), key


@pytest.mark.slow
def test_ctrl_c_with_workers_saves_and_leaves_no_process(tmp_path):
    run = tmp_path / "run"
    args = [f"{k}={v}" for k, v in TINY_STATES.items()] + ["frames=200000", "env.workers=2", f"out={run}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dormant.cli", "train", *args],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_for(lambda: (run / "train.csv").exists())
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group, workers included
    _stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    ckpt = load_checkpoint(run)
    assert ckpt["counters"]["step"] > 0 and len(ckpt["env"]["episode_starts"]) == 2

    def group() -> list[str]:  # workers and multiprocessing's resource tracker
        return subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()

    assert wait_for(lambda: not group(), timeout=20), group()


def test_memory_estimate_counts_each_worker_process():
    from dormant.training.memory import BASE_BYTES, WORKER_BYTES, memory_problem, replay_bytes, run_memory_bytes

    one, four = resolve({"frames": 400_000}), resolve({"frames": 400_000, "env.workers": 4})
    assert run_memory_bytes(one) == replay_bytes(one) + BASE_BYTES
    assert run_memory_bytes(four) == run_memory_bytes(one) + 4 * WORKER_BYTES
    # With just enough RAM for the single-env run, the 4-worker run is refused, and the
    # capacity it names fits beside the workers.
    message = memory_problem(four, available=run_memory_bytes(one))
    assert "lower replay.capacity" in message
    fit = int(message.split("≤ ")[1].split(" fits")[0].replace(",", ""))
    smaller = resolve({"frames": 400_000, "env.workers": 4, "replay.capacity": fit})
    assert memory_problem(smaller, available=run_memory_bytes(one)) == ""


def test_batched_acting_matches_one_act_per_worker():
    import torch

    from dormant.agents import make_agent

    cfg = resolve(
        {"task": "dmc/cartpole_swingup", "obs": "states", "agent.num_expl_steps": 100, "agent.stddev_schedule": "0.2"}
    )
    agent = make_agent(cfg, (5,), 1, device=torch.device("cpu"))
    rng = np.random.default_rng(0)
    observations = [rng.normal(size=5).astype(np.float32) for _ in range(3)]
    # Deterministic (evaluation) actions: the batch equals one act per observation.
    batched = agent.act_many(observations, [500, 501, 502], eval_mode=True)
    single = [agent.act(o, 500 + i, eval_mode=True) for i, o in enumerate(observations)]
    assert np.allclose(np.stack(batched), np.stack(single), atol=1e-6)
    # Uniform exploration draws exactly as one act each.
    torch.manual_seed(3)
    early = agent.act_many(observations, [10, 11, 12])
    torch.manual_seed(3)
    assert all(
        np.array_equal(a, agent.act(o, 10 + i, eval_mode=False))
        for i, (a, o) in enumerate(zip(early, observations, strict=True))
    )
    # Training actions: the batch mean plus noise of σ = 0.2 in every row.
    many = [observations[0]] * 4000
    mean = agent.act(observations[0], 500, eval_mode=True)
    noisy = np.stack(agent.act_many(many, list(range(500, 4500))))
    assert noisy.shape == (4000, 1) and np.abs(noisy).max() < 1
    assert abs(float((noisy - mean).std()) - 0.2) < 0.01
