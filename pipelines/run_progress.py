"""Live progress of a `medallion run` and its closing summary, on the console (rich).

A `--once` run on a terminal shows one bar per stage (files or rows done of the total known at
its start, rows, rows/s, elapsed, ETA) on stderr, gone when the run ends; a continuous run prints
one compact line per micro-batch instead; with output captured (CI, a pipe) there is no bar at
all, so nothing floods the capture. At the end, the per-stage summary (pipelines/run_summary.py)
goes to stdout. `-q` shows neither.
"""
from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from pipelines.run_summary import SUMMARY_COLUMNS, Row, batch_line


class _DoneOfTotal(ProgressColumn):
    """`3/4 files`, or `20,000 rows` while the total is unknown."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if task.total is None:
            return Text(f"{task.completed:,.0f} {unit}".rstrip())
        return Text(f"{task.completed:,.0f}/{task.total:,.0f} {unit}".rstrip())


class RunProgress:
    """One run's console display; use as a context manager around the stages."""

    def __init__(self, *, continuous: bool, quiet: bool = False, console: Console | None = None,
                 out: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.out = out or Console()
        self.quiet = quiet
        self.continuous = continuous
        self.live = not quiet and not continuous and self.console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description:<7}"), BarColumn(), _DoneOfTotal(),
            TextColumn("{task.fields[rows]:>10,} rows"), TextColumn("{task.fields[rate]:>12}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=True, disable=not self.live,
        )
        self._tasks: dict[str, TaskID] = {}
        self._rows: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._units: dict[str, str] = {}

    def __enter__(self) -> "RunProgress":
        self.progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.stop()

    def start_stage(self, stage: str, *, total: int | None, unit: str) -> None:
        """A stage begins; `total` is what it has to do (None: not known)."""
        self._rows[stage] = 0
        self._started[stage] = time.monotonic()
        self._units[stage] = unit
        self._tasks[stage] = self.progress.add_task(stage, total=total, unit=unit, rows=0, rate="")

    def batch(self, stage: str, batch_id: int, rows: int, rows_per_second: float, *,
              done: int | None = None) -> None:
        """A micro-batch of `stage` committed `rows`; `done` is the stage's progress in its unit
        (files, rows), when it is not the rows themselves."""
        self._rows[stage] = self._rows.get(stage, 0) + rows
        task = self._tasks.get(stage)
        if task is not None:
            completed = done if done is not None else self._rows[stage]
            # The bar's rate is the stage's own: rows done over its wall-clock time so far (Spark's
            # per-batch figure counts a row once per read of the batch, and leaves out the waits).
            done_rows = completed if done is not None and self._units.get(stage) == "rows" else self._rows[stage]
            elapsed = time.monotonic() - self._started.get(stage, time.monotonic())
            rate = f"{done_rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
            self.progress.update(task, completed=completed, rows=self._rows[stage], rate=rate)
        if self.continuous and not self.quiet:
            self.console.print(batch_line(stage, batch_id, rows, rows_per_second, self._rows[stage]),
                               highlight=False, markup=False)

    def rows(self, stage: str) -> int:
        """Rows `stage` has committed so far in this run."""
        return self._rows.get(stage, 0)

    def finish_stage(self, stage: str) -> None:
        task = self._tasks.get(stage)
        if task is not None:
            total = self.progress.tasks[task].total if task < len(self.progress.tasks) else None
            self.progress.update(task, total=total if total is not None else 1,
                                 completed=total if total is not None else 1)

    def summary(self, rows: list[Row], *notes: str) -> None:
        """The closing table (one row per stage), then its notes, on stdout."""
        if self.quiet:
            return
        if rows:
            table = Table(show_edge=False, pad_edge=False)
            for i, column in enumerate(SUMMARY_COLUMNS):
                table.add_column(column, justify="left" if i == 0 else "right")
            for row in rows:
                table.add_row(*row)
            self.out.print(table)
        for note in notes:
            if note:
                self.out.print(note, highlight=False, markup=False)

    def message(self, text: str, **style: Any) -> None:
        if not self.quiet:
            self.out.print(text, highlight=False, markup=False, **style)
