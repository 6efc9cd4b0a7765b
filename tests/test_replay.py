"""Replay buffer: DrQ-v2 n-step sampling, frame stacking, eviction, checkpoints."""

import io

import numpy as np
import pytest
import torch

from dormant.envs.base import FrameStack
from dormant.replay import ReplayBuffer

FRAME = (1, 2, 2)  # tiny frames: each one is filled with a single code value


def code(ep: int, t: int) -> int:
    """The value written into frame t of episode ep (fits in uint8 for ep < 5, t < 50)."""
    return 50 * ep + t


def make(capacity=1000, frame_stack=3, nstep=3, discount=0.99, seed=0, action_dim=1):
    return ReplayBuffer(
        FRAME,
        np.uint8,
        action_dim,
        capacity=capacity,
        frame_stack=frame_stack,
        nstep=nstep,
        discount=discount,
        seed=seed,
    )


def add_episode(buf, ep, length, rewards=None, discounts=None):
    """Reset step t = 0 plus `length` transitions; frame t and action t both encode (ep, t)."""
    for t in range(length + 1):
        frame = np.full(FRAME, code(ep, t), np.uint8)
        action = np.array([code(ep, t) if t else 0.0], np.float32)  # zero action at reset
        reward = 0.0 if t == 0 else (rewards[t - 1] if rewards is not None else float(t))
        disc = 1.0 if t == 0 else (discounts[t - 1] if discounts is not None else 1.0)
        buf.add(frame, action, reward, disc, first=(t == 0), last=(t == length))


def frame_codes(stack, frame_stack=3):
    """The code of each frame in a stacked observation (C = frame_stack × 1)."""
    stack = stack.reshape(frame_stack, -1)
    assert np.all(stack == stack[:, :1])  # each frame is constant
    return [int(v) for v in stack[:, 0]]


# --- n-step return --------------------------------------------------------------------
def test_nstep_reward_and_discount_by_hand():
    buf = make(nstep=3, discount=0.9)
    add_episode(buf, 0, 3, rewards=[1.0, 2.0, 3.0])  # T = 3 = n → idx is always 1
    batch = buf.sample(8)
    # 1 + 0.9·2 + 0.81·3 = 1 + 1.8 + 2.43 = 5.23;  discount 0.9³ = 0.729
    assert np.allclose(batch["reward"], 5.23)
    assert np.allclose(batch["discount"], 0.729)
    assert batch["reward"].shape == (8, 1) and batch["discount"].shape == (8, 1)
    assert batch["reward"].dtype == np.float32 and batch["discount"].dtype == np.float32
    assert np.all(batch["action"] == 1)  # action[idx = 1]
    assert all(frame_codes(o) == [0, 0, 0] for o in batch["obs"])  # obs[0]
    assert all(frame_codes(o)[-1] == 3 for o in batch["next_obs"])  # obs[idx + n − 1 = 3]


def test_nstep_env_discount_zero_cuts_later_reward():
    buf = make(nstep=3, discount=0.9)
    add_episode(buf, 0, 3, rewards=[1.0, 2.0, 3.0], discounts=[1.0, 0.0, 1.0])
    batch = buf.sample(4)
    # r = 1 + (0.9·1)·2 + (0.9·1)(0.9·0)·3 = 1 + 1.8 + 0 = 2.8;  γ_n = 0.9·1 · 0.9·0 · 0.9·1 = 0
    assert np.allclose(batch["reward"], 2.8)
    assert np.all(batch["discount"] == 0.0)

    buf = make(nstep=3, discount=0.9)
    add_episode(buf, 0, 3, rewards=[1.0, 2.0, 3.0], discounts=[0.0, 1.0, 1.0])
    batch = buf.sample(4)
    # terminal at the first step: only r[idx] = 1 counts, γ_n = 0
    assert np.allclose(batch["reward"], 1.0)
    assert np.all(batch["discount"] == 0.0)


def test_nstep_one_step():
    buf = make(nstep=1, discount=0.99)
    add_episode(buf, 0, 1, rewards=[0.5])
    batch = buf.sample(3)
    # n = 1: reward r[1] = 0.5, discount γ·d = 0.99; next_obs = obs[idx + 0] = obs[1]
    assert np.allclose(batch["reward"], 0.5) and np.allclose(batch["discount"], 0.99)
    assert all(frame_codes(o) == [0, 0, 1] for o in batch["next_obs"])


# --- index range and consistency ----------------------------------------------------
def check_consistent(batch, buf_nstep, frame_stack, lengths, gamma):
    """Every sample must match the episode it came from, worked from the codes."""
    idxs = []
    for obs, act, rew, disc, nxt in zip(
        batch["obs"], batch["action"], batch["reward"], batch["discount"], batch["next_obs"], strict=True
    ):
        ep, idx = divmod(int(act[0]), 50)
        T = lengths[ep]
        assert 1 <= idx <= T - buf_nstep + 1  # idx ∈ [1, T − n + 1]
        want_obs = [code(ep, max(idx - 1 - k, 0)) for k in range(frame_stack - 1, -1, -1)]
        last = idx + buf_nstep - 1
        want_next = [code(ep, max(last - k, 0)) for k in range(frame_stack - 1, -1, -1)]
        assert frame_codes(obs, frame_stack) == want_obs  # never another episode's frames
        assert frame_codes(nxt, frame_stack) == want_next
        # default rewards r[t] = t, env discounts 1: Σ γ^i (idx + i)
        assert rew[0] == pytest.approx(sum(gamma**i * (idx + i) for i in range(buf_nstep)), rel=1e-6)
        assert disc[0] == pytest.approx(gamma**buf_nstep, rel=1e-6)
        idxs.append((ep, idx))
    return idxs


def test_index_range_and_consistency():
    buf = make(nstep=3, discount=0.5)
    lengths = {0: 5, 1: 3, 2: 8}
    for ep, T in lengths.items():
        add_episode(buf, ep, T)
    seen = set(check_consistent(buf.sample(2000), 3, 3, lengths, 0.5))
    # every allowed (episode, idx) appears: idx ∈ [1, T − 2] → 3 + 1 + 6 = 10 pairs
    assert seen == {(0, i) for i in range(1, 4)} | {(1, 1)} | {(2, i) for i in range(1, 7)}
    # episodes are picked uniformly (not by length): about a third each
    eps = [e for e, _ in check_consistent(buf.sample(3000), 3, 3, lengths, 0.5)]
    assert all(abs(eps.count(e) / 3000 - 1 / 3) < 0.05 for e in lengths)


def test_short_episodes_are_not_sampled_and_open_episode_is_invisible():
    buf = make(nstep=3)
    add_episode(buf, 0, 2)  # T = 2 < n: never sampleable
    assert not buf.can_sample()
    with pytest.raises(ValueError):
        buf.sample(1)
    add_episode(buf, 1, 4)
    # an episode still being written is not sampled
    buf.add(np.full(FRAME, code(2, 0), np.uint8), np.zeros(1, np.float32), 0.0, 1.0, True, False)
    for t in range(1, 6):
        buf.add(np.full(FRAME, code(2, t), np.uint8), np.array([code(2, t)], np.float32), float(t), 1.0, False, False)
    assert buf.can_sample() and len(buf) == 6 and buf.num_episodes == 2
    eps = {int(a[0]) // 50 for a in buf.sample(500)["action"]}
    assert eps == {1}


def test_first_step_requires_first_flag():
    buf = make()
    with pytest.raises(ValueError):
        buf.add(np.zeros(FRAME, np.uint8), np.zeros(1, np.float32), 0.0, 1.0, False, False)


# --- frame stacking ---------------------------------------------------------------------
def test_frame_stack_repeats_reset_frame():
    buf = make(nstep=1, frame_stack=3)
    add_episode(buf, 0, 4)
    stacks = buf._stack(np.array([0, 0, 0, 0]), np.array([0, 1, 2, 3]))
    # f_t has code t: at 0 → [f0,f0,f0]; at 1 → [f0,f0,f1]; at 2 → [f0,f1,f2]; at 3 → [f1,f2,f3]
    assert [frame_codes(s) for s in stacks] == [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3]]
    assert stacks.shape == (4, 3, 2, 2)
    batch = buf.sample(200)
    for obs, act in zip(batch["obs"], batch["action"], strict=True):
        t = int(act[0]) - 1  # obs is taken at idx − 1
        assert frame_codes(obs) == [max(t - 2, 0), max(t - 1, 0), t]


def test_replay_stacks_match_env_frame_stack():
    """The stacks rebuilt at sample time equal what the env's FrameStack produced."""
    buf = make(nstep=1, frame_stack=3)
    add_episode(buf, 0, 5)
    fs = FrameStack(3)
    env_obs = [fs.reset(np.full(FRAME, code(0, 0), np.uint8))]
    env_obs += [fs.push(np.full(FRAME, code(0, t), np.uint8)) for t in range(1, 6)]
    stacks = buf._stack(np.zeros(6, np.int64), np.arange(6))
    for t in range(6):
        assert np.array_equal(stacks[t], env_obs[t])


# --- capacity and eviction ---------------------------------------------------------------
def test_fifo_eviction_of_whole_oldest_episodes():
    buf = make(capacity=12, nstep=1)
    for ep in range(3):
        add_episode(buf, ep, 4)
    # 3 × 4 = 12 transitions = capacity: nothing evicted yet
    assert buf.num_episodes == 3 and len(buf) == 12
    add_episode(buf, 3, 4)
    # 16 > 12: episode 0 (the oldest) goes, whole; 12 transitions remain
    assert buf.num_episodes == 3 and len(buf) == 12
    assert {int(a[0]) // 50 for a in buf.sample(600)["action"]} == {1, 2, 3}
    add_episode(buf, 4, 8)
    # 12 + 8 = 20 > 12 → evict 1 (16 > 12) then 2 (12 ≤ 12): episodes 3 and 4 remain
    assert buf.num_episodes == 2 and len(buf) == 12
    batch = buf.sample(600)
    assert {int(a[0]) // 50 for a in batch["action"]} == {3, 4}
    # the ring has wrapped (41 slots written into 12 + 1 + 2 = 15 slots): data still intact
    assert buf.num_slots == 15
    check_consistent(batch, 1, 3, {3: 4, 4: 8}, 0.99)


def test_episode_longer_than_buffer_raises():
    buf = make(capacity=4, nstep=1)  # 4 + 1 + 2 = 7 slots
    with pytest.raises(ValueError):
        add_episode(buf, 0, 10)


# --- storage -----------------------------------------------------------------------------
def test_frames_stored_once_as_uint8():
    buf = ReplayBuffer((3, 84, 84), np.uint8, 6, capacity=100, frame_stack=3, nstep=3, discount=0.99)
    assert buf.frames.dtype == np.uint8
    assert buf.frames.ndim == 4 and buf.frames.shape[1:] == (3, 84, 84)  # one frame, not a stack
    # slots = capacity + ⌈capacity/20⌉ + 2 = 100 + 5 + 2 = 107 (transitions + reset frames)
    assert buf.frames.shape == (107, 3, 84, 84)
    # per slot: 3·84·84 = 21,168 B frame + 6·4 = 24 B action + 4 B reward + 4 B discount = 21,200;
    # a 500-step episode uses 501 slots: 21,200 · 501 / 500 = 21,242.4 B per transition
    bpt = buf.bytes_per_transition(500)
    assert bpt == pytest.approx(21_242.4)
    assert bpt <= 21_500


def test_sampled_obs_have_stacked_shape():
    buf = ReplayBuffer((3, 84, 84), np.uint8, 6, capacity=100, frame_stack=3, nstep=3, discount=0.99)
    for t in range(6):
        buf.add(np.full((3, 84, 84), t, np.uint8), np.full(6, t, np.float32), 1.0, 1.0, t == 0, t == 5)
    b = buf.sample(4)
    assert b["obs"].shape == (4, 9, 84, 84) and b["obs"].dtype == np.uint8
    assert b["next_obs"].shape == (4, 9, 84, 84)
    assert b["action"].shape == (4, 6) and b["action"].dtype == np.float32


# --- checkpoints ---------------------------------------------------------------------------
def test_state_dict_round_trip_gives_identical_samples():
    a = make(capacity=12, nstep=2, seed=3)
    for ep in range(4):  # wraps the ring and evicts, so live_from > 0
        add_episode(a, ep, 4 + ep % 2)
    a.sample(5)  # advance the rng
    # plus a half-written episode
    a.add(np.full(FRAME, code(4, 0), np.uint8), np.zeros(1, np.float32), 0.0, 1.0, True, False)
    a.add(np.full(FRAME, code(4, 1), np.uint8), np.ones(1, np.float32), 1.0, 1.0, False, False)
    state = a.state_dict()
    blob = io.BytesIO()
    torch.save(state, blob)
    blob.seek(0)
    state = torch.load(blob, weights_only=True)

    b = make(capacity=12, nstep=2, seed=99)  # different seed: the rng state must come back
    b.load_state_dict(state)
    assert len(b) == len(a) and b.num_episodes == a.num_episodes
    for _ in range(3):
        sa, sb = a.sample(64), b.sample(64)
        for key in sa:
            assert np.array_equal(sa[key], sb[key]), key
    acts_a, frames_a = a.open_episode()
    acts_b, frames_b = b.open_episode()
    assert np.array_equal(acts_a, acts_b) and len(frames_a) == len(frames_b) == 2
    # finishing the open episode works the same in both
    for buf in (a, b):
        buf.add(np.full(FRAME, code(4, 2), np.uint8), np.full(1, code(4, 2), np.float32), 2.0, 1.0, False, True)
    sa, sb = a.sample(64), b.sample(64)
    for key in sa:
        assert np.array_equal(sa[key], sb[key]), key


def test_load_state_dict_rejects_mismatched_config():
    a = make(capacity=12, nstep=2)
    add_episode(a, 0, 4)
    with pytest.raises(ValueError):
        make(capacity=12, nstep=3).load_state_dict(a.state_dict())


def test_budget_capped_allocation_resumes_into_a_larger_buffer():
    """A run allocates only its budget; a resumed, longer run re-places the same data."""

    def make(alloc):
        return ReplayBuffer(
            (1,), np.uint8, 1, capacity=1000, frame_stack=2, nstep=2, discount=0.9, seed=3, allocate_transitions=alloc
        )

    small = make(30)
    assert small.num_slots == 2 * 30 + 2  # below capacity: a reset slot per transition (+ 2)
    for ep in range(3):
        for t in range(9):
            small.add(np.array([10 * ep + t], np.uint8), np.array([t], np.float32), 1.0, 1.0, first=t == 0, last=t == 8)
    big = make(None)
    big.load_state_dict(small.state_dict())
    a, b = small.sample(16), big.sample(16)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    with pytest.raises(ValueError, match="slots"):
        make(10).load_state_dict(small.state_dict())
