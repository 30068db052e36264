"""Physically gone: old file versions, deletion vectors, artifacts, and the byte scan that proves it.

Delta keeps the files a commit removed (time travel) and the change data files of updates; a
table with deletion vectors keeps deleted rows inside live files. So after the person's rows are
rewritten: deletion vectors are purged (REORG ... APPLY (PURGE)), then every file in the table's
folder that the current version does not use and that holds the person is deleted. Only such
files, and only files older than this erasure (a newer file may be a concurrent writer's, not
committed yet): this is VACUUM with an erasure's retention, "now, for these files", which leaves
other versions' time travel alone. The Delta log itself never holds the person (no statistics on
their columns, no literals in predicates), so no log file is touched.

Artifacts (GX Data Docs, dbt's target and logs, the product's and Spark's logs) hold no personal
data by design; any text file that does is rewritten without it, any other file deleted.
`residue` is the final check: every file under the roots, Parquet decoded as well as raw bytes.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from pipelines.core.config import Config, is_uri
from pipelines.core.delta_rewrite import normalize_path
from pipelines.erasure.subject import Redactor, found_in

log = logging.getLogger(__name__)
DELTA_LOG = "_delta_log"
DELETION_VECTORS = "delta.enableDeletionVectors"
MAX_TEXT_BYTES = 256 * 1024 * 1024


@dataclass
class Purge:
    files_deleted: int = 0
    bytes_deleted: int = 0
    deletion_vectors_purged: list[str] = field(default_factory=list)


def _column_holds(column: pa.ChunkedArray, needles: list[str]) -> bool:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        lowered = pc.utf8_lower(column)
        return any(pc.any(pc.match_substring(lowered, n)).as_py() for n in needles)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return any(found_in(v, needles) for v in column.to_pylist() if v is not None)
    if pa.types.is_nested(kind):
        return any(found_in(repr(v), needles) for v in column.to_pylist() if v is not None)
    return False


def file_holds(path: Path, needles: list[str]) -> bool:
    """Whether the file holds a needle: its raw bytes, and for Parquet its decoded values too
    (compression can hide a value from a byte scan)."""
    try:
        if path.stat().st_size <= MAX_TEXT_BYTES and found_in(path.read_bytes(), needles):
            return True
    except OSError:
        return False
    if path.suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException):
            return False
        return any(_column_holds(table.column(i), needles) for i in range(table.num_columns))
    return False


def _table_files(root: Path) -> Iterable[Path]:
    for path in root.rglob("*"):
        if path.is_file() and DELTA_LOG not in path.relative_to(root).parts[:1]:
            yield path


def _committed_since(root: Path, since: float) -> set[str]:
    """Files that commits written since `since` added, removed or recorded as change data: the
    erasure's own commits among them (their files are committed, not a writer's work in progress)."""
    import json
    import urllib.parse

    paths: set[str] = set()
    for commit in (root / DELTA_LOG).glob("*.json"):
        try:
            if commit.stat().st_mtime < since:
                continue
            lines = commit.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            action = json.loads(line) if line.strip() else {}
            for kind in ("add", "remove", "cdc"):
                if kind in action:
                    paths.add(str(root / urllib.parse.unquote(action[kind]["path"])))
    return paths


def purge_table(spark: SparkSession, location: str, needles: list[str], *, started_at: float,
                dry_run: bool) -> Purge:
    """Delete the files of the Delta table at `location` that its current version does not use
    and that hold the person (after purging deletion vectors)."""
    result = Purge()
    root = Path(normalize_path(location))
    if is_uri(location) or not (root / DELTA_LOG).is_dir() or not needles:
        return result
    properties = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{location}`").collect()}
    if properties.get(DELETION_VECTORS, "false").lower() == "true" and not dry_run:
        spark.sql(f"REORG TABLE delta.`{location}` APPLY (PURGE)").collect()
        result.deletion_vectors_purged.append(location)
    current = {normalize_path(p) for p in spark.read.format("delta").load(location).inputFiles()}
    recent = _committed_since(root, started_at - 1.0)
    for path in _table_files(root):
        if str(path) in current or path.name.startswith("."):
            continue
        try:
            if path.stat().st_mtime >= started_at and str(path) not in recent:
                continue  # younger than the erasure and in no commit: maybe a writer's work in progress
        except OSError:
            continue
        if file_holds(path, needles):
            result.files_deleted += 1
            result.bytes_deleted += path.stat().st_size
            if not dry_run:
                path.unlink(missing_ok=True)
                crc = path.with_name(f".{path.name}.crc")
                crc.unlink(missing_ok=True)
    return result


def artifact_dirs(config: Config) -> list[Path]:
    """Folders of files people look at or tools keep: GX Data Docs, dbt's target and logs, the
    product's logs, Spark event logs (when configured)."""
    from pipelines.core.logs import log_dir

    dbt_project = Path(__file__).resolve().parents[2] / "dbt_project"
    candidates = [config.refine.docs_dir, config.gold.docs_dir, str(log_dir(config)),
                  os.environ.get("DBT_TARGET_PATH") or str(dbt_project / "target"),
                  os.environ.get("DBT_LOG_PATH") or str(dbt_project / "logs"),
                  str(config.spark.conf.get("spark.eventLog.dir", ""))]
    dirs = []
    for c in candidates:
        if c and not is_uri(c) and Path(normalize_path(c)).is_dir():
            dirs.append(Path(normalize_path(c)))
    return dirs


def scrub_artifacts(dirs: Iterable[Path], redactor: Redactor, *, dry_run: bool) -> int:
    """Rewrite (text) or delete (other) every artifact file holding the person; how many."""
    needles = redactor.ids.needles()
    touched = 0
    for root in dirs:
        for path in (p for p in root.rglob("*") if p.is_file()):
            try:
                data = path.read_bytes() if path.stat().st_size <= MAX_TEXT_BYTES else b""
            except OSError:
                continue
            if not found_in(data, needles):
                continue
            touched += 1
            if dry_run:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                path.unlink(missing_ok=True)
                continue
            tmp = path.with_name(f".{path.name}.erasing")
            tmp.write_text(redactor.text(text) or "", encoding="utf-8")
            os.replace(tmp, path)
    return touched


def scan_roots(config: Config) -> list[Path]:
    """Every local folder the product writes: the lakehouse root and each configured path outside
    it, and the artifact folders."""
    candidates = [config.paths.root, config.landing, config.warehouse, config.paths.checkpoints,
                  config.ingest.archive_dir]
    roots = [Path(normalize_path(c)) for c in candidates if c and not is_uri(c)]
    roots += artifact_dirs(config)
    roots = [r for r in roots if r.is_dir()]
    return [r for r in roots if not any(o != r and o in r.parents for o in roots)]


def residue(roots: Iterable[Path], needles: list[str]) -> list[str]:
    """Every file under `roots` that holds a needle (paths only: they hold no personal data)."""
    found = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if file_holds(path, needles):
                found.append(str(path))
    return found
