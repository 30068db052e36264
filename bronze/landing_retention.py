"""Landing files past their retention: removed once the ingest batch that took them committed.

A landed file is done with when the ingest stream's batch that took it is committed: its rows are
in bronze.events_raw and a restart will not read it again (an uncommitted batch is replayed from
the same files, so its files are never touched). The stream's own checkpoint says both: the file
source's log (`sources/0`: every file taken, with its batch) and the commit log (`commits/<batch>`,
written after the batch's Delta commit; its modification time is when the batch was done).
`retention.landing_days` after that, `medallion maintain` deletes the file, and the copies
`ingest.clean_source: archive` left under `ingest.archive_dir` once they are that old.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession

from bronze.events_raw import STREAM_NAME
from bronze.landing import SOURCE_LOG, SOURCE_LOG_VERSION, SourceLogUnreadable, _list_names, _norm
from pipelines.core import storage
from pipelines.core.config import Config, join_path

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


@dataclass(frozen=True)
class LandingCleanup:
    removed_files: int
    removed_bytes: int
    archived_removed: int
    kept_uncommitted: int  # files taken by a batch not committed yet (never removed)


def committed_files(spark: SparkSession, checkpoint: str) -> tuple[dict[str, int], int]:
    """({landing file: commit time in ms of the batch that took it}, files of uncommitted batches)."""
    commits = {int(path.rsplit("/", 1)[-1]): mtime
               for path, _size, mtime in storage.list_files(spark, join_path(checkpoint, "commits"))
               if path.rsplit("/", 1)[-1].isdigit()}
    directory = join_path(checkpoint, SOURCE_LOG)
    names = _list_names(spark, directory)
    compacts = [int(n[:-len(".compact")]) for n in names if n.endswith(".compact") and n[:-8].isdigit()]
    base = max(compacts, default=-1)
    files = ([f"{base}.compact"] if base >= 0 else []) + [str(b) for b in sorted(
        int(n) for n in names if n.isdigit() and int(n) > base)]
    taken: dict[str, int] = {}
    uncommitted = 0
    for name in files:
        text = storage.read_text(spark, join_path(directory, name))
        if text is None:
            continue
        lines = text.split("\n")
        if lines[0].strip() != f"v{SOURCE_LOG_VERSION}":
            raise SourceLogUnreadable(f"{name}: unsupported version line {lines[0]!r}")
        for line in lines[1:]:
            if not line.strip():
                continue
            entry = json.loads(line)
            batch = int(entry["batchId"])
            if batch in commits:
                taken[_norm(str(entry["path"]))] = commits[batch]
            else:
                uncommitted += 1
    return taken, uncommitted


def remove_ingested(spark: SparkSession, config: Config, *, now_ms: int) -> LandingCleanup:
    """Delete the landing files (and archived copies) past `retention.landing_days`."""
    cutoff = now_ms - int(config.retention.landing_days * DAY_MS)
    taken, uncommitted = committed_files(spark, config.checkpoint(STREAM_NAME))
    removed = removed_bytes = 0
    sizes = {_norm(path): size for path, size, _mtime in storage.list_files(spark, config.landing, recursive=True)}
    for path, committed_at in sorted(taken.items()):
        if committed_at <= cutoff and path in sizes and storage.delete_file(spark, path):
            removed += 1
            removed_bytes += sizes[path]
    archived = 0
    if config.ingest.clean_source == "archive":
        for path, _size, mtime in storage.list_files(spark, config.ingest.archive_dir, recursive=True):
            if mtime <= cutoff and storage.delete_file(spark, path):
                archived += 1
    log.info("landing retention (%g days): removed %d ingested files (%d bytes) and %d archived copies; "
             "%d files of uncommitted batches kept", config.retention.landing_days, removed, removed_bytes,
             archived, uncommitted)
    return LandingCleanup(removed, removed_bytes, archived, uncommitted)
