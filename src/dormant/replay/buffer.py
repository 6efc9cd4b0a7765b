"""Replay with one stored frame per transition and DrQ-v2's n-step sampling.

Each agent step is stored once in a ring of slots: its newest frame (uint8 C×H×W
for pixels, float32 vector for states), the action that led to it, the reward and
the discount. An episode occupies consecutive slots, starting with its reset step
(zero action, reward 0, discount 1). Frame stacks are rebuilt at sample time,
repeating the episode's first frame where the stack reaches back before it.

Sampling follows DrQ-v2: an episode uniformly among the complete episodes, then
``idx`` uniformly in [1, T − n + 1] (T = transitions in the episode); returns
``obs[idx−1]``, ``action[idx]``, ``Σ_i γ^i·(Π_{j<i} d_j)·r[idx+i]``,
``Π_i γ·d[idx+i]`` and ``obs[idx+n−1]`` (plus ``proprio``/``next_proprio`` at the same
steps when a proprioceptive vector is stored, e.g. Adroit's 24 joints). With ``reward_clip`` c > 0 each
step's reward is clipped to [−c, c] before the sum (DQN's clipping; what is stored stays raw).
With ``per_transition`` (Dopamine's sampling, which DQN/DrQ(ε) use) ``idx`` is uniform over
every transition of every episode, ``idx`` in [1, T], instead of an episode first, then a
step in it; an n-step sum that would pass the episode's end stops there (``k`` < n steps:
``Σ_{i<k}``, ``Π_{i<k} γ·d``, next obs ``obs[T]``), so the last steps before a terminal
are starts too.
With ``open_episode`` the episode being written is drawn from too, uniformly over transitions
with the complete ones: under ``per_transition`` its starts ``idx`` in [1, W − n − 1] (W stored
steps; Dopamine's accumulator holds a step only once the next one is played, so at an update
its newest window ends one step before ours would), otherwise (ALIX's buffer) every complete
episode's starts in [1, T − max(n, K) + 1] and the open one's in [1, W − max(n, K)]. With
``zero_pad`` stacks reach back to a zero frame (one extra storage row) instead of repeating the
reset frame, both before an episode's start and before a step whose discount is 0 (a terminal
lost life, where Dopamine's agent starts a new state). Both off: sampling is unchanged, draw
for draw.
Discrete actions are stored as one float per transition (the index). Capacity counts transitions; when adding
an episode would exceed it, whole oldest episodes are evicted (FIFO), as the
reference does.

``horizon`` K > 0 (an agent that learns from K steps ahead, TACO) adds, with ``idx`` then
drawn in [1, T − max(n, K) + 1] so that both spans stay inside the episode:
``action_seq`` = ``action[idx … idx+K−1]`` (B×K×A) and ``obs_k`` = ``obs[idx+K−1]`` (the
observation K steps after ``obs``; ``proprio_k`` beside it). With K = 0 (the default) sampling is
unchanged, draw for draw.

``device`` (None: host numpy, the default) keeps frames, actions and proprioception as torch
tensors on that device instead (``replay.device=agent``: the agent's device). Sampling is the
same: the same numpy draws, slot indices and n-step sums on the host (rewards and discounts
stay there, 8 bytes a slot), then one index copy and one float copy to the device, where the
frames are gathered and stacked; the batch is then torch tensors on the device, equal to the
host batch value for value. Checkpoints are the same in both (CPU tensors), so either loads
into the other. See ``storage.py``.

Length: one class, the buffer: writing, eviction and the three sampling rules share its ring
of slots and episode index; the storage, the shards and the builder are modules of their own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from dormant.errors import ConfigError
from dormant.replay.storage import Array, Plan, SlotStorage


def slots_for(capacity: int, budget: int | None) -> int:
    """Slots a buffer of ``capacity`` transitions allocates for a run of ``budget`` agent steps
    (None: no budget); see ``ReplayBuffer.__init__``."""
    full = capacity + math.ceil(capacity / 20) + 2
    return full if not budget or budget >= capacity else min(2 * budget + 2, full)


class ReplayBuffer:
    def __init__(
        self,
        frame_shape: tuple[int, ...],
        frame_dtype: np.dtype | type,
        action_dim: int,
        *,
        capacity: int,
        frame_stack: int,
        nstep: int,
        discount: float,
        seed: int = 0,
        allocate_transitions: int | None = None,
        proprio_dim: int = 0,
        horizon: int = 0,
        reward_clip: float = 0.0,
        per_transition: bool = False,
        open_episode: bool = False,
        zero_pad: bool = False,
        device: torch.device | None = None,
    ):
        self.capacity = int(capacity)
        self.frame_stack = int(frame_stack)
        self.nstep = int(nstep)
        self.discount = float(discount)
        if horizon < 0:
            raise ValueError(f"replay: horizon must be ≥ 0, got {horizon}")
        self.horizon = int(horizon)  # K > 0: batches also carry K-step action sequences and obs K ahead
        self.span = max(self.nstep, self.horizon)  # transitions a sample reaches forward
        self.reward_clip = float(reward_clip)  # > 0: each step's reward clipped to [−c, c] in the n-step sum
        self.per_transition = bool(per_transition)  # uniform over transitions (Dopamine), not episode then step
        if self.per_transition and self.horizon:
            raise ValueError(
                "replay: per_transition sampling cuts sums at an episode's end; K-step extras "
                "(horizon > 0) need whole K-step windows"
            )
        # Draw from the episode being written too: Dopamine's rule with per_transition, ALIX's
        # (uniform over transitions whose whole window is stored) without; see the module docstring.
        self.sample_open = bool(open_episode)
        # Stacks reach back to zero frames (not the reset frame) before an episode's start and
        # before a step whose discount is 0 (Dopamine's agent restarts its state there).
        self.zero_pad = bool(zero_pad)
        # Room for the transitions plus one reset frame per episode; episodes are
        # evicted when either runs out. A full-capacity buffer has 5 % reset slots (episodes
        # shorter than 20 steps on average evict by slots slightly before the transition
        # capacity is reached). `allocate_transitions` (the run's budget) caps the allocation,
        # so a short run never reserves a 1M-transition buffer; below capacity it gets a reset
        # slot for every transition (at most that size), so a budget-capped buffer never evicts
        # by slots: a run stopped early and resumed with a larger budget then evicts exactly as
        # one run with the larger budget, whatever the episode lengths. Unwritten slots of the
        # host buffer cost no RAM.
        self.num_slots = slots_for(self.capacity, allocate_transitions)
        self.storage = SlotStorage(
            self.num_slots, frame_shape, frame_dtype, action_dim, proprio_dim, device, zero_row=self.zero_pad
        )
        # np.empty maps memory lazily: pages cost RAM only once written.
        self.rewards = np.empty((self.num_slots,), dtype=np.float32)
        self.discounts = np.empty((self.num_slots,), dtype=np.float32)
        self.rng = np.random.default_rng(seed)
        self._written = 0  # slots ever written (monotonic; slot = index % num_slots)
        self._open_start: int | None = None  # global index of the open episode's reset step
        # Complete episodes as global start index and transition count, oldest first.
        self._ep_starts = np.zeros(0, dtype=np.int64)
        self._ep_lengths = np.zeros(0, dtype=np.int64)

    @property
    def frames(self) -> Array:
        return self.storage.frames

    @property
    def actions(self) -> Array:
        return self.storage.actions

    @property
    def proprio(self) -> Array | None:
        return self.storage.proprio

    # --- writing ---------------------------------------------------------
    def add(
        self,
        frame: np.ndarray,
        action: np.ndarray,
        reward: float,
        discount: float,
        first: bool,
        last: bool,
        proprio: np.ndarray | None = None,
    ) -> None:
        """Store one time step; ``first`` opens an episode, ``last`` completes it."""
        if (proprio is None) != (self.proprio is None):
            raise ValueError("replay: proprio must be given exactly when the buffer stores it (proprio_dim > 0)")
        if first:
            if self._open_start is not None:
                raise ValueError("replay: an episode is still open; finish it with last=True first")
            self._open_start = self._written
        elif self._open_start is None:
            raise ValueError("replay: the first step of an episode must have first=True")
        self._evict_for(self._written + 1 - self._open_start)
        slot = self._written % self.num_slots
        self.storage.write(slot, frame, action, proprio)
        self.rewards[slot] = reward
        self.discounts[slot] = discount
        self._written += 1
        if last:
            length = self._written - 1 - self._open_start
            self._ep_starts = np.append(self._ep_starts, self._open_start)
            self._ep_lengths = np.append(self._ep_lengths, length)
            self._open_start = None

    def _evict_for(self, open_slots: int) -> None:
        """Drop oldest episodes until the open episode fits beside the stored ones."""
        open_transitions = max(open_slots - 1, 0)
        while len(self._ep_starts) and (
            self.num_transitions + open_transitions > self.capacity
            or self.num_stored_slots + open_slots > self.num_slots
        ):
            self._ep_starts = self._ep_starts[1:]
            self._ep_lengths = self._ep_lengths[1:]
        if open_slots > self.num_slots:  # a task whose time limit the configuration could not know
            raise ConfigError(
                f"replay.capacity: an episode reached {open_slots - 1} transitions, more than this "
                f"buffer of {self.capacity} can store; the buffer keeps whole episodes, so raise "
                f"replay.capacity to at least the task's longest episode (in agent steps)"
            )

    # --- reading ---------------------------------------------------------
    @property
    def num_transitions(self) -> int:
        """Transitions in complete, sampleable episodes."""
        return int(self._ep_lengths.sum())

    @property
    def num_stored_slots(self) -> int:
        return int((self._ep_lengths + 1).sum())

    @property
    def num_episodes(self) -> int:
        return len(self._ep_starts)

    def __len__(self) -> int:
        return self.num_transitions

    @property
    def _shortest(self) -> int:
        """Transitions an episode needs before ``sample`` may draw from it."""
        return 1 if self.per_transition else self.span

    def can_sample(self) -> bool:
        return self.sample_weight() > 0

    def _open_count(self) -> int:
        """Transitions of the open episode ``sample`` may draw (0 unless ``open_episode``): those
        whose window lies in the stored steps; under Dopamine's rule less the newest, which its
        agent stores only with the next step."""
        if not self.sample_open or self._open_start is None:
            return 0
        slots = self._written - self._open_start  # positions 0 … slots − 1
        return max(slots - self.nstep - 1 if self.per_transition else slots - self.span, 0)

    def _candidates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start, transitions and draw count of each episode ``sample`` may draw from (the open
        episode last, when it counts), uniform over transitions (``per_transition`` or ``open_episode``)."""
        counts = self._ep_lengths if self.per_transition else np.maximum(self._ep_lengths - self.span + 1, 0)
        starts, lengths = self._ep_starts, self._ep_lengths
        open_start, open_count = self._open_start, self._open_count()
        if open_start is not None and open_count:
            starts = np.append(starts, open_start)
            lengths = np.append(lengths, self._written - 1 - open_start)
            counts = np.append(counts, open_count)
        keep = counts > 0
        return starts[keep], lengths[keep], counts[keep]

    def sample_weight(self) -> int:
        """What ``sample`` draws from uniformly: eligible transitions (per-transition
        sampling, or with the open episode) or eligible episodes (DrQ-v2's); a sharded replay
        splits batches by it."""
        if self.per_transition or self.sample_open:
            return int(self._candidates()[2].sum())
        return int(np.count_nonzero(self._ep_lengths >= self._shortest))

    def _stack_slots(self, ep_start: np.ndarray, pos: np.ndarray) -> tuple[str, np.ndarray]:
        """The B × k frame slots of episode positions ``pos`` and their predecessors."""
        offsets = np.arange(-(self.frame_stack - 1), 1)
        if not self.zero_pad:
            positions = np.maximum(pos[:, None] + offsets[None, :], 0)  # repeat the reset frame
            return "frames", (ep_start[:, None] + positions) % self.num_slots
        positions = pos[:, None] + offsets[None, :]
        # The newest restart at or before each stack's last position: the episode's start (0),
        # or a step q inside the stack whose discount is 0 (a terminal, e.g. a lost life).
        restart = np.zeros(len(pos), dtype=np.int64)
        for back in range(self.frame_stack - 1):
            q = pos - back
            hit = (q >= 1) & (self.discounts[(ep_start + np.maximum(q, 0)) % self.num_slots] == 0)
            restart = np.maximum(restart, np.where(hit, q, 0))
        slots = (ep_start[:, None] + np.maximum(positions, 0)) % self.num_slots
        return "frames", np.where(positions < restart[:, None], self.num_slots, slots)  # the zero row

    def _stack(self, ep_start: np.ndarray, pos: np.ndarray) -> Array:
        """Frames at episode positions ``pos`` stacked with their predecessors."""
        return self.storage.gather({"stack": self._stack_slots(ep_start, pos)})["stack"]

    def sample(self, batch_size: int) -> dict[str, Array]:
        """A batch of n-step transitions under DrQ-v2's semantics (or Dopamine's per-transition
        sampling, see the module docstring): numpy arrays, or tensors on the storage's device."""
        if self.per_transition or self.sample_open:  # every transition equally likely
            starts, lengths, counts = self._candidates()
            if len(counts) == 0:
                raise ValueError(
                    f"replay: no transition to sample yet (nstep={self.nstep}, horizon={self.horizon}"
                    f"{', the open episode included' if self.sample_open else ''})"
                )
            ends = np.cumsum(counts)
            draw = self.rng.integers(0, ends[-1], size=batch_size)
            which = np.searchsorted(ends, draw, side="right")
            idx = draw - (ends[which] - counts[which]) + 1  # in [1, count]
            starts, lengths = starts[which], lengths[which]
        else:
            eligible = np.flatnonzero(self._ep_lengths >= self.span)
            if len(eligible) == 0:
                raise ValueError(
                    f"replay: no complete episode with ≥ {self.span} transitions yet "
                    f"(nstep={self.nstep}, horizon={self.horizon})"
                )
            episodes = eligible[self.rng.integers(0, len(eligible), size=batch_size)]
            starts = self._ep_starts[episodes]
            lengths = self._ep_lengths[episodes]
            idx = self.rng.integers(0, lengths - self.span + 1) + 1  # in [1, T−max(n, K)+1]
        reward, discount, last = self._discounted(starts, idx, self.nstep, lengths if self.per_transition else None)
        plan: Plan = {
            "obs": self._stack_slots(starts, idx - 1),
            "action": ("actions", (starts + idx) % self.num_slots),
            "reward": reward,
            "discount": discount,
            "next_obs": self._stack_slots(starts, last),
        }
        if self.proprio is not None:
            plan["proprio"] = ("proprio", (starts + idx - 1) % self.num_slots)
            plan["next_proprio"] = ("proprio", (starts + last) % self.num_slots)
        if self.horizon:
            k = self.horizon
            plan["action_seq"] = ("actions", (starts[:, None] + idx[:, None] + np.arange(k)[None, :]) % self.num_slots)
            plan["obs_k"] = self._stack_slots(starts, idx + k - 1)
            if self.proprio is not None:
                plan["proprio_k"] = ("proprio", (starts + idx + k - 1) % self.num_slots)
        return self.storage.gather(plan)

    def _discounted(
        self, starts: np.ndarray, idx: np.ndarray, n: int, lengths: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``Σ_{i<n} γ^i·(Π_{j<i} d_j)·r[idx+i]`` and ``Π_{i<n} γ·d[idx+i]`` (each B×1 float32) and
        the position of the last step. With ``lengths``, steps past an episode's end add nothing
        and do not discount, and the last step is at most the episode's last."""
        offsets = np.arange(n)[None, :]
        steps = (starts[:, None] + idx[:, None] + offsets) % self.num_slots
        step_rewards = self.rewards[steps]  # B × n
        raw_discounts = self.discounts[steps]
        last = idx + n - 1
        if lengths is not None:  # masked before any arithmetic: slots past the end may be unwritten
            inside = idx[:, None] + offsets <= lengths[:, None]
            step_rewards = np.where(inside, step_rewards, np.float32(0.0))
            raw_discounts = np.where(inside, raw_discounts, np.float32(0.0))
            last = np.minimum(last, lengths)
        if self.reward_clip:  # (DQN's clipping; stored rewards stay raw)
            step_rewards = np.clip(step_rewards, -self.reward_clip, self.reward_clip)
        step_discounts = raw_discounts * self.discount
        if lengths is not None:
            step_discounts = np.where(inside, step_discounts, np.float32(1.0))
        running = np.cumprod(step_discounts, axis=1)
        before = np.concatenate([np.ones((len(idx), 1), np.float32), running[:, :-1]], axis=1)
        return (
            (before * step_rewards).sum(axis=1, keepdims=True).astype(np.float32),
            running[:, -1:].astype(np.float32),
            last,
        )

    def open_episode(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Actions and frames of the episode being written (to rebuild an env on resume)."""
        if self._open_start is None:
            return np.zeros((0, self.actions.shape[1]), np.float32), []
        frames = self.storage.read("frames", self._open_start, self._written)
        return self.storage.read("actions", self._open_start + 1, self._written), list(frames)

    def bytes_per_transition(self, episode_length: int) -> float:
        """Storage per transition for episodes of ``episode_length`` transitions."""
        per_slot = (
            self.frames[0].nbytes
            + self.actions[0].nbytes
            + self.rewards.itemsize
            + self.discounts.itemsize
            + (self.proprio[0].nbytes if self.proprio is not None else 0)
        )
        return per_slot * (episode_length + 1) / episode_length

    # --- checkpoints -----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Only the slots in use, as tensors, so it loads with ``weights_only=True``."""
        if len(self._ep_starts):
            live_from = int(self._ep_starts[0])
        else:
            live_from = self._written if self._open_start is None else self._open_start
        order = np.arange(live_from, self._written) % self.num_slots

        def as_tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a))

        state = {
            "capacity": self.capacity,
            "frame_stack": self.frame_stack,
            "nstep": self.nstep,
            "discount": self.discount,
            "live_from": live_from,
            "written": self._written,
            "open_start": -1 if self._open_start is None else self._open_start,
            "frames": as_tensor(self.storage.read("frames", live_from, self._written)),
            "actions": as_tensor(self.storage.read("actions", live_from, self._written)),
            "rewards": as_tensor(self.rewards[order]),
            "discounts": as_tensor(self.discounts[order]),
            "ep_starts": as_tensor(self._ep_starts),
            "ep_lengths": as_tensor(self._ep_lengths),
            "rng": self.rng.bit_generator.state,
        }
        if self.proprio is not None:
            state["proprio"] = as_tensor(self.storage.read("proprio", live_from, self._written))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("capacity", "frame_stack", "nstep"):
            if int(state[key]) != getattr(self, key):
                raise ValueError(f"replay checkpoint has {key}={state[key]}, this run {getattr(self, key)}")
        live_from, written = int(state["live_from"]), int(state["written"])
        frames = state["frames"].numpy()
        own = self.storage.read("frames", 0, 0)  # an empty host array of the storage's shape and dtype
        if frames.shape[1:] != own.shape[1:] or frames.dtype != own.dtype:
            raise ValueError(
                f"replay checkpoint frames {tuple(frames.shape[1:])} {frames.dtype} "
                f"do not match this run's {own.shape[1:]} {own.dtype}"
            )
        if written - live_from > self.num_slots:
            raise ValueError(f"replay checkpoint holds {written - live_from} slots; this buffer has {self.num_slots}")
        order = np.arange(live_from, written) % self.num_slots
        self.storage.load("frames", live_from, frames)
        self.storage.load("actions", live_from, state["actions"].numpy())
        self.rewards[order] = state["rewards"].numpy()
        self.discounts[order] = state["discounts"].numpy()
        if ("proprio" in state) != (self.proprio is not None):
            raise ValueError("replay checkpoint and this run disagree on storing proprioception")
        if self.proprio is not None:
            self.storage.load("proprio", live_from, state["proprio"].numpy())
        self._written = written
        self._open_start = None if int(state["open_start"]) < 0 else int(state["open_start"])
        self._ep_starts = state["ep_starts"].numpy().astype(np.int64).copy()
        self._ep_lengths = state["ep_lengths"].numpy().astype(np.int64).copy()
        self.rng.bit_generator.state = state["rng"]
