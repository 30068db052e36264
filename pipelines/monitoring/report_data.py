"""`medallion report`: reads the warehouse into small frames and writes the HTML page.

The wiring of the report: Spark queries over the registry's tables (by name, registered from the
warehouse layout like every reading command) -> small pandas frames -> `report_charts` ->
`report_page` -> one file. It never writes a table. A table that is not built yet leaves its
charts saying so; the page is written anyway.

What it reads, and what it never shows: counts, times, batch ids, reason codes, expectation
results, and the Gold marts' campaign and channel metrics (selected as dbt computed them). No
column the registry marks as personal data (raw lines, emails, user ids) is selected.
"""
from __future__ import annotations

import logging
import os
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from pipelines.core.catalog import register_tables
from pipelines.core.config import Config, is_uri
from pipelines.core.errors import PipelineError
from pipelines.core.migrations import check_warehouse
from pipelines.core.spark_session import build_session
from pipelines.monitoring.report_charts import build_charts
from pipelines.monitoring.report_page import DocsLink, Fact, render_page

log = logging.getLogger(__name__)

# Per-batch charts show the latest batches only (a continuous stream makes thousands).
MAX_BATCHES = 200
TS = "yyyy-MM-dd HH:mm:ss"  # the session time zone is UTC (pipelines.core.spark_session)


@dataclass(frozen=True)
class Query:
    name: str
    tables: tuple[str, ...]  # every table it reads
    hint: str  # why its frame is empty when a table is missing: what to run
    sql: str


QUERIES: tuple[Query, ...] = (
    Query("ingest", ("bronze.events_raw",), "run `medallion ingest`", f"""
        select * from (
            select _ingest_batch_id as batch_id, date_format(_ingested_at, '{TS}') as ingested_at,
                   count(*) as rows, count(distinct _source) as files
            from bronze.events_raw group by _ingest_batch_id, _ingested_at
            order by ingested_at desc, batch_id desc limit {MAX_BATCHES})
        order by ingested_at, batch_id"""),
    Query("ledger", ("audit.batch_ledger",), "run `medallion refine`", f"""
        select * from (
            select batch_id, date_format(processed_at, '{TS}') as processed_at, rows_read,
                   rows_inserted, rows_quarantined, rows_duplicate, rows_late, batch_seconds
            from audit.batch_ledger order by processed_at desc, batch_id desc limit {MAX_BATCHES})
        order by processed_at, batch_id"""),
    # seconds from landing (the file's modification time) and from Bronze ingestion to the refine
    # batch that inserted the event, per refine batch
    Query("latency", ("silver.events", "bronze.events_raw"), "run `medallion refine`", f"""
        select * from (
            select s._silver_batch_id as batch_id, date_format(max(s._processed_at), '{TS}') as processed_at,
                   count(*) as events,
                   percentile_approx(landed_us, 0.5) / 1e6 as landed_p50_s,
                   percentile_approx(landed_us, 0.95) / 1e6 as landed_p95_s,
                   percentile_approx(ingested_us, 0.5) / 1e6 as ingested_p50_s,
                   percentile_approx(ingested_us, 0.95) / 1e6 as ingested_p95_s
            from (select e._silver_batch_id, e._processed_at,
                         unix_micros(e._processed_at) - unix_micros(b._source_modified_at) as landed_us,
                         unix_micros(e._processed_at) - unix_micros(e._ingested_at) as ingested_us
                  from silver.events e join bronze.events_raw b on e._bronze_id = b._bronze_id) s
            group by s._silver_batch_id
            order by processed_at desc, batch_id desc limit {MAX_BATCHES})
        order by processed_at, batch_id"""),
    Query("quarantine", ("silver.events_quarantine",), "run `medallion refine`", f"""
        with batches as (
            select _silver_batch_id as batch_id, max(_processed_at) as processed_at
            from silver.events_quarantine group by _silver_batch_id
            order by processed_at desc, batch_id desc limit {MAX_BATCHES})
        select q._silver_batch_id as batch_id, date_format(b.processed_at, '{TS}') as processed_at,
               reason, count(*) as rows
        from silver.events_quarantine q join batches b on q._silver_batch_id = b.batch_id
        lateral view explode(q.reasons) r as reason
        group by q._silver_batch_id, b.processed_at, reason
        order by processed_at, batch_id, reason"""),
    Query("expectations", ("audit.quality_results",), "run `medallion refine`", """
        select expectation_index, expectation_type, column_name, row_condition, action, reason,
               count(*) as batches, count_if(success) as batches_passed,
               avg(unexpected_percent) as mean_unexpected_percent
        from audit.quality_results
        group by expectation_index, expectation_type, column_name, row_condition, action, reason
        order by expectation_index"""),
    # Gold: the marts' metric columns as dbt computed them (cast for plotting, nothing derived)
    Query("campaigns", ("gold.fct_campaign_performance",), "run `medallion build`", """
        select campaign_id, cast(spend_usd as double) as spend_usd,
               cast(revenue_usd as double) as revenue_usd, cast(roi as double) as roi,
               cast(roas as double) as roas
        from gold.fct_campaign_performance order by campaign_id"""),
    Query("cac", ("gold.fct_channel_cac_monthly",), "run `medallion build`", """
        select date_format(month_start, 'yyyy-MM') as month, channel,
               cast(spend_usd as double) as spend_usd, new_customers, cast(cac_usd as double) as cac_usd
        from gold.fct_channel_cac_monthly order by month, channel"""),
)

# headline label -> (tables, SQL giving one value)
FACTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("lines in Bronze", ("bronze.events_raw",), "select count(*) from bronze.events_raw"),
    ("events in Silver", ("silver.events",), "select count(*) from silver.events"),
    ("rows in quarantine", ("silver.events_quarantine",), "select count(*) from silver.events_quarantine"),
    ("duplicates dropped", ("silver.events_duplicates",), "select count(*) from silver.events_duplicates"),
    ("last ingest batch (UTC)", ("bronze.events_raw",),
     f"select date_format(max(_ingested_at), '{TS}') from bronze.events_raw"),
    ("last refine batch (UTC)", ("audit.batch_ledger",),
     f"select date_format(max(processed_at), '{TS}') from audit.batch_ledger"),
    ("last Gold build (UTC)", ("audit.gold_builds",),
     f"select date_format(max(finished_at), '{TS}') from audit.gold_builds "
     "where resource_type = 'invocation' and status = 'success'"),
)


def read_frames(spark: SparkSession, present: set[str]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every query whose tables are present -> its frame; the others -> a hint naming what to run."""
    frames: dict[str, pd.DataFrame] = {}
    hints: dict[str, str] = {}
    for query in QUERIES:
        if not set(query.tables) <= present:
            hints[query.name] = query.hint
            continue
        df = spark.sql(query.sql)
        frames[query.name] = pd.DataFrame([tuple(r) for r in df.collect()], columns=df.columns)
    return frames, hints


def read_facts(spark: SparkSession, present: set[str]) -> list[Fact]:
    facts = []
    for label, tables, sql in FACTS:
        value = spark.sql(sql).collect()[0][0] if set(tables) <= present else None
        facts.append(Fact(label, "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)))
    return facts


def docs_link(title: str, docs_dir: str, out_dir: Path, missing_hint: str) -> DocsLink:
    """A link to `<docs_dir>/index.html`, relative to the report's folder (a file: URL when no
    relative path exists); no link when the site is not built or not a local folder."""
    if is_uri(docs_dir):
        return DocsLink(title, None, f"{docs_dir} is not a local folder")
    index = Path(docs_dir) / "index.html"
    if not index.is_file():
        return DocsLink(title, None, missing_hint)
    try:
        href = urllib.parse.quote(Path(os.path.relpath(index.resolve(), out_dir.resolve())).as_posix())
    except ValueError:  # another drive (Windows)
        href = index.resolve().as_uri()
    return DocsLink(title, href, missing_hint)


def report_path(config: Config, out: str | None) -> Path:
    """`--out`, else `<paths.root>/report.html`; a local file."""
    target = out if out is not None else f"{config.paths.root}/report.html"
    if is_uri(target):
        raise PipelineError("INVALID_ARGUMENT", {"name": "--out", "value": target,
                                                 "detail": "the report is written to a local file; give a local path"})
    path = Path(target).expanduser()
    if path.is_dir():
        raise PipelineError("INVALID_ARGUMENT", {"name": "--out", "value": target,
                                                 "detail": "is a folder; give a file name such as report.html"})
    return path.absolute()


def build_report(config: Config, out_dir: Path, spark: SparkSession) -> str:
    """The page's HTML for the warehouse of `config` (links relative to `out_dir`)."""
    check_warehouse(spark, config)
    present = set(register_tables(spark, config))
    frames, hints = read_frames(spark, present)
    docs = [
        docs_link("Great Expectations Data Docs (Silver quality gate results)", config.refine.docs_dir,
                  out_dir, "run `medallion refine` with refine.data_docs on"),
        docs_link("dbt docs (Gold models, tests and lineage graph)", config.gold.docs_dir,
                  out_dir, "run `medallion docs`"),
    ]
    return render_page(
        title="medallion lakehouse report", warehouse=config.warehouse,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        facts=read_facts(spark, present), docs=docs, charts=build_charts(frames, hints))


def write_report(config: Config, out: str | None = None, *, spark: SparkSession | None = None) -> Path:
    """Write the report (atomically: a temporary file renamed over `out`); returns its path."""
    path = report_path(config, out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError("REPORT_WRITE_FAILED", {"path": str(path), "detail": exc.strerror or str(exc)}) from exc
    html = build_report(config, path.parent, spark or build_session(config))
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PipelineError("REPORT_WRITE_FAILED", {"path": str(path), "detail": exc.strerror or str(exc)}) from exc
    log.info("report: %s (%d bytes)", path, path.stat().st_size)
    return path

