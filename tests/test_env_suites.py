"""MetaWorld and Adroit environments: shapes, bounds, episode length, reward over the
action repeat, success plumbing, frame orientation, exact resume, missing extras."""

import sys

import numpy as np
import pytest

from dormant.config import ConfigError, resolve
from dormant.envs import MissingSuiteError, make_env
from dormant.envs import adroit as adroit_suite
from dormant.envs import metaworld as mw_suite

pytest.importorskip("metaworld")
pytest.importorskip("gymnasium_robotics")


def env_for(task: str, **overrides):
    cfg = resolve({"task": task, "env.fast_render": True, **overrides})
    return make_env(cfg, seed=overrides.pop("seed", 3))


def random_actions(n: int, dim: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, dim).astype(np.float32) for _ in range(n)]


def test_static_metaworld_task_list_matches_the_installed_package():
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    assert sorted(mw_suite.TASKS) == sorted(name.removesuffix("-v3") for name in ALL_V3_ENVIRONMENTS)


@pytest.mark.parametrize(
    "task, obs_shape, action_dim, proprio_dim, agent_steps",
    [
        ("metaworld/assembly", (9, 84, 84), 4, 0, 250),
        ("adroit/door", (3, 84, 84), 28, 24, 100),
        ("adroit/pen", (3, 84, 84), 24, 24, 50),
    ],
)
def test_reset_and_step_shapes_dtypes_bounds_and_episode_length(task, obs_shape, action_dim, proprio_dim, agent_steps):
    env = env_for(task)
    assert env.obs_shape == obs_shape and env.action_dim == action_dim and env.proprio_dim == proprio_dim
    assert np.all(env._action_low == -1.0) and np.all(env._action_high == 1.0)
    ts = env.reset()
    assert ts.first and not ts.last and ts.success == 0.0
    assert ts.observation.shape == obs_shape and ts.observation.dtype == np.uint8
    assert ts.frame.shape == (3, 84, 84) and ts.frame.dtype == np.uint8
    assert (ts.proprio is None) == (proprio_dim == 0)
    steps = 0
    for action in random_actions(1000, action_dim):
        ts = env.step(action)
        steps += 1
        assert isinstance(ts.reward, float) and ts.discount == 1.0 and ts.success in (0.0, 1.0)
        if proprio_dim:
            assert ts.proprio.shape == (proprio_dim,) and ts.proprio.dtype == np.float32
        if ts.last:
            break
    assert steps == agent_steps  # e.g. MetaWorld: 500 simulator steps at action repeat 2
    np.testing.assert_array_equal(ts.observation[-3:], ts.frame)


@pytest.mark.parametrize("task", ["metaworld/assembly", "metaworld/reach-sparse", "adroit/hammer"])
def test_reward_is_summed_over_the_action_repeat(task):
    twice = env_for(task)
    once = env_for(task, **{"env.action_repeat": 1})
    twice.reset(), once.reset()
    for action in random_actions(20, twice.action_dim):
        summed = twice.step(action).reward
        assert summed == pytest.approx(once.step(action).reward + once.step(action).reward, rel=1e-12, abs=1e-12)


def _mj_envs_door_reward(env) -> float:
    """door-v0's dense reward from `mj_envs`, worked out from the simulator state."""
    data, u = env.data, env
    handle, palm = data.site_xpos[u.handle_site_id], data.site_xpos[u.grasp_site_id]
    door = float(data.qpos[u.door_hinge_addrs])
    reward = -0.1 * np.linalg.norm(palm - handle)  # get to the handle (Gymnasium-Robotics 1.4.2: +0.1)
    reward += -0.1 * (door - 1.57) ** 2 - 1e-5 * np.sum(data.qvel**2)
    reward += 2 * (door > 0.2) + 8 * (door > 1.0) + 10 * (door > 1.35)
    return float(reward)


def test_adroit_reward_is_mj_envs_reward_scaled_with_the_sign_fix():
    env = env_for("adroit/door", **{"env.action_repeat": 1})
    raw = env_for("adroit/door", **{"env.action_repeat": 1, "env.reward_fix": False})
    env.reset(), raw.reset()
    for action in random_actions(10, env.action_dim):
        fixed, shipped = env.step(action).reward, raw.step(action).reward
        assert fixed == pytest.approx(_mj_envs_door_reward(env._env) / 20, rel=1e-9)
        assert shipped != pytest.approx(fixed)  # the shipped sign differs


def test_metaworld_success_is_any_success_and_sparse_reward_counts_successful_steps():
    from metaworld.policies import SawyerReachV3Policy

    policy = SawyerReachV3Policy()
    for task in ("metaworld/reach", "metaworld/reach-sparse"):
        env = env_for(task)
        ts, flags, rewards = env.reset(), [], []
        while not ts.last:
            ts = env.step(policy.get_action(env._env._get_obs()))
            flags.append(ts.success)
            rewards.append(ts.reward)
        first = flags.index(1.0)  # the scripted policy reaches the goal …
        assert all(flag == 1.0 for flag in flags[first:])  # … and the episode stays a success
        if task.endswith("sparse"):
            assert set(rewards) <= {0.0, 1.0, 2.0} and sum(rewards) > 0 and all(r == 0 for r in rewards[:first])
        else:
            assert len(set(rewards)) > 10  # dense


def test_adroit_success_needs_more_than_25_successful_simulator_steps():
    env = env_for("adroit/door")
    step = env._env.step

    def always_succeeds(action):
        obs, reward, terminated, truncated, info = step(action)
        return obs, reward, terminated, truncated, {**info, "success": True}

    env._env.step = always_succeeds
    env.reset()
    flags = [env.step(a).success for a in random_actions(20, env.action_dim)]
    # 2 simulator steps per agent step: 26 successful steps are reached at agent step 13.
    assert flags.index(1.0) == 12 and all(flags[12:])


def test_metaworld_frames_are_upright_table_below_the_gripper():
    import mujoco

    env = env_for("metaworld/assembly")
    frame = env.reset().frame.transpose(1, 2, 0).astype(int)
    r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
    wood = (r > 90) & (r > g + 15) & (g > b + 5) & (r - b > 40)  # the table's brown
    rows = np.nonzero(wood)[0]
    assert len(rows) > 300 and np.median(rows) > 48  # the table fills the lower half
    gripper = env._env.tcp_center
    table_point = gripper - np.array([0.0, 0.0, 0.1])  # 10 cm below the gripper
    model, data = env._env.model, env._env.data
    cam = env._camera_id

    def camera_row(point):  # pinhole projection into the camera's own (unflipped) image, row 0 on top
        rel = point - data.cam_xpos[cam]
        cam_frame = data.cam_xmat[cam].reshape(3, 3).T @ rel  # x right, y up, z backwards
        fy = 0.5 * 84 / np.tan(np.deg2rad(model.cam_fovy[cam]) / 2)
        return 41.5 - fy * cam_frame[1] / -cam_frame[2]

    # The camera is mounted upside down: natively the lower point lands higher …
    assert camera_row(table_point) < camera_row(gripper)
    # … so after the wrapper's vertical flip (row → 83 − row) the table is below the gripper.
    assert 83 - camera_row(table_point) > 83 - camera_row(gripper)
    renderer = mujoco.Renderer(model, 84, 84)
    renderer.update_scene(data, camera=cam)
    np.testing.assert_array_equal(frame, renderer.render()[::-1])  # exactly one vertical flip
    renderer.close()


def test_adroit_frames_are_upright():
    frame = env_for("adroit/door").reset().frame.astype(float)
    # vil_camera: dark background above the table, lit floor and table legs below
    # (measured: top quarter ≈ 23, bottom quarter ≈ 65 of 255); upside down would swap them.
    assert 2 * frame[:, :21].mean() < frame[:, -21:].mean()


@pytest.mark.parametrize("task", ["metaworld/assembly", "adroit/door"])
def test_restore_episode_reproduces_the_simulator_state(task):
    env = env_for(task, seed=5)
    env.reset()
    ts = env.reset()  # the second episode starts from a later RNG state
    start = env.episode_start_state()
    actions = random_actions(7, env.action_dim, seed=1)
    frames = [ts.frame]
    for action in actions:
        ts = env.step(action)
        frames.append(ts.frame)
    follow = random_actions(4, env.action_dim, seed=2)
    expected = [env.step(a) for a in follow]
    other = env_for(task, seed=99)
    restored = other.restore_episode(start, np.array(actions), frames)
    np.testing.assert_array_equal(restored.observation, ts.observation)
    if env.proprio_dim:
        np.testing.assert_array_equal(restored.proprio, ts.proprio)
    for action, want in zip(follow, expected, strict=True):
        got = other.step(action)
        np.testing.assert_array_equal(got.frame, want.frame)
        assert got.reward == want.reward and got.last == want.last
        if env.proprio_dim:
            np.testing.assert_array_equal(got.proprio, want.proprio)


@pytest.mark.parametrize(
    "task, module, extra",
    [("metaworld/reach", "metaworld", "metaworld"), ("adroit/door", "gymnasium_robotics", "adroit")],
)
def test_missing_suite_names_the_extra_to_install(monkeypatch, task, module, extra):
    cfg = resolve({"task": task, "env.fast_render": True})
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ConfigError, match=rf"\.\[{extra}\]"):  # before any work …
        resolve({"task": task})
    with pytest.raises(MissingSuiteError, match=rf"\.\[{extra}\]"):  # … and where the env is built
        make_env(cfg, seed=1)


def test_metaworld_draws_a_new_goal_every_episode_reproducibly():
    a, b = env_for("metaworld/reach", seed=4), env_for("metaworld/reach", seed=4)
    goals = []
    for _ in range(3):
        a.reset(), b.reset()
        goals.append(a._env._target_pos.copy())
        np.testing.assert_array_equal(a._env._target_pos, b._env._target_pos)  # same seed, same goals
    assert not np.allclose(goals[0], goals[1]) and not np.allclose(goals[1], goals[2])


def test_adroit_proprioception_is_the_reference_slice_of_qpos():
    for task, ref_slice in {"door": slice(4, -2), "hammer": slice(2, -7), "pen": slice(None, -6)}.items():
        env = env_for(f"adroit/{task}")
        ts = env.reset()
        np.testing.assert_array_equal(ts.proprio, env._env.data.qpos[ref_slice].astype(np.float32))
    assert adroit_suite.TASKS["pen"]["success"] == 21  # "> 20 steps"


def test_camera_names_are_checked():
    with pytest.raises(ConfigError, match="did you mean 'topview'"):
        env_for("metaworld/reach", **{"env.camera": "topveiw"})
    with pytest.raises(ConfigError, match="camera_id"):
        resolve({"task": "dmc/walker_walk", "env.camera": "corner4"})
    assert env_for("adroit/door", **{"env.camera": "fixed"}).spec.camera == "fixed"
