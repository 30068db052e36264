"""Warehouse layout versions: a warehouse built by an earlier version keeps working.

The warehouse records the layout version it is at in `<warehouse>/_medallion/warehouse.json`
(one small file, read at every start; each table also carries `medallion.schema_version`).
`open_warehouse`, called by every command that touches the warehouse, then:
- a warehouse without tables is new: it is stamped with the current version;
- an older one is upgraded in place by the steps below, in order (each idempotent, the marker
  written after each), so an interrupted upgrade resumes; `medallion migrate` does the same
  explicitly, `--dry-run` lists the steps;
- a newer one (written by a later medallion) is refused with `WAREHOUSE_TOO_NEW`: this code
  could misread it.
A warehouse with tables but no marker was built before versions were recorded: version 1.

To change a table's schema or properties: bump `delta_io.SCHEMA_VERSION`, add a `Migration` that
brings existing tables there, and extend `tests/e2e/test_previous_version.py`'s expectations.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from pyspark.sql import SparkSession

from pipelines.core import delta_io, storage
from pipelines.core.catalog import delta_table_exists
from pipelines.core.config import Config, join_path
from pipelines.core.delta_io import SCHEMA_VERSION
from pipelines.core.errors import PipelineError
from pipelines.core.registry import SCHEMA_VERSION_PROPERTY, Writer, quote, stored_tables
from pipelines.core.tables import AUDIT_BATCH_LEDGER, SILVER_EVENTS

log = logging.getLogger(__name__)

MARKER = "_medallion/warehouse.json"
# Tables present, no marker: built before layout versions were recorded.
UNVERSIONED = 1
CHANGE_DATA_FEED = "delta.enableChangeDataFeed"


@dataclass(frozen=True)
class Migration:
    to_version: int
    description: str
    apply: Callable[[SparkSession, Config], None]


def _stamp_schema_version(spark: SparkSession, config: Config) -> None:
    """Version 2: every table the pipeline's Python writes carries `medallion.schema_version`
    (the registry creates them with it); dbt's tables are rebuilt by dbt."""
    for spec in stored_tables():
        location = spec.location(config)
        if spec.writer != Writer.DBT and delta_table_exists(spark, location):
            spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES "
                      f"('{SCHEMA_VERSION_PROPERTY}' = '{quote(str(2))}')")


def _silver_change_feed(spark: SparkSession, config: Config) -> None:
    """Version 3: silver.events records its change data feed (Gold's incremental builds read
    what changed since the Silver version their last build read); every pipeline table is
    stamped 3. Changes are recorded from this commit on: the first Gold build after it finds no
    ledger row and recomputes in full."""
    for spec in stored_tables():
        location = spec.location(config)
        if spec.writer == Writer.DBT or not delta_table_exists(spark, location):
            continue
        props = {SCHEMA_VERSION_PROPERTY: "3"}
        if spec.qualified_name == SILVER_EVENTS.qualified_name:
            props[CHANGE_DATA_FEED] = SILVER_EVENTS.properties[CHANGE_DATA_FEED]
        assignments = ", ".join(f"'{k}' = '{quote(v)}'" for k, v in props.items())
        spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ({assignments})")


def _add_ledger_columns(version: int) -> Callable[[SparkSession, Config], None]:
    """A step that adds audit.batch_ledger's declared columns it lacks (NULL on the rows written
    before) and stamps every pipeline table `version`."""
    def apply(spark: SparkSession, config: Config) -> None:
        for spec in stored_tables():
            location = spec.location(config)
            if spec.writer == Writer.DBT or not delta_table_exists(spark, location):
                continue
            if spec.qualified_name == AUDIT_BATCH_LEDGER.qualified_name:
                present = {f.name for f in spark.read.format("delta").load(location).schema.fields}
                added = [c for c in spec.columns if c.name not in present]
                if added:  # declared order: the new columns are the last ones
                    spark.sql(f"ALTER TABLE delta.`{location}` ADD COLUMNS ("
                              + ", ".join(c.ddl() for c in added) + ")")
            spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES "
                      f"('{SCHEMA_VERSION_PROPERTY}' = '{quote(str(version))}')")
    return apply


def _personal_data_at_rest(spark: SparkSession, config: Config) -> None:
    """Version 6: silver.events.email_hash_key_id and audit.batch_ledger.properties_keys_dropped
    added (NULL on earlier rows); no min/max statistics on personal-data columns in any table,
    Gold's included, and a checkpoint at once, which holds statistics only for the remaining
    columns (registry.TableSpec.statistics_properties); every pipeline table stamped 6."""
    for spec in stored_tables():
        location = spec.location(config)
        if not delta_table_exists(spark, location):
            continue
        props = spec.statistics_properties()
        if spec.writer != Writer.DBT:
            present = {f.name for f in spark.read.format("delta").load(location).schema.fields}
            added = [c for c in spec.columns if c.name not in present]
            if added:  # declared order: the new columns are the last ones
                spark.sql(f"ALTER TABLE delta.`{location}` ADD COLUMNS ("
                          + ", ".join(c.ddl() for c in added) + ")")
            props[SCHEMA_VERSION_PROPERTY] = "6"
        if props:
            delta_io.set_properties(spark, location, props)
        if spec.personal_columns():
            delta_io.checkpoint(spark, location)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "stamp every pipeline table with medallion.schema_version", _stamp_schema_version),
    Migration(3, "enable the change data feed of silver.events (change-driven Gold builds)",
              _silver_change_feed),
    Migration(4, "add audit.batch_ledger.phase_seconds (seconds per step of each refine batch)",
              _add_ledger_columns(4)),
    Migration(5, "add audit.batch_ledger.max_event_ts and watermark (late = older than the "
                 "stream's watermark)", _add_ledger_columns(5)),
    Migration(6, "personal data at rest: no statistics on personal-data columns (checkpointed), "
                 "add silver.events.email_hash_key_id and audit.batch_ledger.properties_keys_dropped",
              _personal_data_at_rest),
)


def marker_path(config: Config) -> str:
    return join_path(config.warehouse, MARKER)


def warehouse_version(spark: SparkSession, config: Config) -> int | None:
    """The layout version the warehouse is at; None for a warehouse without tables."""
    text = storage.read_text(spark, marker_path(config))
    if text is not None:
        try:
            return int(json.loads(text)["schema_version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PipelineError("WAREHOUSE_MARKER_INVALID", {"path": marker_path(config), "detail": exc}) from exc
    has_tables = any(delta_table_exists(spark, s.location(config)) for s in stored_tables())
    return UNVERSIONED if has_tables else None


def _write_marker(spark: SparkSession, config: Config, version: int) -> None:
    text = json.dumps({"schema_version": version,
                       "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    storage.write_text(spark, marker_path(config), text)


def pending(version: int | None) -> list[Migration]:
    """The steps that bring a warehouse at `version` to SCHEMA_VERSION (none for a new one)."""
    if version is None:
        return []
    return [m for m in MIGRATIONS if m.to_version > version]


def open_warehouse(spark: SparkSession, config: Config, *, dry_run: bool = False) -> list[str]:
    """Check the warehouse's layout version and upgrade it to this code's; returns the steps
    applied (or, with `dry_run`, that would be)."""
    version = check_warehouse(spark, config)
    steps = pending(version)
    done: list[str] = []
    for step in steps:
        label = f"v{step.to_version}: {step.description}"
        done.append(label)
        if dry_run:
            continue
        log.info("upgrading warehouse %s to %s", config.warehouse, label)
        step.apply(spark, config)
        _write_marker(spark, config, step.to_version)
    if not dry_run and version != SCHEMA_VERSION and not steps:
        _write_marker(spark, config, SCHEMA_VERSION)  # a new warehouse
    return done


def check_warehouse(spark: SparkSession, config: Config) -> int | None:
    """For commands that only read: refuse a warehouse newer than this code; change nothing (an
    older layout reads the same)."""
    version = warehouse_version(spark, config)
    if version is not None and version > SCHEMA_VERSION:
        raise PipelineError("WAREHOUSE_TOO_NEW", {
            "warehouse": config.warehouse, "version": version, "supported": SCHEMA_VERSION})
    return version
