"""The GPU evidence script: the bundle's size listing and trimming (fast, no downloads), and
the whole script in reduced mode on CPU (slow), the same code path as on the GPU machine."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle = _load(ROOT / "scripts" / "build_gpu_bundle.py", "build_gpu_bundle")
evidence = _load(ROOT / "benchmarks" / "gpu_evidence.py", "gpu_evidence")
MIB = 2**20


def _sized(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: the listing reads st_size


def test_dry_run_lists_each_file_and_the_margin(tmp_path, capsys):
    root = tmp_path / "project"  # not a git checkout: project files count 0
    root.mkdir()
    fake = root / "gpu_bundle"
    _sized(fake / "wheels" / "mujoco-3.3.0-cp312-cp312-manylinux.whl", 6 * MIB)
    _sized(fake / "wheels" / "dm_control-1.0.28-py3-none-any.whl", MIB // 2)
    _sized(fake / "gl" / "libegl1_amd64.deb", MIB // 4)
    info = bundle.listing(fake, root)
    assert [name for name, _ in info["files"]] == [
        "gpu_bundle/gl/libegl1_amd64.deb",
        "gpu_bundle/wheels/dm_control-1.0.28-py3-none-any.whl",
        "gpu_bundle/wheels/mujoco-3.3.0-cp312-cp312-manylinux.whl",
    ]
    assert info["bundle_mib"] == pytest.approx(6.75)
    assert info["project_tracked_mib"] == 0.0
    assert info["margin_mib"] == pytest.approx(64 - 6.75)
    text = bundle.format_listing(info)
    assert "    6.000 MiB  gpu_bundle/wheels/mujoco" in text
    assert "margin 57.250 MiB" in text
    # --dry-run downloads nothing and fails when the budget is exceeded
    assert bundle.main(["--dry-run", "--out", str(fake)]) == 0
    _sized(fake / "wheels" / "huge.whl", 60 * MIB)
    assert bundle.main(["--dry-run", "--out", str(fake)]) == 1
    assert "huge.whl" in capsys.readouterr().out


def test_dry_run_counts_the_project_files_that_travel():
    info = bundle.listing(ROOT / "no-such-bundle", ROOT)
    assert info["files"] == []
    assert 0.5 < info["project_tracked_mib"] < 40  # the checkout itself; .venv and runs/ are ignored


def test_trimmed_wheel_keeps_the_suite_and_a_valid_record(tmp_path):
    assert bundle.keep("dm_control/suite/cartpole.xml")
    assert bundle.keep("dm_control/mujoco/engine.py")
    assert bundle.keep("dm_control/suite/common/materials.xml")
    for dropped in (
        "dm_control/locomotion/walkers/assets/x.stl",
        "dm_control/suite/dog_assets/skin.png",
        "dm_control/mujoco/engine_test.py",
        "dm_control/mujoco/testing/assets/a.xml",
    ):
        assert not bundle.keep(dropped)
    src = tmp_path / "dm_control-1.0.28-py3-none-any.whl"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("dm_control/suite/cartpole.xml", "<mujoco/>")
        z.writestr("dm_control/locomotion/big.stl", b"x" * 1000)
        z.writestr("dm_control-1.0.28.dist-info/METADATA", "Name: dm_control\n")
        z.writestr("dm_control-1.0.28.dist-info/RECORD", "stale\n")
    dst = tmp_path / "out" / src.name
    dst.parent.mkdir()
    assert bundle.trim_wheel(src, dst) == (2, 1)
    with zipfile.ZipFile(dst) as z:
        names = z.namelist()
        record = list(csv.reader(z.read("dm_control-1.0.28.dist-info/RECORD").decode().splitlines()))
        data = z.read("dm_control/suite/cartpole.xml")
    assert "dm_control/locomotion/big.stl" not in names
    rows = {r[0]: r[1:] for r in record}
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert rows["dm_control/suite/cartpole.xml"] == [f"sha256={digest}", str(len(data))]
    assert rows["dm_control-1.0.28.dist-info/RECORD"] == ["", ""]
    assert set(rows) == set(names)


def test_pins_come_from_constraints():
    pins = bundle.pins()
    assert pins["dm-control"] == "1.0.28" and pins["mujoco"]
    assert all(bundle.normalise(p) in pins for p in bundle.PACKAGES + bundle.EXTRA_PACKAGES)


def test_end_to_end_runs_most_wanted_first_within_their_share():
    full, reduced = evidence.plan(False), evidence.plan(True)
    order = [(r["agent"], r["workers"], r["replay_device"]) for r in full["e2e"]["runs"]]
    assert order == [
        ("drqv2", 1, "host"),
        ("drqv2", 16, "host"),
        ("drm", 1, "host"),
        ("drm", 16, "host"),
        ("drqv2", 4, "host"),
        ("drqv2", 8, "host"),
        ("drm", 4, "host"),
        ("drm", 8, "host"),
        ("drqv2", 16, "agent"),
    ]
    assert [(r["agent"], r["workers"], r["replay_device"]) for r in reduced["e2e"]["runs"]] == [
        ("drqv2", 1, "host"),
        ("drqv2", 2, "host"),
        ("drm", 1, "host"),
        ("drm", 2, "host"),
        ("drqv2", 2, "agent"),
    ]
    assert evidence.e2e_name(full["e2e"]["runs"][-1]) == "e2e_drqv2_w16_replay_agent"
    # Every worker must finish an episode (1,000 frames) before replay can sample.
    assert [evidence.e2e_seed_frames(full["e2e"], n) for n in (1, 4, 8, 16)] == [4000, 4000, 8000, 16000]
    assert [evidence.e2e_seed_frames(reduced["e2e"], n) for n in (1, 2)] == [1000, 2000]


def test_end_to_end_ratios_are_taken_within_the_run():
    rows = [
        {"agent": "drqv2", "workers": 1, "replay_device": "host", "seed_phase_fps": 500.0, "update_phase_fps": 100.0},
        {"agent": "drqv2", "workers": 16, "replay_device": "host", "seed_phase_fps": 2000.0, "update_phase_fps": 150.0},
        {"agent": "drm", "workers": 16, "replay_device": "host", "seed_phase_fps": 1000.0},  # drm w1 failed
        {
            "agent": "drqv2",
            "workers": 16,
            "replay_device": "agent",
            "seed_phase_fps": 1900.0,
            "update_phase_fps": 180.0,
        },
    ]
    evidence._e2e_ratios(rows)
    assert rows[1]["seed_phase_over_w1"] == 4.0 and rows[1]["update_phase_over_w1"] == 1.5
    assert "seed_phase_over_w1" not in rows[0] and "seed_phase_over_w1" not in rows[2]
    assert rows[3]["seed_phase_over_host"] == 0.95 and rows[3]["update_phase_over_host"] == 1.2
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_evidence_summary import summary_markdown

    rows.append({"agent": "drm", "workers": 4, "replay_device": "host", "status": "skipped"})
    for row in rows:
        row.setdefault("status", "ok")
        row["seed_frames"] = evidence.e2e_seed_frames({"seed_frames": 4000, "episode_frames": 1000}, row["workers"])
    text = summary_markdown({"mode": "full", "end_to_end": rows})
    assert "| drqv2 | 16 | host | 16000 | 2000.0 | 4.0 | 150.0 | 1.5 | – | ok |" in text
    assert "| drqv2 | 16 | agent | 16000 | 1900.0 | 0.95 | 180.0 | 1.2 | – | ok |" in text
    assert "| drm | 4 | host | 4000 | – | – | – | – | – | skipped |" in text


@pytest.mark.slow
def test_reduced_evidence_run_end_to_end(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    env.pop("OUT", None)
    out = tmp_path / "evidence"
    # Three times the reduced budget (and caps): CI runs this beside another test worker on
    # 2 cores, and a phase killed at its cap would fail the test for the machine's load alone.
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_evidence.py"),
            "--reduced",
            "--budget-s",
            "330",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "breakdown.md",
        "eval_curve.csv",
        "evidence.log",
        "learning_curve.png",
        "results.json",
        "summary.md",
    ], (out / "summary.md").read_text()[:1500]
    results = json.loads((out / "results.json").read_text())
    assert results["mode"] == "reduced" and results["wall_s"] <= results["budget_s"] + 5
    phases = results["phases"]
    assert phases["install"]["status"] == "skipped"  # everything importable here
    assert phases["compile"]["status"] == "skipped" and phases["compile"]["reason"]
    e2e_phases = ["e2e_drqv2_w1", "e2e_drqv2_w2", "e2e_drm_w1", "e2e_drm_w2", "e2e_drqv2_w2_replay_agent"]
    for name in ("update", "breakdown", *e2e_phases, "plot"):
        assert phases[name]["status"] == "ok", (name, phases[name], (out / "evidence.log").read_text()[-2000:])
    assert phases["train"]["status"] in ("ok", "stopped on time")
    assert set(results["update_ms"]) == {"fp32", "bf16"}
    rows = results["end_to_end"]
    assert [evidence.e2e_name(row) for row in rows] == e2e_phases
    for row in rows:  # two workers: each finishes an episode before the first update
        assert row["status"] == "ok" and row["seed_frames"] == 1000 * row["workers"]
        assert row["run"]["env_workers"] == row["workers"] and row["run"]["seed_phase"]["frames"] == row["seed_frames"]
        assert row["seed_phase_fps"] > 0 and row["update_phase_fps"] > 0 and row["updates"] > 0
    assert rows[1]["seed_phase_over_w1"] == round(rows[1]["seed_phase_fps"] / rows[0]["seed_phase_fps"], 2)
    assert rows[4]["update_phase_over_host"] == round(rows[4]["update_phase_fps"] / rows[1]["update_phase_fps"], 2)
    assert rows[4]["run"]["config"]["replay.device"] == "agent"
    curve = results["eval_curve"]
    assert curve[0]["frame"] == 0 and curve[0]["published_frame"] == 0 and curve[0]["published_mean"] > 0
    summary = (out / "summary.md").read_text()
    assert "## Phases" in summary and "not built" not in summary and "Reduced mode" in summary
    assert "| drqv2 | 2 | agent | 2000 |" in summary
    assert results["brought_along"]["budget_mib"] == 64.0 and "Brought along" in summary


def test_dry_run_without_git_counts_the_copied_tree(tmp_path):
    (tmp_path / "pyproject.toml").write_bytes(b"x" * 1000)
    _sized(tmp_path / "src" / "a.py", MIB)
    _sized(tmp_path / ".venv" / "big", 50 * MIB)  # ignored folders are not brought
    _sized(tmp_path / "gpu_bundle" / "wheels" / "w.whl", 2 * MIB)
    info = bundle.listing(tmp_path / "gpu_bundle", tmp_path)
    assert info["project_tracked_mib"] == pytest.approx(1 + 1000 / MIB)
    assert info["total_mib"] == pytest.approx(3 + 1000 / MIB)
