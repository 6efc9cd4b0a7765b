"""Choose the headless GL backend once, before any test imports dm_control."""

import os

from dormant.envs.rendering import configure_rendering

configure_rendering(need_rendering=True)
os.environ.setdefault("DORMANT_TEST", "1")
