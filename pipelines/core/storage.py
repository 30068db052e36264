"""File-system access through Hadoop's FileSystem API, so local paths and `s3a://` URIs behave alike.

Used for the little metadata the pipeline keeps beside Spark's own (checkpoint markers, catalog
discovery). Needs a live session: the JVM is where the file systems are configured.
"""
from __future__ import annotations

from typing import Any


def _fs_and_path(spark: Any, path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def exists(spark: Any, path: str) -> bool:
    fs, hpath = _fs_and_path(spark, path)
    return bool(fs.exists(hpath))


def mkdirs(spark: Any, path: str) -> None:
    fs, hpath = _fs_and_path(spark, path)
    fs.mkdirs(hpath)


def list_dirs(spark: Any, path: str) -> list[str]:
    """Names of the sub-directories of `path` (empty when `path` does not exist)."""
    fs, hpath = _fs_and_path(spark, path)
    if not fs.exists(hpath):
        return []
    return sorted(st.getPath().getName() for st in fs.listStatus(hpath) if st.isDirectory())


def read_text(spark: Any, path: str) -> str | None:
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


def write_text_if_absent(spark: Any, path: str, text: str) -> bool:
    """Create `path` with `text` unless it exists; True when this call created it."""
    fs, hpath = _fs_and_path(spark, path)
    if fs.exists(hpath):
        return False
    out = fs.create(hpath, False)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
    return True
