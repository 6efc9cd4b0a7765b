"""Dopamine's replay against ours, transition by transition, on a hand-made episode.

    PYTHONPATH=src python scripts/fidelity/dopamine_replay.py --reference PATH [--nstep 10] [--steps 30]

``PATH`` is a checkout of github.com/google/dopamine at 5873f5494ee0c2d7c016d0ab2ad530354fec59d0.
Its ``dopamine/jax/replay_memory/accumulator.py`` (the ``TransitionAccumulator`` that the JAX
DQN and full-Rainbow agents, hence ReDo's DQN and DrQ(ε), feed) is imported from there at run
time. Stubbed, because they are not installed here and the accumulator's transitions do not use
them: ``jax`` (only its checkpoint code calls ``jax.tree_util``), ``flax.struct.PyTreeNode``
(replaced by a dataclass), ``snappy`` (compression of stored elements) and
``dopamine.jax.checkpointers`` (a protocol).

The episode: frame k is the number k + 1 (so 0 is padding), reward r_k = 10·(k + 1), γ = 0.5, stacks
of 4. Dopamine's agent stores step k, (o_k, a_k, r_k, terminal), when o_{k+1} arrives and trains
right after; its last step goes in through ``end_episode`` with ``terminal=True`` and o_T is never
stored. Ours stores o_{k+1} with a_k and r_k and samples when acting on o_{k+1}, with
``per_transition``, ``open_episode`` and ``zero_pad`` (the dqn/drq_eps presets' replay). At every
step before the terminal the script compares the set of transitions each can sample — stacked
state, action, n-step reward, stacked next state, whether the target bootstraps — and then, at
the terminal, lists what differs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections import Counter

import numpy as np

from dormant.replay import ReplayBuffer

GAMMA, STACK = 0.5, 4


def import_accumulator(reference: str):
    sys.path.insert(0, reference)
    for name in ("jax", "snappy", "flax"):
        sys.modules.setdefault(name, types.ModuleType(name))
    struct = types.ModuleType("flax.struct")

    class PyTreeNode:
        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__()
            dataclasses.dataclass(cls)

    struct.PyTreeNode = PyTreeNode
    struct.field = lambda **kwargs: None
    sys.modules["flax.struct"] = struct
    sys.modules["flax"].struct = struct
    checkpointers = types.ModuleType("dopamine.jax.checkpointers")

    class Checkpointable(typing.Protocol):
        pass

    checkpointers.Checkpointable = Checkpointable
    import dopamine.jax  # noqa: F401  (the package, before its stubbed module)

    sys.modules["dopamine.jax.checkpointers"] = checkpointers
    from dopamine.jax.replay_memory import accumulator, elements

    return accumulator, elements


class _All:
    """Stands in for the buffer's generator: ``integers(0, n, size)`` returns 0 … n − 1, so one
    ``sample`` call lists every transition the buffer may draw, each once."""

    def integers(self, low, high, size=None):
        return np.arange(low, high)


def ours_all(buf: ReplayBuffer) -> Counter:
    weight = buf.sample_weight()
    if not weight:
        return Counter()
    rng, buf.rng = buf.rng, _All()
    try:
        batch = buf.sample(weight)
    finally:
        buf.rng = rng
    rows = zip(
        batch["obs"],
        batch["action"][:, 0],
        batch["reward"][:, 0],
        batch["next_obs"],
        batch["discount"][:, 0] > 0,
        strict=True,
    )
    return Counter(
        (tuple(s.tolist()), int(a), round(float(r), 6), tuple(x.tolist()), bool(b)) for s, a, r, x, b in rows
    )


def theirs(element) -> tuple:
    return (
        tuple(np.asarray(element.state, float).reshape(-1).tolist()),
        int(element.action),
        round(float(element.reward), 6),
        tuple(np.asarray(element.next_state, float).reshape(-1).tolist()),
        not bool(element.is_terminal),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True)
    parser.add_argument("--nstep", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    accumulator, elements = import_accumulator(args.reference)
    n, steps = args.nstep, args.steps
    acc = accumulator.TransitionAccumulator(stack_size=STACK, update_horizon=n, gamma=GAMMA)
    buf = ReplayBuffer(
        (1,),
        np.float32,
        1,
        capacity=1000,
        frame_stack=STACK,
        nstep=n,
        discount=GAMMA,
        per_transition=True,
        open_episode=True,
        zero_pad=True,
    )
    buf.add(np.full(1, 1.0, np.float32), np.zeros(1, np.float32), 0.0, 1.0, first=True, last=False)
    stored: Counter = Counter()
    equal_steps = 0
    for k in range(steps):
        terminal = k == steps - 1
        for element in acc.accumulate(
            elements.TransitionElement(np.full(1, k + 1.0), k, 10.0 * (k + 1), terminal, terminal)
        ):
            stored[theirs(element)] += 1
        buf.add(
            np.full(1, k + 2.0, np.float32),
            np.full(1, k, np.float32),
            10.0 * (k + 1),
            0.0 if terminal else 1.0,
            first=False,
            last=terminal,
        )
        if not terminal:
            assert ours_all(buf) == stored, (k, ours_all(buf), stored)
            equal_steps += 1
    mine = ours_all(buf)
    print(
        f"n = {n}, {steps}-step episode, stacks of {STACK}: the sampleable transitions are equal at each of the "
        f"{equal_steps} updates inside the episode (the running episode included)"
    )
    print(
        f"after the terminal: Dopamine holds {sum(stored.values())} elements for "
        f"{len({s[1] for s in stored})} starts; ours {sum(mine.values())} transitions for {len(mine)} starts"
    )
    for key in sorted(set(stored) | set(mine), key=lambda s: (s[1], -sum(v > 0 for v in s[0]))):
        if stored[key] != mine[key]:
            state, action, reward, nxt, boot = key
            print(
                f"  a_{action}: state {state} R {reward} next {nxt} bootstraps {boot}: "
                f"Dopamine ×{stored[key]}, ours ×{mine[key]}"
            )


if __name__ == "__main__":
    main()
