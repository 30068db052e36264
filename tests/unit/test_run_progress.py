"""The run's console display (pipelines.run_progress) without a terminal: what it computes and
what a continuous run prints per batch."""
from __future__ import annotations

import io

from rich.console import Console

from pipelines import run_progress
from pipelines.run_progress import RunProgress


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bar_rate_is_rows_done_over_the_stage_time_not_sparks_per_batch_figure(monkeypatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(run_progress.time, "monotonic", clock)
    shown = RunProgress(continuous=False, console=Console(file=io.StringIO()), out=Console(file=io.StringIO()))
    with shown:
        shown.start_stage("refine", total=1000, unit="rows")
        clock.now += 4.0
        # Spark reports 800 rows at 9,999 rows/s (each row counted per read); the ledger says 400
        shown.batch("refine", 0, 800, 9999.0, done=400)
        task = shown.progress.tasks[0]
        assert (task.completed, task.total, task.fields["rate"]) == (400, 1000, "100 rows/s")
        shown.start_stage("ingest", total=4, unit="files")
        clock.now += 2.0
        shown.batch("ingest", 0, 3000, 5000.0, done=2)
        assert shown.progress.tasks[1].fields["rate"] == "1,500 rows/s"  # files are not rows
        assert shown.rows("ingest") == 3000


def test_a_continuous_run_prints_one_line_per_batch_and_quiet_prints_nothing() -> None:
    err, out = io.StringIO(), io.StringIO()
    shown = RunProgress(continuous=True, console=Console(file=err, width=200), out=Console(file=out))
    with shown:
        shown.start_stage("ingest", total=None, unit="files")
        shown.batch("ingest", 0, 10, 5.0)
        shown.batch("ingest", 1, 20, 5.0)
    assert len(err.getvalue().strip().splitlines()) == 2
    quiet_err = io.StringIO()
    quiet = RunProgress(continuous=True, quiet=True, console=Console(file=quiet_err), out=Console(file=io.StringIO()))
    with quiet:
        quiet.start_stage("ingest", total=None, unit="files")
        quiet.batch("ingest", 0, 10, 5.0)
        quiet.summary([("ingest", "10")], "note")
    assert quiet_err.getvalue() == ""
