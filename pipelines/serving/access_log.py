"""`audit.sql_access_log`: the guard's JSON lines, loaded into Delta by the serving process.

The guard appends one line per Thrift statement and outcome to `<root>/serving/access_log/<run
id>.jsonl`; every `serve.access_log_flush_seconds`, and at stop, the complete lines not loaded yet
are appended to the table in one commit. A file whose server died is finished at the next start:
its rows already in the table (counted by `server_run_id`, one row per line, lines loaded in
order) are skipped, the rest loaded, the file removed.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from pyspark.sql import SparkSession

from pipelines.core.config import Config
from pipelines.core.delta_io import create_table
from pipelines.core.registry import TableSpec
from pipelines.core.tables import AUDIT_SQL_ACCESS_LOG

log = logging.getLogger(__name__)


def access_log_dir(config: Config) -> Path:
    return Path(config.paths.root) / "serving" / "access_log"


def _row(line: dict, run_id: str) -> tuple:
    logged = dt.datetime.fromisoformat(line["logged_at"].replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    return (logged.replace(tzinfo=None), line.get("user_name") or "", line.get("role") or "",
            line.get("statement_id"), line.get("statement_fingerprint"), line.get("statement_kind") or "",
            list(line.get("tables_read") or []), line.get("outcome") or "", line.get("refusal_code"), run_id)


class AccessLogLoader:
    """Loads one server run's access log file, incrementally."""

    def __init__(self, spark: SparkSession, config: Config, path: Path, *, skip_lines: int = 0,
                 spec: TableSpec = AUDIT_SQL_ACCESS_LOG) -> None:
        self.spark, self.config, self.path, self.spec = spark, config, path, spec
        self.run_id = path.stem
        self.offset = 0  # bytes of the file already loaded
        self._skip = skip_lines

    def flush(self) -> int:
        """Append the complete lines written since the last flush; returns how many."""
        if not self.path.is_file():
            return 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return 0
        lines = data[:end + 1].decode("utf-8").splitlines()
        skipped = min(self._skip, len(lines))
        rows = [_row(json.loads(text), self.run_id) for text in lines[skipped:] if text.strip()]
        if rows:
            create_table(self.spark, self.config, self.spec)
            (self.spark.createDataFrame(rows, self.spec.struct_ddl()).write.format("delta").mode("append")
             .option("userMetadata", json.dumps({"run_id": self.run_id, "stage": "serve"}))
             .save(self.spec.location(self.config)))
        self._skip -= skipped
        self.offset += end + 1
        return len(rows)


def finish_orphans(spark: SparkSession, config: Config, current: Path) -> int:
    """Load the files of earlier server runs that did not stop cleanly, then remove them."""
    loaded = 0
    for path in sorted(access_log_dir(config).glob("*.jsonl")):
        if path == current:
            continue
        location = AUDIT_SQL_ACCESS_LOG.location(config)
        try:
            done = (spark.read.format("delta").load(location)
                    .where(f"server_run_id = '{path.stem}'").count())
        except Exception:  # no table yet: nothing of it loaded
            done = 0
        loaded += AccessLogLoader(spark, config, path, skip_lines=done).flush()
        path.unlink()
    return loaded
