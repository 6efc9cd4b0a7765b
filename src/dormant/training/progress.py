"""A progress bar with frames/s and ETA (rich), and one-line notes above it."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    def __init__(self, total_frames: int, *, enabled: bool):
        self.console = Console(stderr=True)
        self.enabled = enabled
        self.total = total_frames
        self._bar: RichProgress | None = None
        self._task = None
        self._last = (0.0, 0)

    def start(self, frame: int) -> None:
        self._last = (time.perf_counter(), frame)
        if not self.enabled:
            return
        self._bar = RichProgress(
            TextColumn("[bold]frames"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:>7.1f} frames/s"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("train", total=self.total, completed=frame, fps=0.0)

    def update(self, frame: int) -> None:
        if self._bar is None:
            return
        now = time.perf_counter()
        t_last, f_last = self._last
        if now - t_last >= 1.0:
            self._bar.update(self._task, completed=frame, fps=(frame - f_last) / (now - t_last))
            self._last = (now, frame)

    def note(self, text: str) -> None:
        self.console.print(text)

    def stop(self, frame: int | None = None) -> None:
        if self._bar is not None:
            if frame is not None:
                self._bar.update(self._task, completed=frame)
            self._bar.stop()
            self._bar = None
