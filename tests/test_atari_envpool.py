"""``atari.backend=envpool``: the same rewards, episode ends, discounts and frames as the ale-py path on
fixed seeds and actions (both resize as OpenCV's INTER_AREA: EnvPool calls OpenCV, the ale-py path
repeats its arithmetic in numpy); the batched interface; resume; the configuration's refusals."""

from __future__ import annotations

import importlib.util
import re
import sys

import numpy as np
import pytest

pytest.importorskip("ale_py")

from dormant.config import ConfigError, resolve
from dormant.envs import make_env
from dormant.envs.atari import GAMES, AtariEnv
from dormant.envs.atari.resize import area_resize
from dormant.errors import MissingExtraError

needs_envpool = pytest.mark.skipif(
    importlib.util.find_spec("envpool") is None,
    reason="envpool is not installed: pip install -c constraints.txt -e '.[envpool]'",
)


def _pair(game: str, **kwargs):
    from dormant.envs.atari.envpool import EnvPoolAtariEnv

    common = {"seed": 3, "sticky_actions": 0.0, "noop_max": 1, **kwargs}
    return AtariEnv(game, **common), EnvPoolAtariEnv(game, **common)


@needs_envpool
@pytest.mark.parametrize("zero_stack", [False, True], ids=["repeat", "zeros"])
@pytest.mark.parametrize("game", ["Pong", "Breakout"])
def test_same_rewards_ends_and_frames(game, zero_stack):
    """300 steps of a seeded random action sequence (no sticky actions, one no-op frame at reset);
    stacks repeating the first frame (EnvPool's own) or from zeros, restarted at a lost life."""
    ale, pool = _pair(game, terminal_on_life_loss=True, zero_stack=zero_stack)
    try:
        x, y = ale.reset(), pool.reset()
        rng = np.random.default_rng(7)
        steps, ends = [(x, y, ale._last_obs)], 0
        for action in rng.integers(ale.num_actions, size=300):
            x, y = ale.step(np.array([action], np.float32)), pool.step(np.array([action], np.float32))
            assert (x.reward, x.discount, x.last) == (y.reward, y.discount, y.last)
            assert y.observation.shape == x.observation.shape == (4, 84, 84)
            if not x.last:
                np.testing.assert_array_equal(x.observation, y.observation)  # the stacks too
            if x.last:  # a game over's frame: EnvPool skips the max-pool there (docs/suites.md)
                ends += 1
                x, y = ale.reset(), pool.reset()
            steps.append((x, y, np.maximum(ale._previous, ale._last_obs)))
        for x, y, raw in steps:
            np.testing.assert_array_equal(y.frame[0], y.observation[-1])
            np.testing.assert_array_equal(x.frame, y.frame)  # the same bytes: both are OpenCV's INTER_AREA
            np.testing.assert_array_equal(area_resize(raw, 84), y.frame[0])
        if game == "Breakout":
            assert ends >= 1  # random play loses its five lives within 300 steps: resets are compared too
    finally:
        ale.close(), pool.close()


@needs_envpool
def test_opencv_area_on_the_ale_frame_is_envpools_frame_exactly():
    cv2 = pytest.importorskip("cv2", reason="opencv-python is not installed (not a dependency; optional check)")
    ale, pool = _pair("Breakout")
    try:
        ale.reset(), pool.reset()
        for action in np.random.default_rng(1).integers(4, size=120):
            x, y = ale.step(np.array([action], np.float32)), pool.step(np.array([action], np.float32))
            if x.last:
                break
            raw = np.maximum(ale._previous, ale._last_obs)
            np.testing.assert_array_equal(cv2.resize(raw, (84, 84), interpolation=cv2.INTER_AREA), y.frame[0])
            np.testing.assert_array_equal(area_resize(raw, 84), y.frame[0])
    finally:
        ale.close(), pool.close()


@needs_envpool
def test_noop_max_zero_is_one_noop_frame_in_envpool():
    from dormant.envs.atari.envpool import EnvPoolAtariEnv

    ale = AtariEnv("Pong", seed=1, sticky_actions=0.0, noop_max=1)
    pool = EnvPoolAtariEnv("Pong", seed=1, sticky_actions=0.0, noop_max=0)
    try:
        ale.reset(), pool.reset()
        for action in [0, 2, 3, 1] * 10:
            pool_step = pool.step(np.array([action], np.float32))
            ale.step(np.array([action], np.float32))
            raw = np.maximum(ale._previous, ale._last_obs)
            np.testing.assert_array_equal(area_resize(raw, 84), pool_step.frame[0])
    finally:
        ale.close(), pool.close()


@needs_envpool
def test_batched_games_step_together_and_restart_after_their_end():
    from dormant.envs.atari.envpool import EnvPoolAtari, EnvPoolAtariEnv

    # 10 agent steps per episode (a time limit: discount 1); without sticky actions every copy is the same game
    kwargs = {"sticky_actions": 0.0, "noop_max": 0, "max_episode_frames": 40}
    batch = EnvPoolAtari("Breakout", num_envs=3, seed=0, **kwargs)
    single = EnvPoolAtariEnv("Breakout", seed=9, **kwargs)
    try:
        first = batch.reset()
        assert first.observation.shape == (3, 4, 84, 84) and first.frame.shape == (3, 1, 84, 84) and first.first.all()
        actions = np.random.default_rng(2).integers(4, size=(12, 3))
        actions[:, 1] = 1  # the middle game fires every step
        single.reset()
        for t, row in enumerate(actions):
            step = batch.step(row)
            if t < 10:
                alone = single.step(np.array([row[1]], np.float32))
                np.testing.assert_array_equal(step.observation[1], alone.observation)
                assert step.reward[1] == alone.reward
            assert list(step.last) == [t == 9] * 3 and list(step.first) == [t == 10] * 3
            if t == 9:
                assert (step.discount == 1.0).all()  # truncated, not terminated
            if t == 10:  # restarted: the actions were ignored, the stack is the first frame four times
                assert (step.reward == 0).all() and all((o == o[0]).all() for o in step.observation)
        with pytest.raises(ValueError, match="expected 3 actions"):
            batch.step(np.array([0, 1]))
    finally:
        batch.close(), single.close()


@needs_envpool
def test_resume_replays_a_deterministic_episode_and_refuses_a_stochastic_one():
    from dormant.envs.atari.envpool import EnvPoolAtariEnv

    env = EnvPoolAtariEnv("Pong", seed=5, sticky_actions=0.0)
    other = EnvPoolAtariEnv("Pong", seed=6, sticky_actions=0.0)
    rng = np.random.default_rng(4)
    try:
        env.reset()
        for a in range(3):
            env.step(np.array([a], np.float32))
        env.reset()  # a later episode
        start = env.episode_start_state()
        actions = [np.array([a], np.float32) for a in rng.integers(6, size=80)]
        frames = [env.reset().frame] + [env.step(a).frame for a in actions]
        resumed = other.restore_episode(start, np.array(actions), frames)
        np.testing.assert_array_equal(resumed.observation, env._observation)
        for a in rng.integers(6, size=40):
            x, y = env.step(np.array([a], np.float32)), other.step(np.array([a], np.float32))
            np.testing.assert_array_equal(x.frame, y.frame)
            assert x.reward == y.reward
        with pytest.raises(ConfigError, match="did not reach the checkpoint's frame"):
            other.restore_episode(start, np.array(actions), [frames[0], *frames[:-1]])
    finally:
        env.close(), other.close()
    sticky = EnvPoolAtariEnv("Pong", seed=5, sticky_actions=0.25)
    try:
        sticky.reset()
        with pytest.raises(ConfigError, match="cannot resume this run mid-episode"):
            sticky.restore_episode(sticky.episode_start_state(), np.zeros((3, 1), np.float32), [np.zeros((1, 84, 84))])
    finally:
        sticky.close()


@needs_envpool
def test_every_game_is_in_envpool_and_the_backend_builds_through_the_registry():
    import envpool

    from dormant.envs.atari.envpool import EnvPoolAtariEnv, envpool_task

    assert {envpool_task(g) for g in GAMES} <= set(envpool.list_all_envs())
    cfg = resolve(
        {
            "task": "atari/Breakout",
            "agent": "drq_eps",
            "atari.backend": "envpool",
            "atari.dopamine_screens": False,
            "atari.noop_min": 1,
        }
    )
    env = make_env(cfg, seed=1)
    try:
        assert isinstance(env, EnvPoolAtariEnv) and (env.num_actions, env.obs_shape) == (4, (4, 84, 84))
        assert env.render(32).shape == (32, 32, 3)
    finally:
        env.close()


def test_backend_choice_and_refusals(monkeypatch):
    with pytest.raises(ConfigError, match="did you mean 'envpool'"):
        resolve({"task": "atari/Pong", "agent": "dqn", "atari.backend": "envpol"})
    with pytest.raises(ConfigError, match=re.escape("multiple of env.action_repeat")):
        resolve({"task": "atari/Pong", "agent": "dqn", "atari.backend": "envpool", "atari.max_episode_frames": 102})
    monkeypatch.setitem(sys.modules, "envpool", None)  # makes `import envpool` fail
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "envpool" else _find(name, *a))
    with pytest.raises(ConfigError, match=r"atari.backend=envpool needs the optional 'envpool'.*\.\[envpool\]"):
        resolve({"task": "atari/Pong", "agent": "dqn", "atari.backend": "envpool"})
    from dormant.envs.atari.envpool import import_envpool

    with pytest.raises(MissingExtraError, match=r"\.\[envpool\]"):
        import_envpool()


_find = importlib.util.find_spec


@needs_envpool
@pytest.mark.slow
def test_a_run_on_envpool_resumes_exactly_without_sticky_actions_and_refuses_with_them(tmp_path):
    """DrQ(ε) on Pong through EnvPool, 70-step episodes, stopped at 100 agent steps (mid-episode):
    the resumed run's train log equals the uninterrupted one's; with sticky actions it is refused."""
    import csv

    from dormant.training.trainer import Trainer, load_trainer

    def config(frames: int, sticky: float = 0.0):
        return resolve(
            {
                "task": "atari/Pong",
                "agent": "drq_eps",
                "atari.backend": "envpool",
                "frames": frames,
                "atari.dopamine_screens": False,
                "atari.noop_max": 0,
                "num_seed_frames": 200,
                "agent.num_expl_steps": 50,
                "atari.max_episode_frames": 280,
                "atari.sticky_actions": sticky,
                "eval.every_frames": 400,
                "eval.episodes": 1,
                "checkpoint_every_frames": 400,
                "threads": 1,
                "log.tensorboard": False,
                "log.progress": False,
                "replay.capacity": 1000,
            }
        )

    def rows(path):
        with open(path, newline="") as handle:
            return [{k: v for k, v in r.items() if k not in ("fps", "elapsed_s")} for r in csv.DictReader(handle)]

    Trainer(config(800), tmp_path / "full").train()
    Trainer(config(400), tmp_path / "part").train()
    assert load_trainer(tmp_path / "part", config(800)).train() == "finished"
    for name in ("train.csv", "eval.csv"):
        assert rows(tmp_path / "part" / name) == rows(tmp_path / "full" / name), name
    Trainer(config(400, sticky=0.25), tmp_path / "sticky").train()
    with pytest.raises(ConfigError, match="cannot resume this run mid-episode"):
        load_trainer(tmp_path / "sticky", config(800, sticky=0.25))
