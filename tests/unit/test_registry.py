"""The table registry: one description of every table, with lineage and personal-data columns."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core import registry
from pipelines.core.config import config_from_dict
from pipelines.core.errors import PipelineError
from pipelines.core.registry import PersonalData, Writer
from pipelines.core.tables import DECLARATIONS, load_declarations

# DESIGN.md "Lineage columns (carried from the start)".
REQUIRED_LINEAGE = {
    "bronze.events_raw": {"_bronze_id", "_source", "_ingested_at", "_ingest_batch_id"},
    "silver.events": {"_bronze_id", "_silver_batch_id", "_processed_at", "_gate_run_id"},
    "silver.events_quarantine": {"_bronze_id", "_silver_batch_id", "_processed_at", "_gate_run_id"},
}


def test_every_table_the_product_owns_is_listed_once_with_its_layer_and_writer():
    names = [t.qualified_name for t in registry.all_tables()]
    assert len(names) == len(set(names))
    assert {"bronze.events_raw", "silver.events", "silver.events_quarantine", "silver.events_duplicates",
            "audit.batch_ledger", "audit.quality_results", "gold.fct_campaign_performance_daily",
            "gold.fct_channel_cac_monthly", "gold.fct_customer_ltv", "gold.dim_campaigns",
            "gold.dim_channels", "gold_intermediate.int_purchases__attributed"} <= set(names)
    assert {t.writer for t in registry.all_tables() if t.schema.startswith("gold")} == {Writer.DBT}
    assert registry.schemas(Writer.DBT) and "bronze" not in registry.schemas(Writer.DBT)


def test_a_table_lives_at_warehouse_schema_name():
    config = config_from_dict({"paths": {"warehouse": "s3a://lake/wh"}})
    assert registry.table("silver.events").location(config) == "s3a://lake/wh/silver/events"


def test_design_lineage_columns_are_marked_as_lineage():
    for name, required in REQUIRED_LINEAGE.items():
        assert required <= set(registry.table(name).lineage_columns), name


def test_personal_data_is_classified_wherever_it_is_kept():
    for spec in registry.all_tables():
        for column in spec.columns:
            if column.name in ("raw", "raw_bytes", "email"):
                assert column.personal_data == PersonalData.DIRECT, f"{spec.qualified_name}.{column.name}"
            if column.name in ("user_id", "email_hash"):
                assert column.personal_data == PersonalData.PSEUDONYMOUS, f"{spec.qualified_name}.{column.name}"
    assert "email" not in registry.table("silver.events").column_names  # only its keyed hash


def test_gold_columns_carry_the_types_of_their_dbt_contracts():
    ltv = registry.table("gold.fct_customer_ltv")
    assert ltv.column("user_id").personal_data == PersonalData.PSEUDONYMOUS
    assert all(c.type for c in ltv.columns)


def test_an_unknown_table_name_is_a_clear_error():
    with pytest.raises(PipelineError) as err:
        registry.table("silver.nope")
    assert err.value.code == "TABLE_NOT_IN_REGISTRY"


@pytest.mark.parametrize("edit", [
    lambda text: text.replace("  writer: silver\n", "  writer: silver\n  owner: me\n", 1),
    lambda text: text.replace("{name: raw_bytes, type: BINARY,", "{name: raw_bytes, typo: BINARY,", 1),
    lambda text: text.replace("partitioned_by: [event_date]", "partitioned_by: [event_day]", 1),
    # statistics on a personal-data column would put its values in the Delta log
    lambda text: text.replace("stats_columns: [event_id, event_type,", "stats_columns: [user_id, event_id, event_type,", 1),
])
def test_a_broken_declaration_is_refused_naming_the_file(tmp_path: Path, edit):
    broken = tmp_path / "tables.yaml"
    broken.write_text(edit(DECLARATIONS.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(PipelineError) as err:
        load_declarations(broken)
    assert err.value.code == "REGISTRY_INVALID" and "tables.yaml" in err.value.params["detail"]


def test_table_properties_carry_constraints_statistics_and_the_layout_version():
    props = registry.table("silver.events").table_properties(schema_version=7)
    assert props["medallion.layer"] == "silver"
    assert props["medallion.schema_version"] == "7"
    assert props["delta.constraints.event_type_known"].startswith("event_type IN ('impression'")
    assert "properties" not in props["delta.dataSkippingStatsColumns"].split(",")


def test_no_table_keeps_statistics_on_personal_data_and_checkpoints_keep_only_the_others():
    for spec in registry.stored_tables():
        personal = set(spec.personal_columns())
        columns = spec.statistics_columns()
        if not personal:
            assert columns is None or spec.stats_columns is not None, spec.qualified_name
            continue
        assert columns and not personal & set(columns), spec.qualified_name
        props = spec.table_properties(schema_version=6)
        assert props["delta.dataSkippingStatsColumns"].split(",") == list(columns)
        assert props["delta.checkpoint.writeStatsAsJson"] == "false", spec.qualified_name
        assert not {c.name for c in spec.columns if c.type.startswith(("ARRAY", "MAP", "BINARY", "BOOLEAN"))} & set(columns)


def test_dbt_creates_gold_tables_with_the_registry_statistics_properties():
    """dbt's `tblproperties` of a Gold model holding personal data are what the registry derives
    (dbt applies them at every create and full refresh; the migration to the existing tables)."""
    import yaml

    from pipelines.core.config import DBT_PROJECT_DIR

    configured = {}
    for path in DBT_PROJECT_DIR.glob("models/*/*.yml"):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models") or []:
            configured[model["name"]] = ((model.get("config") or {}).get("tblproperties") or {})
    gold = [s for s in registry.stored_tables() if s.writer == Writer.DBT and s.personal_columns()
            and s.name in configured]
    assert {s.name for s in gold} >= {"fct_customer_ltv", "int_purchases__attributed"}
    for spec in gold:
        assert configured[spec.name] == spec.statistics_properties(), spec.qualified_name


def test_medallion_tables_lists_locations_lineage_and_personal_data_without_spark(tmp_path, capsys):
    from pipelines.cli import main

    cfg = tmp_path / "medallion.yaml"
    cfg.write_text("paths: {warehouse: s3a://lake/wh}\n", encoding="utf-8")
    assert main(["--config", str(cfg), "tables"]) == 0
    lines = {line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")]
             for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert lines["bronze.events_raw"][3] == "s3a://lake/wh/bronze/events_raw"
    assert lines["silver.events"][5] == "user_id, email_hash, properties"
    assert "_gate_run_id" in lines["silver.events_quarantine"][4]
    assert lines["gold.fct_customer_ltv"][2] == "dbt"
    assert lines["audit.gold_builds"][2:4] == ["dbt", "s3a://lake/wh/audit/gold_builds"]  # the build ledger
