"""Render what the agent sees (the newest 84×84 frame of the first observation, reference
render quality) for one task per suite, into one PNG; with each frame's camera noted.

    .venv/bin/python scripts/render_observations.py docs/evidence/suites/observations.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from dormant.envs.rendering import configure_rendering

configure_rendering(True)

TASKS = ["dmc/walker_walk", "metaworld/assembly", "metaworld/coffee-push", "adroit/door", "adroit/hammer", "adroit/pen"]


def main(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dormant.config import resolve
    from dormant.envs import make_env

    fig, axes = plt.subplots(1, len(TASKS), figsize=(2.3 * len(TASKS), 2.9))
    for ax, task in zip(axes, TASKS, strict=True):
        cfg = resolve({"task": task})
        env = make_env(cfg, seed=1)
        frame = env.reset().frame.transpose(1, 2, 0)
        camera = getattr(getattr(env, "spec", None), "camera", f"camera_id {cfg.env.camera_id}")
        ax.imshow(frame, interpolation="nearest")
        ax.set_title(f"{task}\n{camera}, 84×84", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "observations.png"))
