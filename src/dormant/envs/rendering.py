"""Choose a headless OpenGL backend for MuJoCo before dm_control is imported.

MuJoCo reads ``MUJOCO_GL`` once, at import. Unset (or ``glfw``) fails on machines
without a display, so we pick one explicitly: EGL when it can create a context,
else OSMesa, else one clear error that says what to install. The probe runs in a
subprocess because a failed backend cannot be swapped out in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys

_PROBE = (
    "from dm_control import mujoco\n"
    "p = mujoco.Physics.from_xml_string('<mujoco><worldbody><geom size=\"1\"/></worldbody></mujoco>')\n"
    "assert p.render(8, 8).shape == (8, 8, 3)\n"
)
INSTALL_HINT = (
    "headless MuJoCo rendering failed with both EGL and OSMesa. Install Mesa's libraries "
    "(Debian/Ubuntu: `apt-get install libegl1 libosmesa6 libgl1-mesa-dri`), or set "
    "MUJOCO_GL to a backend that works on this machine."
)


class RenderingUnavailable(RuntimeError):
    """No headless OpenGL backend works here."""


def _backend_works(name: str) -> bool:
    env = dict(os.environ, MUJOCO_GL=name, PYOPENGL_PLATFORM=name)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def configure_rendering(need_rendering: bool) -> str:
    """Set ``MUJOCO_GL`` (if the user has not) and return the backend in use.

    Without rendering we select ``disable`` so that importing dm_control needs no GL.
    A user's explicit ``MUJOCO_GL`` is respected as is.
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    if "dm_control" in sys.modules or "mujoco" in sys.modules:
        # Too late to choose; whatever was imported decides.
        return os.environ.get("MUJOCO_GL", "unset")
    if not need_rendering:
        os.environ["MUJOCO_GL"] = "disable"
        return "disable"
    for name in ("egl", "osmesa"):
        if _backend_works(name):
            os.environ["MUJOCO_GL"] = name
            os.environ.setdefault("PYOPENGL_PLATFORM", name)
            return name
    raise RenderingUnavailable(INSTALL_HINT)
