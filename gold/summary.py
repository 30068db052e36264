"""`medallion show`: what the pipeline produced, layer by layer, ending with the Gold metrics.

Each section runs only when its tables exist, so the command is useful after any stage. Bronze
and Silver sections count rows; the Gold sections only select columns of the marts
`fct_campaign_performance` and `fct_channel_cac`: ROI, ROAS, CAC... are defined in the dbt
project alone (an exposure there names this command as a consumer).
"""
from __future__ import annotations

import sys
from typing import Sequence, TextIO

from pyspark.sql import SparkSession

from gold.sql_query import query_session, run_query, write_table
from pipelines.core.catalog import register_tables
from pipelines.core.config import Config

# (title, tables it needs, SQL). Order = pipeline order.
SECTIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Bronze: lines landed per ingest date", ("bronze.events_raw",), """
        select _ingest_date, count(*) as lines, count(raw_bytes) as invalid_utf8_lines,
               count(distinct _source) as files
        from bronze.events_raw group by _ingest_date order by _ingest_date"""),
    ("Silver: events per type", ("silver.events",), """
        select event_type, count(*) as events, sum(cast(is_late as int)) as late_events
        from silver.events group by event_type order by events desc"""),
    ("Silver: quarantined rows per reason", ("silver.events_quarantine",), """
        select reason, count(*) as rows from silver.events_quarantine
        lateral view explode(reasons) r as reason group by reason order by rows desc"""),
    # Gold: metric columns selected as dbt computed them (defined in dbt_project only); order and
    # limit here, no arithmetic.
    ("Gold: top campaigns by ROI", ("gold.fct_campaign_performance",), """
        select campaign_id, spend_usd, revenue_usd, roi, roas
        from gold.fct_campaign_performance
        order by roi desc nulls last, campaign_id limit 10"""),
    ("Gold: CAC by channel", ("gold.fct_channel_cac",), """
        select channel, spend_usd, new_customers, cac_usd
        from gold.fct_channel_cac order by cac_usd nulls last, channel"""),
)


def print_summary(config: Config, *, out: TextIO | None = None, spark: SparkSession | None = None,
                  layers: Sequence[str] | None = None) -> int:
    """Print the SECTIONS whose tables exist; `layers` (e.g. ["gold"]) keeps only those layers'."""
    out = out or sys.stdout
    spark = query_session(config, spark)
    tables = set(register_tables(spark, config))
    if not tables:
        out.write(f"no tables yet in {config.warehouse}; run `medallion run --once` first\n")
        return 1
    for title, needs, sql in SECTIONS:
        if not set(needs) <= tables or (layers and title.split(":")[0].lower() not in layers):
            continue
        df = run_query(spark, sql)
        out.write(f"\n== {title}\n")
        write_table(df.columns, df.collect(), out)
    out.flush()
    return 0
