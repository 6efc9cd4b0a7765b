"""Section ``end_to_end_fps``: frames per second of real training runs.

The other sections time the parts; this one times the whole, through ``Trainer`` with
the preset of ``dmc/cartpole_swingup`` on pixels and on states (hidden 256). A subclass
of the trainer notes when the seed phase (random actions, no updates) ends and times
each update, so the seed phase and the update phase get separate frames/s; the update
phase stops early, as Ctrl-C would, after a time budget. Comparing the trainer's update
with the bare update of ``bench_update`` shows what the training loop adds.

With ``env.workers`` = N the trainer takes N agent steps at a time, so the seed phase ends
at the first step at or past ``num_seed_frames`` (its frames are counted as taken), and
the update phase ends at the first safe point after the budget.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

from common import median_ms, now

from dormant.config import resolve


def e2e_runs(quick: bool) -> dict[str, tuple[dict[str, Any], float]]:
    """The pixel and state runs: their config overrides and default update-phase budget (s)."""
    if quick:
        # One complete 1000-frame episode must be stored before the first update;
        # quick mode renders it the cheap way (labelled in the output).
        return {
            "pixels": (
                {"task": "dmc/cartpole_swingup", "frames": 1020, "num_seed_frames": 1000, "env.fast_render": True},
                60,
            ),
            "states": (
                {
                    "task": "dmc/cartpole_swingup",
                    "obs": "states",
                    "agent.hidden_dim": 256,
                    "frames": 1400,
                    "num_seed_frames": 1000,
                },
                30,
            ),
        }
    return {
        "pixels": ({"task": "dmc/cartpole_swingup", "frames": 4400, "num_seed_frames": 4000}, 300),
        "states": (
            {
                "task": "dmc/cartpole_swingup",
                "obs": "states",
                "agent.hidden_dim": 256,
                "frames": 12000,
                "num_seed_frames": 4000,
            },
            120,
        ),
    }


def bench_end_to_end(overrides: dict[str, Any], device: str, budget_s: float) -> dict[str, Any]:
    """A real training run; the update phase stops early after ``budget_s`` seconds."""
    from dormant.training.trainer import Trainer

    class TimedTrainer(Trainer):
        """Trainer that notes when the update phase starts and times each update."""

        marks: dict[str, Any]
        update_s: list[float]

        def _act_and_learn(self) -> None:
            step = self.counters.step
            if step == 0 and "start" not in self.marks:
                self.marks["start"] = now()
            if step >= self.seed_steps and "seed_end" not in self.marks:  # N workers: N steps at a time
                self.marks["seed_end"] = now()
                self.marks["seed_end_step"] = step
            super()._act_and_learn()
            if self.counters.step >= self.total_steps:
                self.marks["end"] = now()
            elif "seed_end" in self.marks and now() - self.marks["seed_end"] > budget_s:
                # Out of time: stop at the next safe point, as Ctrl-C would.
                self.stop_requested = True
                self.marks["end"] = now()
                self.marks["end_step"] = self.counters.step

        def _update(self, step: int) -> None:
            t0 = now()
            super()._update(step)
            self.update_s.append(now() - t0)

    with tempfile.TemporaryDirectory(prefix="dormant-bench-") as tmp:
        cfg = resolve(
            {
                **overrides,
                "eval.episodes": 0,
                "log.progress": False,
                "log.tensorboard": False,
                "out": tmp,
                "device": device,
            }
        )
        t0 = now()
        trainer = TimedTrainer(cfg, Path(tmp))
        trainer.marks, trainer.update_s = {}, []
        t1 = now()
        try:
            status = trainer.train()
        finally:
            trainer.close()  # environment workers' processes, renderers
        t2 = now()
        rows = []
        if (Path(tmp) / "train.csv").exists():
            with open(Path(tmp) / "train.csv", newline="") as handle:
                rows = list(csv.DictReader(handle))
        repeat = cfg.env.action_repeat
        marks = trainer.marks
        seed_step = marks.get("seed_end_step", trainer.seed_steps)
        seed_frames = seed_step * repeat
        end_step = marks.get("end_step", trainer.counters.step)  # N workers may pass total_steps
        update_frames = (end_step - seed_step) * repeat
        result: dict[str, Any] = {
            "config": {k: v for k, v in overrides.items()},
            "env_workers": cfg.env.workers,
            "status": status,
            "frames": trainer.frame,
            "updates": len(trainer.update_s),
            "stopped_early": "end_step" in marks,
            "update_phase_budget_s": budget_s,
            "setup_s": round(t1 - t0, 2),
            "train_wall_s": round(t2 - t1, 2),
        }
        if {"start", "seed_end", "end"} <= marks.keys():
            seed_s = marks["seed_end"] - marks["start"]
            upd_s = marks["end"] - marks["seed_end"]
            result["seed_phase"] = {
                "frames": seed_frames,
                "seconds": round(seed_s, 2),
                "fps": round(seed_frames / seed_s, 1),
            }
            if update_frames > 0 and upd_s > 0:
                result["update_phase"] = {
                    "frames": update_frames,
                    "seconds": round(upd_s, 2),
                    "fps": round(update_frames / upd_s, 1),
                }
            if trainer.update_s and "update_phase" in result:
                result["update_phase"]["trainer_update_ms_median"] = median_ms(trainer.update_s)
                result["update_phase"]["share_in_updates"] = round(sum(trainer.update_s) / upd_s, 3)
        else:  # the trainer's internals changed; fall back to its own logs
            result["note"] = "phase marks unavailable; fps from train.csv only"
        seed_rows = [float(r["fps"]) for r in rows if int(float(r["step"])) <= seed_step]
        result["train_csv_fps_seed_episodes"] = [round(v, 1) for v in seed_rows]
        del trainer
    return result


def summarise_end_to_end(
    pixels: dict[str, Any],
    states: dict[str, Any],
    pixels_overrides: dict[str, Any],
    bench_update_ms: dict[str, float] | None,
) -> dict[str, Any]:
    """The ``end_to_end_fps`` block; ``bench_update_ms`` is the update section's
    ``update_ms`` (None when that section was skipped)."""
    summary: dict[str, Any] = {
        "pixels": {
            "seed_phase": pixels.get("seed_phase", {}).get("fps"),
            "update_phase": pixels.get("update_phase", {}).get("fps"),
        },
        "states_hidden256": {
            "seed_phase": states.get("seed_phase", {}).get("fps"),
            "update_phase": states.get("update_phase", {}).get("fps"),
        },
        "pixels_render": "fast_render" if pixels_overrides.get("env.fast_render") else "default",
        "details": {"pixels": pixels, "states_hidden256": states},
    }
    trainer_ms = pixels.get("update_phase", {}).get("trainer_update_ms_median")
    if trainer_ms and bench_update_ms is not None:
        # The trainer's update (sample + to_batch + guard + update) over the bare update.
        summary["trainer_update_over_bench_update"] = round(trainer_ms / bench_update_ms["fp32"], 3)
    return summary
