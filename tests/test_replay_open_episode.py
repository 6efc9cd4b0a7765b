"""Sampling the episode being played (``replay.sample_open_episode``) and zero-padded frame
stacks (``replay.zero_pad``), the replay rules of Dopamine's DQN/DrQ(ε) and ALIX's buffer.

Frames hold their episode position (plus 100 × the episode's tag), the reward of step t is t,
so a sampled batch shows which steps it was built from."""

import numpy as np
import pytest
import torch

from dormant.replay import ReplayBuffer
from dormant.replay.shards import ShardedReplay


def _buffer(*, nstep=3, stack=2, seed=0, **kwargs) -> ReplayBuffer:
    return ReplayBuffer(
        (1,), np.float32, 1, capacity=1000, frame_stack=stack, nstep=nstep, discount=0.5, seed=seed, **kwargs
    )


def _write(buf: ReplayBuffer, tag: int, steps: int, last: bool, zero_at=()) -> None:
    """An episode's reset step and ``steps`` steps (``last``: the final one ends it)."""
    buf.add(np.full(1, 100 * tag, np.float32), np.zeros(1), 0.0, 1.0, first=True, last=False)
    for t in range(1, steps + 1):
        buf.add(
            np.full(1, 100 * tag + t, np.float32),
            np.full(1, t, np.float32),
            float(t),
            0.0 if t in zero_at else 1.0,
            first=False,
            last=last and t == steps,
        )


def _steps(batch, tag):
    """The episode positions of ``obs``'s newest frame for the samples of episode ``tag``."""
    newest = batch["obs"][:, -1]
    mine = (newest >= 100 * tag) & (newest < 100 * tag + 100)
    return (newest[mine] - 100 * tag).astype(int), mine


@pytest.mark.parametrize("dopamine", [True, False], ids=["dopamine", "alix"])
def test_open_episode_transitions_are_drawn_uniformly_with_the_complete_ones(dopamine):
    """A complete episode of 9 transitions and an open one with 7 steps stored (n = 3).
    Dopamine (per-transition): the complete episode's 9 (sums cut at its end) and the open
    one's 7 − 3 = 4 (its newest window, ending at step 7, not yet: the agent stores it with the
    next step). ALIX: whole windows only, 9 − 3 + 1 = 7 and 7 − 3 + 1 = 5."""
    buf = _buffer(per_transition=dopamine, open_episode=True, seed=3)
    _write(buf, 1, 9, last=True)
    _write(buf, 2, 7, last=False)
    closed, opened = (9, 4) if dopamine else (7, 5)
    assert buf.sample_weight() == closed + opened and buf.can_sample()
    batch = buf.sample(40_000)
    steps, mine = _steps(batch, 2)
    assert np.mean(mine) == pytest.approx(opened / (closed + opened), abs=0.01)
    counts = np.bincount(steps, minlength=opened)
    assert len(counts) == opened and counts.min() > 0.9 * counts.mean()  # obs at steps 0 … opened − 1
    # At the open end: n-step sums and next obs from stored steps only, no truncation.
    idx = steps + 1
    expected = idx + 0.5 * (idx + 1) + 0.25 * (idx + 2)
    assert np.allclose(batch["reward"][mine, 0], expected)
    assert np.allclose(batch["discount"][mine, 0], 0.125)
    assert np.array_equal(batch["next_obs"][mine, -1], 200 + idx + 2)
    assert np.array_equal(batch["next_obs"][mine, 0], 200 + idx + 1)  # the stack of 2 below it
    assert np.array_equal(batch["action"][mine, 0], idx)


def test_the_open_episode_alone_can_be_sampled():
    """Before any episode ends (Atari-100k's first game outlasts the 1,600 seed steps)."""
    buf = _buffer(per_transition=True, open_episode=True, nstep=10)
    _write(buf, 1, 10, last=False)
    assert not buf.can_sample()  # 11 stored steps: no 10-step window before the newest yet
    buf.add(np.full(1, 111, np.float32), np.full(1, 11, np.float32), 11.0, 1.0, first=False, last=False)
    assert buf.sample_weight() == 1
    batch = buf.sample(8)
    assert np.all(batch["obs"][:, -1] == 100) and np.all(batch["next_obs"][:, -1] == 110)
    off = _buffer(per_transition=True, nstep=10)
    _write(off, 1, 11, last=False)
    assert not off.can_sample()


def test_zero_padding_at_the_start_and_after_a_zero_discount():
    """Stacks of 4: before the episode's first frame, and before the frame of a step with
    discount 0 (a lost life, after which Dopamine's agent starts a new state), frames are zero."""
    buf = _buffer(per_transition=True, open_episode=True, nstep=1, stack=4, zero_pad=True)
    _write(buf, 1, 9, last=False, zero_at=(5,))
    stacks = {int(b[-1]) - 100: b.tolist() for b in buf.sample(4000)["obs"]}
    assert stacks[0] == [0, 0, 0, 100]
    assert stacks[2] == [0, 100, 101, 102]
    assert stacks[4] == [101, 102, 103, 104]
    assert stacks[5] == [0, 0, 0, 105]  # the new life starts from zeros
    assert stacks[7] == [0, 105, 106, 107]
    repeat = _buffer(per_transition=True, open_episode=True, nstep=1, stack=4)
    _write(repeat, 1, 9, last=False, zero_at=(5,))
    stacks = {int(b[-1]) - 100: b.tolist() for b in repeat.sample(4000)["obs"]}
    assert stacks[0] == [100] * 4 and stacks[5] == [102, 103, 104, 105]  # the default: unchanged


@pytest.mark.parametrize("per_transition", [True, False])
def test_option_off_draws_as_before(per_transition):
    """With an open episode in the buffer and the option off, sampling is unchanged: the same
    batches as a buffer that never saw the open episode."""
    a, b = _buffer(per_transition=per_transition, seed=7), _buffer(per_transition=per_transition, seed=7)
    for buf in (a, b):
        _write(buf, 1, 9, last=True)
        _write(buf, 2, 6, last=True)
    _write(a, 3, 8, last=False)
    for _ in range(3):
        x, y = a.sample(64), b.sample(64)
        assert all(np.array_equal(x[k], y[k]) for k in x)


def test_checkpoint_round_trip_with_the_open_episode():
    buf = _buffer(per_transition=True, open_episode=True, zero_pad=True, stack=3, seed=11)
    _write(buf, 1, 9, last=True)
    _write(buf, 2, 8, last=False, zero_at=(4,))
    state = buf.state_dict()
    expected = buf.sample(64)
    restored = _buffer(per_transition=True, open_episode=True, zero_pad=True, stack=3, seed=99)
    restored.load_state_dict(state)
    got = restored.sample(64)
    assert all(np.array_equal(got[k], expected[k]) for k in expected)


def test_device_storage_equals_host_with_the_open_episode_and_zero_padding():
    kwargs = dict(per_transition=True, open_episode=True, zero_pad=True, stack=3, seed=5)
    host, device = _buffer(**kwargs), _buffer(device=torch.device("cpu"), **kwargs)
    for buf in (host, device):
        _write(buf, 1, 9, last=True, zero_at=(3,))
        _write(buf, 2, 8, last=False)
    for _ in range(3):
        x, y = host.sample(32), device.sample(32)
        assert all(np.array_equal(x[k], y[k].numpy()) for k in x)


def test_sharded_replay_weights_include_the_open_episodes():
    """Shard a: a complete episode of 10 (Dopamine: 10 draws); shard b: an open one with 15
    stored steps (15 − 1 − 1 = 13 draws at n = 1): b gets 13/23 of the batch."""
    a, b = (_buffer(per_transition=True, open_episode=True, nstep=1, seed=s) for s in (1, 2))
    _write(a, 1, 10, last=True)
    _write(b, 2, 14, last=False)
    replay = ShardedReplay([a, b], seed=0)
    assert (a.sample_weight(), b.sample_weight()) == (10, 13)
    newest = np.concatenate([replay.sample(64)["obs"][:, -1] for _ in range(300)])
    assert np.mean(newest >= 200) == pytest.approx(13 / 23, abs=0.02)
