#!/usr/bin/env python
"""GPU evidence in one command: install, EGL, update/compile/breakdown, end-to-end FPS, a training curve.

End-to-end frames/s come from short pixel training runs of DrQ-v2 and DrM with ``env.workers``
1, 16, 4 and 8 (reduced: 1 and 2), and one with ``replay.device=agent``, each in its own
process, most wanted first, all within one share of the budget (``e2e_total``).

Made for a GPU machine with no network, Python 3.12 and torch, and no MuJoCo: the wheels
come from ``gpu_bundle/`` (``scripts/build_gpu_bundle.py``). The whole run ends within
``--budget-s`` (default 540 s, under a 10-minute limit). Every phase runs in its own child
process under its own time cap, so a slow or crashing phase is killed and recorded while
the others still run; the pixel DrQ-v2 training run on ``dmc/cartpole_swingup`` gets what
time is left and is stopped with SIGTERM (the trainer saves and stops at a safe point).

    bash scripts/gpu_evidence.sh                      # the GPU run, results in $OUT or runs/gpu_evidence
    python benchmarks/gpu_evidence.py --reduced --out DIR    # the same code path on CPU, tiny budgets

Output (at most 8 files): ``results.json`` (every phase's figures and status), ``summary.md``,
``learning_curve.png``, ``eval_curve.csv`` (this run's eval returns beside the published
ones), ``breakdown.md`` and ``evidence.log`` (every phase's output).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PHASES_PY = HERE / "gpu_evidence_phases.py"
NVIDIA_EGL = "/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json"


def _e2e_runs(counts: tuple[int, ...], agent_replay_workers: int) -> list[dict[str, Any]]:
    """The end-to-end training runs, most wanted first: DrQ-v2 then DrM with the first two
    worker counts, then both with the others, then ``replay.device=agent`` beside host."""
    first, rest = counts[:2], counts[2:]
    runs = [
        {"agent": agent, "workers": n, "replay_device": "host"}
        for group in (first, rest)
        for agent in ("drqv2", "drm")
        for n in group
    ]
    return [*runs, {"agent": "drqv2", "workers": agent_replay_workers, "replay_device": "agent"}]


def e2e_name(run: dict[str, Any]) -> str:
    """A run's phase name: ``e2e_drqv2_w16``, ``e2e_drqv2_w16_replay_agent``."""
    return f"e2e_{run['agent']}_w{run['workers']}" + ("_replay_agent" if run["replay_device"] == "agent" else "")


def e2e_seed_frames(plan_e2e: dict[str, Any], workers: int) -> int:
    """Seed frames of a run with ``workers`` environments: the plan's, or as many as it takes
    for every worker to finish its first episode. Replay samples complete episodes only, so
    N workers (stepping in lockstep) allow no update before N episodes' frames; starting the
    update phase there keeps updates out of the seed phase and seed-only steps out of the update phase."""
    return max(int(plan_e2e["seed_frames"]), workers * int(plan_e2e["episode_frames"]))


def plan(reduced: bool) -> dict[str, Any]:
    """Each phase's time cap (s) and parameters; ``reduced`` keeps the code path, shrinks the budgets."""
    if reduced:
        return {
            "budget_s": 110,
            "device": "cpu",
            "threads": 1,
            "final_reserve_s": 12,
            "min_train_s": 12,
            "caps": {
                "install": 30,
                "egl": 15,
                "update": 20,
                "compile": 20,
                "breakdown": 20,
                "e2e": 25,
                "e2e_total": 60,
                "plot": 8,
            },
            "egl": {"renders": 3},
            # Batches of 32: a CPU update at batch 256 takes seconds.
            "update": {"warmup": 0, "updates": 1, "samples": 2, "episodes": 2, "batch_size": 32},
            "compile": {"skip": "reduced mode: torch.compile takes minutes on a CPU"},
            "breakdown": {"warmup": 0, "updates": 1, "env_steps": 2, "batch_size": 32},
            "e2e": {
                "seed_frames": 1000,
                "episode_frames": 1000,
                "update_frames": 100,
                "budget_s": 1,
                "runs": _e2e_runs((1, 2), 2),
                "extra": {"env.fast_render": True, "agent.batch_size": 32},
            },
            "train": [
                "frames=1100",
                "num_seed_frames=1000",
                "env.fast_render=true",
                "eval.every_frames=1000",
                "eval.episodes=1",
                "replay.capacity=5000",
                "agent.batch_size=32",
            ],
        }
    return {
        # final_reserve_s: kept for the plot and the summary after the training run;
        # min_train_s: below it the training run is skipped (it would not reach an update).
        "budget_s": 540,
        "device": "auto",
        "threads": 0,
        "final_reserve_s": 45,
        "min_train_s": 40,
        # e2e: one training run's cap; e2e_total: all of them together (a run that no longer
        # fits is skipped, and recorded so), which leaves the training run its time.
        "caps": {
            "install": 90,
            "egl": 45,
            "update": 75,
            "compile": 120,
            "breakdown": 60,
            "e2e": 50,
            "e2e_total": 210,
            "plot": 30,
        },
        "egl": {"renders": 200},
        "update": {"warmup": 3, "updates": 20, "samples": 50, "episodes": 20},
        "compile": {"warmup": 3, "updates": 20, "episodes": 4},
        "breakdown": {"warmup": 3, "updates": 10, "env_steps": 200},
        # Seed phase: 4,000 frames (DrQ-v2's random-action steps), or more with N workers
        # (below); then 8 s of updates.
        "e2e": {
            "seed_frames": 4000,
            "episode_frames": 1000,
            "update_frames": 100_000,
            "budget_s": 8,
            "runs": _e2e_runs((1, 16, 4, 8), 16),
        },
        # The published curves' settings (10 eval episodes every 20k frames, as they were
        # logged); the run stops on time, not frames.
        "train": ["frames=1000000", "eval.every_frames=20000", "eval.episodes=10"],
    }


class Evidence:
    """Runs the phases against one deadline and records what each one did."""

    def __init__(self, out: Path, reduced: bool, budget_s: float | None, bundle: Path):
        self.out, self.reduced, self.bundle = out, reduced, bundle
        self.plan = plan(reduced)
        if budget_s:  # a longer (shorter) budget stretches (shrinks) every phase's cap alike
            scale = budget_s / self.plan["budget_s"]
            self.plan["caps"] = {name: cap * scale for name, cap in self.plan["caps"].items()}
            self.plan["budget_s"] = budget_s
        self.t0 = time.monotonic()
        self.deadline = self.t0 + self.plan["budget_s"]
        self.work = Path(tempfile.mkdtemp(prefix="dormant-gpu-evidence-"))
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), self.env.get("PYTHONPATH")) if p)
        self.results: dict[str, Any] = {"mode": "reduced" if reduced else "full", "plan": self.plan, "phases": {}}
        self.log = open(out / "evidence.log", "w")  # noqa: SIM115 (the run's log, written to until the process ends)

    # --- bookkeeping ------------------------------------------------------------
    def left(self) -> float:
        return self.deadline - time.monotonic()

    def note(self, msg: str) -> None:
        line = f"[evidence {time.monotonic() - self.t0:6.1f}s] {msg}"
        print(line, file=sys.stderr, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def record(self, name: str, status: str, seconds: float, **extra: Any) -> dict[str, Any]:
        entry = {"status": status, "seconds": round(seconds, 1), **extra}
        self.results["phases"][name] = entry
        self.note(f"{name}: {status} ({seconds:.1f} s){' - ' + extra['reason'] if 'reason' in extra else ''}")
        return entry

    def cap(self, name: str) -> float:
        reserve = 0 if name == "plot" else self.plan["final_reserve_s"]
        return min(self.plan["caps"][name], self.left() - reserve)

    def run(
        self, cmd: list[str], cap: float, env: dict[str, str] | None = None, stop_signal: int = signal.SIGKILL
    ) -> tuple[int | None, float]:
        """Run ``cmd`` with its output in the log; past ``cap`` seconds send ``stop_signal``
        (SIGTERM gets 30 s to finish before a kill). Returns (exit status or None if stopped, seconds)."""
        t = time.monotonic()
        proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env or self.env, cwd=ROOT, start_new_session=True
        )
        try:
            return proc.wait(timeout=max(cap, 1)), time.monotonic() - t
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, stop_signal)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return None, time.monotonic() - t

    def phase(
        self,
        name: str,
        kind: str,
        params: dict[str, Any],
        cap_name: str | None = None,
        env: dict[str, str] | None = None,
        cap: float | None = None,
    ) -> dict[str, Any] | None:
        """One measuring phase in a child process; its JSON result, or None (recorded why).
        ``cap``: a tighter cap than the phase's own (what is left of a group's time)."""
        cap = min(self.cap(cap_name or kind), cap if cap is not None else float("inf"))
        if params.get("skip"):
            self.record(name, "skipped", 0, reason=params["skip"])
            return None
        if cap < 5:
            self.record(name, "skipped", 0, reason="no time left in the budget")
            return None
        self.note(f"{name}: start (cap {cap:.0f} s)")
        self.log.write(f"===== {name} =====\n")
        self.log.flush()
        out = self.work / f"{name}.json"
        full = {"device": self.plan["device"], "threads": self.plan["threads"], **params}
        rc, secs = self.run([sys.executable, str(PHASES_PY), kind, json.dumps(full), str(out)], cap, env)
        if rc is None:
            self.record(name, "timed out", secs, reason=f"killed at its cap of {cap:.0f} s")
            return None
        if rc != 0 or not out.exists():
            self.record(name, "failed", secs, reason=f"exit status {rc}; see evidence.log")
            return None
        self.record(name, "ok", secs)
        return json.loads(out.read_text())

    # --- phases -----------------------------------------------------------------
    def _importable(self) -> bool:
        code = "import mujoco, dm_control.suite"
        env = dict(self.env, MUJOCO_GL="disable")
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True).returncode == 0

    def install(self) -> None:
        t = time.monotonic()
        self.results["brought_along"] = _brought_along(self.bundle)
        if self._importable():
            self.record("install", "skipped", time.monotonic() - t, reason="mujoco and dm_control already importable")
            return
        wheels = sorted(glob.glob(str(self.bundle / "wheels" / "*.whl")))
        if not wheels:
            self.record("install", "failed", time.monotonic() - t, reason=f"no wheels in {self.bundle}/wheels")
            return
        site = self.work / "site"
        rc, _ = self.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--no-compile",
                "--no-cache-dir",
                "--target",
                str(site),
                *wheels,
            ],
            self.cap("install"),
        )
        self.env["PYTHONPATH"] = os.pathsep.join([str(site), self.env["PYTHONPATH"]])
        debs = sorted(glob.glob(str(self.bundle / "gl" / "*.deb")))
        unpacked = []
        if debs and os.geteuid() == 0 and not _has_egl_loader():
            for deb in debs:  # the GL loader libraries, unpacked in place (no dpkg database change)
                if subprocess.run(["dpkg", "-x", deb, "/"], capture_output=True).returncode == 0:
                    unpacked.append(Path(deb).name)
            subprocess.run(["ldconfig"], capture_output=True)
        ok = rc == 0 and self._importable()
        self.record(
            "install",
            "ok" if ok else "failed",
            time.monotonic() - t,
            wheels=[Path(w).name for w in wheels],
            gl_debs_unpacked=unpacked,
            **({} if ok else {"reason": f"pip exit status {rc}"}),
        )

    def egl(self) -> None:
        """EGL first, as asked; with NVIDIA's vendor file if the loader finds no driver; else
        the project's own choice (rendering.py), recorded as such."""
        tries = [dict(self.env, MUJOCO_GL="egl", PYOPENGL_PLATFORM="egl")]
        if "__EGL_VENDOR_LIBRARY_FILENAMES" not in self.env and Path(NVIDIA_EGL).exists():
            tries.append(dict(tries[0], __EGL_VENDOR_LIBRARY_FILENAMES=NVIDIA_EGL))
        for i, env in enumerate(tries):
            result = self.phase("egl" if i == 0 else f"egl_retry{i}", "egl", self.plan["egl"], "egl", env)
            if result is not None:
                self.env = env  # later phases render the same way
                self.results["egl"] = result
                return
        self.results["egl"] = {"backend": "EGL failed; later phases use the project's automatic choice"}

    def measure(self) -> None:
        upd = self.phase("update", "update", self.plan["update"])
        if upd:
            self.results["update_ms"] = upd.get("update_ms")
            self.results["machine"] = upd.pop("machine", None)
            self.results["update"] = upd
        comp = self.phase("compile", "compile", self.plan["compile"])
        if comp:
            self.results["compile"] = comp
        brk = self.phase("breakdown", "breakdown", self.plan["breakdown"])
        if brk:
            (self.out / "breakdown.md").write_text(brk.pop("markdown"))
            self.results["breakdown"] = brk
        self.end_to_end()

    def end_to_end(self) -> None:
        """The training runs of ``plan['e2e']['runs']`` in order, each in its own process
        under its own cap, all of them within ``caps['e2e_total']``."""
        e2e = self.plan["e2e"]
        group_end = time.monotonic() + self.plan["caps"]["e2e_total"]
        rows = self.results["end_to_end"] = []
        for run in e2e["runs"]:
            seed_frames = e2e_seed_frames(e2e, run["workers"])
            params = {
                **run,
                "seed_frames": seed_frames,
                "frames": seed_frames + e2e["update_frames"],
                "budget_s": e2e["budget_s"],
                "extra": e2e.get("extra", {}),
            }
            row: dict[str, Any] = {**run, "seed_frames": seed_frames}
            name = e2e_name(run)
            if group_end - time.monotonic() < 5:
                self.record(name, "skipped", 0, reason="the end-to-end runs' time (e2e_total) is spent")
            else:
                res = self.phase(name, "e2e", params, "e2e", cap=group_end - time.monotonic())
                if res:
                    update = res["run"].get("update_phase", {})
                    row.update(
                        seed_phase_fps=res["seed_phase_fps"],
                        update_phase_fps=res["update_phase_fps"],
                        setup_s=res["setup_s"],
                        updates=res["run"].get("updates"),
                        update_phase_s=update.get("seconds"),
                        trainer_update_ms_median=update.get("trainer_update_ms_median"),
                        run=res["run"],
                    )
            row["status"] = self.results["phases"][name]["status"]
            rows.append(row)
        _e2e_ratios(rows)

    def train(self) -> None:
        cap = self.left() - self.plan["final_reserve_s"]
        if cap < self.plan["min_train_s"]:
            self.record(
                "train", "skipped", 0, reason=f"only {max(cap, 0):.0f} s left (needs {self.plan['min_train_s']})"
            )
            return
        run_dir = self.work / "train"
        cmd = [
            sys.executable,
            "-m",
            "dormant",
            "train",
            "task=dmc/cartpole_swingup",
            "agent.name=drqv2",
            "env.obs=pixels",
            f"out={run_dir}",
            f"device={self.plan['device']}",
            "log.tensorboard=false",
            "log.progress_every_s=30",
            "checkpoint_every_frames=1000000",
            *self.plan["train"],
        ]
        if self.plan["threads"]:
            cmd.append(f"threads={self.plan['threads']}")
        self.note(f"train: start (wall-clock cap {cap:.0f} s, then SIGTERM)")
        self.log.write("===== train =====\n" + " ".join(cmd) + "\n")
        self.log.flush()
        rc, secs = self.run(cmd, cap, stop_signal=signal.SIGTERM)
        frames = _last_frame(run_dir)
        status = "ok" if rc == 0 else ("stopped on time" if rc is None else "failed")
        extra = {} if rc in (0, None) else {"reason": f"exit status {rc}; see evidence.log"}
        self.record("train", status, secs, last_logged_frame=frames, args=cmd[4:], **extra)
        if not (run_dir / "eval.csv").exists():
            self.record("plot", "skipped", 0, reason="the training run wrote no evaluation")
        else:
            plot = self.phase(
                "plot", "plot", {"run_dir": str(run_dir), "png": str(self.out / "learning_curve.png")}, env=self.env
            )
            if plot:
                self.results["eval_curve"] = plot["curve"]
                _write_curve_csv(self.out / "eval_curve.csv", plot["curve"])

    # --- all ----------------------------------------------------------------------
    def finish(self) -> dict[str, Any]:
        self.results["wall_s"] = round(time.monotonic() - self.t0, 1)
        self.results["budget_s"] = round(self.deadline - self.t0, 1)
        (self.out / "results.json").write_text(json.dumps(self.results, indent=2, default=str) + "\n")
        from gpu_evidence_summary import summary_markdown

        (self.out / "summary.md").write_text(summary_markdown(self.results))
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)
        return self.results


def _e2e_ratios(rows: list[dict[str, Any]]) -> None:
    """Ratios between runs of the same evidence run, which carry over between machines better
    than the figures: each host run's frames/s over the same agent's one-worker run
    (``*_over_w1``), and a ``replay.device=agent`` run's over its host twin (``*_over_host``)."""
    host = {(row["agent"], row["workers"]): row for row in rows if row["replay_device"] == "host"}
    for row in rows:
        if row["replay_device"] == "host":
            ref, suffix = host.get((row["agent"], 1)), "_over_w1"
        else:
            ref, suffix = host.get((row["agent"], row["workers"])), "_over_host"
        if ref is None or row is ref:
            continue
        for key in ("seed_phase_fps", "update_phase_fps"):
            if row.get(key) and ref.get(key):
                row[key.replace("_fps", suffix)] = round(row[key] / ref[key], 2)


def _brought_along(bundle: Path) -> dict[str, Any]:
    """The dry-run listing of the bundle and the project's files, in MiB (the 64 MiB budget)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_gpu_bundle", ROOT / "scripts" / "build_gpu_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    info = module.listing(bundle, ROOT)
    info["files"] = {name: round(size, 3) for name, size in info["files"]}
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in info.items()}


def _has_egl_loader() -> bool:
    """Whether the GL loader libraries MuJoCo's EGL backend opens are already there."""
    import ctypes.util

    return all(ctypes.util.find_library(name) is not None for name in ("EGL", "OpenGL"))


def _last_frame(run_dir: Path) -> int | None:
    """The last frame the run logged (an episode's end in train.csv, or an evaluation)."""
    frames = []
    for name in ("train.csv", "eval.csv"):
        path = run_dir / name
        if path.exists():
            with open(path, newline="") as handle:
                frames += [int(float(row["frame"])) for row in csv.DictReader(handle)]
    return max(frames) if frames else None


def _write_curve_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys = ["frame", "this_run", "published_frame", "published_mean", "published_std", "same_frame"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("OUT") or ROOT / "runs" / "gpu_evidence"),
        help="output folder (default $OUT, else runs/gpu_evidence)",
    )
    parser.add_argument("--reduced", action="store_true", help="CPU, tiny budgets: the same code path in ~80 s")
    parser.add_argument(
        "--budget-s",
        type=float,
        help="whole-run wall-clock budget (default 540; reduced 110); every phase's cap scales with it",
    )
    parser.add_argument("--bundle", type=Path, default=ROOT / "gpu_bundle", help="the wheels (and GL .debs)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE))
    ev = Evidence(args.out, args.reduced, args.budget_s, args.bundle)
    try:
        ev.install()
        ev.egl()
        ev.measure()
        ev.train()
    finally:
        results = ev.finish()
    print(json.dumps({k: results[k] for k in ("mode", "wall_s", "budget_s")}))
    return results


if __name__ == "__main__":
    main()
