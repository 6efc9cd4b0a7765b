"""How much sampling the episode being played changes early training (``replay.sample_open_episode``).

Dopamine's replay (github.com/google/dopamine, 5873f5494ee0c2d7c016d0ab2ad530354fec59d0,
``dopamine/jax/replay_memory``), which ReDo's DQN and DrQ(ε) use, stores a transition as soon
as its n-step window has been played, so the game in progress is sampled like any other; ALIX's
buffer (github.com/Aladoro/Stabilizing-Off-Policy-RL, 34665c80708bc2703c72906774d2c051e6fb0a28,
``np_replay_buffer.py``) does the same for whole n-step windows. This script needs no reference
code: it plays an Atari-100k game (``--game``, default Boxing) with uniformly random actions under
the drq_eps preset's environment (no sticky actions, a lost life terminal, Dopamine's stack and
frame skip, 10-step returns), writes every step into two replays — the open episode sampled
(Dopamine's rule) and not (complete episodes only) — and reports, at a few agent steps, the share
of draws that come from the open episode (exact, from the sampling weights; the unit tests check
that draws follow them) and the first agent step at which each replay can give a batch (learning starts at
1,600 in Atari-100k). For ALIX on DMC (fixed 500-step episodes at action repeat 2, 3-step
returns, learning from agent step 2,000) the same shares follow from the episode lengths alone.
Last, for three games with lives, at which frame of the 4-frame action repeat each lost life
falls: Dopamine's preprocessing (``atari.dopamine_screens``) stops the repeat there.

    PYTHONPATH=src python scripts/fidelity/replay_sampling.py [--game Boxing] [--steps 12001]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from dormant.envs.atari import AtariEnv
from dormant.replay import ReplayBuffer

CHECKS = (1_600, 2_000, 3_000, 5_000, 8_000, 12_000)


def open_share(buf: ReplayBuffer) -> float:
    total = buf.sample_weight()
    return buf._open_count() / total if total else float("nan")


def atari(game: str, steps: int, seed: int) -> dict:
    env = AtariEnv(
        game,
        seed=seed,
        sticky_actions=0.0,
        terminal_on_life_loss=True,
        zero_stack=True,
        dopamine_screens=True,
        max_episode_frames=100_000,
    )
    kwargs = dict(
        capacity=1_000_000,
        frame_stack=4,
        nstep=10,
        discount=0.99,
        per_transition=True,
        zero_pad=True,
        allocate_transitions=steps + 10,
    )
    with_open = ReplayBuffer(env.frame_shape, np.uint8, 1, seed=seed, open_episode=True, **kwargs)
    without = ReplayBuffer(env.frame_shape, np.uint8, 1, seed=seed, **kwargs)
    rng = np.random.default_rng(seed)
    first = {"open": None, "complete_only": None}
    rows, lengths = [], []
    ts = env.reset()
    for buf in (with_open, without):
        buf.add(ts.frame, ts.action, ts.reward, ts.discount, first=True, last=False)
    length = 0
    for step in range(steps):
        # the trainer's order: act on the newest observation, update if a batch can be drawn, then step
        for key, buf in (("open", with_open), ("complete_only", without)):
            if first[key] is None and step >= 1_600 and buf.can_sample():
                first[key] = step
        if step in CHECKS:
            rows.append(
                {
                    "agent_step": step,
                    "complete_episodes": with_open.num_episodes,
                    "open_episode_steps": length,
                    "open_share": round(open_share(with_open), 4),
                }
            )
        ts = env.step(np.array([rng.integers(env.num_actions)], np.float32))
        length += 1
        for buf in (with_open, without):
            buf.add(ts.frame, ts.action, ts.reward, ts.discount, first=False, last=ts.last)
        if ts.last:
            lengths.append(length)
            length = 0
            ts = env.reset()
            for buf in (with_open, without):
                buf.add(ts.frame, ts.action, ts.reward, ts.discount, first=True, last=False)
    env.close()
    return {
        "game": game,
        "seed": seed,
        "policy": "uniformly random actions",
        "episode_lengths": lengths,
        "first_update_step": first,
        "shares": rows,
    }


def lost_lives(game: str, steps: int, seed: int) -> dict:
    """How Dopamine's screen buffers treat lost lives: at which frame of the 4-frame repeat each
    terminal lost life falls (frames 1–3: the repeat is cut there; frame 1 or 2: the step's frame
    is the previous step's again) under random play with the drq_eps preset's environment."""
    env = AtariEnv(
        game,
        seed=seed,
        sticky_actions=0.0,
        terminal_on_life_loss=True,
        zero_stack=True,
        dopamine_screens=True,
        max_episode_frames=100_000,
    )
    rng = np.random.default_rng(seed)
    at_frame = np.zeros(4, int)
    env.reset()
    for _ in range(steps):
        before = env._ale.getEpisodeFrameNumber()
        ts = env.step(np.array([rng.integers(env.num_actions)], np.float32))
        if ts.discount == 0.0 and not ts.last:
            at_frame[env._ale.getEpisodeFrameNumber() - before - 1] += 1
        if ts.last:
            env.reset()
    env.close()
    return {"game": game, "steps": steps, "lost_lives_at_repeat_frame_1_to_4": at_frame.tolist()}


def alix_dmc(length: int = 500, nstep: int = 3, start: int = 2_000) -> list[dict]:
    """ALIX's rule on fixed-length episodes: every transition with a whole n-step window."""
    rows = []
    for step in (start, start + 250, start + 499, 10_000, 10_250, 50_250):
        done, played = divmod(step, length)
        closed, opened = done * (length - nstep + 1), max(played + 1 - nstep, 0)
        rows.append({"agent_step": step, "complete_episodes": done, "open_share": round(opened / (closed + opened), 4)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="Boxing")
    parser.add_argument("--steps", type=int, default=12_001)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        json.dumps(
            {
                "atari_drq_eps": atari(args.game, args.steps, args.seed),
                "alix_dmc": alix_dmc(),
                "lost_lives": [lost_lives(g, 5_000, args.seed) for g in ("Breakout", "Seaquest", "MsPacman")],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
