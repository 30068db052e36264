"""`medallion maintain`: apply the `retention:` settings, safe while the streams run.

In order: landing files past `retention.landing_days` (only files of committed ingest batches,
bronze/landing_retention.py); every registry table's Delta retention, OPTIMIZE, VACUUM and
checkpoint (pipelines/core/table_maintenance.py); GX Data Docs validation pages older than
`retention.data_docs_days`; the log file rotated once its oldest line is older than
`retention.logs_days`, and rotated logs not written for that long removed.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pyspark.sql import SparkSession

from bronze.landing_retention import LandingCleanup, remove_ingested
from pipelines.core import logs
from pipelines.core.config import Config, is_uri
from pipelines.core.migrations import open_warehouse
from pipelines.core.registry import stored_tables
from pipelines.core.spark_session import build_session
from pipelines.core.table_maintenance import TableMaintenance, maintain_table

log = logging.getLogger(__name__)
DAY_S = 86_400.0
ROTATED_LOG_PREFIX = "medallion-"


@dataclass
class MaintenanceReport:
    landing: LandingCleanup | None = None
    tables: list[TableMaintenance] = field(default_factory=list)
    data_docs_removed: int = 0
    logs_rotated: int = 0
    logs_removed: int = 0
    seconds: float = 0.0


def maintain(config: Config, *, spark: SparkSession | None = None, now: float | None = None) -> MaintenanceReport:
    started = time.monotonic()
    now = time.time() if now is None else now
    spark = spark or build_session(config)
    open_warehouse(spark, config)
    report = MaintenanceReport()
    report.landing = remove_ingested(spark, config, now_ms=int(now * 1000))
    for spec in stored_tables():
        done = maintain_table(spark, config, spec)
        if done is not None:
            report.tables.append(done)
    report.data_docs_removed = remove_old_files(config.refine.docs_dir, "validations",
                                                cutoff=now - config.retention.data_docs_days * DAY_S)
    report.logs_rotated, report.logs_removed = rotate_logs(config, now=now)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def remove_old_files(root: str, sub: str, *, cutoff: float) -> int:
    """Delete the files under `<root>/<sub>` last modified before `cutoff` (a local folder only),
    then the folders left empty."""
    if is_uri(root) or not (Path(root) / sub).is_dir():
        return 0
    removed = 0
    for path in sorted((Path(root) / sub).rglob("*"), reverse=True):
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink()
            removed += 1
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return removed


def _oldest_line_time(path: Path) -> float | None:
    """The time of the log file's first record (`FILE_FORMAT` starts with asctime)."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    try:
        return datetime.strptime(first[:19], "%Y-%m-%d %H:%M:%S").timestamp()
    except ValueError:
        return None


def rotate_logs(config: Config, *, now: float) -> tuple[int, int]:
    """(rotated, removed). Rotation is a rename: a process still writing keeps its handle, so its
    lines land in the rotated file (nothing lost), and the next command starts a new log."""
    directory, active = logs.log_dir(config), logs.log_file(config)
    cutoff = now - config.retention.logs_days * DAY_S
    rotated = 0
    if active.is_file():
        first = _oldest_line_time(active)
        if first is not None and first < cutoff:
            active.rename(directory / f"{ROTATED_LOG_PREFIX}{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}.log")
            rotated = 1
    removed = 0
    for path in directory.glob(f"{ROTATED_LOG_PREFIX}*.log") if directory.is_dir() else ():
        if path.stat().st_mtime < cutoff:
            os.unlink(path)
            removed += 1
    return rotated, removed


def print_report(report: MaintenanceReport) -> None:
    landing = report.landing
    if landing is not None:
        print(f"landing: removed {landing.removed_files} ingested files ({landing.removed_bytes} bytes), "
              f"{landing.archived_removed} archived copies; kept {landing.kept_uncommitted} of batches "
              "not committed yet")
    for t in report.tables:
        print(f"{t.table}: optimize compacted {t.optimized_files} files, vacuum removed {t.vacuumed_files}")
    print(f"data docs: removed {report.data_docs_removed} validation pages; logs: rotated "
          f"{report.logs_rotated}, removed {report.logs_removed}")
    print(f"maintain took {report.seconds:.1f}s")
