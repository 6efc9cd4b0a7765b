"""What a run directory says about its run: read by sweeps (what to do next) and
reports (what to show), never written here."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dormant.training.checkpoint import FILENAME
from dormant.training.lock import LOCK_NAME

MANIFEST = "sweep.json"  # a sweep's list of runs and shared settings
BOOKKEEPING = {LOCK_NAME, "sweep.log"}  # a sweep's files, present before a run starts
# What `dormant train` writes into a run directory (temporary twins included).
_WRITTEN = (
    "config.yaml",
    "train.csv",
    "eval.csv",
    "diagnostics.csv",
    "events.csv",
    "status.json",
    "environment.json",
    FILENAME,
)
RUN_FILES = {*_WRITTEN, *(f"{name}.tmp" for name in _WRITTEN), "tb", "videos", "learning_curve.png", "wandb"}


@dataclass
class RunState:
    """``kind``: new (nothing trained yet), finished, resume (a checkpoint to continue
    from: interrupted, killed, failed, or finished with fewer frames than wanted),
    restart (files but no checkpoint: it died before its first one)."""

    kind: str
    frame: int = 0
    status: str = ""  # status.json's word: finished, interrupted, failed, nonfinite; "" if none
    config: dict[str, Any] | None = None


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None if it is absent, unreadable or not an object
    (readers that must know why use ``runfiles.read_status``)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def status_or_none(run_dir: Path) -> dict[str, Any]:
    """status.json checked (``runfiles.read_status``), or {} where it is absent or damaged:
    what a sweep needs to decide (a damaged one counts as a run that was killed; its
    checkpoint, verified on resume, decides where it continues, and its end rewrites it)."""
    from dormant.experiments.runfiles import RunFileError, read_status

    try:
        return read_status(Path(run_dir) / "status.json") or {}
    except RunFileError:
        return {}


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """config.yaml checked (``runfiles.read_run_config``), or None where it is absent or
    cannot be used (readers that must say why call ``read_run_config`` themselves)."""
    from dormant.experiments.runfiles import RunFileError, read_run_config

    try:
        return read_run_config(run_dir)
    except RunFileError:
        return None


def last_frame(run_dir: Path) -> int:
    """The frame of the last row of train.csv (cheap: reads the file's tail only)."""
    path = Path(run_dir) / "train.csv"
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - 4096))
            lines = handle.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return 0
    if len(lines) < 2:
        return 0
    try:
        return int(float(lines[-1].split(",", 1)[0]))
    except ValueError:
        return 0


def run_state(run_dir: Path, frames_wanted: int) -> RunState:
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or all(p.name in BOOKKEEPING for p in run_dir.iterdir()):
        return RunState("new")
    status = status_or_none(run_dir)
    config = read_config(run_dir)
    frame = int(status["frame"]) if "frame" in status else last_frame(run_dir)  # no status: killed or running
    word = str(status.get("status", ""))
    if not (run_dir / FILENAME).exists():
        return RunState("restart", frame, word, config)
    if word == "finished" and frame >= frames_wanted:
        return RunState("finished", frame, word, config)
    return RunState("resume", frame, word, config)


def never_checkpointed(run_dir: Path) -> bool:
    """A run that died before its first checkpoint: nothing but a run's own files, no
    checkpoint, and not a finished run (whose logs are results worth keeping)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or (run_dir / FILENAME).exists():
        return False
    names = {p.name for p in run_dir.iterdir()}
    if not names - BOOKKEEPING or not names <= RUN_FILES | BOOKKEEPING:
        return False
    return status_or_none(run_dir).get("status") != "finished"


def clear_run_dir(run_dir: Path) -> None:
    """Remove a run's files so it can start again from nothing; a sweep's log and lock
    stay (earlier attempts can still be read)."""
    for path in Path(run_dir).iterdir():
        if path.name in BOOKKEEPING:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def log_tail(path: Path, lines: int = 6) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - 8192))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]
