"""File-system access through Hadoop's FileSystem API, so local paths and `s3a://` URIs behave alike.

Used for the little metadata the pipeline keeps beside Spark's own (checkpoint markers, catalog
discovery). Needs a live session: the JVM is where the file systems are configured.
"""
from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


def _fs_and_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def exists(spark: SparkSession, path: str) -> bool:
    fs, hpath = _fs_and_path(spark, path)
    return bool(fs.exists(hpath))


def mkdirs(spark: SparkSession, path: str) -> None:
    fs, hpath = _fs_and_path(spark, path)
    fs.mkdirs(hpath)


def read_text(spark: SparkSession, path: str) -> str | None:
    """Whole file as UTF-8 text, or None when it does not exist."""
    fs, hpath = _fs_and_path(spark, path)
    if not fs.exists(hpath):
        return None
    jvm = spark.sparkContext._jvm
    stream = fs.open(hpath)
    try:
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Create or replace `path` with `text` (parent folders created)."""
    fs, hpath = _fs_and_path(spark, path)
    out = fs.create(hpath, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def create_exclusive(spark: SparkSession, path: str, text: str) -> bool:
    """Create `path` with `text` only if it does not exist; False when it already did.

    The file system's own create-if-absent (atomic on local and HDFS file systems, and the same
    primitive Delta's log relies on), so of two concurrent callers exactly one gets True.
    """
    fs, hpath = _fs_and_path(spark, path)
    try:
        out = fs.create(hpath, False)
    except Exception as exc:  # py4j wraps FileAlreadyExistsException
        if "FileAlreadyExists" in str(exc) or fs.exists(hpath):
            return False
        raise
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
    return True


def delete(spark: SparkSession, path: str) -> None:
    fs, hpath = _fs_and_path(spark, path)
    fs.delete(hpath, False)


def list_files(spark: SparkSession, directory: str, *, recursive: bool = False) -> list[tuple[str, int, int]]:
    """(path, size in bytes, modification time in ms) of the files under `directory` (none when it
    does not exist)."""
    fs, hpath = _fs_and_path(spark, directory)
    if not fs.exists(hpath):
        return []
    found = []
    files = fs.listFiles(hpath, recursive)
    while files.hasNext():
        status = files.next()
        found.append((str(status.getPath().toString()), int(status.getLen()), int(status.getModificationTime())))
    return found


def delete_file(spark: SparkSession, path: str) -> bool:
    """Delete one file; False when it was not there (already removed)."""
    fs, hpath = _fs_and_path(spark, path)
    return bool(fs.delete(hpath, False))
