"""Distracting video backgrounds (env.background): composition, seeding, resume, refusals,
and real DMC renders with the shipped test video."""

from __future__ import annotations

import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

import dormant
from dormant.config.overrides import resolve
from dormant.envs.background import Background, background_mask, floor_geoms, scan
from dormant.errors import ConfigError

SHIPPED = Path(dormant.__file__).parent / "data" / "backgrounds"
ROOT = Path(__file__).resolve().parents[1]


def _still(path: Path, colour: tuple[int, int, int], size: int = 16) -> None:
    iio.imwrite(path, np.full((size, size, 3), colour, np.uint8))


@pytest.fixture
def stills(tmp_path: Path) -> Path:
    """Five one-colour still images plus a sub-folder clip of three frames (values 10, 20, 30)."""
    for i in range(5):
        _still(tmp_path / f"still{i}.png", (40 * i, 255 - 40 * i, 7))
    clip = tmp_path / "clip"
    clip.mkdir()
    for k in range(3):
        _still(clip / f"{k:05d}.png", (10 * (k + 1),) * 3)
    return tmp_path


def test_compose_takes_masked_pixels_from_the_background(stills: Path):
    bg = Background(str(stills), seed=0, size=4)
    bg.begin_episode()
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    mask = np.zeros((4, 4), bool)
    mask[0, :] = True  # a "sky" row
    mask[2, 1] = True
    out = bg.compose(image, mask)
    frame = bg.frame()
    assert np.array_equal(out[mask], frame[mask])  # background pixels replaced by the video frame
    assert np.array_equal(out[~mask], image[~mask])  # the agent's pixels kept
    assert not np.array_equal(out[mask], image[mask])


def test_subfolder_is_one_clip_that_advances_one_frame_per_step_and_loops(stills: Path):
    bg = Background(str(stills), seed=0, size=4)
    clip = [p.name for p in bg.clips].index("clip")
    while True:  # draw episodes until the sub-folder clip comes up
        bg.begin_episode()
        if bg.clip_index == clip:
            break
    values = []
    for _ in range(7):
        values.append(int(bg.frame()[0, 0, 0]))
        bg.advance()
    start = [10, 20, 30].index(values[0])
    assert values == [[10, 20, 30][(start + t) % 3] for t in range(7)]


def _draws(folder: Path, seed: int, episodes: int = 12) -> list[tuple[int, int]]:
    bg = Background(str(folder), seed=seed, size=4)
    out = []
    for _ in range(episodes):
        bg.begin_episode()
        out.append((bg.clip_index, bg.start))
    return out


def test_same_seed_same_backgrounds_other_seed_others_and_episodes_vary(stills: Path):
    a, b, c = _draws(stills, 3), _draws(stills, 3), _draws(stills, 4)
    assert a == b
    assert a != c
    assert len({clip for clip, _ in a}) >= 3  # episode-to-episode variety


def test_shipped_video_matches_its_generator():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from make_test_background import FRAMES, SIZE, frames
    finally:
        sys.path.pop(0)
    expected = frames()
    assert np.array_equal(expected, frames())  # deterministic
    decoded = iio.imread(SHIPPED / "shapes.mp4")
    assert decoded.shape == (FRAMES, SIZE, SIZE, 3)
    assert np.abs(decoded.astype(int) - expected).mean() < 12  # H.264 is lossy, the content is the same
    assert (SHIPPED / "shapes.mp4").stat().st_size < 100_000


# --- refusals ---------------------------------------------------------------------------
def _bad_folder(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "nope"
    if kind == "file":
        _still(tmp_path / "a.png", (1, 2, 3))
        return tmp_path / "a.png"
    if kind == "empty":
        return tmp_path
    if kind == "not_media":
        (tmp_path / "notes.txt").write_text("hello")
    if kind == "empty_file":
        (tmp_path / "v.mp4").write_bytes(b"")
    if kind == "empty_subfolder":
        (tmp_path / "clip").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "no such folder"),
        ("file", "is a file"),
        ("empty", "the folder is empty"),
        ("not_media", "'notes.txt' is neither a video"),
        ("empty_file", "is an empty file"),
        ("empty_subfolder", "holds no images"),
    ],
)
def test_bad_folders_are_refused_by_the_config_checks(tmp_path: Path, kind: str, message: str):
    folder = _bad_folder(tmp_path, kind)
    with pytest.raises(ConfigError, match=message):
        resolve({"task": "dmc/walker_walk", "env.background": str(folder)})


def test_undecodable_video_is_refused_when_the_background_is_built(tmp_path: Path):
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 100)
    scan(str(tmp_path))  # names and bytes look fine to the cheap check...
    with pytest.raises(ConfigError, match=r"cannot decode .*broken\.mp4"):
        Background(str(tmp_path), seed=0, size=84)  # ...decoding its first frame does not


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"task": "dmc/walker_walk", "obs": "states"}, "needs obs=pixels"),
        ({"task": "gym:Pendulum-v1"}, "applies to DMC tasks"),
        ({"task": "dmc/walker_walk", "env.background": "", "env.background_floor": "true"}, "needs env.background"),
    ],
)
def test_states_and_other_suites_are_refused(overrides: dict, message: str):
    overrides = {"env.background": str(SHIPPED), **overrides}
    with pytest.raises(ConfigError, match=message):
        resolve(overrides)


def test_a_good_folder_resolves():
    cfg = resolve({"task": "dmc/walker_walk", "env.background": str(SHIPPED), "env.background_floor": "true"})
    assert cfg.env.background == str(SHIPPED) and cfg.env.background_floor


# --- real DMC renders ---------------------------------------------------------------------
def _pair(floor: bool = False, seed: int = 1):
    from dormant.envs.dmc import DMCEnv

    with_bg = DMCEnv("walker_walk", seed=seed, fast_render=True, background=str(SHIPPED), background_floor=floor)
    plain = DMCEnv("walker_walk", seed=seed, fast_render=True)
    return with_bg, plain


@pytest.mark.parametrize("floor", [False, True])
def test_real_render_changes_the_background_and_keeps_the_agent(floor: bool):
    env, plain = _pair(floor)
    a, b = env.reset(), plain.reset()
    physics = plain._env.physics
    seg = physics.render(84, 84, camera_id=0, segmentation=True)[..., 0]
    sky = seg == -1
    on_floor = np.isin(seg, floor_geoms(physics.model))
    agent = ~sky & ~on_floor
    assert sky.mean() > 0.3 and on_floor.mean() > 0.05 and agent.mean() > 0.02
    changed = (a.frame != b.frame).any(axis=0)
    assert changed[sky].mean() > 0.9  # the video replaced the sky
    assert not changed[agent].any()  # the agent is rendered exactly as without a background
    assert changed[on_floor].mean() > 0.9 if floor else not changed[on_floor].any()
    assert np.array_equal(
        background_mask(physics, 84, 0, floor_geoms(physics.model) if floor else None), sky | on_floor if floor else sky
    )
    # The physics is the same with and without the background (its own random stream).
    act = np.zeros(env.action_dim, np.float32)
    a2, b2 = env.step(act), plain.step(act)
    assert a2.reward == b2.reward
    assert not np.array_equal(a2.frame, a.frame)  # the video moved on one frame
    assert env.render(128).shape == (128, 128, 3)  # evaluation videos compose at their own size


def test_resume_sees_exactly_the_frames_of_an_uninterrupted_run():
    from dormant.envs.dmc import DMCEnv

    env = DMCEnv("walker_walk", seed=5, fast_render=True, background=str(SHIPPED))
    ts = env.reset()
    start = env.episode_start_state()
    rng = np.random.default_rng(0)
    actions, frames = [], [ts.frame]
    for _ in range(4):
        actions.append(rng.uniform(-1, 1, env.action_dim).astype(np.float32))
        frames.append(env.step(actions[-1]).frame)
    follow = [rng.uniform(-1, 1, env.action_dim).astype(np.float32) for _ in range(3)]
    expected = [env.step(a).frame for a in follow]
    expected_next = env.reset().frame  # the next episode's clip and start frame too
    other = DMCEnv("walker_walk", seed=99, fast_render=True, background=str(SHIPPED))
    other.restore_episode(start, np.array(actions), frames)
    for a, want in zip(follow, expected, strict=True):
        assert np.array_equal(other.step(a).frame, want)
    assert np.array_equal(other.reset().frame, expected_next)
    # rng_state() carries the background's stream: an evaluation env restored from it repeats.
    state = env.rng_state()
    first = env.reset().frame
    env.set_rng_state(state)
    assert np.array_equal(env.reset().frame, first)
