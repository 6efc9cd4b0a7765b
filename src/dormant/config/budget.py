"""``DORMANT_MAX_FRAMES=N``: a test-only smoke budget, so the commands in the docs run as
written in seconds (tests/test_doc_blocks.py sets it; docs/usage.md#testing-the-documentation).

A new run trains at most N frames, on small networks and images; a resumed run at most N
frames more than it has trained (its networks stay as they were saved). Every value the cap
changes is printed on one line, so a capped run never passes for the configured one.
"""

from __future__ import annotations

import os
from typing import Any

VARIABLE = "DORMANT_MAX_FRAMES"
_printed: set[str] = set()


def cap_budget(cfg: Any, done_frames: int | None = None) -> None:
    """Apply ``$DORMANT_MAX_FRAMES`` to ``cfg`` in place (nothing when it is unset);
    ``done_frames`` (a resume) caps only ``frames``, to ``done_frames + N``."""
    raw = os.environ.get(VARIABLE, "").strip()
    if not raw:
        return
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1000:  # an explicit check, not an assert (python -O drops asserts)
        from dormant.errors import ConfigError

        raise ConfigError(f"{VARIABLE}={raw!r}: expected a whole number of frames ≥ 1000 (unset it for real runs)")
    caps: dict[str, int] = {"frames": n + (done_frames or 0)}
    changed: list[str] = []
    if done_frames is None:
        steps = n // (4 * cfg.env.action_repeat)
        caps.update(
            {
                "num_seed_frames": n // 4,
                "agent.num_expl_steps": steps,
                "eval.every_frames": n,
                "eval.episodes": 1,
                "checkpoint_every_frames": n // 2,
                "drm.perturb_every_frames": n // 2,
                "log.diagnostics_every_updates": 50,
                "plasticity.redo_every_updates": 50,
                "replay.capacity": n,
                "agent.batch_size": 32,
                "agent.hidden_dim": 64,
                "agent.feature_dim": 32,
            }
        )
        if cfg.env.obs == "pixels":
            caps["env.image_size"] = 36  # the Nature CNN (Atari) needs ≥ 36
        if cfg.env.obs == "pixels" and not cfg.env.fast_render:
            changed.append("env.fast_render False → True")
            cfg.env.fast_render = True
        every = cfg.continual.switch_every_frames
        if every:  # every task still gets its phase within the capped budget, each switch on a step
            from dormant.envs.continual import phases_needed

            unit = cfg.env.action_repeat * cfg.env.workers
            caps["continual.switch_every_frames"] = max(unit, n // phases_needed(cfg) // unit * unit)
    for key, cap in caps.items():
        *parents, leaf = key.split(".")
        node = cfg
        for part in parents:
            node = getattr(node, part)
        if getattr(node, leaf) > cap:
            changed.append(f"{key} {getattr(node, leaf)} → {cap}")
            setattr(node, leaf, cap)
    if changed:
        line = f"{VARIABLE}={n}: a capped smoke run, not the configured one: " + ", ".join(changed)
        if line not in _printed:  # once per process (a sweep resolves each run several times)
            _printed.add(line)
            print(line, flush=True)
