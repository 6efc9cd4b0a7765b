"""EnvPool (``atari.backend=envpool``): the Atari suite stepped by EnvPool's C++ engine, N games
at once, configured to the preprocessing of `AtariEnv` (``ale.py``).

Equal to the ale-py path (``tests/test_atari_envpool.py`` checks it on fixed seeds and actions):
the ROMs (the same files), the emulation (EnvPool's own ALE 0.11.2 against ale-py 0.12.1: rewards,
lives and episode ends agree), action repeat with rewards summed, the max-pool of the last two
frames, grayscale through ALE's palette, the resize (OpenCV's ``INTER_AREA``, which EnvPool calls
and ``resize.py`` repeats in numpy: the frames are equal byte for byte), the frame stack (the
first frame repeated at a reset), raw rewards, the minimal or full action set, the episode cap
(``max_episode_frames / action_repeat`` agent steps), discount 0 at game over and, with
``terminal_on_life_loss``, at a lost life while the game goes on.

What differs, and why:

- **random streams**: EnvPool seeds env ``i`` with ``seed + i`` (ALE's ``random_seed`` and its
  no-op generator); the draws of sticky actions and no-op counts have the same law but other values;
- **no-op start**: EnvPool always plays at least one no-op frame at a reset (U{1, …, noop_max};
  ``noop_max=0`` is run as 1), so with ``atari.noop_max=0`` each episode starts one frame later;
- **the last frame of a game over**: when the game ends before the step's last frame, EnvPool
  skips the max-pool (its frame is the last frame, or one from before the step); no target
  bootstraps from that frame (discount 0), and a time limit falls on a whole step;
- **resume**: EnvPool cannot save the emulator's state. A run whose episodes are deterministic
  (``sticky_actions=0``, ``noop_max ≤ 1``) resumes exactly by replaying the open episode's
  actions from a reset, checked against the stored frames; any other resume is refused with
  `ConfigError` (use ``atari.backend=ale`` for resumable runs with sticky actions or no-ops);
- **videos**: EnvPool returns grayscale observations only, so ``render`` shows the newest
  grayscale frame (in three channels).

`EnvPoolAtari` is the batched interface (``num_envs`` games, ``step`` takes one action per game,
a game past its episode's end restarts on the next ``step``); `EnvPoolAtariEnv` wraps one game
in the `TimeStep` interface of `AtariEnv`, so the trainer runs it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dormant.envs.base import FrameStack, TimeStep
from dormant.errors import ConfigError, MissingExtraError


def envpool_task(game: str) -> str:
    """EnvPool's id of one of our games: ``MontezumaRevenge`` → ``MontezumaRevenge-v5``."""
    return f"{game}-v5"


def import_envpool() -> Any:
    try:
        import envpool
    except ImportError as err:
        raise MissingExtraError("atari.backend=envpool", "envpool", err) from None
    return envpool


def deterministic(sticky_actions: float, noop_max: int) -> bool:
    """Whether an episode is a function of its actions alone (what exact resume relies on)."""
    return sticky_actions == 0.0 and noop_max <= 1


@dataclass
class BatchStep:
    """One agent step of N games: arrays with a leading axis of N (a `TimeStep` per game)."""

    observation: np.ndarray  # N × stack × H × W uint8
    frame: np.ndarray  # N × 1 × H × W, the newest frame of each
    reward: np.ndarray  # N float64, raw
    discount: np.ndarray  # N float32
    first: np.ndarray  # N bool: this game just restarted (its action was ignored)
    last: np.ndarray  # N bool: this game's episode ended here


class EnvPoolAtari:
    """``num_envs`` copies of one game in EnvPool, stepped together (synchronous)."""

    def __init__(
        self,
        game: str,
        *,
        num_envs: int = 1,
        seed: int = 1,
        frame_stack: int = 4,
        action_repeat: int = 4,
        image_size: int = 84,
        sticky_actions: float = 0.25,
        noop_max: int = 0,
        terminal_on_life_loss: bool = False,
        max_episode_frames: int = 108_000,
        full_action_space: bool = False,
        num_threads: int = 0,
    ):
        if max_episode_frames % action_repeat:
            raise ConfigError(
                f"atari.backend=envpool caps episodes in whole agent steps: atari.max_episode_frames="
                f"{max_episode_frames} must be a multiple of env.action_repeat={action_repeat}"
            )
        envpool = import_envpool()
        self.game, self.num_envs = game, num_envs
        self._pool = envpool.make_gymnasium(
            envpool_task(game),
            num_envs=num_envs,
            batch_size=num_envs,
            num_threads=num_threads,
            seed=seed,
            stack_num=frame_stack,
            frame_skip=action_repeat,
            img_height=image_size,
            img_width=image_size,
            gray_scale=True,
            use_inter_area_resize=True,
            repeat_action_probability=sticky_actions,
            noop_max=max(noop_max, 1),
            use_fire_reset=False,
            episodic_life=False,
            zero_discount_on_life_loss=False,
            reward_clip=False,
            full_action_space=full_action_space,
            max_episode_steps=max_episode_frames // action_repeat,
        )
        self.num_actions = int(self._pool.action_space.n)
        self._life_loss = terminal_on_life_loss
        self._lives = np.zeros(num_envs, np.int64)
        self._last = np.zeros(num_envs, bool)

    def _batch(
        self, obs: np.ndarray, reward: np.ndarray, discount: np.ndarray, first: np.ndarray, last: np.ndarray
    ) -> BatchStep:
        obs = np.asarray(obs)
        return BatchStep(
            observation=obs,
            frame=obs[:, -1:],
            reward=np.asarray(reward, np.float64),
            discount=discount.astype(np.float32),
            first=first,
            last=last,
        )

    def reset(self) -> BatchStep:
        """Restart every game."""
        obs, info = self._pool.reset()
        self._lives = np.asarray(info["lives"], np.int64).copy()
        self._last[:] = False
        n = self.num_envs
        return self._batch(obs, np.zeros(n), np.ones(n), np.ones(n, bool), np.zeros(n, bool))

    def step(self, actions: np.ndarray) -> BatchStep:
        """One agent step of every game (integer actions, one per game); a game whose episode
        ended at the previous step restarts instead (``first``, reward 0, its action ignored)."""
        actions = np.asarray(actions).reshape(-1).astype(np.int32)
        if actions.shape != (self.num_envs,) or actions.min() < 0 or actions.max() >= self.num_actions:
            raise ValueError(f"expected {self.num_envs} actions in [0, {self.num_actions}), got {actions}")
        obs, reward, terminated, truncated, info = self._pool.step(actions)
        lives = np.asarray(info["lives"], np.int64)
        first = self._last.copy()
        game_over = np.asarray(info["terminated"], bool) & ~first
        discount = np.where(game_over, 0.0, 1.0)
        if self._life_loss:
            discount = np.where((lives < self._lives) & ~first, 0.0, discount)
        self._lives = lives.copy()
        last = (np.asarray(terminated, bool) | np.asarray(truncated, bool)) & ~first
        self._last = last.copy()
        return self._batch(obs, np.where(first, 0.0, reward), discount, first, last)

    def close(self) -> None:
        close = getattr(self._pool, "close", None)
        if close is not None:
            close()


class EnvPoolAtariEnv:
    """One game through EnvPool as `TimeStep`s, the interface of `AtariEnv` (``num_envs=1``)."""

    has_success = False
    proprio_dim = 0
    action_dim = 1

    def __init__(
        self,
        game: str,
        *,
        seed: int = 1,
        frame_stack: int = 4,
        action_repeat: int = 4,
        image_size: int = 84,
        sticky_actions: float = 0.25,
        noop_max: int = 0,
        terminal_on_life_loss: bool = False,
        max_episode_frames: int = 108_000,
        full_action_space: bool = False,
        zero_stack: bool = False,
    ):
        self.game = game
        # ``zero_stack``: EnvPool's stack repeats the first frame, so it returns single frames
        # and the stack is built here, as `AtariEnv` builds it.
        self._zero_stack = FrameStack(frame_stack, zeros=True) if zero_stack else None
        self._pool = EnvPoolAtari(
            game,
            num_envs=1,
            seed=seed,
            frame_stack=1 if zero_stack else frame_stack,
            action_repeat=action_repeat,
            image_size=image_size,
            sticky_actions=sticky_actions,
            noop_max=noop_max,
            terminal_on_life_loss=terminal_on_life_loss,
            max_episode_frames=max_episode_frames,
            full_action_space=full_action_space,
            num_threads=1,
        )
        self._seed = seed
        self._deterministic = deterministic(sticky_actions, noop_max)
        self.num_actions = self._pool.num_actions
        self.frame_shape: tuple[int, ...] = (1, image_size, image_size)
        self.frame_dtype = np.dtype(np.uint8)
        self.obs_shape = (frame_stack, image_size, image_size)
        self._frame_stack = frame_stack
        self._observation: np.ndarray | None = None
        self._episodes = 0

    def _time_step(self, batch: BatchStep, action: np.ndarray, first: bool) -> TimeStep:
        if self._zero_stack is None:
            self._observation = batch.observation[0].copy()
        elif first or (batch.discount[0] == 0.0 and not batch.last[0]):  # an episode or, terminal, a life starts
            self._observation = self._zero_stack.reset(batch.frame[0].copy())
        else:
            self._observation = self._zero_stack.push(batch.frame[0].copy())
        return TimeStep(
            observation=self._observation,
            frame=batch.frame[0].copy(),
            action=action,
            reward=float(batch.reward[0]),
            discount=float(batch.discount[0]),
            first=first,
            last=bool(batch.last[0]),
        )

    def _index(self, action: np.ndarray) -> int:
        index = int(np.rint(np.asarray(action, np.float64).reshape(-1)[0]))
        if not 0 <= index < self.num_actions:
            raise ValueError(f"discrete action {index} outside [0, {self.num_actions})")
        return index

    def reset(self) -> TimeStep:
        self._episodes += 1
        return self._time_step(self._pool.reset(), np.zeros(1, np.float32), True)

    def step(self, action: np.ndarray) -> TimeStep:
        return self._time_step(self._pool.step(np.array([self._index(action)])), np.asarray(action, np.float32), False)

    # --- resume ------------------------------------------------------------
    def rng_state(self) -> dict[str, Any]:
        """EnvPool keeps its random streams inside: what is recorded is whether episodes are
        deterministic (then nothing else is needed to replay one)."""
        return {"envpool": True, "seed": self._seed, "deterministic": self._deterministic}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore: EnvPool's streams cannot be set (deterministic episodes need none)."""

    def episode_start_state(self) -> dict[str, Any] | None:
        return self.rng_state() if self._episodes else None

    def restore_episode(self, start_state: dict[str, Any], actions: np.ndarray, frames: list[np.ndarray]) -> TimeStep:
        """Replay the open episode's actions from a reset, then check the last frame is the stored one."""
        if not (start_state.get("envpool") and start_state.get("deterministic") and self._deterministic):
            raise ConfigError(
                "atari.backend=envpool cannot resume this run mid-episode: EnvPool cannot save the "
                "emulator's random state, so only runs without sticky actions and random no-ops "
                "(atari.sticky_actions=0, atari.noop_max ≤ 1) resume, by replaying the open episode. "
                "Start a new run, or use atari.backend=ale (the default) for resumable runs"
            )
        step = self.reset()
        for action in actions:
            step = self.step(action)
            if step.last:
                break
        if step.last or not np.array_equal(step.frame, frames[-1]):
            raise ConfigError(
                "atari.backend=envpool: replaying the open episode's actions did not reach the "
                "checkpoint's frame, so the run cannot resume exactly (different EnvPool version?)"
            )
        return TimeStep(
            observation=step.observation,
            frame=step.frame,
            action=actions[-1] if len(actions) else np.zeros(1, np.float32),
            reward=0.0,
            discount=1.0,
            first=len(actions) == 0,
            last=False,
        )

    def render(self, size: int = 84) -> np.ndarray:
        """The newest grayscale frame, size×size×3 (EnvPool gives no colour screen here)."""
        from PIL import Image

        frame = self._observation[-1] if self._observation is not None else np.zeros(self.frame_shape[1:], np.uint8)
        image = np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.BILINEAR))
        return np.repeat(image[:, :, None], 3, axis=2)

    def close(self) -> None:
        self._pool.close()


def make_envpool(name: str, cfg: Any, seed: int) -> EnvPoolAtariEnv:
    a, e = cfg.atari, cfg.env
    return EnvPoolAtariEnv(
        name,
        seed=seed,
        frame_stack=e.frame_stack,
        action_repeat=e.action_repeat,
        image_size=e.image_size,
        sticky_actions=a.sticky_actions,
        noop_max=a.noop_max,
        terminal_on_life_loss=a.terminal_on_life_loss,
        max_episode_frames=a.max_episode_frames,
        full_action_space=a.full_action_space,
        zero_stack=a.zero_stack,
    )


def check_envpool(cfg: Any) -> None:
    """``atari.backend=envpool``: installed, and an episode cap in whole agent steps."""
    import importlib.util

    if cfg.atari.max_episode_frames % cfg.env.action_repeat:
        raise ConfigError(
            f"atari.backend=envpool caps episodes in whole agent steps: atari.max_episode_frames="
            f"{cfg.atari.max_episode_frames} must be a multiple of env.action_repeat="
            f"{cfg.env.action_repeat}"
        )
    if importlib.util.find_spec("envpool") is None:  # a ConfigError at resolve, as a missing suite's
        raise ConfigError(str(MissingExtraError("atari.backend=envpool", "envpool")))
