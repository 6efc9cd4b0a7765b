"""The Atari suite: ``task=atari/<Game>`` (the 57 games with published random and human
scores, ``scores.py``), on the Arcade Learning Environment (``ale-py``, which ships
the ROMs) through Gymnasium, for the discrete-action agents (``agent=dqn``, ``drq_eps``).

Preprocessing (Mnih et al. 2015, as Dopamine does it, which ReDo's code builds on):

- the emulator runs one frame per call (``frameskip=1``); an agent step repeats the action
  ``env.action_repeat`` = 4 frames, summing rewards, and its frame is the pixel-wise max
  of the last two frames (flicker), in grayscale, resized to 84×84 as OpenCV's ``INTER_AREA``
  does it (``resize.py``: each source pixel weighs the fraction of it the output pixel's
  window covers; the same bytes as ``cv2.resize``, which Dopamine and EnvPool call); frames are
  stacked by 4 (``env.frame_stack``). Before this filter the ale-py path used Pillow's box
  filter, which weighs whole source pixels (5–11 % of the pixels differed, docs/suites.md);
- sticky actions with probability ``atari.sticky_actions`` (ALE's own, per frame; Machado
  et al. 2018); ``atari.noop_max`` > 0 starts each episode with U{noop_min, …, noop_max} no-op
  frames; the minimal action set unless ``atari.full_action_space``;
- ``atari.terminal_on_life_loss``: a lost life sets the discount to 0 (no bootstrapping
  across it; replay's n-step sums stop there) while the game continues: Dopamine starts a
  new agent episode at a life loss, this keeps one episode per game and gives the same TD
  targets; with ``atari.zero_stack`` the frame stack restarts there as Dopamine's does. Only
  discounts change, so evaluation (returns, episode ends) is unaffected, as it must be;
- ``atari.zero_stack``: stacks start from zero frames (Dopamine's agent state), at a reset
  and at a terminal lost life; replay pads its stacks the same way;
- ``atari.dopamine_screens``: Dopamine's ``AtariPreprocessing`` screen buffers: a terminal (the
  game's end, a terminal lost life) stops the action repeat at once, the frame is the in-place
  max-pool of two buffers filled at the repeat's last two frames (stale when the repeat was
  cut before them), and no-ops after a reset leave the reset's screen as the first frame;
- episodes are capped at ``atari.max_episode_frames`` frames (a time limit: discount 1; the
  presets set Dopamine's ALE cap, 100,000); rewards are raw here (scores); DQN clips them in
  its targets (``dqn.reward_clip``).

Replay stores one 1×84×84 uint8 frame per step (7,056 B; ≈ 7.07 KB per transition).
Exact resume: each episode's start state is the emulator's state with its RNG (ALE's
``cloneState(include_rng=True)``) and the no-op generator's state, so a resumed run
replays the open episode's actions to the same frames, sticky actions included.

``atari.backend=envpool`` builds ``envpool.EnvPoolAtariEnv`` instead: EnvPool's C++
engine with this preprocessing (its resize is OpenCV's own; the frames are equal).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dormant.envs.atari.resize import area_resize
from dormant.envs.atari.scores import ATARI_100K, RANDOM_HUMAN
from dormant.envs.base import FrameStack, GymnasiumTask, TimeStep, close_at_exit
from dormant.envs.registry import Suite
from dormant.errors import ConfigError, check_choice

GAMES = tuple(sorted(RANDOM_HUMAN))
MIN_IMAGE_SIZE = 36  # the Nature CNN's three convolutions need at least this many pixels per side
MAX_IMAGE_SIZE = 160  # the screen's narrower side: frames are shrunk (area averaging), never enlarged


class AtariEnv(GymnasiumTask):
    """One ALE game as `TimeStep`s; see the module docstring for the preprocessing."""

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
        dopamine_screens: bool = False,
        noop_min: int = 1,
    ):
        import ale_py
        import gymnasium as gym

        gym.register_envs(ale_py)
        self.game = game
        env = gym.make(
            f"ALE/{game}-v5",
            obs_type="grayscale",
            frameskip=1,
            repeat_action_probability=sticky_actions,
            full_action_space=full_action_space,
            max_num_frames_per_episode=max_episode_frames,
        )
        game_env = env.unwrapped
        if not isinstance(game_env, ale_py.env.AtariEnv):  # what ALE/<game>-v5 builds
            raise TypeError(f"ALE/{game}-v5 built {type(game_env).__name__}, not ale-py's AtariEnv")
        self._ale = game_env.ale
        self._state_type = ale_py.ALEState
        self._init_task(
            env,
            seed=seed,
            frame_stack=frame_stack,
            action_repeat=action_repeat,
            seeded=False,
            episode_frames=max_episode_frames,
            action_dtype=np.int64,
        )
        self._stack = FrameStack(frame_stack, zeros=zero_stack)
        self._zero_stack = zero_stack
        self._dopamine_skip = dopamine_screens  # Dopamine's frame skip: two screen buffers, cut at a terminal
        self._screens: list[np.ndarray] = []
        self._noops = np.random.default_rng(seed)
        self._noop_max = noop_max
        self._noop_min = noop_min
        self._life_loss = terminal_on_life_loss
        self._size = image_size
        self.frame_shape: tuple[int, ...] = (1, image_size, image_size)
        self.frame_dtype = np.dtype(np.uint8)
        self.obs_shape = (frame_stack, image_size, image_size)
        self._previous: Any = None  # the screen before the newest (a frame's max-pool), from the first reset
        self._lives = 0
        self._closed = self._rendered = False

    # --- dynamics --------------------------------------------------------
    def _on_reset(self) -> None:
        """After the shared reset: the no-op start, then the first frame and lives."""
        reset_screen = self._last_obs
        if self._noop_max:
            for _ in range(int(self._noops.integers(self._noop_min, self._noop_max + 1))):
                self._last_obs, _, terminated, truncated, _ = self._env.step(0)
                if terminated or truncated:
                    self._last_obs, _ = self._env.reset()
                    reset_screen = self._last_obs
        self._previous = self._last_obs
        self._lives = self._ale.lives()
        # Dopamine's screen buffers hold the reset's screen and zeros: no-ops played after the
        # reset (its Atari-100k runner's) do not refresh them, so the first frame is the reset's.
        self._screens = [reset_screen.copy(), np.zeros_like(reset_screen)]

    def _repeat(self, action: np.ndarray) -> tuple[float, float, bool]:
        """``action_repeat`` frames; the last two are kept for the max-pool."""
        if self._dopamine_skip:
            return self._repeat_dopamine(action)
        reward, discount, over = 0.0, 1.0, False
        index = self._env_action(action)
        for _ in range(self._action_repeat):
            self._previous = self._last_obs
            self._last_obs, step_reward, terminated, truncated, info = self._env.step(index)
            self._frames_done += 1
            reward += float(step_reward)
            lives = int(info.get("lives", self._lives))
            if terminated or (self._life_loss and lives < self._lives):
                discount = 0.0
            self._lives = lives
            over = bool(terminated or truncated) or self._frames_done >= self._episode_frames
            if over:
                break
        return reward, discount, over

    def _repeat_dopamine(self, action: np.ndarray) -> tuple[float, float, bool]:
        """Dopamine's ``AtariPreprocessing.step``: frames ``skip − 2`` and ``skip − 1`` are copied
        into two screen buffers, a terminal (a lost life with ``terminal_on_life_loss``, the game's
        end) stops the skip at once, and the buffers are max-pooled in place (the first keeps the
        pooled screen). A step cut before frame ``skip − 2`` therefore shows the previous step's
        pooled screen again, one cut at frame ``skip − 2`` pools its screen with the previous step's
        last."""
        reward, discount, over = 0.0, 1.0, False
        index = self._env_action(action)
        for t in range(self._action_repeat):
            self._last_obs, step_reward, terminated, truncated, info = self._env.step(index)
            self._frames_done += 1
            reward += float(step_reward)
            lives = int(info.get("lives", self._lives))
            life_lost = self._life_loss and lives < self._lives
            if terminated or life_lost:
                discount = 0.0
            self._lives = lives
            over = bool(terminated or truncated) or self._frames_done >= self._episode_frames
            if t >= self._action_repeat - 2:
                self._screens[t - (self._action_repeat - 2)] = self._last_obs
            if over or life_lost:
                break
        np.maximum(self._screens[0], self._screens[1], out=self._screens[0])
        self._previous = self._screens[0]
        return reward, discount, over

    def _frame(self) -> np.ndarray:
        if self._dopamine_skip:  # the pooled screens (at a reset: the reset's screen, see _on_reset)
            return area_resize(self._screens[0], self._size)[None]
        pooled = np.maximum(self._previous, self._last_obs)
        return area_resize(pooled, self._size)[None]

    def step(self, action: np.ndarray) -> TimeStep:
        """With ``zero_stack``, a lost life that ends bootstrapping (discount 0 while the game goes
        on) restarts the frame stack from zeros, as Dopamine's agent starts a new state there."""
        ts = super().step(action)
        if self._zero_stack and ts.discount == 0.0 and not ts.last:
            ts.observation = self._stack.reset(ts.frame)
        return ts

    def restore_episode(self, start_state: dict[str, Any], actions: np.ndarray, frames: list[np.ndarray]) -> TimeStep:
        """As the base class's, the frame stack rebuilt from the newest restart (the episode's
        start, or with ``zero_stack`` the last lost life that ended bootstrapping)."""
        self.set_rng_state(start_state)
        self._episode_start = start_state
        self._reset_sim()
        restart = 0
        for t, action in enumerate(actions, start=1):
            _, discount, _ = self._repeat(action)
            if self._zero_stack and discount == 0.0:
                restart = t
        return TimeStep(
            observation=self._stack.fill(frames[restart:]),
            frame=frames[-1],
            action=actions[-1] if len(actions) else np.zeros(self.action_dim, np.float32),
            reward=0.0,
            discount=1.0,
            first=len(actions) == 0,
            last=False,
            **self._extras(),
        )

    # --- exact resume ----------------------------------------------------
    def rng_state(self) -> dict[str, Any]:
        """The emulator (with its RNG) and the no-op generator, as the next reset finds them."""
        import torch

        if not self._seeded:
            return {"seed": self._seed, "noops": dict(self._noops.bit_generator.state)}
        ale = bytes(self._ale.cloneState(include_rng=True).serialize())
        return {
            "ale": torch.frombuffer(bytearray(ale), dtype=torch.uint8),
            "noops": dict(self._noops.bit_generator.state),
        }

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self._noops.bit_generator.state = state["noops"]
        if "seed" in state:
            self._seed, self._seeded = int(state["seed"]), False
        else:
            self._ale.restoreState(self._state_type(bytes(state["ale"].numpy().tobytes())))
            self._seeded = True

    # --- rendering -------------------------------------------------------
    def render(self, size: int = 84) -> np.ndarray:
        """The colour screen, size×size×3 (evaluation videos)."""
        if not self._rendered:
            self._rendered = True
            close_at_exit(self)
        from PIL import Image

        screen = self._ale.getScreenRGB()
        return np.asarray(Image.fromarray(screen).resize((size, size), Image.Resampling.BILINEAR))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._env.close()


BACKENDS = ("ale", "envpool")


def make(name: str, cfg: Any, seed: int) -> Any:
    a, e = cfg.atari, cfg.env
    if a.backend == "envpool":
        from dormant.envs.atari.envpool import make_envpool

        return make_envpool(name, cfg, seed)
    return AtariEnv(
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
        dopamine_screens=a.dopamine_screens,
        noop_min=a.noop_min,
    )


def preset(name: str, agent: str) -> dict[str, Any]:
    """The protocol each agent follows (ReDo's, App. A, through Dopamine's configurations).

    - ``dqn``: 10M frames (ReDo's DQN budget), sticky actions 0.25, no life-loss terminal,
      learning (and ε's decay) from agent step 20,000 (80,000 frames); evaluation every 1M
      frames over 10 episodes.
    - ``drq_eps``: the Atari-100k protocol (Kaiser et al. 2020): 100k agent steps = 400k
      frames, no sticky actions, a lost life is terminal for training, learning from agent
      step 1,600 (6,400 frames); ReDo evaluates 10 times, on 100 episodes each (Dopamine's
      ``MaxEpisodeEvalRunner``): every 40,000 frames. That runner starts every game, in
      training and evaluation, with U{0, …, 29} no-op frames.
    Both: Dopamine's environment (``discrete_domains/atari_lib.py``): the ALE caps an episode at
    100,000 frames (``max_num_frames_per_episode``; its runner's 27,000-step cap never comes
    first), frame stacks start from zeros (and restart at a lost life that is terminal), and a
    terminal ends the action repeat (``atari.dopamine_screens``).
    Longer budgets: ``frames=…`` (e.g. ``frames=40_000_000`` for 10M agent steps).
    """
    common = {
        "env.action_repeat": 4,
        "env.frame_stack": 4,
        "env.image_size": 84,
        "atari.max_episode_frames": 100_000,
        "atari.zero_stack": True,
        "atari.dopamine_screens": True,
    }
    if agent == "drq_eps":  # ReDo's DrQ(ε) runs Dopamine's MaxEpisodeEvalRunner: 0–29 no-op frames at each reset
        return {
            **common,
            "frames": 400_000,
            "num_seed_frames": 6_400,
            "atari.sticky_actions": 0.0,
            "atari.noop_min": 0,
            "atari.noop_max": 29,
            "atari.terminal_on_life_loss": True,
            "eval.every_frames": 40_000,
            "eval.episodes": 100,
            "checkpoint_every_frames": 100_000,
        }
    return {
        **common,
        "frames": 10_000_000,
        "num_seed_frames": 80_000,
        "atari.sticky_actions": 0.25,
        "atari.terminal_on_life_loss": False,
        "eval.every_frames": 1_000_000,
        "eval.episodes": 10,
        "checkpoint_every_frames": 1_000_000,
    }


def check(name: str, cfg: Any) -> None:
    from dormant.config.schema import DISCRETE_AGENTS  # here: the configuration imports this package

    if cfg.agent.name not in DISCRETE_AGENTS:
        raise ConfigError(
            f"task=atari/{name} has discrete actions; agent={cfg.agent.name} acts in [−1, 1]^d "
            f"(use agent={' or agent='.join(DISCRETE_AGENTS)})"
        )
    a = cfg.atari
    check_choice("atari.backend", a.backend, BACKENDS)
    if not 0.0 <= a.sticky_actions <= 1.0:
        raise ConfigError(f"atari.sticky_actions must be in [0, 1], got {a.sticky_actions}")
    if a.noop_max < 0 or a.max_episode_frames <= 0:
        raise ConfigError(
            f"atari.noop_max must be ≥ 0 and atari.max_episode_frames > 0 (got {a.noop_max}, {a.max_episode_frames})"
        )
    if not 0 <= a.noop_min <= max(a.noop_max, 1):
        raise ConfigError(f"atari.noop_min must be in [0, atari.noop_max] (got {a.noop_min}, noop_max {a.noop_max})")
    if cfg.env.image_size < MIN_IMAGE_SIZE:
        raise ConfigError(
            f"env.image_size={cfg.env.image_size}: the Nature CNN needs ≥ {MIN_IMAGE_SIZE} pixels per side"
        )
    if cfg.env.image_size > MAX_IMAGE_SIZE:
        raise ConfigError(
            f"env.image_size={cfg.env.image_size}: Atari frames (210×160) are shrunk by area averaging, "
            f"to at most {MAX_IMAGE_SIZE} pixels per side"
        )
    if a.backend == "envpool":
        unsupported = []
        if a.dopamine_screens and a.terminal_on_life_loss:  # EnvPool plays the whole repeat at a lost life
            unsupported.append("atari.dopamine_screens=false")
        if a.noop_max and a.noop_min != 1:  # EnvPool draws U{1, …, noop_max}
            unsupported.append("atari.noop_min=1")
        if unsupported:
            raise ConfigError(
                "atari.backend=envpool cannot stop the action repeat at a lost life (Dopamine's screen "
                "buffers, with atari.terminal_on_life_loss) nor start with zero no-op frames, which the "
                f"drq_eps preset sets; add {' '.join(unsupported)} to run on EnvPool with EnvPool's "
                "preprocessing (docs/suites.md#atari-backends), or use atari.backend=ale"
            )
        from dormant.envs.atari.envpool import check_envpool

        check_envpool(cfg)


def note(name: str) -> str:
    low, high = RANDOM_HUMAN[name]
    tag = " Atari-100k;" if name in ATARI_100K else ""
    return f"ALE (ale-py);{tag} random {low:g}, human {high:g}"


SUITE = Suite(
    make=make,
    tasks=GAMES,
    preset=preset,
    obs=("pixels",),
    check=check,
    note=note,
    requires="ale_py",
    uses_gl=False,
    episode_frames=lambda name, cfg: cfg.atari.max_episode_frames,
)
