"""The closing summary of a `medallion run`: facts per stage in, table rows out.

Pure formatting, no Spark: `pipelines/run_facts.py` gathers the facts (Spark's progress, the
refine ledger, quarantine reasons, dbt's outcome) and `pipelines/run_progress.py` prints the rows,
so what a run reports can be tested on plain values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

Row = tuple[str, ...]  # one cell per SUMMARY_COLUMNS


@dataclass(frozen=True)
class IngestFacts:
    """landing -> Bronze, from the stream's progress reports."""

    rows: int
    batches: int
    files: int | None = None  # landed files taken (None: not known, e.g. landing on object storage)


@dataclass(frozen=True)
class RefineFacts:
    """Bronze -> Silver, from this run's rows of audit.batch_ledger and silver.events_quarantine."""

    rows_read: int
    rows_inserted: int
    rows_quarantined: int
    rows_duplicate: int
    batches: int
    quarantined_by_reason: Mapping[str, int] = field(default_factory=dict)  # a row may have several


@dataclass(frozen=True)
class BuildFacts:
    """Silver -> Gold, from dbt's outcome."""

    success: bool
    models_built: int
    models_total: int
    tests_passed: int
    tests_total: int
    seconds: float


def build_facts(counts: Mapping[tuple[str, str], int], *, success: bool, seconds: float) -> BuildFacts:
    """From dbt's (resource_type, status) -> n counts (gold.dbt_build.DbtOutcome.counts)."""
    def total(rtype: str, statuses: tuple[str, ...] = ()) -> int:
        return sum(n for (t, s), n in counts.items() if t == rtype and (not statuses or s in statuses))

    return BuildFacts(success=success, models_built=total("model", ("success",)),
                      models_total=total("model"), tests_passed=total("test", ("pass",)),
                      tests_total=total("test"), seconds=seconds)


SUMMARY_COLUMNS: tuple[str, ...] = ("stage", "rows in", "rows out", "quarantined", "duplicates", "dbt tests")


def summary_rows(ingest: IngestFacts | None = None, refine: RefineFacts | None = None,
                 build: BuildFacts | None = None) -> list[Row]:
    """One row per stage that ran, in pipeline order (columns: SUMMARY_COLUMNS)."""
    rows: list[Row] = []
    if ingest is not None:
        rows.append(("ingest", f"{ingest.rows:,}", f"{ingest.rows:,} Bronze", "", "", ""))
    if refine is not None:
        rows.append(("refine", f"{refine.rows_read:,}", f"{refine.rows_inserted:,} Silver",
                     f"{refine.rows_quarantined:,}", f"{refine.rows_duplicate:,}", ""))
    if build is not None:
        rows.append(("build", "", f"{build.models_built:,}/{build.models_total:,} models", "", "",
                     f"{build.tests_passed:,}/{build.tests_total:,} passed"))
    return rows


def reasons_line(refine: RefineFacts | None) -> str:
    """Quarantined rows per reason code, most frequent first (a row may count under several)."""
    if refine is None or not refine.quarantined_by_reason:
        return ""
    ranked = sorted(refine.quarantined_by_reason.items(), key=lambda item: (-item[1], item[0]))
    return "quarantined by reason: " + ", ".join(f"{reason} {n:,}" for reason, n in ranked)


def closing_line(run_id: str, seconds: float, ingest: IngestFacts | None = None,
                 refine: RefineFacts | None = None, build: BuildFacts | None = None) -> str:
    """`run <id> finished in 95.3s (ingest: 4 files in 1 batch; ...)`."""
    def plural(n: int, word: str) -> str:
        return f"{n:,} {word}{'' if n == 1 else 'es' if word.endswith('ch') else 's'}"

    parts = []
    if ingest is not None:
        files = "" if ingest.files is None else f"{plural(ingest.files, 'file')} in "
        parts.append(f"ingest: {files}{plural(ingest.batches, 'batch')}")
    if refine is not None:
        parts.append(f"refine: {plural(refine.batches, 'batch')}")
    if build is not None:
        parts.append(f"dbt build {'OK' if build.success else 'FAILED'} in {build.seconds:.1f}s")
    detail = f" ({'; '.join(parts)})" if parts else ""
    return f"run {run_id} finished in {seconds:.1f}s{detail}"


def batch_line(stage: str, batch_id: int, rows: int, rows_per_second: float, total_rows: int) -> str:
    """The one line a continuous run prints per micro-batch."""
    return f"{stage} batch {batch_id}: {rows:,} rows ({rows_per_second:,.0f} rows/s), {total_rows:,} this run"
