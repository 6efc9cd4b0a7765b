"""Any Gymnasium environment as a `TimeStep` environment: ``task=gym:<id>`` (a registered id,
e.g. ``gym:InvertedPendulum-v5``) or ``task=gym:<module>:<callable>`` (a class or function
that returns a ``gymnasium.Env``; if the module has no such attribute but registers a
Gymnasium id of that name when imported, that id).

- Built with ``gymnasium.make`` (the registry's time limit, the order and passive checkers).
- Pixels: ``render()`` with ``render_mode="rgb_array"``, an H×W×3 (or ×4, alpha dropped)
  uint8 image resized to ``env.image_size`` square with Pillow's bilinear filter, which
  averages over the source pixels when it shrinks (no aliasing); an image of that size
  already is used as is. States: the Box observation flattened to float32.
- Actions: a Box with finite bounds; [−1, 1] is scaled onto it and cast to its dtype. With a
  discrete-action agent (``agent=dqn``/``drq_eps``): a ``Discrete(n)`` space, and nothing else.
- Stepping, episode ends (``terminated`` → discount 0, ``truncated`` → discount 1), seeding
  and exact resume are `GymnasiumTask`'s (envs/base.py).
- ``env.reward_scale`` multiplies rewards; ``env.camera``/``camera_id`` do not apply and
  ``env.fast_render`` has no effect.

Nothing here is specific to a simulator; every refusal is a ``ConfigError`` raised when
the environment is built, which ``resolve`` does once (``check``) before any work.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np

from dormant.envs.base import GymnasiumTask, close_at_exit
from dormant.envs.episodes import check_replay_holds_an_episode
from dormant.envs.registry import Suite, add_env_adapter
from dormant.errors import ConfigError, closest

NEED_BOX = "the continuous-action agents (drqv2, drm, alix, taco, sac) need a continuous Box action space"
NEED_DISCRETE = "agent=dqn/drq_eps need a Discrete action space"
RESIZE = "bilinear"  # Pillow's, antialiased when shrinking


def _spec(name: str) -> Any:
    """The ``gymnasium.envs.registration.EnvSpec`` that ``gym:<name>`` stands for."""
    import gymnasium as gym
    from gymnasium.envs.registration import EnvSpec

    if ":" not in name:
        if name not in gym.registry:
            raise ConfigError(
                f"task=gym:{name}: no Gymnasium environment is registered as {name!r}"
                f"{closest(name, gym.registry)}; give a registered id (gymnasium.pprint_registry() "
                "lists them) or gym:<module>:<callable>"
            )
        return gym.spec(name)
    module_name, attr = name.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's module: any failure to import it is the configuration's
        raise ConfigError(f"task=gym:{name}: cannot import {module_name!r} ({type(err).__name__}: {err})") from err
    target = getattr(module, attr, None)
    if target is None:
        if attr in gym.registry:  # Gymnasium's own `module:id` form: importing the module registered it
            return gym.spec(attr)
        # A typo in either form: suggest from the ids this module registers as well as its names.
        ids = [env_id for env_id, spec in gym.registry.items() if _registered_by(spec, module_name)]
        names = [a for a in dir(module) if not a.startswith("_")]
        raise ConfigError(
            f"task=gym:{name}: {module_name!r} has no attribute {attr!r} "
            f"and registers no Gymnasium id {attr!r}{closest(attr, ids + names)}"
            + (f"; it registers {', '.join(sorted(ids))}" if ids else "")
        )
    if not callable(target):
        raise ConfigError(
            f"task=gym:{name}: {module_name}.{attr} is a {type(target).__name__}, not a class or "
            "function that returns a gymnasium.Env"
        )
    return EnvSpec(id=name, entry_point=target)


def _registered_by(spec: Any, module_name: str) -> bool:
    """Whether a registry entry's entry point lives in ``module_name``."""
    entry = spec.entry_point
    where = entry.split(":", 1)[0] if isinstance(entry, str) else getattr(entry, "__module__", "")
    return where == module_name


def _render_modes(spec: Any) -> list[str] | None:
    """The render modes the env's class declares (None: it declares none)."""
    from gymnasium.envs.registration import load_env_creator

    creator = spec.entry_point if callable(spec.entry_point) else load_env_creator(spec.entry_point)
    metadata = getattr(creator, "metadata", None)
    return list(metadata.get("render_modes") or []) if isinstance(metadata, dict) else None


def _continuous_agents() -> list[str]:
    from dormant.config.schema import AGENTS, DISCRETE_AGENTS  # here: the configuration imports this package

    return [agent for agent in AGENTS if agent not in DISCRETE_AGENTS]


def _check_spaces(task: str, env: Any, pixels: bool, discrete: bool = False) -> None:
    from gymnasium import spaces

    action = env.action_space
    if discrete:
        if not isinstance(action, spaces.Discrete):
            raise ConfigError(
                f"task={task} has {type(action).__name__} actions ({action}); {NEED_DISCRETE} "
                f"(use a continuous-action agent: {', '.join(_continuous_agents())})"
            )
    elif isinstance(action, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)) or (
        isinstance(action, spaces.Box) and not np.issubdtype(action.dtype, np.floating)
    ):
        raise ConfigError(
            f"task={task} has discrete actions ({action}); {NEED_BOX}"
            + ("; agent=dqn or agent=drq_eps take it" if isinstance(action, spaces.Discrete) else "")
        )
    if not discrete and not isinstance(action, spaces.Box):
        raise ConfigError(f"task={task} has {type(action).__name__} actions ({action}); {NEED_BOX}")
    if not discrete and not (np.all(np.isfinite(action.low)) and np.all(np.isfinite(action.high))):
        raise ConfigError(
            f"task={task}: the action Box is unbounded ({action}); actions in [−1, 1] are scaled "
            "onto its bounds, so every dimension needs a finite low and high"
        )
    if not pixels and not isinstance(env.observation_space, spaces.Box):
        raise ConfigError(
            f"task={task}: obs=states needs a Box observation space; this env's is "
            f"{env.observation_space} (use obs=pixels, or flatten it in a wrapper)"
        )


def build(name: str, *, pixels: bool, discrete: bool = False) -> tuple[Any, bool]:
    """``gymnasium.make`` for ``gym:<name>`` (ConfigError on any refusal); with it, whether the
    env renders rgb_array images (always for pixels; for states, if its class offers them)."""
    import gymnasium as gym

    task = f"gym:{name}"
    spec = _spec(name)
    modes = _render_modes(spec)
    renders = modes is None or "rgb_array" in modes
    if pixels and not renders:
        raise ConfigError(
            f"task={task}: obs=pixels needs render_mode='rgb_array', and this env offers "
            f"{modes or 'no render mode'}; use obs=states, or give it an rgb_array render()"
        )
    try:
        kwargs: dict[str, Any] = {"render_mode": "rgb_array"} if (pixels or (modes and renders)) else {}
        env = gym.make(spec, **kwargs)
    except Exception as err:  # the user's constructor: any failure is the configuration's
        raise ConfigError(f"task={task}: building the environment failed ({type(err).__name__}: {err})") from err
    return checked(env, task, pixels=pixels, discrete=discrete), env.render_mode == "rgb_array"


def checked(env: Any, task: str, *, pixels: bool, discrete: bool = False) -> Any:
    """``env`` if it offers what the run needs (render mode, spaces); else close it and raise."""
    try:
        if pixels and getattr(env, "render_mode", None) != "rgb_array":
            raise ConfigError(
                f"task={task}: obs=pixels needs render_mode='rgb_array'; the env was built with "
                f"render_mode={getattr(env, 'render_mode', None)!r}"
            )
        _check_spaces(task, env, pixels, discrete)
    except ConfigError:
        env.close()
        raise
    return env


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """An H×W×3 uint8 image as size×size (Pillow's bilinear filter; averaging when shrinking)."""
    if image.shape[0] == image.shape[1] == size:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


class GymEnv(GymnasiumTask):
    """A Gymnasium env (``gym:<id>`` or ``gym:<module>:<callable>``), pixels or states, as
    a dormant ``Env``: frame stack, action repeat (rewards summed), actions scaled from
    [−1, 1] onto the Box bounds, ``terminated`` as discount 0 and ``truncated`` as 1.

    ``env``: an already built ``gymnasium.Env`` to wrap (what a ``register_suite`` factory
    may return); ``name`` then only names it in messages. Without it, ``name`` is built.

    Exact resume (see `GymnasiumTask`) holds when the env draws all its randomness from
    its ``np_random`` (Gymnasium's convention: ``reset(seed=…)`` seeds it), its state after
    a reset depends only on that RNG, and its steps are deterministic given state and action.
    """

    def __init__(
        self,
        name: str,
        *,
        obs: str = "pixels",
        seed: int = 1,
        image_size: int = 84,
        frame_stack: int = 3,
        action_repeat: int = 2,
        reward_scale: float = 1.0,
        discrete: bool = False,
        env: Any = None,
    ):
        self.name = name
        self._pixels = obs == "pixels"
        self._task = name if env is not None else f"gym:{name}"  # as the user wrote it, for messages
        if env is None:
            env, self.can_render = build(name, pixels=self._pixels, discrete=discrete)
        else:
            env = checked(
                env, f"{name} (a Gymnasium env from its suite's factory)", pixels=self._pixels, discrete=discrete
            )
            self.can_render = getattr(env, "render_mode", None) == "rgb_array"
        self._init_task(
            env,
            seed=seed,
            frame_stack=frame_stack,
            action_repeat=action_repeat,
            seeded=False,
            action_dtype=env.action_space.dtype,
        )
        self._image_size = image_size
        self._reward_scale = reward_scale
        self._rendered = self._closed = False
        if self._pixels:
            self.frame_shape: tuple[int, ...] = (3, image_size, image_size)
            self.frame_dtype: np.dtype = np.dtype(np.uint8)
        else:
            self.frame_shape = (int(np.prod(env.observation_space.shape)),)
            self.frame_dtype = np.dtype(np.float32)
        self.obs_shape = (self.frame_shape[0] * frame_stack, *self.frame_shape[1:])

    def render(self, size: int = 84) -> np.ndarray:
        """The env's ``render()`` as a size×size×3 uint8 image."""
        if not self.can_render:
            raise ConfigError(f"task={self._task}: this env has no rgb_array rendering (eval.video needs it)")
        if not self._rendered:
            self._rendered = True
            close_at_exit(self)
        image = self._env.render()
        if not (
            isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (3, 4)
        ):
            got = (
                f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            )
            raise ConfigError(f"task={self._task}: render() returned a {got}; pixels need an H×W×3 uint8 image")
        return resize(np.ascontiguousarray(image[..., :3]), size)

    def _frame(self) -> np.ndarray:
        if self._pixels:
            return np.ascontiguousarray(self.render(self._image_size).transpose(2, 0, 1))
        return np.asarray(self._last_obs, dtype=np.float32).reshape(-1)

    def _reward(self, reward: float, info: dict[str, Any]) -> float:
        return reward * self._reward_scale

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._env.close()


def adapt_gymnasium_env(returned: Any, cfg: Any, seed: int) -> GymEnv | None:
    """A plain ``gymnasium.Env`` from a suite's factory, with the run's wrappers (else None).
    Gymnasium not imported: the factory cannot have built one (and it may not be installed)."""
    gymnasium = sys.modules.get("gymnasium")
    if gymnasium is None or not isinstance(returned, gymnasium.Env):
        return None
    return make(cfg.task, cfg, seed, env=returned)


def make(name: str, cfg: Any, seed: int, env: Any = None) -> GymEnv:
    """``gym:<name>`` with the run's wrappers; or ``env``, an already built Gymnasium env."""
    from dormant.config.schema import DISCRETE_AGENTS  # here: the configuration imports this package

    e = cfg.env
    return GymEnv(
        name,
        obs=e.obs,
        seed=seed,
        image_size=e.image_size,
        frame_stack=e.frame_stack,
        action_repeat=e.action_repeat,
        reward_scale=e.reward_scale,
        discrete=cfg.agent.name in DISCRETE_AGENTS,
        env=env,
    )


def check(name: str, cfg: Any) -> None:
    """Build the env once (then close it) so that every refusal comes before any work; for
    pixels or videos, also reset it and render a frame."""
    if cfg.env.camera or cfg.env.camera_id:
        raise ConfigError(
            f"env.camera/env.camera_id do not apply to gym: tasks (task=gym:{name} renders with its own render())"
        )
    env = make(name, cfg, cfg.seed)
    try:
        spec = getattr(env._env, "spec", None)  # its TimeLimit, in env steps (dormant's frames)
        check_replay_holds_an_episode(cfg, getattr(spec, "max_episode_steps", None))
        if cfg.env.obs == "pixels" or cfg.eval.video:  # evaluation videos come from the same render()
            env.reset()
            env.render(cfg.env.image_size)
    except ConfigError:
        raise
    except Exception as err:  # e.g. a renderer's missing dependency (pygame)
        raise ConfigError(f"task=gym:{name}: the first reset and render failed ({type(err).__name__}: {err})") from err
    finally:
        env.close()


SUITE = Suite(
    make=make,
    tasks=None,
    obs=("pixels", "states"),
    check=check,
    separator=":",
    requires="gymnasium",
    note=lambda _: (
        "any Gymnasium env with a Box action space (Discrete for dqn/drq_eps): gym:<id> or gym:<module>:<callable>"
    ),
)
add_env_adapter(adapt_gymnasium_env)
