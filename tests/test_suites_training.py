"""A few-step training run per optional suite (fast render), and exact resume with
proprioception and success logging."""

import csv
from pathlib import Path

import pytest

from dormant.config import resolve
from dormant.experiments.plot import plot_run
from dormant.training.trainer import Trainer, load_trainer

pytest.importorskip("metaworld")
pytest.importorskip("gymnasium_robotics")
pytestmark = pytest.mark.slow

TINY_PIXELS = {
    "agent.batch_size": 8,
    "agent.hidden_dim": 32,
    "agent.feature_dim": 16,
    "agent.num_expl_steps": 100,
    "env.fast_render": True,
    "eval.episodes": 1,
    "log.progress": False,
    "log.tensorboard": False,
    "threads": 1,
    "log.diagnostics_every_updates": 40,
}


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in r.items() if k not in ("fps", "elapsed_s")} for r in csv.DictReader(handle)]


def test_metaworld_drm_reference_preset_trains_and_logs_success(tmp_path):
    cfg = resolve(
        {
            **TINY_PIXELS,
            "task": "metaworld/reach-sparse",
            "agent": "drm",
            "preset": "drm-reference-metaworld",
            "frames": 1500,
            "num_seed_frames": 1000,
            "eval.every_frames": 1500,
        }
    )
    assert Trainer(cfg, tmp_path).train() == "finished"
    train, evals = rows(tmp_path / "train.csv"), rows(tmp_path / "eval.csv")
    assert [r["frame"] for r in train] == ["500", "1000", "1500"]  # 250 agent steps per episode
    assert all(r["episode_success"] in ("0.0", "1.0") for r in train)
    assert train[-1]["critic_loss"] != "" and train[-1]["dormant_ratio"] != ""
    assert [r["frame"] for r in evals] == ["0", "1500"] and evals[-1]["success_rate"] in ("0.0", "1.0")
    assert (tmp_path / "diagnostics.csv").exists()
    assert plot_run(tmp_path).stat().st_size > 10_000  # success-rate panel


def test_adroit_run_with_proprioception_resumes_exactly(tmp_path):
    base = {**TINY_PIXELS, "task": "adroit/door", "agent": "drm", "num_seed_frames": 400, "eval.every_frames": 600}
    Trainer(resolve({**base, "frames": 1000}), tmp_path / "full").train()
    part = resolve({**base, "frames": 700})  # 350 agent steps: mid-way through the fourth episode
    Trainer(part, tmp_path / "part").train()
    part.frames = 1000
    assert load_trainer(tmp_path / "part", part).train() == "finished"
    full_rows = rows(tmp_path / "full" / "train.csv")
    assert [r["frame"] for r in full_rows] == [str(200 * k) for k in range(1, 6)]
    assert rows(tmp_path / "part" / "train.csv") == full_rows
    # The same evaluations, plus the one at the end of the first budget (700 frames).
    part_evals = [r for r in rows(tmp_path / "part" / "eval.csv") if r["frame"] != "700"]
    assert part_evals == rows(tmp_path / "full" / "eval.csv")
    assert "success_rate" in rows(tmp_path / "full" / "eval.csv")[0]
