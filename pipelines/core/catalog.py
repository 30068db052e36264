"""How the registry's tables become addressable by name.

Tables are Delta folders at `<warehouse>/<schema>/<table>` (layer = folder = schema). Streams
address them by path, so no long-running process holds a metastore lock (the embedded Derby
metastore admits one JVM). Processes that query by name call `register_tables`, which registers
every registry table present in the warehouse in the session catalog; with `spark.catalog: hive`
the same statements are idempotent against a shared metastore.
"""
from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from pipelines.core import storage
from pipelines.core.config import Config, join_path
from pipelines.core.registry import TableSpec, stored_tables

log = logging.getLogger(__name__)


def delta_table_exists(spark: SparkSession, path: str) -> bool:
    return storage.exists(spark, join_path(path, "_delta_log"))


def register_table(spark: SparkSession, config: Config, spec: TableSpec) -> None:
    """Make one Delta folder addressable as `schema.table` (idempotent)."""
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {spec.schema}")
    location = spec.location(config)
    if spark.catalog.tableExists(spec.qualified_name):
        current = _catalog_location(spark, spec)
        if current is not None and same_location(current, location):
            return
        # Same name, other warehouse (another config in this process): re-point the external
        # table; dropping an external table leaves its files alone.
        spark.sql(f"DROP TABLE {spec.qualified_name}")
    quoted = location.replace("'", "\\'")
    spark.sql(f"CREATE TABLE {spec.qualified_name} USING delta LOCATION '{quoted}'")


def _catalog_location(spark: SparkSession, spec: TableSpec) -> str | None:
    """The location the catalog entry points at, read from the catalog alone (`SHOW TABLE
    EXTENDED`), where `DESCRIBE DETAIL` would load the Delta snapshot."""
    rows = spark.sql(f"SHOW TABLE EXTENDED IN {spec.schema} LIKE '{spec.name}'").collect()
    for line in (rows[0]["information"].splitlines() if rows else []):
        if line.startswith("Location:"):
            return line.split(":", 1)[1].strip()
    return None


def same_location(a: str, b: str) -> bool:
    """Two spellings of one location (`file:/x/` and `/x`)."""
    def norm(p: str) -> str:
        return p.removeprefix("file:").rstrip("/")
    return norm(a) == norm(b)



def register_tables(spark: SparkSession, config: Config) -> list[str]:
    """Register every registry table present in the warehouse; returns their qualified names."""
    names: list[str] = []
    for spec in stored_tables():
        if delta_table_exists(spark, spec.location(config)):
            register_table(spark, config, spec)
            names.append(spec.qualified_name)
    log.debug("registered tables: %s", names)
    return names
