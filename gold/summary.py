"""`medallion show`: what the pipeline produced, layer by layer, ending with the Gold metrics.

Each section runs only when its tables exist, so the command is useful after any stage.
"""
from __future__ import annotations

import sys
from typing import Any, TextIO

from gold.sql_query import run_query, write_table
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
    ("Gold: top campaigns by ROI", ("gold.fct_campaign_performance_daily",), """
        select campaign_id, sum(spend_usd) as spend_usd, sum(revenue_usd) as revenue_usd,
               round(try_divide(sum(revenue_usd) - sum(spend_usd), sum(spend_usd)), 3) as roi,
               round(try_divide(sum(revenue_usd), sum(spend_usd)), 3) as roas
        from gold.fct_campaign_performance_daily group by campaign_id
        order by roi desc nulls last limit 10"""),
    ("Gold: CAC by channel", ("gold.fct_channel_cac_monthly",), """
        select channel, sum(spend_usd) as spend_usd, sum(new_customers) as new_customers,
               round(try_divide(sum(spend_usd), sum(new_customers)), 2) as cac_usd
        from gold.fct_channel_cac_monthly group by channel order by cac_usd nulls last"""),
)


def print_summary(config: Config, *, out: TextIO | None = None, spark: Any = None) -> int:
    from pipelines.core.catalog import register_tables
    from pipelines.core.spark_session import build_session

    out = out or sys.stdout
    spark = spark or build_session(config)
    tables = set(register_tables(spark, config))
    if not tables:
        out.write(f"no tables yet in {config.warehouse}; run `medallion run --once` first\n")
        return 1
    for title, needs, sql in SECTIONS:
        if not set(needs) <= tables:
            continue
        df = run_query(spark, sql)
        out.write(f"\n== {title}\n")
        write_table(df.columns, df.collect(), out)
    out.flush()
    return 0
