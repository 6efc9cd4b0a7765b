"""Choose a headless OpenGL backend for MuJoCo before dm_control is imported.

MuJoCo reads ``MUJOCO_GL`` once, at import. Unset (or ``glfw``) fails on machines
without a display, so we pick one explicitly: EGL when it can create a context,
else OSMesa, else one clear error that says what to install. The probe runs in a
subprocess because a failed backend cannot be swapped out in-process.

A run without rendering (states) still imports dm_control, which fixes the backend for the
whole process. So it picks a backend whose library is installed (no probe: it never renders),
and a pixel run later in the same process can render; only on a machine with neither EGL nor
OSMesa does it import with ``disable``, and a later pixel run then says why it cannot render.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
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


LATE_HINT = (
    "this Python process imported MuJoCo with MUJOCO_GL={backend}, which cannot render, and MuJoCo "
    "reads MUJOCO_GL only once; render in a new process, or set MUJOCO_GL=egl (or osmesa) before "
    "anything imports dm_control or mujoco"
)
LIBRARIES = {"egl": "EGL", "osmesa": "OSMesa"}


class RenderingUnavailable(RuntimeError):
    """No headless OpenGL backend works here."""


def _backend_works(name: str) -> bool:
    env = dict(os.environ, MUJOCO_GL=name, PYOPENGL_PLATFORM=name)
    try:
        result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _load_triton_before_mesa() -> None:
    """torch's CUDA builds bring Triton, which carries its own LLVM; Mesa's software
    renderer (llvmpipe, what EGL and OSMesa are on a machine without a GPU) loads another.
    Imported after Mesa, Triton crashes the process (a segmentation fault at the first Adam
    optimiser, which imports it through torch._dynamo); imported first, both work. So a
    process that will load a GL backend imports it first: torch does so at the first
    optimiser anyway, so this costs nothing extra. CPU builds of torch have no Triton."""
    if "triton" not in sys.modules and importlib.util.find_spec("triton") is not None:
        import torch._dynamo  # noqa: F401  (imports Triton the way torch's optimisers would)


def _simulator_imported() -> bool:
    return "dm_control" in sys.modules or "mujoco" in sys.modules


def configure_rendering(need_rendering: bool) -> str:
    """Set ``MUJOCO_GL`` (if the user has not) and return the backend in use.

    Rendering needed: the first backend that renders in a probe (EGL, then OSMesa). Not
    needed: an installed one, unprobed, so that a later pixel run in this process still
    renders; ``disable`` only where neither is installed. A user's explicit ``MUJOCO_GL`` is
    respected as is; one that cannot render is refused by name when rendering is needed.
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        if need_rendering and chosen == "disable":
            raise RenderingUnavailable(
                LATE_HINT.format(backend=chosen)
                if _simulator_imported()
                else "MUJOCO_GL=disable cannot render pixels; unset it or set it to egl or osmesa"
            )
        if chosen != "disable" and not _simulator_imported():
            _load_triton_before_mesa()
        return chosen
    if _simulator_imported():
        # Too late to choose; whatever was imported decides.
        return "unset"
    if not need_rendering:
        name = next((name for name, lib in LIBRARIES.items() if ctypes.util.find_library(lib)), "disable")
        if name != "disable":
            _load_triton_before_mesa()
        os.environ["MUJOCO_GL"] = name
        if name != "disable":
            os.environ.setdefault("PYOPENGL_PLATFORM", name)
        return name
    _load_triton_before_mesa()
    for name in LIBRARIES:
        if _backend_works(name):
            os.environ["MUJOCO_GL"] = name
            os.environ.setdefault("PYOPENGL_PLATFORM", name)
            return name
    raise RenderingUnavailable(INSTALL_HINT)
