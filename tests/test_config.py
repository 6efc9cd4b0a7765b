import pytest

from dormant.config import ConfigError, field_paths, from_dict, parse_overrides, resolve


def test_defaults_follow_spec():
    cfg = resolve({})
    assert (cfg.env.frame_stack, cfg.env.action_repeat, cfg.env.image_size) == (3, 2, 84)
    a = cfg.agent
    assert (a.nstep, a.discount, a.batch_size, a.lr, a.feature_dim, a.hidden_dim) == (3, 0.99, 256, 1e-4, 50, 1024)
    assert (a.critic_target_tau, a.update_every_steps, a.num_expl_steps, a.stddev_clip) == (0.01, 2, 2000, 0.3)
    assert (cfg.replay.capacity, cfg.num_seed_frames, cfg.eval.every_frames, cfg.eval.episodes) == (
        1_000_000,
        4000,
        10_000,
        10,
    )


@pytest.mark.parametrize(
    "task, frames, schedule",
    [
        ("dmc/cartpole_swingup", 1_100_000, "linear(1.0,0.1,100000)"),
        ("dmc/cheetah_run", 3_100_000, "linear(1.0,0.1,500000)"),
        ("dmc/humanoid_walk", 30_100_000, "linear(1.0,0.1,2000000)"),
    ],
)
def test_tier_presets(task, frames, schedule):
    cfg = resolve({"task": task})
    assert cfg.frames == frames and cfg.agent.stddev_schedule == schedule


def test_domain_presets():
    assert (resolve({"task": "dmc/humanoid_run"}).agent.lr, resolve({"task": "dmc/dog_run"}).agent.feature_dim) == (
        8e-5,
        100,
    )
    quad = resolve({"task": "dmc/quadruped_run"})
    assert quad.env.camera_id == 2 and quad.replay.capacity == 100_000
    walker = resolve({"task": "dmc/walker_walk"})
    assert walker.agent.batch_size == 512 and walker.agent.nstep == 1
    assert resolve({"task": "dmc/quadruped_walk"}).env.camera_id == 2


def test_user_overrides_beat_presets_and_convert_types():
    cfg = resolve(
        parse_overrides(
            [
                "task=dmc/walker_walk",
                "agent.batch_size=128",
                "agent.lr=8e-5",
                "replay.capacity=1e5",
                "eval.video=true",
                "obs=states",
            ]
        )
    )
    assert cfg.agent.batch_size == 128 and cfg.agent.lr == 8e-5
    assert cfg.replay.capacity == 100_000 and cfg.eval.video is True
    assert cfg.env.obs == "states" and cfg.env.frame_stack == 1  # states preset


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"task": "dmc/cartpol_swingup"}, "did you mean 'dmc/cartpole_swingup'"),
        ({"agent": "drqv3"}, "did you mean 'drqv2'"),
        ({"agent.lrr": "1e-4"}, "did you mean 'agent.lr'"),
        ({"frames": "many"}, "expected int"),
        ({"agent.batch_size": "2.5"}, "expected int"),
        ({"eval.video": "maybe"}, "expected bool"),
        ({"obs": "pixel"}, "did you mean 'pixels'"),
        ({"frames": "1000"}, "impossible budget"),
        ({"agent.discount": "1.5"}, "agent.discount"),
        ({"agent.stddev_schedule": "linear(1,2)"}, "stddev_schedule"),
        ({"replay.capacity": "10"}, "smaller than one batch"),
        ({"device": "tpu"}, "device"),
        ({"agent.lr": "nan"}, "expected float"),
    ],
)
def test_bad_input_fails_with_a_useful_message(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        resolve(overrides)


def test_parse_overrides_rejects_malformed_and_duplicates():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["frames"])
    with pytest.raises(ConfigError, match="twice"):
        parse_overrides(["agent=drqv2", "agent.name=drqv2"])


def test_round_trip_through_dict():
    cfg = resolve({"task": "dmc/walker_run", "agent.lr": "3e-4", "seed": "7"})
    assert from_dict(cfg.to_dict()) == cfg


def test_every_field_name_is_reachable():
    paths = field_paths()
    assert {"frames", "agent.lr", "replay.capacity", "eval.every_frames", "env.fast_render"} <= set(paths)
