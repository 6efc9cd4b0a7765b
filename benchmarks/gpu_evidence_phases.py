"""The measuring phases of ``gpu_evidence.py``, each run in its own child process.

A child process per phase is what lets the parent enforce each phase's time cap (it
kills a phase that overruns, and the others still run) and keeps a crash in one phase
(a GL driver, ``torch.compile``) from taking the rest down. Each phase is a function
``phase(params) -> dict``; the child writes the dict as JSON for the parent to collect.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


def _device(params: dict[str, Any]):
    """The phase's device and threads; a ``batch_size`` (reduced mode: small CPU updates)
    replaces the benchmarks' batch of 256 for this process."""
    import torch

    if params.get("batch_size"):
        for name in ("common", "bench_update", "bench_breakdown"):
            __import__(name).BATCH_SIZE = int(params["batch_size"])

    torch.set_num_threads(int(params.get("threads", 1)) or torch.get_num_threads())
    name = params.get("device", "auto")
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))


def phase_egl(params: dict[str, Any]) -> dict[str, Any]:
    """Render cartpole frames with the backend in MUJOCO_GL; time per render and the GL strings."""
    import numpy as np

    t0 = time.perf_counter()
    from dm_control import suite

    env = suite.load("cartpole", "swingup", task_kwargs={"random": 0})
    env.reset()
    import_s = time.perf_counter() - t0
    physics = env.physics
    size = int(params.get("size", 84))
    first = physics.render(size, size, camera_id=0)  # creates the context: not timed
    times = []
    for _ in range(int(params.get("renders", 100))):
        env.step(np.zeros(env.action_spec().shape))
        t = time.perf_counter()
        physics.render(size, size, camera_id=0)
        times.append(time.perf_counter() - t)
    out: dict[str, Any] = {
        "backend": os.environ.get("MUJOCO_GL", "unset"),
        "egl_vendor_file": os.environ.get("__EGL_VENDOR_LIBRARY_FILENAMES", ""),
        "image_shape": list(first.shape),
        "image_mean": round(float(first.mean()), 2),
        "image_std": round(float(first.std()), 2),
        "renders": len(times),
        "ms_per_render_median": round(1000 * float(np.median(times)), 3),
        "renders_per_s": round(len(times) / sum(times), 1),
        "setup_s": round(import_s, 2),
    }
    try:  # which GL driver answered (NVIDIA's under EGL on the GPU machine)
        from OpenGL import GL

        with physics.contexts.gl.make_current() as ctx:
            out["gl_vendor"] = ctx.call(GL.glGetString, GL.GL_VENDOR).decode()
            out["gl_renderer"] = ctx.call(GL.glGetString, GL.GL_RENDERER).decode()
    except Exception as err:
        out["gl_strings_error"] = repr(err)[:200]
    if float(first.std()) == 0.0:
        raise RuntimeError("the rendered frame is uniform: rendering does not work")
    return out


def phase_update(params: dict[str, Any]) -> dict[str, Any]:
    """DrQ-v2's update, fp32 and bf16 (bench_update)."""
    from bench_update import bench_update
    from machine import machine

    device = _device(params)
    return {
        "device": str(device),
        "machine": machine(device),
        **bench_update(device, params["warmup"], params["updates"], params["samples"], params["episodes"], 500),
    }


def phase_compile(params: dict[str, Any]) -> dict[str, Any]:
    """DrQ-v2's update with ``agent.compile``: the first (compiling) update and the next ones."""
    import common
    import torch
    from common import PIXEL_OBS, filled_replay, median_ms, sync

    from dormant.agents.drqv2 import DrQV2Agent
    from dormant.config import AgentConfig

    device = _device(params)
    BATCH_SIZE = common.BATCH_SIZE
    replay = filled_replay(params["episodes"], 500, 1, seed=0)
    torch.manual_seed(0)
    agent = DrQV2Agent(PIXEL_OBS, 1, AgentConfig(compile=True), pixels=True, device=device)
    times = []
    for _ in range(1 + params["warmup"] + params["updates"]):
        batch = agent.to_batch(replay.sample(BATCH_SIZE))
        sync(device)
        t = time.perf_counter()
        agent.update(batch, 100_000).cpu()
        sync(device)
        times.append(time.perf_counter() - t)
    return {
        "device": str(device),
        "batch_size": BATCH_SIZE,
        "first_update_s": round(times[0], 2),
        "warmup_updates": params["warmup"],
        "timed_updates": params["updates"],
        "update_ms_median": median_ms(times[1 + params["warmup"] :]),
    }


def phase_breakdown(params: dict[str, Any]) -> dict[str, Any]:
    """Where a training frame's time goes (bench_breakdown), and its Markdown table."""
    from bench_breakdown import bench_breakdown, breakdown_markdown
    from machine import machine

    device = _device(params)
    result = bench_breakdown(device, params["warmup"], params["updates"], params["env_steps"])
    name = machine(device).get("gpu") or machine(device).get("cpu_model", "cpu")
    return {
        "device": str(device),
        "batch_size": result["setup"]["batch_size"],
        "result": result,
        "markdown": breakdown_markdown(result, str(name)),
    }


def phase_e2e(params: dict[str, Any]) -> dict[str, Any]:
    """End-to-end frames/s of a pixel training run of one agent with ``env.workers`` = N
    (and ``replay.device``): seed phase (no updates) and update phase, as bench_e2e times them."""
    from bench_e2e import bench_end_to_end

    device = _device(params)
    overrides = {
        "task": "dmc/cartpole_swingup",
        "agent.name": params["agent"],
        "frames": params["frames"],
        "num_seed_frames": params["seed_frames"],
        "env.workers": params["workers"],
        "replay.device": params.get("replay_device", "host"),
        **params.get("extra", {}),
    }
    run = bench_end_to_end(overrides, str(device), params["budget_s"])
    return {
        "device": str(device),
        "agent": params["agent"],
        "workers": params["workers"],
        "replay_device": overrides["replay.device"],
        "seed_phase_fps": run.get("seed_phase", {}).get("fps"),
        "update_phase_fps": run.get("update_phase", {}).get("fps"),
        "setup_s": run.get("setup_s"),
        "run": run,
    }


def phase_plot(params: dict[str, Any]) -> dict[str, Any]:
    """The run's learning curve beside the published one, and the two at the same frames."""
    from dormant.experiments.plot import plot_run, read_csv, reference_curve

    run_dir = Path(params["run_dir"])
    png = plot_run(run_dir, Path(params["png"]))
    evals = read_csv(run_dir / "eval.csv") if (run_dir / "eval.csv").exists() else {}
    frames = [int(f) for f in evals.get("frame", [])]
    ref = reference_curve("dmc/cartpole_swingup")
    rows = []
    for frame, value in zip(frames, evals.get("episode_reward", []), strict=True):
        row: dict[str, Any] = {"frame": frame, "this_run": round(float(value), 1)}
        if ref is not None:
            ref_frames, mean, std = ref
            i = int(abs(ref_frames - frame).argmin())
            row.update(
                published_frame=int(ref_frames[i]),
                published_mean=round(float(mean[i]), 1),
                published_std=round(float(std[i]), 1),
                same_frame=bool(ref_frames[i] == frame),
            )
        rows.append(row)
    return {
        "png": str(png),
        "curve": rows,
        "published": "DrQ-v2, Yarats et al. 2021, 10 seeds (package data drqv2_curves.csv.gz)",
    }


PHASES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "egl": phase_egl,
    "update": phase_update,
    "compile": phase_compile,
    "breakdown": phase_breakdown,
    "e2e": phase_e2e,
    "plot": phase_plot,
}


def main(argv: list[str]) -> int:
    """``python gpu_evidence_phases.py NAME PARAMS_JSON OUT_JSON``."""
    name, params, out = argv[0], json.loads(argv[1]), Path(argv[2])
    result = PHASES[name](params)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
