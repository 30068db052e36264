"""The tables the pipeline's own Python writes, as registry specs, from `tables.yaml`.

The YAML beside this module declares Bronze, Silver, quarantine, duplicates and the audit tables
(including the Gold build ledger, which dbt writes; see `pipelines.core.registry` for what a spec
holds); this module reads it once and names each
spec, so the layers refer to `SILVER_EVENTS` and never restate a column list. Gold specs come from
the dbt project (`registry.gold_tables`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from pipelines.core.canonical import all_channels, event_types
from pipelines.core.contract import CONTRACT_VERSION
from pipelines.core.errors import PipelineError
from pipelines.core.registry import ColumnSpec, PersonalData, TableSpec, Writer

DECLARATIONS = Path(__file__).with_name("tables.yaml")
_COLUMN_KEYS = {"name", "type", "nullable", "comment", "personal_data", "lineage"}
_TABLE_KEYS = {"writer", "comment", "partitioned_by", "properties", "stats_columns", "checks", "columns",
               "analysts"}


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _fill(text: str) -> str:
    """Canonical values and the contract version into a check or property."""
    return (text.replace("{event_types}", _quoted(event_types()))
            .replace("{channels}", _quoted(all_channels()))
            .replace("{contract_version}", CONTRACT_VERSION))


def _invalid(detail: str) -> PipelineError:
    return PipelineError("REGISTRY_INVALID", {"detail": f"{DECLARATIONS.name}: {detail}"})


def _column(table: str, entry: Mapping[str, Any]) -> ColumnSpec:
    unknown = set(entry) - _COLUMN_KEYS
    if unknown or not {"name", "type"} <= set(entry):
        raise _invalid(f"{table}: column {entry.get('name')}: needs name and type, unknown keys {sorted(unknown)}")
    return ColumnSpec(name=entry["name"], type=str(entry["type"]), nullable=bool(entry.get("nullable", True)),
                      comment=str(entry.get("comment", "")),
                      personal_data=PersonalData(entry.get("personal_data", "none")),
                      lineage=bool(entry.get("lineage", False)))


def _table(qualified_name: str, entry: Mapping[str, Any]) -> TableSpec:
    unknown = set(entry) - _TABLE_KEYS
    if unknown:
        raise _invalid(f"{qualified_name}: unknown keys {sorted(unknown)}")
    schema, name = qualified_name.split(".")
    columns = tuple(_column(qualified_name, c) for c in entry["columns"])
    names = {c.name for c in columns}
    referenced = set(entry.get("partitioned_by", ())) | set(entry.get("stats_columns") or ())
    if len(names) != len(columns) or not referenced <= names:
        raise _invalid(f"{qualified_name}: duplicate columns, or partition/stats columns it lacks")
    stats = entry.get("stats_columns")
    personal = {c.name for c in columns if c.personal_data != PersonalData.NONE}
    if personal & set(stats or ()):
        raise _invalid(f"{qualified_name}: statistics on personal-data columns {sorted(personal & set(stats))} "
                       "(they would sit in the Delta log)")
    return TableSpec(
        schema=schema, name=name, writer=Writer(entry["writer"]), comment=str(entry["comment"]),
        columns=columns, partitioned_by=tuple(entry.get("partitioned_by", ())),
        checks={k: _fill(v) for k, v in (entry.get("checks") or {}).items()},
        properties={k: _fill(str(v)) for k, v in (entry.get("properties") or {}).items()},
        stats_columns=tuple(stats) if stats is not None else None,
        analysts=bool(entry.get("analysts", False)),
    )


def load_declarations(path: Path = DECLARATIONS) -> dict[str, TableSpec]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: _table(name, entry) for name, entry in data.items()}


_SPECS = load_declarations()

BRONZE_EVENTS_RAW = _SPECS["bronze.events_raw"]
SILVER_EVENTS = _SPECS["silver.events"]
SILVER_EVENTS_QUARANTINE = _SPECS["silver.events_quarantine"]
SILVER_EVENTS_DUPLICATES = _SPECS["silver.events_duplicates"]
AUDIT_QUALITY_RESULTS = _SPECS["audit.quality_results"]
AUDIT_BATCH_LEDGER = _SPECS["audit.batch_ledger"]

SILVER_TABLES: tuple[TableSpec, ...] = (
    SILVER_EVENTS, SILVER_EVENTS_QUARANTINE, SILVER_EVENTS_DUPLICATES, AUDIT_QUALITY_RESULTS,
    AUDIT_BATCH_LEDGER,
)
# The build ledger: declared here (an audit table), written by dbt's hooks.
AUDIT_GOLD_BUILDS = _SPECS["audit.gold_builds"]
AUDIT_ERASURE_LOG = _SPECS["audit.erasure_log"]
AUDIT_SQL_ACCESS_LOG = _SPECS["audit.sql_access_log"]

# Every table this file declares; PIPELINE_TABLES are those the pipeline's Python creates and writes.
DECLARED_TABLES: tuple[TableSpec, ...] = tuple(_SPECS.values())
PIPELINE_TABLES: tuple[TableSpec, ...] = tuple(s for s in DECLARED_TABLES if s.writer != Writer.DBT)

# Money types of Silver (standardization casts to them), read from the table they land in.
AMOUNT_TYPE = SILVER_EVENTS.column("revenue").type
FX_TYPE = SILVER_EVENTS.column("fx_rate_usd").type
