"""CSV, TensorBoard and Weights & Biases logging of training and evaluation rows."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

from dormant.config import Config, flatten
from dormant.training.files import append_text, atomic_write_text
from dormant.training.log_tags import CUSTOM_LAYOUT, event_tag, tag
from dormant.training.run_environment import read_environment, record_environment
from dormant.training.wandb_log import WandbLog

BASE_COLUMNS = ("frame", "step", "episode", "episode_reward", "episode_length", "fps", "elapsed_s")
EVENT_COLUMNS = (*BASE_COLUMNS[:3], "elapsed_s", "updates", "event", "count", "detail")  # events.csv


class CsvLog:
    """Append-only CSV with a fixed header. It counts its rows, so that a resumed run
    keeps exactly the rows written before its checkpoint (``truncate_to``).

    Writes are safe against a full disk: a new file appears whole (header and first row
    written to a temporary file, then renamed), and a failed append is cut back to the
    file's previous size, so the file never holds a partial row.
    """

    def __init__(self, path: Path, columns: Sequence[str] | None = None):
        """``columns=None``: taken from the existing file, else from the first row written."""
        self.path = Path(path)
        self.rows = 0
        if self.path.exists():
            with open(self.path, newline="") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                self.rows = sum(1 for _ in reader)
            if columns is None:
                columns = header
        self.columns = list(columns or [])

    def read(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="") as handle:
            return list(csv.DictReader(handle))

    def truncate_to(self, rows: int) -> list[dict[str, str]]:
        """Keep the first ``rows`` rows (those written before a checkpoint); returns them."""
        return self._keep(self.read()[:rows])

    def truncate_after(self, frame: int) -> list[dict[str, str]]:
        """Keep only rows with ``frame ≤ frame`` (checkpoints that predate row counts)."""
        return self._keep([row for row in self.read() if float(row["frame"]) <= frame])

    def _keep(self, rows: list[dict[str, str]]) -> list[dict[str, str]]:
        """Rewrite the file (if there is one) with just ``rows``; returns them."""
        if self.path.exists():
            atomic_write_text(self.path, self._format(rows, header=True))
            self.rows = len(rows)
        return rows

    def _format(self, rows: list[dict[str, Any]], *, header: bool) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore")
        if header:
            writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def write(self, row: dict[str, Any]) -> None:
        if not self.columns:
            self.columns = list(row)
        new = not self.path.exists()
        line = self._format([{k: _fmt(row.get(k)) for k in self.columns}], header=new)
        (atomic_write_text if new else append_text)(self.path, line)
        self.rows += 1


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return value


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


class RunLogger:
    """train.csv, eval.csv, diagnostics.csv, events.csv (interventions), environment.json,
    TensorBoard and (optionally) Weights & Biases in one run directory.

    Dashboards get every value under a namespaced tag (``log_tags.py``) against
    environment frames; TensorBoard also gets the resolved configuration as hparams, with
    the final evaluation's return as its metric, when a finished run's logger closes.
    """

    def __init__(
        self,
        run_dir: Path,
        metric_names: Sequence[str],
        tensorboard: bool,
        success: bool = False,
        eval_extra: Sequence[str] = (),
    ):
        """``success``: the task reports success (MetaWorld, Adroit): train.csv gains
        ``episode_success`` and eval.csv ``success_rate``; ``eval_extra``: more eval.csv columns
        (a continual run's phase and per-task returns)."""
        train_success, eval_success = (("episode_success",), ("success_rate",)) if success else ((), ())
        self.run_dir = Path(run_dir)
        self.train = CsvLog(run_dir / "train.csv", [*BASE_COLUMNS, *train_success, "buffer_transitions", *metric_names])
        self.eval = CsvLog(run_dir / "eval.csv", [*BASE_COLUMNS, "episode_reward_std", *eval_success, *eval_extra])
        self.diagnostics = CsvLog(run_dir / "diagnostics.csv")
        self.events = CsvLog(run_dir / "events.csv", list(EVENT_COLUMNS))
        self._tb = None
        self._tb_dir = run_dir / "tb" if tensorboard else None
        self._purge_step: int | None = None
        self._hparams: dict[str, Any] | None = None
        self._wandb: WandbLog | None = None
        self._last_eval: dict[str, Any] | None = None

    def start(self, cfg: Config, device: Any) -> None:
        """Called once the trainer is built, before training (new or resumed run): records
        the package versions and the device in ``environment.json``, keeps the resolved
        configuration for TensorBoard's hparams and opens W&B if ``log.wandb`` (a missing
        ``wandb`` package raises ``MissingExtraError`` here, before any training)."""
        self._hparams = {
            k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in flatten(cfg.to_dict()).items()
        }
        extra = {}
        if cfg.log.wandb:
            previous = (read_environment(self.run_dir) or {}).get("wandb", {})
            self._wandb = WandbLog(
                self.run_dir,
                project=cfg.log.wandb_project,
                mode=cfg.log.wandb_mode,
                config=self._hparams,
                run_id=previous.get("id"),
                name=self.run_dir.name,
            )
            extra["wandb"] = {"id": self._wandb.run_id, "project": cfg.log.wandb_project, "mode": cfg.log.wandb_mode}
        record_environment(self.run_dir, device, **extra)

    @property
    def logs(self) -> dict[str, CsvLog]:
        return {"train": self.train, "eval": self.eval, "diagnostics": self.diagnostics, "events": self.events}

    def row_counts(self) -> dict[str, int]:
        """Rows per log, saved in a checkpoint so that a resume keeps exactly these."""
        return {kind: log.rows for kind, log in self.logs.items()}

    def resume(self, frame: int, row_counts: dict[str, int] | None) -> None:
        """Drop what was logged after the checkpoint (at ``frame``), in the CSVs and in
        TensorBoard, so a resumed run never shows a point twice. Each log is checked first
        (``runfiles.read_log``): a damaged one stops the resume with ``RunFileError`` naming
        the file and line, rather than being carried on."""
        from dormant.experiments.runfiles import read_log

        for log in self.logs.values():
            read_log(log.path, text=True, notes=[])  # a last row cut by a kill lies past the checkpoint: dropped below
        kept = {
            kind: (log.truncate_to(row_counts[kind]) if row_counts is not None else log.truncate_after(frame))
            for kind, log in self.logs.items()
        }
        if kept["eval"]:
            self._last_eval = {k: _number(v) for k, v in kept["eval"][-1].items()}
        if self._tb_dir is not None:
            # TensorBoard discards every earlier event at step ≥ purge_step; rows at the
            # checkpoint's own frame that were logged before it are written again.
            self._purge_step = frame
            for kind, rows in kept.items():
                for row in rows:
                    if float(row["frame"]) == frame:
                        self._add_scalars(kind, {k: _number(v) for k, v in row.items()}, dashboards=False)

    def _writer(self):
        if self._tb is None and self._tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(self._tb_dir), purge_step=self._purge_step)
            self._tb.add_custom_scalars(CUSTOM_LAYOUT)
        return self._tb

    def _add_scalars(self, kind: str, row: dict[str, Any], *, dashboards: bool = True) -> None:
        """``dashboards=False``: TensorBoard only (rows it purged on resume; W&B kept them)."""
        writer = self._writer()
        if writer is None and (self._wandb is None or not dashboards):
            return
        values = scalars(kind, row)
        frame = int(float(row["frame"]))
        if writer is not None:
            for name, value in values.items():
                writer.add_scalar(name, value, global_step=frame)
        if self._wandb is not None and dashboards:
            self._wandb.log(values, frame)

    def log(self, kind: str, row: dict[str, Any]) -> None:
        self.logs[kind].write(row)
        if kind == "eval":
            self._last_eval = row
        self._add_scalars(kind, row)

    def final_metrics(self) -> dict[str, float]:
        """The last evaluation's return (and success rate), the hparams' metric."""
        last = self._last_eval or {}
        return {
            f"hparams/final_eval_{'return' if key == 'episode_reward' else key}": float(last[key])
            for key in ("episode_reward", "success_rate")
            if isinstance(last.get(key), (int, float))
        }

    def close(self) -> None:
        """Flush and close; once the evaluation at the frame budget is logged, TensorBoard gets
        the hparams (an interrupted run gets them when a resume finishes it)."""
        metrics = self.final_metrics()
        frame = int(float((self._last_eval or {}).get("frame", 0)))
        hparams = self._hparams or {}
        final = bool(hparams and metrics) and frame >= int(hparams.get("frames", 0))
        if self._tb is not None or (self._tb_dir is not None and final):
            writer = self._writer()
            if final:
                writer.add_hparams(hparams, metrics, run_name=".", global_step=frame)
            writer.flush()
            writer.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.close(metrics)
            self._wandb = None


def scalars(kind: str, row: dict[str, Any]) -> dict[str, float]:
    """A log row's numbers under their dashboard tags (``log_tags.py``)."""
    if kind == "events":
        name = event_tag(str(row.get("event", "")))
        count = row.get("count")
        return {name: count} if name and _is_number(count) else {}
    return {name: value for key, value in row.items() if _is_number(value) and (name := tag(kind, key)) is not None}


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
