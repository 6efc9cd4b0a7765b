"""Any Gymnasium environment (`gym:<id>`, `gym:<module>:<callable>`) and the suite registry
(`register_suite`, the `dormant.suites` entry points): pixels and states, the wrappers,
every refusal, exact resume, and the documented example."""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from dormant.cli import main
from dormant.config import ConfigError, resolve
from dormant.envs import MissingSuiteError, Suite, make_env, register_suite, task_listing, task_names, unregister_suite
from dormant.envs.gym import GymEnv
from dormant.interfaces import Env
from dormant.training.checkpoint import load_checkpoint
from dormant.training.trainer import Trainer, load_trainer

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).stem  # this module, importable by name: the entry points below point into it
TINY = {
    "agent.hidden_dim": 32,
    "agent.feature_dim": 8,
    "agent.batch_size": 32,
    "eval.episodes": 1,
    "log.progress": False,
    "log.tensorboard": False,
    "threads": 1,
}


class Recorder(gym.Env):
    """A 2-d continuous env that records the actions it receives. Reward = the step's index
    (1, 2, …); terminated at step ``terminate_at``, truncated at ``truncate_at``; renders a
    20×30 image whose colour is the step count."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}  # noqa: RUF012 (Gymnasium's class-level dict)
    terminate_at = 10**9
    truncate_at = 10**9

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(np.array([-2.0, 0.5], np.float32), np.array([3.0, 0.75], np.float32))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2, 2), dtype=np.float64)
        self.received: list[np.ndarray] = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.start = self.np_random.uniform(-1, 1, (2, 2))
        return self.start, {}

    def step(self, action):
        self.received.append(np.array(action))
        self.t += 1
        obs = self.start + self.t + np.asarray(action, np.float64).sum()
        return obs, float(self.t), self.t >= self.terminate_at, self.t >= self.truncate_at, {}

    def render(self):
        return np.full((20, 30, 3), self.t % 256, np.uint8)


class Terminates(Recorder):
    terminate_at = 3


class Truncates(Recorder):
    truncate_at = 3


class DictObs(Recorder):
    def __init__(self, render_mode=None):
        super().__init__(render_mode)
        self.observation_space = gym.spaces.Dict({"x": gym.spaces.Box(-1, 1, (2,))})


class HumanOnly(Recorder):
    metadata = {"render_modes": ["human"]}  # noqa: RUF012 (Gymnasium's class-level dict)


class Unbounded(Recorder):
    def __init__(self, render_mode=None):
        super().__init__(render_mode)
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)


NOT_CALLABLE = 42


def recorder(name: str = "Recorder", **overrides) -> GymEnv:
    cfg = resolve({"task": f"gym:{HERE}:{name}", **overrides})
    return make_env(cfg, seed=cfg.seed)


# --- pixels and states from real Gymnasium envs -----------------------------------------
def test_pixels_from_a_mujoco_env():
    cfg = resolve({"task": "gym:InvertedPendulum-v5"})
    assert (cfg.env.action_repeat, cfg.env.frame_stack, cfg.frames) == (2, 3, 1_100_000)  # DrQ-v2's defaults
    env = make_env(cfg, seed=1)
    try:
        assert isinstance(env, Env)
        assert env.obs_shape == (9, 84, 84) and env.frame_shape == (3, 84, 84) and env.action_dim == 1
        ts = env.reset()
        assert ts.observation.shape == (9, 84, 84) and ts.observation.dtype == np.uint8 and ts.first
        assert ts.observation.std() > 0  # a picture, not a blank
        ts = env.step(np.zeros(1, np.float32))
        np.testing.assert_array_equal(ts.observation[-3:], ts.frame)
        assert env.render(64).shape == (64, 64, 3)
    finally:
        env.close()


def test_states_follow_the_seeded_env_and_sum_rewards_over_the_action_repeat():
    cfg = resolve({"task": "gym:Pendulum-v1", "obs": "states", "seed": 5})
    env = make_env(cfg, seed=5)
    raw = gym.make("Pendulum-v1")
    ts = env.reset()
    obs, _ = raw.reset(seed=5)  # the first episode starts from reset(seed=…)
    assert env.obs_shape == (3,) and ts.observation.dtype == np.float32
    np.testing.assert_array_equal(ts.observation, obs.astype(np.float32))
    for action in (-1.0, 0.3, 1.0):
        ts = env.step(np.array([action], np.float32))
        rewards = [raw.step(np.array([2.0 * action], np.float32))[1] for _ in range(2)]  # bounds ±2
        assert ts.reward == pytest.approx(sum(rewards), rel=1e-12) and ts.discount == 1.0
    env.close()


# --- the wrappers -------------------------------------------------------------------
def test_frame_stack_shape_and_resize_of_a_non_square_render():
    env = recorder(**{"env.image_size": 32, "env.frame_stack": 4})
    ts = env.reset()
    assert env.obs_shape == ts.observation.shape == (12, 32, 32) and ts.observation.dtype == np.uint8
    ts = env.step(np.zeros(2, np.float32))
    assert (ts.frame == 2).all() and (ts.observation[:9] == 0).all()  # 2 steps (action repeat); 3 reset frames


def test_actions_are_scaled_exactly_onto_the_bounds_and_repeated():
    env = recorder(**{"env.action_repeat": 3})
    env.reset()
    inner = env._env.unwrapped
    for action, expected in (([-1, -1], [-2.0, 0.5]), ([1, 1], [3.0, 0.75]), ([0, 0], [0.5, 0.625])):
        ts = env.step(np.array(action, np.float32))
        assert len(inner.received) % 3 == 0
        for sent in inner.received[-3:]:
            assert sent.dtype == np.float32 and sent.tolist() == expected
    assert ts.reward == 7 + 8 + 9  # the rewards of the three simulator steps, summed


@pytest.mark.parametrize("name, discount", [("Terminates", 0.0), ("Truncates", 1.0)])
def test_terminated_ends_with_discount_0_and_truncated_with_discount_1(name, discount):
    env = recorder(name, **{"env.action_repeat": 2})
    env.reset()
    first = env.step(np.zeros(2, np.float32))
    assert (first.last, first.discount, first.reward) == (False, 1.0, 3.0)
    last = env.step(np.zeros(2, np.float32))
    assert (last.last, last.discount, last.reward) == (True, discount, 3.0)  # stopped after one of two steps


def test_states_are_the_flattened_box_observation():
    env = recorder(obs="states")
    ts = env.reset()
    assert env.obs_shape == (4,) and ts.observation.dtype == np.float32
    np.testing.assert_array_equal(ts.observation, env._env.unwrapped.start.reshape(-1).astype(np.float32))


# --- refusals -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            {"task": "gym:CartPole-v1"},
            "discrete actions (Discrete(2)); the continuous-action agents (drqv2, drm, alix, taco, sac) need",
        ),
        ({"task": f"gym:{HERE}:DictObs", "obs": "states"}, "obs=states needs a Box observation space"),
        ({"task": f"gym:{HERE}:HumanOnly"}, "obs=pixels needs render_mode='rgb_array'"),
        ({"task": f"gym:{HERE}:HumanOnly", "obs": "states", "eval.video": True}, "no rgb_array rendering"),
        ({"task": f"gym:{HERE}:Unbounded"}, "the action Box is unbounded"),
        ({"task": "gym:Pendulum-v9"}, "did you mean 'Pendulum-v1'"),
        ({"task": "gym:no_such_module_here:Env"}, "cannot import 'no_such_module_here'"),
        ({"task": f"gym:{HERE}:Recordr"}, "did you mean 'Recorder'"),
        ({"task": f"gym:{HERE}:NOT_CALLABLE"}, "not a class or function"),
        ({"task": "gym/Pendulum-v1"}, "gym tasks are written gym:<task>"),
        ({"task": "gym:Pendulum-v1", "env.camera": "top"}, "do not apply to gym: tasks"),
    ],
)
def test_bad_gym_tasks_are_refused_when_resolving(overrides, expected):
    with pytest.raises(ConfigError) as err:
        resolve(overrides)
    assert expected in str(err.value)


@pytest.mark.skipif(importlib.util.find_spec("pygame") is not None, reason="pygame renders Pendulum here")
def test_a_render_that_fails_is_refused_when_resolving_and_states_still_work():
    with pytest.raises(ConfigError, match=r"the first reset and render failed .*pygame"):
        resolve({"task": "gym:Pendulum-v1"})
    assert resolve({"task": "gym:Pendulum-v1", "obs": "states"}).env.obs == "states"


def test_dormant_train_on_a_discrete_env_fails_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("dormant.training.launch._train_locked", lambda *a: pytest.fail("training started"))
    assert main(["train", "task=gym:CartPole-v1", f"out={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "discrete actions" in err and "need a continuous Box action space" in err
    assert not (tmp_path / "run").exists()


def test_dormant_config_and_tasks_accept_gym_names(capsys):
    assert main(["config", "task=gym:Pendulum-v1", "obs=states"]) == 0
    assert "task: gym:Pendulum-v1" in capsys.readouterr().out
    assert main(["tasks"]) == 0
    assert "gym:<task>" in capsys.readouterr().out


# --- the registration hook ------------------------------------------------------------
def _make_recorder(task: str, cfg, seed: int) -> GymEnv:
    return GymEnv(
        f"{HERE}:Recorder",
        obs=cfg.env.obs,
        seed=seed,
        image_size=cfg.env.image_size,
        frame_stack=cfg.env.frame_stack,
        action_repeat=cfg.env.action_repeat,
    )


EP_SUITE = Suite(make=_make_recorder, tasks=["a", "b"], obs=("pixels", "states"))


@pytest.fixture
def cleanup():
    names: list[str] = []
    yield names
    for name in names:
        unregister_suite(name)


def test_a_registered_suite_resolves_builds_and_lists(cleanup):
    cleanup.append("mysuite")
    register_suite(
        "mysuite",
        make=_make_recorder,
        tasks=lambda: ["x", "y"],
        obs=("pixels", "states"),
        preset=lambda task, agent: {"frames": 5000, "env.action_repeat": 4} if task == "x" else {},
    )
    cfg = resolve({"task": "mysuite/x", "obs": "states"})
    assert (cfg.frames, cfg.env.action_repeat, cfg.env.frame_stack) == (5000, 4, 1)
    env = make_env(cfg, seed=1)
    assert isinstance(env, Env) and env.reset().observation.shape == (4,)
    assert "mysuite/y" in task_names() and ("mysuite/x", "") in task_listing()
    with pytest.raises(ConfigError, match="did you mean 'mysuite/y'"):
        resolve({"task": "mysuite/yy"})
    with pytest.raises(ConfigError, match="already registered"):
        register_suite("mysuite", make=_make_recorder, tasks=["x"])
    with pytest.raises(ConfigError, match="already registered"):
        register_suite("dmc", make=_make_recorder, tasks=["x"])
    for bad in ("my/suite", "my:suite", ""):
        with pytest.raises(ConfigError, match="'/' or ':'"):
            register_suite(bad, make=_make_recorder, tasks=["x"])


def test_a_suite_whose_factory_returns_a_plain_gymnasium_env_trains(cleanup, tmp_path):
    """Before: the trainer failed with "'Recorder' object has no attribute 'obs_shape'" after
    creating the run directory; now the Gymnasium env gets the run's wrappers, as gym: tasks do."""
    cleanup.append("plainsuite")
    register_suite(
        "plainsuite",
        make=lambda task, cfg, seed: Truncates(render_mode="rgb_array"),
        tasks=["reach"],
        obs=("pixels", "states"),
    )
    cfg = resolve({"task": "plainsuite/reach", "obs": "pixels", "env.image_size": 32, **TINY})
    env = make_env(cfg, seed=1)
    assert isinstance(env, GymEnv) and env.obs_shape == (9, 32, 32)
    env.reset()
    step = env.step(np.array([1.0, -1.0]))  # +1 → high, −1 → low of each dimension, repeated twice
    np.testing.assert_allclose(env._env.unwrapped.received, [[3.0, 0.5], [3.0, 0.5]])
    assert step.reward == 1 + 2
    run = Trainer(
        resolve(
            {
                "task": "plainsuite/reach",
                "obs": "states",
                "frames": 600,
                "num_seed_frames": 400,
                "agent.num_expl_steps": 100,
                "eval.every_frames": 600,
                **TINY,
            }
        ),
        tmp_path / "run",
    )
    assert run.train() == "finished"
    cleanup.append("nopixels")
    register_suite("nopixels", make=lambda task, cfg, seed: Recorder(), tasks=["reach"])  # no rgb_array
    with pytest.raises(ConfigError, match="render_mode='rgb_array'"):
        make_env(resolve({"task": "nopixels/reach", **TINY}), seed=1)


def test_a_suite_whose_package_is_missing_names_its_install_hint(cleanup):
    cleanup.append("needs")
    register_suite(
        "needs", make=_make_recorder, tasks=["x"], requires="no_such_simulator_xyz", pip="pip install no-such-simulator"
    )
    with pytest.raises(ConfigError, match="pip install no-such-simulator"):
        resolve({"task": "needs/x"})
    cfg = resolve({"task": "dmc/cartpole_balance"})
    cfg.task = "needs/x"
    with pytest.raises(MissingSuiteError, match="pip install no-such-simulator"):
        make_env(cfg, seed=1)


def test_a_suite_announced_as_an_entry_point_is_found(cleanup, monkeypatch):
    cleanup.append("epsuite")
    announced = [importlib.metadata.EntryPoint(name="epsuite", value=f"{HERE}:EP_SUITE", group="dormant.suites")]
    real = importlib.metadata.entry_points

    def entry_points(**params):
        return announced if params.get("group") == "dormant.suites" else real(**params)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    cfg = resolve({"task": "epsuite/b", "obs": "states"})
    assert make_env(cfg, seed=1).reset().observation.shape == (4,)
    assert "epsuite/a" in task_names()


# --- exact resume ---------------------------------------------------------------------
@pytest.mark.parametrize("episodes_before", [0, 1])
def test_restore_episode_rebuilds_the_env_mid_episode(episodes_before):
    """From the first episode (`reset(seed=…)`) and from a later one (the env's RNG state)."""
    env = recorder(obs="states")
    actions = [np.random.default_rng(i).uniform(-1, 1, 2).astype(np.float32) for i in range(8)]
    for _ in range(episodes_before):
        env.reset()
        env.step(actions[0])
    ts = env.reset()
    start, frames = env.episode_start_state(), [ts.frame]
    for action in actions[:5]:
        frames.append(env.step(action).frame)
    expected = [env.step(action).observation for action in actions[5:]]
    fresh = recorder(obs="states")
    fresh.restore_episode(start, np.stack(actions[:5]), frames)
    for action, want in zip(actions[5:], expected, strict=True):
        np.testing.assert_array_equal(fresh.step(action).observation, want)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in r.items() if k not in ("fps", "elapsed_s")} for r in csv.DictReader(handle)]


def test_an_interrupted_gym_run_resumes_exactly(tmp_path):
    """Pendulum-v1 (200-frame episodes): stopped 50 agent steps into the 4th episode."""

    def config(frames: int):
        return resolve(
            {
                "task": "gym:Pendulum-v1",
                "obs": "states",
                "frames": frames,
                "num_seed_frames": 400,
                "agent.num_expl_steps": 100,
                "eval.every_frames": 600,
                **TINY,
            }
        )

    Trainer(config(1400), tmp_path / "full").train()
    part = config(700)
    Trainer(part, tmp_path / "part").train()
    assert load_checkpoint(tmp_path / "part")["counters"]["episode_steps"] == [50]
    part.frames = 1400
    assert load_trainer(tmp_path / "part", part).train() == "finished"
    assert _rows(tmp_path / "part" / "train.csv") == _rows(tmp_path / "full" / "train.csv")
    a, b = load_checkpoint(tmp_path / "part"), load_checkpoint(tmp_path / "full")
    for key, value in a["agent"]["critic"].items():
        assert torch.equal(value, b["agent"]["critic"][key]), key


# --- the documented example -----------------------------------------------------------
def test_the_custom_env_example_trains_from_pixels_and_resumes_from_the_cli(tmp_path):
    """The example uses the public API and the module:id form, so `dormant train --resume`
    of its run works in a new process (it registered its id in __main__ before, and the
    resume failed)."""
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "custom_gym_env.py"),
            "--frames",
            "300",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "finished: 300 frames of gym:point_reach:PointReach-v0" in out.stdout
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "examples"))
    out = subprocess.run(
        [sys.executable, "-m", "dormant", "train", "--resume", str(tmp_path / "run"), "frames=400"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "run" / "status.json").read_text())["frame"] >= 400


def test_the_action_space_refusals_name_every_agent_of_the_other_kind():
    from dormant.config.schema import AGENTS, DISCRETE_AGENTS
    from dormant.envs.gym import NEED_BOX, _continuous_agents

    continuous = [agent for agent in AGENTS if agent not in DISCRETE_AGENTS]
    assert _continuous_agents() == continuous and all(agent in NEED_BOX for agent in continuous)
    with pytest.raises(ConfigError) as refused:
        resolve({"task": f"gym:{HERE}:Recorder", "agent": "dqn", "obs": "states"})
    assert all(agent in str(refused.value) for agent in continuous)
