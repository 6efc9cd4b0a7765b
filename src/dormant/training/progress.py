"""Training progress: a rich bar with frames/s and ETA on a terminal; elsewhere (a log
file, nohup, CI, a cluster job) a plain line every ``every_s`` seconds with frames,
frames/s, ETA and the last evaluation; one-line notes either way."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    def __init__(self, total_frames: int, *, enabled: bool, every_s: float = 30.0):
        self.console = Console(stderr=True)
        self.enabled = enabled
        self.total = total_frames
        self.every_s = every_s
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None  # the bar's one task, with the bar
        self._last = (0.0, 0)
        self._plain_last = (0.0, 0)
        self._last_eval = ""

    def start(self, frame: int) -> None:
        self._last = self._plain_last = (time.perf_counter(), frame)
        if not self.enabled or not self.console.is_terminal:
            return
        self._bar = RichProgress(
            TextColumn("[bold]frames"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:>7.1f} frames/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("train", total=self.total, completed=frame, fps=0.0)

    def update(self, frame: int) -> None:
        if self._bar is None or self._task is None:
            if self.enabled:
                self._plain_line(frame)
            return
        now = time.perf_counter()
        t_last, f_last = self._last
        if now - t_last >= 1.0:
            self._bar.update(self._task, completed=frame, fps=(frame - f_last) / (now - t_last))
            self._last = (now, frame)

    def _plain_line(self, frame: int) -> None:
        now = time.perf_counter()
        t_last, f_last = self._plain_last
        if now - t_last < self.every_s:
            return
        fps = (frame - f_last) / max(now - t_last, 1e-9)
        eta = (self.total - frame) / fps if fps > 0 else float("inf")
        self._plain_last = (now, frame)
        self.console.print(
            f"frames {frame}/{self.total} ({100 * frame / max(self.total, 1):.0f}%) · "
            f"{fps:.1f} frames/s · ETA {_clock(eta)}" + (f" · {self._last_eval}" if self._last_eval else ""),
            highlight=False,
            soft_wrap=True,
        )

    def note(self, text: str, *, last_eval: str = "") -> None:
        """A line above the bar; ``last_eval`` is also repeated in the plain progress lines."""
        self._last_eval = last_eval or self._last_eval
        self.console.print(text, highlight=False, soft_wrap=True)

    def stop(self, frame: int | None = None) -> None:
        if self._bar is not None:
            if frame is not None and self._task is not None:
                self._bar.update(self._task, completed=frame)
            self._bar.stop()
            self._bar = None


def _clock(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
