"""The Atari suite (ale-py): preprocessing, frames stored once, exact resume, the protocols'
presets, refusals, and human-normalised scores."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("ale_py")

from dormant.config import ConfigError, resolve
from dormant.envs.atari import AtariEnv
from dormant.envs.atari.resize import area_resize
from dormant.envs.atari.scores import ATARI_100K, RANDOM_HUMAN, REDO_DQN_GAMES
from dormant.replay import replay_for


def _play(env: AtariEnv, actions: list[int]):
    return [env.step(np.array([a], np.float32)) for a in actions]


def test_pong_steps_with_the_standard_preprocessing():
    env = AtariEnv("Pong", seed=1, sticky_actions=0.25, noop_max=30)
    try:
        first = env.reset()
        assert (env.num_actions, env.action_dim) == (6, 1)  # Pong's minimal action set
        assert first.observation.shape == (4, 84, 84) and first.frame.shape == (1, 84, 84)
        assert first.frame.dtype == np.uint8
        rng = np.random.default_rng(0)
        steps = _play(env, list(rng.integers(6, size=150)))  # 600 frames
        assert all(s.observation.shape == (4, 84, 84) for s in steps)
        assert env._frames_done == 600  # 4 frames per agent step
        assert (
            all(s.reward in (-1.0, 0.0, 1.0) for s in steps) and sum(s.reward for s in steps) < 0
        )  # random play loses
        assert len({s.frame.tobytes() for s in steps}) > 100  # frames change
    finally:
        env.close()


def test_max_pool_of_the_last_two_frames():
    env = AtariEnv("Breakout", seed=2, sticky_actions=0.0)
    try:
        env.reset()
        step = env.step(np.array([1.0], np.float32))
        pooled = np.maximum(env._previous, env._last_obs)
        assert np.array_equal(step.frame[0], area_resize(pooled, 84))  # OpenCV's INTER_AREA, bit for bit
    finally:
        env.close()


def test_life_loss_is_terminal_for_the_target_only_when_asked():
    for life_loss in (True, False):
        env = AtariEnv("Breakout", seed=3, sticky_actions=0.0, terminal_on_life_loss=life_loss)
        try:
            env.reset()
            steps = _play(env, [1] + [0] * 400)  # fire once, then let the ball go: lives are lost
            zero = [s for s in steps if s.discount == 0.0 and not s.last]
            assert bool(zero) == life_loss  # a mid-episode discount 0 appears only with the option
        finally:
            env.close()


def test_exact_resume_with_sticky_actions():
    rng = np.random.default_rng(4)
    env, other = AtariEnv("Pong", seed=5, noop_max=30), AtariEnv("Pong", seed=6, noop_max=30)
    try:
        env.reset()
        _play(env, [0] * 20)  # a later episode: its start state is the emulator's, RNG included
        env.reset()
        start = env.episode_start_state()
        actions = [np.array([a], np.float32) for a in rng.integers(6, size=120)]
        frames = [env._frame()] + [env.step(a).frame for a in actions]
        resumed = other.restore_episode(start, np.array(actions), frames)
        assert np.array_equal(resumed.observation, env._stack.stacked())
        for a in rng.integers(6, size=60):
            x, y = _play(env, [a])[0], _play(other, [a])[0]
            assert np.array_equal(x.frame, y.frame) and x.reward == y.reward
    finally:
        env.close()
        other.close()


def test_one_grayscale_frame_per_transition_in_replay():
    cfg = resolve({"task": "atari/Pong", "agent": "dqn"})
    env = AtariEnv("Pong", seed=1)
    try:
        replay = replay_for(cfg, env, allocate_transitions=1000)
        # 84·84 uint8 frame + one float action + reward + discount = 7,068 B per slot
        assert replay.bytes_per_transition(10**9) == pytest.approx(84 * 84 + 12)
        assert replay.reward_clip == 1.0
    finally:
        env.close()


def test_protocol_presets_and_refusals():
    dqn = resolve({"task": "atari/Pong", "agent": "dqn"})
    assert (
        dqn.frames,
        dqn.env.action_repeat,
        dqn.env.frame_stack,
        dqn.atari.sticky_actions,
        dqn.atari.terminal_on_life_loss,
        dqn.num_seed_frames,
    ) == (10_000_000, 4, 4, 0.25, False, 80_000)
    drq = resolve({"task": "atari/Breakout", "agent": "drq_eps"})
    assert (
        drq.frames,
        drq.atari.sticky_actions,
        drq.atari.terminal_on_life_loss,
        drq.num_seed_frames,
        drq.eval.episodes,
    ) == (400_000, 0.0, True, 6_400, 100)  # Atari-100k: 100k agent steps
    with pytest.raises(ConfigError, match="did you mean 'atari/Breakout'"):
        resolve({"task": "atari/Breakot", "agent": "dqn"})
    with pytest.raises(ConfigError, match="use agent=dqn or agent=drq_eps"):
        resolve({"task": "atari/Pong"})
    with pytest.raises(ConfigError, match="obs=states"):
        resolve({"task": "atari/Pong", "agent": "dqn", "obs": "states"})
    with pytest.raises(ConfigError, match="sticky_actions"):
        resolve({"task": "atari/Pong", "agent": "dqn", "atari.sticky_actions": "1.5"})
    with pytest.raises(ConfigError, match="shrunk by area averaging, to at most 160"):
        resolve({"task": "atari/Pong", "agent": "dqn", "env.image_size": 161})
    assert resolve({"task": "atari/Pong", "agent": "dqn", "env.image_size": 160}).env.image_size == 160


def test_atari_needs_no_opengl():
    from dormant.envs.registry import needs_gl

    assert not needs_gl(resolve({"task": "atari/Pong", "agent": "dqn", "eval.video": "true"}))
    assert needs_gl(resolve({"task": "dmc/cartpole_swingup"}))


def test_normalisation_constants():
    assert len(RANDOM_HUMAN) == 57 and set(ATARI_100K) <= set(RANDOM_HUMAN) and set(REDO_DQN_GAMES) <= set(RANDOM_HUMAN)
    assert RANDOM_HUMAN["Pong"] == (-20.7, 14.6) and RANDOM_HUMAN["Breakout"] == (1.7, 30.5)
    from dormant.experiments.collect import Run

    run = Run.__new__(Run)
    run.task, run.evals = "atari/Pong", {}
    assert run.score_range == (-20.7, 14.6)
    assert run.normalized(14.6) == pytest.approx(1.0) and run.normalized(-20.7) == pytest.approx(0.0)
    assert run.score_bounds is None  # plots do not clip Atari returns to [random, human]


@pytest.mark.slow
def test_drq_eps_trains_on_pong_with_redo_and_diagnostics(tmp_path):
    """The whole path on Atari: DrQ(ε) at its preset on Pong for 100 agent steps (50 updates; 25-step episodes),
    ReDo every 25 updates, diagnostics, a capped evaluation episode and the checkpoint."""
    from dormant.training.trainer import Trainer

    cfg = resolve(
        {
            "task": "atari/Pong",
            "agent": "drq_eps",
            "frames": 400,
            "num_seed_frames": 200,
            "agent.num_expl_steps": 50,
            "atari.max_episode_frames": 100,
            "eval.every_frames": 400,
            "eval.episodes": 1,
            "plasticity.redo": True,
            "plasticity.redo_every_updates": 25,
            "log.diagnostics_every_updates": 25,
            "threads": 1,
            "log.tensorboard": False,
            "log.progress": False,
        }
    )
    trainer = Trainer(cfg, tmp_path)
    try:
        assert trainer.train() == "finished"
    finally:
        trainer.close()
    assert trainer.counters.updates == 50
    events = (tmp_path / "events.csv").read_text().splitlines()[1:]
    assert len(events) == 2 and all("critic.trunk.0=" in row for row in events)  # conv layers recycled too
    header = (tmp_path / "diagnostics.csv").read_text().splitlines()[0]
    assert "critic_redo_dormant/trunk.1" in header and "critic_redo_dormant/head.1" in header
    assert (tmp_path / "checkpoint.pt").exists()


def _dopamine_frames(game: str, seed: int, actions, skip: int = 4):
    """The frames of Dopamine's ``AtariPreprocessing`` (terminal_on_life_loss) for these actions,
    written out here on a bare ALE env: two screen buffers filled at frames skip − 2 and
    skip − 1, the skip stopped at a terminal (a lost life or the game's end), the buffers
    max-pooled in place, area-resized to 84."""
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)
    env = gym.make(
        f"ALE/{game}-v5",
        obs_type="grayscale",
        frameskip=1,
        repeat_action_probability=0.0,
        max_num_frames_per_episode=100_000,
    )
    first, _ = env.reset(seed=seed)
    ale = env.unwrapped.ale
    buffers = [first.copy(), np.zeros_like(first)]
    lives, frames, cut = ale.lives(), [area_resize(first, 84)], 0
    for action in actions:
        for t in range(skip):
            _, _, terminated, truncated, _ = env.step(int(action))
            new_lives = ale.lives()
            terminal = terminated or truncated or new_lives < lives
            lives = new_lives
            if t >= skip - 2:
                buffers[t - (skip - 2)] = ale.getScreenGrayscale()
            if terminal:
                cut += t < skip - 1
                break
        np.maximum(buffers[0], buffers[1], out=buffers[0])
        frames.append(area_resize(buffers[0], 84))
        if terminated or truncated:
            break
    env.close()
    return frames, cut


def test_a_lost_life_ends_the_frame_skip_as_dopamine_does():
    """Breakout, random play through lost lives: with ``dopamine_screens`` every frame is
    Dopamine's, cut steps included; without it (every frame of the repeat played) they differ."""
    actions = np.random.default_rng(2).integers(4, size=400)
    expected, cut = _dopamine_frames("Breakout", 3, actions)
    assert cut >= 1  # some life was lost before the repeat's last frame
    for dopamine in (True, False):
        env = AtariEnv(
            "Breakout",
            seed=3,
            sticky_actions=0.0,
            terminal_on_life_loss=True,
            dopamine_screens=dopamine,
            max_episode_frames=100_000,
        )
        try:
            frames = [env.reset().frame[0]]
            for a in actions[: len(expected) - 1]:
                frames.append(env.step(np.array([a], np.float32)).frame[0])
        finally:
            env.close()
        same = all(np.array_equal(x, y) for x, y in zip(frames, expected, strict=True))
        assert same == dopamine


def test_zero_stack_starts_from_zeros_and_restarts_at_a_lost_life():
    env = AtariEnv("Breakout", seed=3, sticky_actions=0.0, terminal_on_life_loss=True, zero_stack=True)
    try:
        first = env.reset()
        assert not first.observation[:3].any() and np.array_equal(first.observation[3:], first.frame)
        steps = _play(env, [1] + [0] * 400)
        lost = [i for i, s in enumerate(steps) if s.discount == 0.0 and not s.last]
        assert lost
        at, after = steps[lost[0]], steps[lost[0] + 1]
        assert not at.observation[:3].any() and np.array_equal(at.observation[3], at.frame[0])
        assert not after.observation[:2].any() and np.array_equal(after.observation[2], at.frame[0])
        before = steps[lost[0] - 1]
        assert before.observation[0].any()  # mid-life stacks hold four frames
    finally:
        env.close()


def test_exact_resume_with_dopamines_stack_and_skip():
    """Sticky actions, lives lost inside the open episode: the resumed env rebuilds the stack
    from the last lost life and continues with the same frames and stacks."""
    rng = np.random.default_rng(8)
    kwargs = dict(sticky_actions=0.25, terminal_on_life_loss=True, zero_stack=True, dopamine_screens=True)
    env, other = AtariEnv("Breakout", seed=5, **kwargs), AtariEnv("Breakout", seed=6, **kwargs)
    try:
        first = env.reset()
        start = env.episode_start_state()
        actions, steps = [], []
        for a in rng.integers(4, size=400):
            actions.append(np.array([a], np.float32))
            steps.append(env.step(actions[-1]))
            if sum(s.discount == 0.0 for s in steps) == 2:  # two lives lost, the game goes on
                break
        actions.append(np.array([1], np.float32))
        steps.append(env.step(actions[-1]))  # the stack holds one frame after the restart
        assert not steps[-1].last
        frames = [first.frame] + [s.frame for s in steps]
        resumed = other.restore_episode(start, np.array(actions), frames)
        assert np.array_equal(resumed.observation, steps[-1].observation)
        for a in rng.integers(4, size=60):
            x, y = _play(env, [a])[0], _play(other, [a])[0]
            assert np.array_equal(x.observation, y.observation) and x.reward == y.reward
            if x.last:
                break
    finally:
        env.close()
        other.close()


def test_dopamine_environment_is_the_default_of_both_agents():
    """ALE's cap of 100,000 frames (Dopamine's ``max_num_frames_per_episode``), zero stacks and
    Dopamine's screen buffers for dqn and drq_eps, DrQ(ε)'s runner's no-op starts; their replay
    samples the open episode and pads with zeros."""
    for agent in ("dqn", "drq_eps"):
        cfg = resolve({"task": "atari/Pong", "agent": agent})
        assert (
            cfg.atari.max_episode_frames,
            cfg.atari.zero_stack,
            cfg.atari.dopamine_screens,
            cfg.replay.sample_open_episode,
        ) == (100_000, True, True, True)
        assert (cfg.atari.noop_min, cfg.atari.noop_max) == ((0, 29) if agent == "drq_eps" else (1, 0))
        env = AtariEnv("Pong", seed=1)
        try:
            replay = replay_for(cfg, env, allocate_transitions=1000)
            assert replay.zero_pad and replay.sample_open and replay.per_transition
        finally:
            env.close()
    with pytest.raises(ConfigError, match=re.escape("add atari.dopamine_screens=false atari.noop_min=1")):
        resolve({"task": "atari/Pong", "agent": "drq_eps", "atari.backend": "envpool"})


def test_dopamines_no_op_start_keeps_the_reset_screen():
    """Dopamine's Atari-100k runner plays U{0, …, 29} no-op frames after a reset without
    refreshing its screen buffers: the first frame is the reset's screen while the emulator has
    moved on; the no-op counts cover 0 … 29."""
    plain = AtariEnv("Breakout", seed=4, sticky_actions=0.0)
    env = AtariEnv("Breakout", seed=4, sticky_actions=0.0, noop_min=0, noop_max=29, dopamine_screens=True)
    try:
        assert np.array_equal(env.reset().frame, plain.reset().frame)
        counts = set()
        for _ in range(150):
            env.reset()
            counts.add(env._ale.getEpisodeFrameNumber())
        assert min(counts) == 0 and max(counts) == 29
    finally:
        env.close()
        plain.close()
