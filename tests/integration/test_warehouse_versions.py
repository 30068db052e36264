"""Warehouse layout versions: new warehouses are stamped, older ones upgraded in place (at start
or by `medallion migrate`), newer ones refused. The upgrade of a warehouse really built by the
previous release is in tests/e2e/test_previous_version.py."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.core import delta_io, storage
from pipelines.core.delta_io import SCHEMA_VERSION
from pipelines.core.errors import PipelineError
from pipelines.core.migrations import (
    CHANGE_DATA_FEED, check_warehouse, marker_path, open_warehouse, warehouse_version,
)
from pipelines.core.registry import SCHEMA_VERSION_PROPERTY
from pipelines.core.tables import AUDIT_BATCH_LEDGER, PIPELINE_TABLES, SILVER_EVENTS
from silver.batch_ledger import LedgerEntry, to_ledger_rows
from tests.integration.test_cli import write_config

pytestmark = pytest.mark.integration


def _properties(spark, config, spec) -> dict[str, str]:
    rows = spark.sql(f"SHOW TBLPROPERTIES delta.`{spec.location(config)}`").collect()
    return {r["key"]: r["value"] for r in rows}


def _unversioned_warehouse(spark, config) -> None:
    """Tables as medallion built them before layout versions were recorded: no marker, no
    `medallion.schema_version` property, no change data feed on silver.events."""
    for spec in PIPELINE_TABLES:
        delta_io.create_table(spark, config, spec)
        spark.sql(f"ALTER TABLE delta.`{spec.location(config)}` UNSET TBLPROPERTIES IF EXISTS "
                  f"('{SCHEMA_VERSION_PROPERTY}', '{CHANGE_DATA_FEED}')")


def _version_2_warehouse(spark, config) -> None:
    """Tables as layout version 2 left them: stamped 2, silver.events without a change data feed."""
    for spec in PIPELINE_TABLES:
        delta_io.create_table(spark, config, spec)
        spark.sql(f"ALTER TABLE delta.`{spec.location(config)}` SET TBLPROPERTIES ('{SCHEMA_VERSION_PROPERTY}' = '2')")
    spark.sql(f"ALTER TABLE delta.`{SILVER_EVENTS.location(config)}` UNSET TBLPROPERTIES ('{CHANGE_DATA_FEED}')")
    storage.write_text(spark, marker_path(config), json.dumps({"schema_version": 2}))


def test_a_new_warehouse_is_stamped_with_the_current_version(spark, lake):
    assert warehouse_version(spark, lake) is None
    assert open_warehouse(spark, lake) == []
    assert warehouse_version(spark, lake) == SCHEMA_VERSION
    assert json.loads(storage.read_text(spark, marker_path(lake)))["schema_version"] == SCHEMA_VERSION


def test_an_unversioned_warehouse_is_upgraded_in_place_and_a_dry_run_changes_nothing(spark, lake):
    _unversioned_warehouse(spark, lake)
    assert warehouse_version(spark, lake) == 1

    planned = open_warehouse(spark, lake, dry_run=True)
    assert planned and warehouse_version(spark, lake) == 1
    assert SCHEMA_VERSION_PROPERTY not in _properties(spark, lake, PIPELINE_TABLES[0])

    assert open_warehouse(spark, lake) == planned
    assert warehouse_version(spark, lake) == SCHEMA_VERSION
    for spec in PIPELINE_TABLES:
        assert _properties(spark, lake, spec)[SCHEMA_VERSION_PROPERTY] == str(SCHEMA_VERSION), spec.qualified_name
    assert _properties(spark, lake, SILVER_EVENTS)[CHANGE_DATA_FEED] == "true"
    assert open_warehouse(spark, lake) == []  # nothing left to do


def test_a_version_2_warehouse_is_upgraded_to_record_the_silver_change_data_feed(spark, lake):
    _version_2_warehouse(spark, lake)
    assert CHANGE_DATA_FEED not in _properties(spark, lake, SILVER_EVENTS)
    assert [step.split(":")[0] for step in open_warehouse(spark, lake)] == ["v3", "v4", "v5", "v6"]
    assert warehouse_version(spark, lake) == SCHEMA_VERSION
    assert _properties(spark, lake, SILVER_EVENTS)[CHANGE_DATA_FEED] == "true"
    for spec in PIPELINE_TABLES:
        assert _properties(spark, lake, spec)[SCHEMA_VERSION_PROPERTY] == str(SCHEMA_VERSION), spec.qualified_name


# Layout version -> the audit.batch_ledger columns it did not have yet (added by later versions).
LEDGER_COLUMNS_ADDED_AFTER = {3: ("phase_seconds", "max_event_ts", "watermark", "properties_keys_dropped"),
                             4: ("max_event_ts", "watermark", "properties_keys_dropped"),
                             5: ("properties_keys_dropped",)}


@pytest.mark.parametrize("version", sorted(LEDGER_COLUMNS_ADDED_AFTER))
def test_an_older_batch_ledger_gains_the_new_columns_and_keeps_its_rows(spark, lake, version):
    """Version 4 adds `phase_seconds`, 5 `max_event_ts` and `watermark`, 6 `properties_keys_dropped`: the old rows stay (NULL
    there), new rows carry them, and the table's columns end up as the registry declares them."""
    missing = LEDGER_COLUMNS_ADDED_AFTER[version]
    old_columns = tuple(c for c in AUDIT_BATCH_LEDGER.columns if c.name not in missing)
    for spec in PIPELINE_TABLES:
        spec = dataclasses.replace(spec, columns=old_columns) if spec == AUDIT_BATCH_LEDGER else spec
        delta_io.create_table(spark, lake, spec)
        spark.sql(f"ALTER TABLE delta.`{spec.location(lake)}` SET TBLPROPERTIES "
                  f"('{SCHEMA_VERSION_PROPERTY}' = '{version}')")
    storage.write_text(spark, marker_path(lake), json.dumps({"schema_version": version}))
    location = AUDIT_BATCH_LEDGER.location(lake)
    old_row = LedgerEntry(txn_app_id="app", batch_id=0, run_id="r", gate_run_id="g", suite="s", suite_digest="d",
                          rows_read=1, rows_inserted=1, rows_quarantined=0, rows_duplicate=0,
                          rows_duplicate_conflicting=0, rows_late=0, gx_seconds=0.1, batch_seconds=0.2,
                          processed_at=datetime(2026, 11, 1, tzinfo=timezone.utc))
    old_values = {**dataclasses.asdict(old_row), "max_event_ts": None, "watermark": None}
    spark.createDataFrame([tuple(old_values[c.name] for c in old_columns)],
                          ", ".join(f"{c.name} {c.type}" for c in old_columns)).write.format("delta").mode(
        "append").save(location)

    steps = [step.split(":")[0] for step in open_warehouse(spark, lake)]
    assert steps == [f"v{v}" for v in range(version + 1, SCHEMA_VERSION + 1)]
    table = spark.read.format("delta").load(location)
    assert table.columns == list(AUDIT_BATCH_LEDGER.column_names)
    assert [tuple(r[c] for c in missing) for r in table.collect()] == [(None,) * len(missing)]
    event_us = int(datetime(2026, 10, 2, tzinfo=timezone.utc).timestamp()) * 1_000_000
    new_row = dataclasses.replace(old_row, batch_id=1, phase_seconds={"gx": 0.5, "writes": 1.25},
                                  max_event_us=event_us, watermark_us=event_us - 3600 * 1_000_000)
    to_ledger_rows(spark, new_row).write.format("delta").mode("append").save(location)
    written = {r["batch_id"]: (r["phase_seconds"], r["max_event_us"], r["watermark_us"])
               for r in spark.read.format("delta").load(location).selectExpr(
                   "batch_id", "phase_seconds", "unix_micros(max_event_ts) as max_event_us",
                   "unix_micros(watermark) as watermark_us").collect()}
    assert written[1] == ({"gx": 0.5, "writes": 1.25}, event_us, event_us - 3600 * 1_000_000)
    assert written[0][1:] == (None, None)
    for spec in PIPELINE_TABLES:
        assert _properties(spark, lake, spec)[SCHEMA_VERSION_PROPERTY] == str(SCHEMA_VERSION), spec.qualified_name


def test_a_version_5_warehouse_loses_its_statistics_on_personal_data_in_the_upgrades_checkpoint(spark, lake):
    """Layout 5 kept min/max statistics of silver.events.user_id and of the quarantine's raw lines
    in the Delta log; version 6 drops them from the configuration and checkpoints at once, so the
    latest checkpoint holds none; the new column is added (NULL on the old row)."""
    import pyarrow.parquet as pq

    from pipelines.core.tables import SILVER_EVENTS_QUARANTINE

    old_events = dataclasses.replace(
        SILVER_EVENTS, columns=tuple(c for c in SILVER_EVENTS.columns if c.name != "email_hash_key_id"),
        stats_columns=(*SILVER_EVENTS.stats_columns, "user_id"))
    old_quarantine = dataclasses.replace(SILVER_EVENTS_QUARANTINE, properties={})  # Delta's default: first 32
    for spec in PIPELINE_TABLES:
        spec = {SILVER_EVENTS.qualified_name: old_events,
                SILVER_EVENTS_QUARANTINE.qualified_name: old_quarantine}.get(spec.qualified_name, spec)
        if spec is old_quarantine:
            columns = ", ".join(c.ddl() for c in spec.columns)
            spark.sql(f"CREATE TABLE delta.`{spec.location(lake)}` ({columns}) USING delta")
        else:
            delta_io.create_table(spark, lake, spec)
            spark.sql(f"ALTER TABLE delta.`{spec.location(lake)}` UNSET TBLPROPERTIES IF EXISTS "
                      "('delta.checkpoint.writeStatsAsJson', 'delta.checkpoint.writeStatsAsStruct')")
            if spec is old_events:
                spark.sql(f"ALTER TABLE delta.`{spec.location(lake)}` SET TBLPROPERTIES "
                          f"('delta.dataSkippingStatsColumns' = '{','.join(spec.stats_columns)}')")
    storage.write_text(spark, marker_path(lake), json.dumps({"schema_version": 5}))
    spark.sql(f"INSERT INTO delta.`{old_events.location(lake)}` (event_id, event_type, event_ts, event_date, user_id, "
              "is_late, _bronze_id, _ingested_at, _silver_batch_id, _processed_at, _gate_run_id) VALUES ('e-1', "
              "'click', timestamp'2026-10-01 10:00:00', date'2026-10-01', 'u-secret-001', false, 'b-1', "
              "timestamp'2026-10-01 10:00:00', 0, timestamp'2026-10-01 10:00:00', 'g')")
    spark.sql(f"INSERT INTO delta.`{old_quarantine.location(lake)}` (raw, reasons, _bronze_id, _source, _ingested_at, "
              "_silver_batch_id, _processed_at, _gate_run_id) VALUES ('{\"email\": \"jane@example.org\"}', "
              "array('malformed_json'), 'b-2', 'f', timestamp'2026-10-01 10:00:00', 0, timestamp'2026-10-01 10:00:00', 'g')")

    def stats_of(spec) -> str:
        log_dir = Path(spec.location(lake), "_delta_log")
        texts = [p.read_text() for p in log_dir.glob("*.json")]
        return "".join(texts)

    assert "u-secret-001" in stats_of(old_events) and "jane@example.org" in stats_of(old_quarantine)
    assert [step.split(":")[0] for step in open_warehouse(spark, lake)] == ["v6"]
    for spec, secret in ((SILVER_EVENTS, "u-secret-001"), (SILVER_EVENTS_QUARANTINE, "jane@example")):
        props = _properties(spark, lake, spec)
        assert props["delta.dataSkippingStatsColumns"] == ",".join(spec.statistics_columns())
        checkpoints = sorted(Path(spec.location(lake), "_delta_log").glob("*.checkpoint.parquet"))
        assert checkpoints, spec.qualified_name
        latest = pq.read_table(checkpoints[-1])
        assert secret.encode() not in checkpoints[-1].read_bytes()
        assert secret not in json.dumps(latest.to_pylist(), default=str)
    assert spark.read.format("delta").load(SILVER_EVENTS.location(lake)).first()["email_hash_key_id"] is None


def test_medallion_migrate_reports_and_applies_the_steps(spark, tmp_path: Path, capsys):
    cfg = write_config(tmp_path)
    from pipelines.core.config import load_config

    config = load_config(str(cfg))
    _unversioned_warehouse(spark, config)
    assert main(["--config", str(cfg), "migrate", "--dry-run"]) == 0
    assert "would apply v2" in capsys.readouterr().out
    assert warehouse_version(spark, config) == 1
    assert main(["--config", str(cfg), "migrate"]) == 0
    assert "applied v2" in capsys.readouterr().out
    assert warehouse_version(spark, config) == SCHEMA_VERSION


def test_a_warehouse_written_by_a_newer_medallion_is_refused(spark, tmp_path: Path, capsys):
    cfg = write_config(tmp_path)
    from pipelines.core.config import load_config

    config = load_config(str(cfg))
    storage.write_text(spark, marker_path(config), json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    for check in (open_warehouse, check_warehouse):
        with pytest.raises(PipelineError) as err:
            check(spark, config)
        assert err.value.code == "WAREHOUSE_TOO_NEW"
    assert main(["--config", str(cfg), "run", "--once"]) == 2
    err_text = capsys.readouterr().err
    assert "[WAREHOUSE_TOO_NEW]" in err_text and "Traceback" not in err_text
    assert main(["--config", str(cfg), "sql", "select 1"]) == 2
