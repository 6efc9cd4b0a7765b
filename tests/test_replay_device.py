"""Replay on the agent's device (``replay.device=agent``): the same batches as the host
buffer, checkpoints that load across modes, and the same training, tested on the CPU
(the device code is torch indexing, the same on any device; CUDA is not exercised here)."""

import io
import re

import numpy as np
import pytest
import torch

from dormant.config import ConfigError, resolve
from dormant.replay import ReplayBuffer
from dormant.replay.storage import ring_slices
from dormant.training.checkpoint import load_checkpoint
from dormant.training.launch import launch
from dormant.training.memory import GPU_RESERVE_BYTES, device_memory_problem
from dormant.training.trainer import Trainer, load_trainer
from helpers import tiny_states

CPU = torch.device("cpu")
FRAME = (3, 6, 6)


def filled(device, *, seed=5, proprio_dim=0, **kwargs):
    """Six episodes of 12–17 random steps (random frames, actions, rewards in [−3, 3], some
    env discounts 0), written identically whatever the storage."""
    buf = ReplayBuffer(
        FRAME,
        np.uint8,
        2,
        capacity=60,
        frame_stack=3,
        nstep=3,
        discount=0.9,
        seed=seed,
        proprio_dim=proprio_dim,
        device=device,
        **kwargs,
    )
    rng = np.random.default_rng(1)
    for ep in range(6):  # 6 × ~15 transitions > capacity 60: the ring wraps and evicts
        length = 12 + ep
        for t in range(length + 1):
            buf.add(
                rng.integers(0, 256, FRAME, dtype=np.uint8),
                rng.uniform(-1, 1, 2).astype(np.float32),
                float(rng.uniform(-3, 3)),
                float(rng.random() > 0.1),
                first=t == 0,
                last=t == length,
                proprio=rng.standard_normal(proprio_dim).astype(np.float32) if proprio_dim else None,
            )
    return buf


def assert_same_batches(host, device, draws=4, batch_size=32):
    """Every key, in the same order, exactly equal (rewards included: they are summed on the host
    in both modes, so bit for bit); the device batch is torch tensors of the host dtypes."""
    for _ in range(draws):
        a, b = host.sample(batch_size), device.sample(batch_size)
        assert list(a) == list(b)
        for key in a:
            assert isinstance(a[key], np.ndarray) and isinstance(b[key], torch.Tensor), key
            assert b[key].dtype == torch.from_numpy(a[key]).dtype, key
            assert np.array_equal(a[key], b[key].numpy()), key


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # DrQ-v2: an episode, then a step in it
        {"per_transition": True, "reward_clip": 1.0},  # Dopamine's sampling with DQN's clipping
        {"horizon": 3},  # TACO's K-step extras
        {"horizon": 2, "proprio_dim": 4},  # proprioception beside the frames
    ],
    ids=["episode", "per_transition_clip", "horizon3", "proprio"],
)
def test_device_batches_equal_host_batches(kwargs):
    host, device = filled(None, **kwargs), filled(CPU, **kwargs)
    assert isinstance(host.frames, np.ndarray) and isinstance(device.frames, torch.Tensor)
    assert device.frames.dtype == torch.uint8 and tuple(device.frames.shape) == host.frames.shape  # one frame a slot
    # 3·6·6 = 108 B frame + 8 B action + 4 + 4 B (+ 16 B proprio) a slot; 500 transitions use 501 slots
    per_slot = 124 + 4 * kwargs.get("proprio_dim", 0)
    assert device.bytes_per_transition(500) == host.bytes_per_transition(500) == pytest.approx(per_slot * 501 / 500)
    assert_same_batches(host, device)
    expected = {"obs", "action", "reward", "discount", "next_obs"}
    if kwargs.get("horizon"):
        expected |= {"action_seq", "obs_k"}
    if kwargs.get("proprio_dim"):
        expected |= {"proprio", "next_proprio"} | ({"proprio_k"} if kwargs.get("horizon") else set())
    assert set(device.sample(4)) == expected


def test_device_batch_values_by_hand():
    """One 3-step episode (T = n = 3: idx is always 1): frames, action and sums known by hand."""
    buf = ReplayBuffer((1, 1, 1), np.uint8, 1, capacity=10, frame_stack=2, nstep=3, discount=0.5, device=CPU)
    for t in range(4):
        buf.add(np.full((1, 1, 1), 10 + t, np.uint8), np.array([t], np.float32), float(t), 1.0, t == 0, t == 3)
    b = buf.sample(2)
    assert b["obs"].flatten(1).tolist() == [[10, 10]] * 2  # obs[0] stacked with itself (reset frame repeated)
    assert b["next_obs"].flatten(1).tolist() == [[12, 13]] * 2  # obs[3] and obs[2]
    assert b["action"].tolist() == [[1.0]] * 2
    assert b["reward"].tolist() == [[1 + 0.5 * 2 + 0.25 * 3]] * 2  # 2.75
    assert b["discount"].tolist() == [[0.125]] * 2


@pytest.mark.parametrize("source,target", [(None, CPU), (CPU, None)], ids=["host_to_device", "device_to_host"])
def test_checkpoint_loads_across_modes(source, target):
    a = filled(source, proprio_dim=3)
    a.sample(7)  # advance the rng
    a.add(np.zeros(FRAME, np.uint8), np.zeros(2, np.float32), 0.0, 1.0, True, False, proprio=np.ones(3, np.float32))
    blob = io.BytesIO()
    torch.save(a.state_dict(), blob)
    blob.seek(0)
    state = torch.load(blob, weights_only=True)
    assert all(v.device.type == "cpu" for v in state.values() if isinstance(v, torch.Tensor))
    b = ReplayBuffer(
        FRAME, np.uint8, 2, capacity=60, frame_stack=3, nstep=3, discount=0.9, seed=99, proprio_dim=3, device=target
    )
    b.load_state_dict(state)
    host, device = (a, b) if source is None else (b, a)
    assert_same_batches(host, device)
    (acts_a, frames_a), (acts_b, frames_b) = a.open_episode(), b.open_episode()
    assert acts_a.shape == acts_b.shape == (0, 2) and len(frames_a) == len(frames_b) == 1
    assert np.array_equal(frames_a[0], frames_b[0])
    for key, value in a.state_dict().items():  # and it saves back to the same state
        other = b.state_dict()[key]
        assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other, key


def test_ring_slices_split_a_wrapped_range():
    assert ring_slices(3, 7, 10) == [slice(3, 7)]
    assert ring_slices(8, 13, 10) == [slice(8, 10), slice(0, 3)]  # global 8..12 → slots 8, 9, 0, 1, 2
    assert ring_slices(25, 25, 10) == []


def test_to_batch_passes_device_tensors_through():
    from dormant.agents import agent_for_env
    from dormant.envs import make_env

    cfg = tiny_states()
    agent = agent_for_env(cfg, make_env(cfg, seed=1), device=CPU)
    reward = torch.ones(4, 1)
    out = agent.to_batch({"reward": reward, "discount": np.zeros((4, 1), np.float32)})
    assert out["reward"] is reward  # already on the device: not copied
    assert isinstance(out["discount"], torch.Tensor) and out["discount"].sum() == 0


# --- training ------------------------------------------------------------------------------
def recorded_updates(cfg, run_dir, trainer=None):
    """Every update's metric vector (the losses, Q values, ...) of a run to its end."""
    trainer = trainer or Trainer(cfg, run_dir)
    values, update = [], trainer.agent.update
    trainer.agent.update = lambda batch, step: values.append(update(batch, step)) or values[-1]
    assert trainer.train() == "finished"
    trainer.close()
    return trainer, torch.stack(values)


def test_state_training_is_the_same_with_a_device_replay(tmp_path):
    """2400 frames of cartpole balance (action repeat 2: 200 agent steps after the 1000 seed
    steps, an update every 2nd: 100 updates): every update's metrics and the final critic bit-equal."""
    host, host_metrics = recorded_updates(tiny_states(frames=2400), tmp_path / "host")
    device, device_metrics = recorded_updates(tiny_states(frames=2400, replay__device="agent"), tmp_path / "agent")
    assert isinstance(device.replay.frames, torch.Tensor) and isinstance(host.replay.frames, np.ndarray)
    assert len(host_metrics) == 100 and torch.equal(host_metrics, device_metrics)
    for key, value in host.agent.critic.state_dict().items():
        assert torch.equal(value, device.agent.critic.state_dict()[key]), key


def test_pixel_training_is_the_same_with_a_device_replay(tmp_path):
    """A tiny pixel run (32² fast renders, action repeat 8: 75 agent steps after 125 seed steps, an
    update every 2nd: 37 updates; random shifts on): the same updates."""
    pixels = {
        "task": "dmc/cartpole_swingup",
        "frames": 1600,
        "num_seed_frames": 1000,
        "agent.num_expl_steps": 125,
        "agent.batch_size": 16,
        "agent.hidden_dim": 32,
        "env.image_size": 32,
        "env.action_repeat": 8,
        "env.fast_render": True,
        "eval.every_frames": 4000,
        "eval.episodes": 0,
        "log.progress": False,
        "log.tensorboard": False,
        "threads": 1,
    }
    _, host = recorded_updates(resolve(pixels), tmp_path / "host")
    _, device = recorded_updates(resolve({**pixels, "replay.device": "agent"}), tmp_path / "agent")
    assert len(host) == 37 and torch.equal(host, device)


def test_a_host_run_resumes_with_a_device_replay(tmp_path):
    """replay.device may change on resume (it changes no number): stop a host-replay run
    mid-episode, resume it with replay.device=agent, match the uninterrupted host run."""
    full, metrics = recorded_updates(tiny_states(frames=2400), tmp_path / "full")
    Trainer(tiny_states(frames=2200), tmp_path / "part").train()
    resumed = load_trainer(tmp_path / "part", tiny_states(frames=2400, replay__device="agent"))
    assert isinstance(resumed.replay.frames, torch.Tensor)
    _, values = recorded_updates(None, None, resumed)
    assert len(values) == 50 and torch.equal(values, metrics[-50:])  # 200 frames = 100 steps, an update every 2nd
    # The command's path: `dormant train --resume DIR frames=2400 replay.device=agent` is accepted.
    Trainer(tiny_states(frames=2200), tmp_path / "cli").train()
    assert launch({"frames": 2400, "replay.device": "agent"}, resume=tmp_path / "cli").status == "finished"
    critic = load_checkpoint(tmp_path / "cli")["agent"]["critic"]
    assert all(torch.equal(v, full.agent.critic.state_dict()[k]) for k, v in critic.items())


# --- configuration and memory ----------------------------------------------------------------
def test_unknown_replay_device_is_refused():
    with pytest.raises(ConfigError, match=re.escape("replay.device")):
        resolve({"replay.device": "gpu"})


def test_a_device_replay_that_cannot_fit_the_gpu_is_refused():
    cfg = resolve({"frames": 2_000_000, "replay.device": "agent"})  # 1M transitions of 3×84×84
    # (21,168 + 64) B × 10⁶ × 21/20 (reset slots) ≈ 22.3 GB ≈ 20.8 GiB, plus the 2 GiB reserve
    need = int(21_232 * 1_000_000 * 21 / 20) + GPU_RESERVE_BYTES
    message = device_memory_problem(cfg, free=need - 2**20)
    assert "replay.device=host" in message and "20.8 GiB of replay" in message
    assert device_memory_problem(cfg, free=need + 2**20) == ""
    cfg.replay.device = "host"
    assert device_memory_problem(cfg, free=2**30) == ""  # the replay stays in RAM: the RAM check applies


def test_launch_refuses_a_device_replay_the_gpu_cannot_hold(tmp_path, monkeypatch):
    monkeypatch.setattr("dormant.training.memory.mem_available", lambda: 64 * 2**30)  # RAM is not the problem
    monkeypatch.setattr("dormant.training.memory.device_free", lambda cfg: 8 * 2**30)  # as if on a small GPU
    with pytest.raises(ConfigError, match=re.escape("only 8.0 GiB is free")):
        launch({"frames": 1_100_000, "replay.device": "agent", "out": str(tmp_path / "run")})
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
