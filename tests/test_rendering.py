"""Choosing MuJoCo's OpenGL backend: once per process, so a state run must not rule out a
later pixel run in the same process, and a process that cannot render says why."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, "OMP_NUM_THREADS": "1", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_pixels_render_after_a_state_run_in_the_same_process(tmp_path):
    """Before: the state run imported dm_control with MUJOCO_GL=disable, and the video
    evaluation then failed with dm_control's 'No OpenGL rendering backend is available'."""
    out = _python(f"""
        import dormant
        run = dormant.train(**{{"agent": "drqv2", "task": "dmc/cartpole_balance", "obs": "states", "frames": 1200,
                              "num_seed_frames": 1000, "agent.hidden_dim": 32, "eval.episodes": 1,
                              "eval.every_frames": 100000, "out": "{tmp_path / "run"}", "log.progress": False}})
        result = dormant.evaluate(run.run_dir, episodes=1, video=True)
        print("VIDEO", result["video"].stat().st_size)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split("VIDEO")[1]) > 1000


def test_a_process_that_cannot_render_names_the_cause():
    out = _python(
        """
        import dm_control.suite  # imported with MUJOCO_GL=disable: the backend is fixed from here on
        from dormant.envs.rendering import RenderingUnavailable, configure_rendering
        assert configure_rendering(False) == "disable"  # states: fine
        try:
            configure_rendering(True)
        except RenderingUnavailable as err:
            print("REFUSED", err)
    """,
        MUJOCO_GL="disable",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "REFUSED" in out.stdout and "MUJOCO_GL=disable" in out.stdout and "new process" in out.stdout


def test_states_pick_an_installed_backend_without_probing():
    out = _python("""
        import ctypes.util, os
        from dormant.envs import rendering
        rendering._backend_works = lambda name: (_ for _ in ()).throw(AssertionError("probed"))
        chosen = rendering.configure_rendering(False)
        found = ctypes.util.find_library
        expected = "egl" if found("EGL") else "osmesa" if found("OSMesa") else "disable"
        print("CHOSE", chosen, expected, os.environ["MUJOCO_GL"])
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    _, chosen, expected, env = out.stdout.split()
    assert chosen == expected == env
