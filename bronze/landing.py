"""The landing folder as Bronze's file source sees it, so that no landed file is skipped for its age.

Spark's streaming file source remembers the files it has taken in a map it purges by age, and, to
keep that purge safe, ignores every file whose modification time is more than `maxFileAge`
(`ingest.max_file_age_hours`) older than the newest file it has taken. A file landed with an old
modification time (`cp -p`, `rsync -a`, a backfill) would never reach Bronze, and nothing would say
so. Spark's two ways out both lose: a huge `maxFileAge` never purges the map (it then holds every
file ever landed, in the driver), and `latestFirst` reorders the input.

So the map keeps its age window, and a *pass* makes sure no file falls outside it unseen:

1. list the landing folder the way the source does (same glob, same hidden-file rules);
2. read the source's own log in the checkpoint (`sources/0`: every file the source has ever taken,
   with the modification time it had then) for the newest modification time `M`;
3. a matching file older than `M - max_file_age` that the log does not name was never taken and
   never will be: with `ingest.old_files: rescue` (default) its modification time is set to now, so
   the source takes it at its next listing, with a WARNING naming it and its original time; with
   `warn` it is left alone and the WARNING says it will not be ingested. Files dated more than
   `FUTURE_TOLERANCE` ahead get the current time too (one such file would otherwise push every
   later file out of the window).

A pass runs before the stream starts and every `ingest.rescue_interval_seconds` while it runs.
It cannot make a file be taken twice: the source's purge threshold only rises, and it is at least
`M - max_file_age` for the `M` read from the log (the log is written after the threshold moves),
so a file below that threshold can neither be in a batch being planned nor be taken later; and a
file the log names is never touched. Files that do not match `ingest.file_pattern` are reported
(WARNING, once per file) rather than silently ignored.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from pyspark.sql import SparkSession, functions as F

from pipelines.core import checkpoints, storage
from pipelines.core.config import Config, is_uri, join_path

log = logging.getLogger(__name__)

# The file source's log inside the stream's checkpoint (the ingest query has exactly one source).
SOURCE_LOG = "sources/0"
SOURCE_LOG_VERSION = 1  # "v1": the format of Spark 2.x to 4.x's FileStreamSourceLog
# A landed file dated further ahead than this gets the current time (before the source sees it).
FUTURE_TOLERANCE_MS = 3_600_000
# A rescued file is dated at least this far inside the window (only matters if M is in the future).
INSIDE_WINDOW_MS = 60_000
# prune_source_log keeps every entry of the last this many source batches.
KEEP_BATCHES = 3
# Passes without a suspect file still read the source log this often (see LandingWatch._pass).
LOG_READ_EVERY = 10
# How long a background watch waits for its stream to appear before giving up.
WATCH_GRACE_SECONDS = 120.0


@dataclass
class PassReport:
    """What one pass saw and did (also what `benchmarks/bench_landing_record.py` prints)."""

    listed: int = 0                      # files in the landing folder (matching or not)
    unmatched: int = 0                   # of those, not matching ingest.file_pattern
    log_read: bool = False
    log_entries: int = 0                 # entries in the source log (every file ever taken)
    log_bytes: int = 0
    newest_taken_ms: int | None = None   # M
    rescued: list[str] = field(default_factory=list)
    not_rescued: list[str] = field(default_factory=list)  # old_files: warn, or the time could not be set
    seconds: float = 0.0


@dataclass(frozen=True)
class _Candidate:
    path: str        # as Spark lists it, decoded (file:/a b/x.jsonl)
    mtime_ms: int


class LandingWatch:
    """Runs passes over the landing folder for one ingest stream (see the module docstring)."""

    def __init__(self, spark: SparkSession, config: Config, checkpoint: str, query_name: str) -> None:
        self.spark = spark
        self.config = config
        self.checkpoint = checkpoint
        self.query_name = query_name
        self.window_ms = int(config.ingest.max_file_age_hours * 3_600_000)
        self._lock = threading.Lock()
        self._passes = 0
        self._newest_taken_ms: int | None = None
        self._reported: set[str] = set()  # paths already warned about (not matching, not rescued)

    # -- one pass ---------------------------------------------------------------------------
    def run_pass(self) -> PassReport:
        with self._lock:
            started = time.monotonic()
            report = PassReport()
            self._pass(report)
            self._passes += 1
            report.seconds = time.monotonic() - started
            return report

    def _pass(self, report: PassReport) -> None:
        now = int(time.time() * 1000)
        files = self._listing()
        report.listed = len(files)
        matching = [c for c, ok in files if ok]
        self._report_unmatched([c for c, ok in files if not ok], report)
        if not matching:
            return
        # Without a log the source has taken nothing: its window starts at the first file it takes.
        if not storage.exists(self.spark, join_path(self.checkpoint, SOURCE_LOG)):
            future = [c for c in matching if c.mtime_ms > now + FUTURE_TOLERANCE_MS]
            self._refresh(future, now, report, reason="future")
            return
        # A file can be outside the window only if it is older than M - window. M is at most `now +
        # FUTURE_TOLERANCE_MS` unless the stream took a file dated further ahead, so the log is read
        # only when some listed file is older than that bound or dated ahead, on the first pass, and
        # every LOG_READ_EVERY passes (a future-dated file taken and archived between two passes).
        def suspects_for(newest: int) -> list[_Candidate]:
            return [c for c in matching if c.mtime_ms < newest - self.window_ms
                    or c.mtime_ms > now + FUTURE_TOLERANCE_MS]

        known = max(self._newest_taken_ms or 0, now + FUTURE_TOLERANCE_MS)
        suspects = suspects_for(known)
        if not suspects and self._passes % LOG_READ_EVERY:
            return
        try:
            newest, taken = self._read_source_log({_norm(c.path) for c in suspects}, report)
            if newest is not None and newest > known:  # M is further ahead than assumed: more suspects
                suspects = suspects_for(newest)
                newest, taken = self._read_source_log({_norm(c.path) for c in suspects}, report)
        except SourceLogUnreadable as exc:
            log.error("the file source's log in %s could not be read (%s): %d landed file(s) may be "
                      "skipped by the stream because of their age and are not rescued: %s", self.checkpoint,
                      exc, len(suspects), _examples(c.path for c in suspects))
            report.not_rescued.extend(c.path for c in suspects)
            return
        self._newest_taken_ms = newest
        report.newest_taken_ms = newest
        if newest is None:
            return
        cutoff = newest - self.window_ms
        old = [c for c in suspects if c.mtime_ms < cutoff and _norm(c.path) not in taken]
        future = [c for c in suspects if c.mtime_ms > now + FUTURE_TOLERANCE_MS and _norm(c.path) not in taken]
        for c in suspects:
            stamp = taken.get(_norm(c.path))
            if stamp is not None and stamp != c.mtime_ms:
                self._warn_once(c.path, "landing file %s was modified (%s) after the stream took it (%s): "
                                "a file is read once; land changed data under a new name",
                                c.path, _iso(c.mtime_ms), _iso(stamp))
        if newest > now + FUTURE_TOLERANCE_MS and old:
            log.warning("the ingest stream has taken a file dated %s, in the future: every file dated "
                        "before %s is outside its window; rescued files are dated inside it",
                        _iso(newest), _iso(cutoff))
        self._refresh(old, max(now, cutoff + INSIDE_WINDOW_MS), report, reason="old", newest=newest)
        self._refresh(future, now, report, reason="future")

    def pending(self) -> int | None:
        """Landed files matching ingest.file_pattern that the stream has not taken yet (the total a
        run's progress counts down); None when the landing folder is not local (listing it would
        be a Spark job) or the source's log is unreadable."""
        if _local_dir(self.config.landing) is None:
            return None
        waiting = self.waiting()
        return None if waiting is None else len(waiting)

    def waiting(self) -> list[tuple[str, int]] | None:
        """(path, modification time ms) of each landed file matching ingest.file_pattern that the
        stream has not taken yet (`medallion status`: how many wait and since when); None when the
        source's log is unreadable. A folder that is not local is listed by a Spark job."""
        with self._lock:
            try:
                matching = [c for c, ok in self._listing() if ok]
            except FileNotFoundError:  # no landing folder yet: nothing landed
                return []
            if not matching or not storage.exists(self.spark, join_path(self.checkpoint, SOURCE_LOG)):
                return [(c.path, c.mtime_ms) for c in matching]
            try:
                _, taken = self._read_source_log({_norm(c.path) for c in matching}, PassReport())
            except SourceLogUnreadable:
                return None
            return [(c.path, c.mtime_ms) for c in matching if _norm(c.path) not in taken]

    # -- listing ------------------------------------------------------------------------------
    def _listing(self) -> list[tuple[_Candidate, bool]]:
        """Every file of the landing folder as the text source lists it (hidden files excluded),
        with whether it matches ingest.file_pattern (Hadoop's glob, as `pathGlobFilter` uses)."""
        jvm = self.spark.sparkContext._jvm
        regex = jvm.org.apache.hadoop.fs.GlobPattern(self.config.ingest.file_pattern).compiled().pattern()
        local = _local_dir(self.config.landing)
        if local is not None:  # a local folder: listed here, in milliseconds rather than a Spark job
            pattern = re.compile(f"(?:{regex})")
            out = []
            with os.scandir(local) as entries:
                for e in entries:
                    if _hidden(e.name) or not e.is_file():
                        continue
                    out.append((_Candidate(f"file:{os.path.join(local, e.name)}",
                                           e.stat().st_mtime_ns // 1_000_000),
                                bool(pattern.fullmatch(e.name))))
            return out
        listing = (self.spark.read.format("binaryFile").load(self.config.landing)
                   .select("path", F.unix_millis("modificationTime").alias("mtime"))
                   .withColumn("ok", F.regexp_extract("path", "([^/]*)$", 1).rlike(f"^(?:{regex})$")))
        return [(_Candidate(r.path, int(r.mtime)), bool(r.ok)) for r in listing.collect()]

    def _report_unmatched(self, unmatched: list[_Candidate], report: PassReport) -> None:
        report.unmatched = len(unmatched)
        new = [c.path for c in unmatched if c.path not in self._reported]
        if new:
            self._reported.update(new)
            log.warning("%d file(s) in the landing folder do not match ingest.file_pattern %r and are "
                        "not ingested: %s", len(new), self.config.ingest.file_pattern, _examples(new))

    # -- the source's log -----------------------------------------------------------------------
    def _read_source_log(self, wanted: set[str], report: PassReport) -> tuple[int | None, dict[str, int]]:
        """(newest modification time the source has taken, those of `wanted` it has taken with the
        modification time they had then).

        Reads what Spark's FileStreamSourceLog.allFiles reads: the latest `<n>.compact` file and
        the batch files after it. Each line after the version line is one taken file
        (`{"path": url-encoded URI, "timestamp": mtime ms, "batchId": n}`)."""
        directory = join_path(self.checkpoint, SOURCE_LOG)
        report.log_entries = report.log_bytes = 0
        names = _list_names(self.spark, directory)
        compacts = [int(n[:-len(".compact")]) for n in names if n.endswith(".compact") and n[:-8].isdigit()]
        base = max(compacts, default=-1)
        batches = sorted(int(n) for n in names if n.isdigit() and int(n) > base)
        files = ([f"{base}.compact"] if base >= 0 else []) + [str(b) for b in batches]
        newest: int | None = None
        taken: dict[str, int] = {}
        for name in files:
            text = storage.read_text(self.spark, join_path(directory, name))
            if text is None:  # deleted by a compaction in between: its entries are in the next one
                continue
            report.log_bytes += len(text.encode("utf-8"))
            lines = text.split("\n")
            version = lines[0].strip()
            if not (version.startswith("v") and version[1:].isdigit()
                    and 1 <= int(version[1:]) <= SOURCE_LOG_VERSION):
                raise SourceLogUnreadable(f"{name}: unsupported version line {version!r}")
            for line in lines[1:]:
                if not line.strip():
                    continue
                try:
                    entry: dict[str, Any] = json.loads(line)
                    stamp = int(entry["timestamp"])
                    path = _norm(str(entry["path"]))
                except (ValueError, KeyError, TypeError) as exc:
                    raise SourceLogUnreadable(f"{name}: {exc}") from exc
                report.log_entries += 1
                newest = stamp if newest is None else max(newest, stamp)
                if path in wanted:
                    taken[path] = stamp
        report.log_read = True
        return newest, taken

    # -- keeping the source's log to the window -----------------------------------------------------
    def prune_source_log(self) -> tuple[int, int]:
        """Drop from the source log's latest compaction the files that can no longer matter; call
        only before the stream starts. Returns (entries before, entries after).

        Spark never drops an entry from this log (its compactions keep every file ever taken), and
        a restart reads all of it into the seen-files map before purging the map to the window.
        An entry can go when its file (a) is older than the window before the newest file taken,
        so the purge after a restart would drop it anyway, (b) is no longer in the landing folder
        (archived, deleted), so no pass can see it again, and (c) belongs to none of the last
        KEEP_BATCHES batches, which Spark may still read to replay or clean a batch. What is left:
        the files in the window, those still in the landing folder, and the last batches."""
        directory = join_path(self.checkpoint, SOURCE_LOG)
        names = _list_names(self.spark, directory)
        compacts = [int(n[:-len(".compact")]) for n in names if n.endswith(".compact") and n[:-8].isdigit()]
        if not compacts:
            return 0, 0
        base = max(compacts)
        later = sorted(int(n) for n in names if n.isdigit() and int(n) > base)
        latest = max([base, *later])
        compact = join_path(directory, f"{base}.compact")
        text = storage.read_text(self.spark, compact)
        if text is None:
            return 0, 0
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines or lines[0].strip() != f"v{SOURCE_LOG_VERSION}":
            log.warning("source log %s: unknown version %r, not pruned", compact, lines[0] if lines else "")
            return 0, 0
        entries = [json.loads(line) for line in lines[1:]]
        newest = max((int(e["timestamp"]) for e in entries), default=0)
        for batch in later:  # the newest file taken may be in a batch after the compaction
            more = storage.read_text(self.spark, join_path(directory, str(batch))) or ""
            newest = max([newest, *(int(json.loads(x)["timestamp"]) for x in more.split("\n")[1:] if x.strip())])
        in_landing = {_norm(c.path) for c, _ in self._listing()}
        keep = [line for line, e in zip(lines[1:], entries)
                if int(e["timestamp"]) >= newest - self.window_ms or int(e["batchId"]) > latest - KEEP_BATCHES
                or _norm(str(e["path"])) in in_landing]
        if len(keep) == len(entries):
            return len(entries), len(entries)
        try:
            _write_atomically(self.spark, compact, "\n".join([lines[0], *keep]))
        except Exception as exc:  # noqa: BLE001 - the log stays as Spark wrote it
            log.warning("source log %s not pruned: %s", compact, str(exc).splitlines()[0] if str(exc) else exc)
            return len(entries), len(entries)
        log.info("source log %s: kept %d of %d entries (the %gh window, files still in the landing folder, "
                 "the last %d batches)", compact, len(keep), len(entries),
                 self.config.ingest.max_file_age_hours, KEEP_BATCHES)
        return len(entries), len(keep)

    # -- giving a file a modification time inside the window --------------------------------------
    def _refresh(self, files: list[_Candidate], mtime_ms: int, report: PassReport, *, reason: str,
                 newest: int | None = None) -> None:
        """Give `files` modification time `mtime_ms` (old_files: rescue), or report them as not
        ingested. A backfill can be thousands of files: one WARNING (ERROR for failures) per pass
        with the count and examples, and one INFO line per file."""
        window = f"{self.config.ingest.max_file_age_hours:g}h"
        if reason == "old":
            why = f"older than the {window} window before the newest file the stream has taken ({_iso(newest)})"
        else:
            why = f"dated more than {FUTURE_TOLERANCE_MS // 60_000} minutes in the future"
        rescued: list[_Candidate] = []
        failed: list[tuple[_Candidate, str]] = []
        for c in files:
            if self.config.ingest.old_files == "warn":
                failed.append((c, "ingest.old_files is warn"))
                continue
            error = _set_mtime(self.spark, c.path, mtime_ms)
            if error:
                failed.append((c, error))
                continue
            log.info("landing file %s (modified %s) now has modification time %s", c.path, _iso(c.mtime_ms),
                     _iso(mtime_ms))
            report.rescued.append(c.path)
            rescued.append(c)
        if rescued:
            log.warning("%d landed file(s) %s, as far back as %s, were given modification time %s so "
                        "that the ingest stream takes them (Bronze's _source_modified_at records that "
                        "time): %s", len(rescued), why, _iso(min(c.mtime_ms for c in rescued)),
                        _iso(mtime_ms), _examples(c.path for c in rescued))
        report.not_rescued.extend(c.path for c, _ in failed)
        new = [(c, e) for c, e in failed if c.path not in self._reported]
        if new:
            self._reported.update(c.path for c, _ in new)
            for c, error in new:
                log.info("landing file %s (modified %s) is not ingested: %s", c.path, _iso(c.mtime_ms), error)
            log.log(logging.WARNING if self.config.ingest.old_files == "warn" else logging.ERROR,
                    "%d landed file(s) %s are NOT ingested (Spark's file source skips them) and were "
                    "left as they are (%s): %s. Set ingest.old_files: rescue, or land them again with a "
                    "current modification time", len(new), why, new[0][1], _examples(c.path for c, _ in new))

    def _warn_once(self, key: str, message: str, *args: Any, level: int = logging.WARNING) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.log(level, message, *args)

    # -- while the stream runs ----------------------------------------------------------------------
    def watch_in_background(self) -> threading.Thread:
        """Run a pass every `ingest.rescue_interval_seconds` while this checkpoint's query (named
        `query_name`, with the id the checkpoint records) is active; stop when it ends."""
        thread = threading.Thread(target=self._watch, name=f"{self.query_name}-landing-watch", daemon=True)
        thread.start()
        return thread

    def _watch(self) -> None:
        interval = self.config.ingest.rescue_interval_seconds
        started = time.monotonic()
        next_pass = started + interval
        query_id: str | None = None
        seen = False
        while True:
            time.sleep(min(1.0, interval))
            try:
                if query_id is None and checkpoints.exists(self.spark, self.checkpoint):
                    query_id = checkpoints.query_id(self.spark, self.checkpoint)
                active = query_id is not None and any(
                    q.name == self.query_name and q.id == query_id for q in self.spark.streams.active)
            except Exception:  # the session is gone
                return
            if not active:
                if seen or time.monotonic() - started > WATCH_GRACE_SECONDS:
                    return
                continue
            seen = True
            if time.monotonic() >= next_pass:
                next_pass = time.monotonic() + interval
                try:
                    self.run_pass()
                except Exception:  # noqa: BLE001 - logged; the next pass tries again
                    log.exception("landing pass failed; old landed files may wait for the next pass")


class SourceLogUnreadable(Exception):
    """The checkpoint's file-source log is not in a format this code knows."""


def _examples(paths: Any, limit: int = 5) -> str:
    paths = list(paths)
    return ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _norm(path: str) -> str:
    """One spelling per file: the log stores url-encoded `file:///x`, a listing decoded `file:/x`."""
    if path.startswith("file:///"):
        path = "file:/" + path[len("file:///"):]
    return unquote(path) if "%" in path else path


def _local_dir(path: str) -> str | None:
    """The local folder `path` names (a plain path or a file: URI), or None for other schemes."""
    if path.startswith("file:"):
        rest = path[len("file:"):]
        return "/" + rest.lstrip("/") if rest.startswith("//") else rest
    return None if is_uri(path) else path


def _hidden(name: str) -> bool:
    """Names Spark's file listing leaves out (InMemoryFileIndex.shouldFilterOutPathName)."""
    return ((name.startswith("_") and "=" not in name) or name.startswith(".")
            or name.endswith("._COPYING_"))


def _list_names(spark: SparkSession, directory: str) -> list[str]:
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(directory)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hpath):
        return []
    return [str(s.getPath().getName()) for s in fs.listStatus(hpath)]


def _write_atomically(spark: SparkSession, path: str, text: str) -> None:
    """Replace a checkpoint file the way Spark writes its own logs (CheckpointFileManager: a
    temporary file renamed over the old one, checksums kept)."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    manager = jvm.org.apache.spark.sql.execution.streaming.checkpointing.CheckpointFileManager.create(
        hpath.getParent(), spark.sparkContext._jsc.hadoopConfiguration())
    out = manager.createAtomic(hpath, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    except Exception:
        out.cancel()
        raise
    out.close()


def _set_mtime(spark: SparkSession, path: str, mtime_ms: int) -> str | None:
    """Set a landed file's modification time; the reason it failed, or None."""
    try:
        if path.startswith("file:"):
            local = path[len("file:"):]
            stat = os.stat(local)
            os.utime(local, ns=(stat.st_atime_ns, mtime_ms * 1_000_000))
            return None
        jvm = spark.sparkContext._jvm
        hpath = jvm.org.apache.hadoop.fs.Path(path)
        fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        fs.setTimes(hpath, mtime_ms, -1)
        if abs(int(fs.getFileStatus(hpath).getModificationTime()) - mtime_ms) > 2000:
            return f"{fs.getScheme()} does not support setting modification times"
        return None
    except Exception as exc:  # noqa: BLE001 - reported by the caller, at ERROR
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _iso(ms: int | None) -> str:
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
