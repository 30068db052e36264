"""Rewrite chosen data files of a Delta table in place, as one commit that changes no row count.

Erasure rewrites the few files that hold a person's rows, in tables that are append-only
(`delta.appendOnly`) for everything else. Delta refuses UPDATE/DELETE/MERGE there, and turning the
property off and on again is a metadata change that fails every concurrent writer's commit (the
ingest stream's included) and leaves a window in which the table is writable. So the rewrite is
one transaction, through Delta's own transaction API (no SQL for it): it reads the files at the
transaction's snapshot, writes `transform` of their rows as new files, and commits the removal of
the old files and the new files with `dataChange=false`, like OPTIMIZE. That is honest about what
changed for the table's readers: the same rows, the same row count and every non-personal value;
streams reading the table (refine on Bronze) have nothing new to process, and the commit conflicts
with no blind append. The commit's `userMetadata` says which request made it.

The commit holds no predicate and no literal: Delta keeps operation parameters in its log.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.core.runs import COMMIT_METADATA_CONF

log = logging.getLogger(__name__)
FILE_PATH = "_metadata.file_path"
ATTEMPTS = 5


@dataclass(frozen=True)
class Rewrite:
    """What one rewrite committed (`version_after` None: nothing to rewrite)."""

    version_before: int
    version_after: int | None
    files_removed: int
    bytes_removed: int
    files_added: int
    bytes_added: int
    rows: int
    removed_paths: tuple[str, ...]  # absolute paths of the files the commit removed


def normalize_path(path: str) -> str:
    """A data file's path as `_metadata.file_path` and AddFile paths compare: decoded, no scheme."""
    text = urllib.parse.unquote(path)
    for prefix in ("file://", "file:"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return "/" + text.lstrip("/") if not text.startswith("/") and "://" not in text else text


def _java_list(spark: SparkSession, seq: Any) -> Iterator[Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    return iter(jvm.scala.jdk.javaapi.CollectionConverters.asJava(seq))


def _scala_seq(spark: SparkSession, items: list[Any]) -> Any:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    java = jvm.java.util.ArrayList()
    for item in items:
        java.add(item)
    return jvm.scala.jdk.javaapi.CollectionConverters.asScala(java).toSeq()


def _without_data_change(spark: SparkSession, action: Any) -> Any:
    """The AddFile `action` with `dataChange=false` (through its JSON: the case class's copy has a
    different arity in every Delta release)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    wrapped = json.loads(action.json())
    for body in wrapped.values():
        body["dataChange"] = False
    return jvm.org.apache.spark.sql.delta.actions.Action.fromJson(json.dumps(wrapped))


def absolute_path(data_path: str, relative: str) -> str:
    """An AddFile's path (relative to the table, URL-encoded, or absolute) as a normalized path."""
    if relative.startswith("file:") or "://" in relative or relative.startswith("/"):
        return normalize_path(relative)
    return normalize_path(data_path.rstrip("/") + "/" + relative)


def rewrite_files(spark: SparkSession, location: str, files: Iterable[str],
                  transform: Callable[[DataFrame], DataFrame], *, metadata: str) -> Rewrite:
    """Replace the data `files` (absolute paths, as `_metadata.file_path` gives them) of the Delta
    table at `location` by `transform` of their rows, in one `dataChange=false` commit.

    `transform` gets the files' rows (the table's columns) and must return the same number of rows
    with the table's schema. Files no longer in the table when the transaction starts are skipped
    (a rerun after a crash finds them rewritten). A concurrent commit that removed one of them
    (OPTIMIZE) makes the transaction retry from a fresh snapshot.
    """
    wanted = {normalize_path(f) for f in files}
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _rewrite_once(spark, location, wanted, transform, metadata)
        except Exception as exc:  # noqa: BLE001 - only Delta's concurrency conflicts are retried
            if "Concurrent" not in type(exc).__name__ + str(exc)[:300] or attempt == ATTEMPTS:
                raise
            log.info("rewrite of %s conflicted with a concurrent commit (attempt %d): retrying",
                     location, attempt)
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _records(add: Any) -> int:
    return int(json.loads(add.stats())["numRecords"]) if add.stats() else -1


def _schema(spark: SparkSession, location: str, version: int) -> Any:
    return spark.read.format("delta").option("versionAsOf", version).load(location).schema


def _read_files(spark: SparkSession, location: str, version: int, data_path: str,
                targets: list[Any], paths: list[str]) -> DataFrame:
    """The rows of `targets` at `version`: the Parquet files themselves (partition values from
    their folders), or, when one carries a deletion vector, the table filtered to those files."""
    if all(add.deletionVector() is None for add in targets):
        return (spark.read.option("basePath", normalize_path(data_path))
                .schema(_schema(spark, location, version)).parquet(*paths))
    return (spark.read.format("delta").option("versionAsOf", version).load(location)
            .where(F.col(FILE_PATH).isin([f"file:{p}" for p in paths] + paths)))


def _rewrite_once(spark: SparkSession, location: str, wanted: set[str],
                  transform: Callable[[DataFrame], DataFrame], metadata: str) -> Rewrite:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, location)
    txn = delta_log.startTransaction()
    version = int(txn.readVersion())
    data_path = str(delta_log.dataPath().toString())
    targets = [add for add in _java_list(spark, txn.filterFiles())
               if absolute_path(data_path, add.path()) in wanted]
    if not targets:
        return Rewrite(version, None, 0, 0, 0, 0, 0, ())
    paths = [absolute_path(data_path, add.path()) for add in targets]
    old_rows = _read_files(spark, location, version, data_path, targets, paths)
    counts = [_records(add) for add in targets]
    expected = sum(counts) if min(counts) >= 0 else old_rows.count()
    new_rows = transform(old_rows)
    columns = [f.name for f in _schema(spark, location, version).fields]
    new_rows = new_rows.select(*columns)
    added = list(_java_list(spark, txn.writeFiles(new_rows._jdf)))
    added_rows = sum(int(json.loads(a.stats())["numRecords"]) for a in added if a.stats())
    if added_rows != expected:
        raise RuntimeError(f"rewrite of {location} would change the row count ({expected} -> {added_rows})")
    now = int(time.time() * 1000)
    actions = [_without_data_change(spark, a) for a in added] + [a.removeWithTimestamp(now, False) for a in targets]
    previous = spark.conf.get(COMMIT_METADATA_CONF, None)
    spark.conf.set(COMMIT_METADATA_CONF, metadata)
    try:
        operation = getattr(jvm.org.apache.spark.sql.delta, "DeltaOperations$Update")(jvm.scala.Option.empty())
        committed = int(txn.commit(_scala_seq(spark, actions), operation))
    finally:
        if previous is None:
            spark.conf.unset(COMMIT_METADATA_CONF)
        else:
            spark.conf.set(COMMIT_METADATA_CONF, previous)
    return Rewrite(version_before=version, version_after=committed, files_removed=len(targets),
                   bytes_removed=sum(int(a.size()) for a in targets), files_added=len(added),
                   bytes_added=sum(int(a.size()) for a in added), rows=expected, removed_paths=tuple(paths))
