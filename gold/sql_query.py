"""`medallion sql`: Spark SQL over the layer tables, addressable by name (`bronze.events_raw`...).

Output formats: an aligned `table`, `json` (one JSON object per row, nulls kept, keys in column
order) or `csv` (with a header). Rows stream to stdout, so large results do not have to fit the
driver for json/csv.
"""
from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
import sys
from typing import Any, Iterable, Iterator, TextIO

from pyspark.sql import DataFrame, SparkSession

from gold.sql_guard import GUARD_ROLE_CONF, check_statement
from pipelines.core.catalog import register_tables
from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.migrations import check_warehouse
from pipelines.core.runs import new_run_id, tag_session_commits
from pipelines.core.spark_session import build_session
from pipelines.core.tables import BRONZE_EVENTS_RAW

# Spark's conf for the schema unqualified names resolve in, when a session starts.
_DEFAULT_DATABASE = "spark.sql.catalog.spark_catalog.defaultDatabase"


def query_session(config: Config, spark: SparkSession | None = None) -> SparkSession:
    """A session for reading the warehouse by table name: a warehouse written by a newer
    medallion is refused (an older one reads the same); every registry table present is
    registered."""
    spark = spark or build_session(config)
    check_warehouse(spark, config)
    register_tables(spark, config)
    return spark


def run_query(spark: SparkSession, sql: str) -> DataFrame:
    """Run one statement; analysis errors become `PipelineError("SQL_FAILED")`, the guard's
    refusals `PipelineError("SQL_REFUSED")` with the guard's code."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException, ParseException

    try:
        return spark.sql(sql)
    except (AnalysisException, ParseException) as exc:
        raise PipelineError("SQL_FAILED", {"detail": _short(exc)}) from exc
    except Py4JJavaError as exc:
        refused = guard_refusal(exc)
        if refused is None:
            raise
        raise PipelineError("SQL_REFUSED", {"reason": refused[0], "detail": refused[1]}) from exc


def guard_refusal(exc: BaseException) -> tuple[str, str] | None:
    """(code, message) of the JVM guard's refusal inside a Py4J error, else None."""
    java = getattr(exc, "java_exception", None)
    while java is not None:
        if java.getClass().getName() == "io.medallion.serving.AccessDenied":
            return str(java.code()), str(java.getMessage())
        java = java.getCause()
    return None


def _short(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def jsonable(value: Any) -> Any:
    """Python value of a Spark cell -> JSON-friendly value (exact decimals as numbers)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "asDict"):
        return {k: jsonable(v) for k, v in value.asDict().items()}
    return value


def write_json(columns: list[str], rows: Iterable[Any], out: TextIO) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps({c: jsonable(v) for c, v in zip(columns, row)}, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(columns: list[str], rows: Iterable[Any], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else _cell(v) for v in row])
        count += 1
    return count


def _cell(value: Any) -> str:
    plain = jsonable(value)
    return json.dumps(plain, ensure_ascii=False) if isinstance(plain, (list, dict)) else str(plain)


def write_table(columns: list[str], rows: list[Any], out: TextIO) -> int:
    cells = [["NULL" if v is None else _cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out.write(line + "\n")
    out.write("|" + "|".join(f" {c:<{w}} " for c, w in zip(columns, widths)) + "|\n")
    out.write(line + "\n")
    for r in cells:
        out.write("|" + "|".join(f" {v:>{w}} " if _numeric(v) else f" {v:<{w}} "
                                 for v, w in zip(r, widths)) + "|\n")
    out.write(line + "\n")
    return len(cells)


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _rows(df: Any) -> Iterator[Any]:
    return df.toLocalIterator()


def guard_statement(config: Config, sql: str, *, allow_writes: bool = False,
                    spark: SparkSession | None = None) -> None:
    """Refuse `sql` before it runs when it writes without `allow_writes`, or modifies Bronze at
    all (see gold.sql_guard). Needs no session: a refused statement never starts the JVM; the
    current schema (unqualified names) is the live session's, else the configured default."""
    current = (spark.catalog.currentDatabase() if spark is not None
               else config.spark.conf.get(_DEFAULT_DATABASE, "default"))
    check_statement(sql, bronze_location=BRONZE_EVENTS_RAW.location(config),
                    allow_writes=allow_writes, current_schema=current)


def print_query(config: Config, sql: str, *, fmt: str = "table", limit: int = 1000,
                out: TextIO | None = None, spark: SparkSession | None = None,
                allow_writes: bool = False) -> int:
    """Run `sql` against the warehouse and print the result; returns the exit status. Read-only
    unless `allow_writes`; never a statement that modifies Bronze."""
    guard_statement(config, sql, allow_writes=allow_writes, spark=spark)
    out = out or sys.stdout
    own_session = spark is None
    spark = query_session(config, spark)
    if own_session:  # an operator's statement: its commits say so in `describe history`
        tag_session_commits(spark, new_run_id(), "operator")
        # the plan-level guard, when loaded (the CLI loads it), judges the statement in this role
        spark.conf.set(GUARD_ROLE_CONF, "pipeline" if allow_writes else "reader")
    df = run_query(spark, sql)
    columns = df.columns
    if fmt == "json":
        write_json(columns, _rows(df), out)
    elif fmt == "csv":
        write_csv(columns, _rows(df), out)
    else:
        rows = df.limit(limit + 1).collect()
        shown = write_table(columns, rows[:limit], out)
        suffix = f" (first {limit}; use --limit or --format json/csv for all)" if len(rows) > limit else ""
        out.write(f"{shown} row(s){suffix}\n")
    out.flush()
    return 0
