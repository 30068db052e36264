"""Personal data at rest (issue 14): kept only where the registry says, never in Delta logs,
statistics, quarantine copies or Silver's properties; the PII key required and never in a plan.

Reads the session's pre-built lakehouse: generated events (emails on signups and purchases, an IP
address and a user agent in session_start properties) through the CLI, so every file a run
leaves under the lakehouse root (tables, Delta logs and checkpoints, stream checkpoints, GX Data
Docs, logs) is looked at.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.core import registry
from pipelines.core.logs import EMAIL
from pipelines.core.pii_key import PiiKey
from pipelines.core.registry import PersonalData

pytestmark = pytest.mark.integration


def _landed(lake) -> list[dict]:
    events = []
    for path in sorted(Path(lake.config.landing).glob("*.json*")):
        for line in path.read_bytes().splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                events.append(doc)
    return events


def _text_of(path: Path) -> bytes:
    """A file's bytes, and for a Parquet file also its decoded values (compression could split a
    value the raw bytes would show)."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        data += json.dumps(table.to_pylist(), default=str, ensure_ascii=False).encode("utf-8")
    return data.lower()


def _files_outside_bronze_data_and_landing(lake) -> list[Path]:
    config = lake.config
    root = Path(config.paths.root)
    bronze = Path(registry.table("bronze.events_raw").location(config))
    landing = Path(config.landing)
    return [p for p in root.rglob("*") if p.is_file() and not p.is_relative_to(landing)
            and not (p.is_relative_to(bronze) and "_delta_log" not in p.parts)]


def test_no_byte_of_an_email_is_kept_outside_bronze_data_and_landing_files(built_lakehouse):
    lake = built_lakehouse.lake
    emails = {e["email"].strip().lower() for e in _landed(lake) if isinstance(e.get("email"), str) and "@" in e["email"]}
    assert len(emails) > 50
    files = _files_outside_bronze_data_and_landing(lake)
    assert any("_delta_log" in p.parts for p in files) and any(p.suffix == ".parquet" for p in files)
    found = {}
    for path in files:
        text = _text_of(path)
        hits = [e for e in emails if e.encode("utf-8") in text]
        if hits:
            found[str(path.relative_to(lake.root))] = len(hits)
    assert not found, f"emails kept in: {found}"


def test_silver_keeps_only_allow_listed_properties_and_counts_what_it_dropped(spark, built_lakehouse):
    from pyspark.sql import functions as F

    lake, config = built_lakehouse.lake, built_lakehouse.lake.config
    ips = {e["properties"]["ip"] for e in _landed(lake) if isinstance(e.get("properties"), dict) and "ip" in e["properties"]}
    assert len(ips) > 20
    silver_root = Path(config.warehouse) / "silver"
    for path in (p for p in silver_root.rglob("*") if p.is_file()):
        text = _text_of(path)
        assert not [ip for ip in ips if ip.encode() in text], path

    allowed = set(yaml.safe_load(Path(config.refine.property_keys).read_text())["keys"])
    events = spark.read.format("delta").load(registry.table("silver.events").location(config))
    kept = [json.loads(r["properties"]) for r in events.select("properties").where("properties is not null").collect()]
    assert kept and all(set(p) <= allowed for p in kept)
    # what was dropped, from the raw lines of the inserted events (Bronze), against the ledger's count
    bronze = spark.read.format("delta").load(registry.table("bronze.events_raw").location(config))
    raws = events.select("_bronze_id").join(bronze.select("_bronze_id", "raw"), "_bronze_id").select("raw").collect()
    dropped = sum(len(set(props) - allowed) if isinstance(props, dict) else 1
                  for props in (json.loads(r["raw"]).get("properties") for r in raws) if props is not None)
    ledger = spark.read.format("delta").load(registry.table("audit.batch_ledger").location(config))
    assert dropped > 0
    assert ledger.agg(F.sum("properties_keys_dropped")).first()[0] == dropped


def test_every_email_hash_names_the_key_that_made_it(spark, built_lakehouse):
    import os

    config = built_lakehouse.lake.config
    events = spark.read.format("delta").load(registry.table("silver.events").location(config))
    ids = {(r["has_hash"], r["email_hash_key_id"]) for r in events.selectExpr(
        "email_hash is not null as has_hash", "email_hash_key_id").distinct().collect()}
    key = PiiKey(os.environ["MEDALLION_PII_KEY"], "test")
    assert ids == {(True, key.key_id), (False, None)}


def test_the_quarantine_keeps_masked_lines_with_their_reasons(spark, built_lakehouse):
    config = built_lakehouse.lake.config
    quarantine = spark.read.format("delta").load(registry.table("silver.events_quarantine").location(config)).collect()
    assert len(quarantine) > 50
    assert all(r["raw_bytes"] is None and r["reasons"] for r in quarantine)
    assert not [r["raw"] for r in quarantine if EMAIL.search(r["raw"])]
    assert any('"email":"<direct>"' in r["raw"] for r in quarantine)
    # enough is left to see why: the event type, the timestamp, the amounts
    assert any('"event_type"' in r["raw"] and '"event_ts"' in r["raw"] for r in quarantine)


def _stats_columns(stats: str | None) -> set[str]:
    if not stats:
        return set()
    parsed = json.loads(stats)
    return set(parsed.get("minValues", {})) | set(parsed.get("maxValues", {}))


def test_no_delta_log_or_checkpoint_holds_statistics_of_a_personal_data_column(built_lakehouse):
    config = built_lakehouse.lake.config
    checked = 0
    for spec in registry.stored_tables():
        log_dir = Path(spec.location(config)) / "_delta_log"
        if not log_dir.is_dir():
            continue
        personal = set(spec.personal_columns(PersonalData.DIRECT, PersonalData.PSEUDONYMOUS))
        for path in sorted(log_dir.glob("*.json")):
            for line in path.read_text().splitlines():
                action = json.loads(line)
                if "add" in action:
                    assert not personal & _stats_columns(action["add"].get("stats")), (spec.qualified_name, path.name)
                    checked += 1
        for path in sorted(log_dir.glob("*.checkpoint*.parquet")):
            for row in pq.read_table(path, columns=["add"]).to_pylist():
                add = row["add"]
                if add:
                    assert not personal & _stats_columns(add.get("stats")), (spec.qualified_name, path.name)
                    parsed = add.get("stats_parsed") or {}
                    assert not personal & (set(parsed.get("minValues") or {}) | set(parsed.get("maxValues") or {}))
    assert checked > 10


def test_without_the_key_and_without_mode_dev_a_run_stops_before_reading_anything(tmp_path, monkeypatch, capsys):
    from tests.conftest import Lakehouse

    lake = Lakehouse.create(tmp_path)  # mode: prod, the default
    assert lake.medallion("generate", "--events", "50", "--seed", "3", "--files", "1") == 0
    monkeypatch.delenv("MEDALLION_PII_KEY")
    capsys.readouterr()
    assert lake.medallion("run", "--once") == 2
    err = capsys.readouterr().err
    assert "[PII_KEY_MISSING]" in err and str(lake.config_file) in err and "Traceback" not in err
    config = lake.config
    assert not Path(config.warehouse).exists() and not Path(config.paths.checkpoints).exists()
    assert len(list(Path(config.landing).iterdir())) == 1  # the landed file, untouched


def test_gold_deletes_a_vanished_customer_without_writing_the_id_into_the_delta_log(spark, built_lakehouse, tmp_path):
    """A user id whose purchases left Silver (what an erasure does) is deleted from
    gold.fct_customer_ltv by the incremental MERGE through tombstone rows, never as a literal of
    its predicates, which the Delta log keeps."""
    lake = built_lakehouse.lake.copy(tmp_path / "copy")
    config = lake.config
    ltv_path = registry.table("gold.fct_customer_ltv").location(config)
    silver_path = registry.table("silver.events").location(config)
    user = sorted(r["user_id"] for r in spark.read.format("delta").load(ltv_path).select("user_id").collect())[0]
    spark.sql(f"DELETE FROM delta.`{silver_path}` WHERE event_type = 'purchase' AND user_id = '{user}'")
    before = {p.name for p in Path(ltv_path, "_delta_log").glob("*.json")}
    assert lake.medallion("build", "--select", "+fct_customer_ltv", "--indirect-selection", "empty") == 0

    ltv = spark.read.format("delta").load(ltv_path)
    assert ltv.where(f"user_id = '{user}'").count() == 0 and ltv.count() > 0
    # the last commit that wrote rows (a merged mart is then stamped with table properties)
    merge = [h for h in spark.sql(f"DESCRIBE HISTORY delta.`{ltv_path}`").orderBy("version").collect()
             if h["operation"] not in ("SET TBLPROPERTIES", "CHANGE COLUMNS")][-1]
    assert merge["operation"] == "MERGE" and int(merge["operationMetrics"]["numTargetRowsDeleted"]) >= 1
    written = [p for p in Path(ltv_path, "_delta_log").glob("*.json") if p.name not in before]
    assert written and not [p.name for p in written if user.encode() in p.read_bytes()]
