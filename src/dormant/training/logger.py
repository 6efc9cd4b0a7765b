"""CSV and TensorBoard logging of training and evaluation rows."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

BASE_COLUMNS = ("frame", "step", "episode", "episode_reward", "episode_length", "fps", "elapsed_s")


class CsvLog:
    """Append-only CSV with a fixed header; resuming drops rows past the checkpoint."""

    def __init__(self, path: Path, columns: Sequence[str] | None = None):
        """``columns=None``: taken from the existing file, else from the first row written."""
        self.path = Path(path)
        if columns is None and self.path.exists():
            with open(self.path, newline="") as handle:
                columns = next(csv.reader(handle), None)
        self.columns = list(columns or [])

    def truncate_after(self, frame: int) -> None:
        """Keep only rows with ``frame ≤ frame`` (rows written after the last checkpoint)."""
        if not self.path.exists():
            return
        with open(self.path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        kept = [row for row in rows if float(row["frame"]) <= frame]
        self._write_all(kept)

    def _write_all(self, rows: list[dict[str, Any]]) -> None:
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        if not self.columns:
            self.columns = list(row)
        new = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(row.get(k)) for k in self.columns})


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return value


class RunLogger:
    """train.csv, eval.csv, diagnostics.csv, events.csv (interventions) and TensorBoard in one run directory."""

    def __init__(self, run_dir: Path, metric_names: Sequence[str], tensorboard: bool, success: bool = False):
        """``success``: the task reports success (MetaWorld, Adroit): train.csv gains
        ``episode_success`` and eval.csv ``success_rate``."""
        train_success, eval_success = (("episode_success",), ("success_rate",)) if success else ((), ())
        self.train = CsvLog(run_dir / "train.csv",
                            [*BASE_COLUMNS, *train_success, "buffer_transitions", *metric_names])
        self.eval = CsvLog(run_dir / "eval.csv", [*BASE_COLUMNS, "episode_reward_std", *eval_success])
        self.diagnostics = CsvLog(run_dir / "diagnostics.csv")
        self.events = CsvLog(run_dir / "events.csv", [*BASE_COLUMNS[:3], "elapsed_s", "updates", "event", "count",
                                                      "detail"])
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(run_dir / "tb"))

    def truncate_after(self, frame: int) -> None:
        for log in (self.train, self.eval, self.diagnostics, self.events):
            log.truncate_after(frame)

    def log(self, kind: str, row: dict[str, Any]) -> None:
        {"train": self.train, "eval": self.eval, "diagnostics": self.diagnostics, "events": self.events}[kind].write(row)
        if self._tb is not None:
            for key, value in row.items():
                if key not in ("frame", "step") and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"{kind}/{key}", value, global_step=row["frame"])

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
