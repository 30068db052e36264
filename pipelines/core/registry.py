"""The table registry: the one description of every table the product owns.

A `TableSpec` says where a table lives (`<warehouse>/<schema>/<name>`, layer = folder = schema),
which package writes it (`bronze`, `silver`, or `dbt` for Gold), its columns (type, nullability,
comment, whether it is a lineage column, and its personal-data class), partitioning, table
properties and CHECK constraints. Creating tables (`pipelines.core.delta_io`), registering them in
the catalog (`pipelines.core.catalog`), `medallion show`, and later lineage tracing, erasure and
serving permissions read it; no other module restates a column list.

Bronze, Silver and audit tables are declared in `pipelines.core.tables`; Gold tables (marts,
intermediate models, seeds) are read from the dbt project's YAML, where their contracts live,
so the two can't drift (a test compares the registry with the tables dbt builds).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator, Mapping

import yaml

from pipelines.core.config import DBT_PROJECT_DIR, Config, join_path
from pipelines.core.errors import PipelineError

# Table property every table created from the registry carries: the warehouse layout version it
# was created or last migrated at (see pipelines.core.migrations).
SCHEMA_VERSION_PROPERTY = "medallion.schema_version"
# Column types Delta keeps min/max statistics for (it refuses others, e.g. BOOLEAN, BINARY, ARRAY,
# in dataSkippingStatsColumns).
STATISTICS_TYPES = ("STRING", "BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "DECIMAL",
                    "DATE", "TIMESTAMP")
# Checkpoints of tables holding personal data: statistics as a typed struct of the configured
# statistics columns only, not the JSON string copied from each file's commit.
PRIVATE_CHECKPOINT_PROPERTIES = {"delta.checkpoint.writeStatsAsJson": "false",
                                 "delta.checkpoint.writeStatsAsStruct": "true"}


class PersonalData(str, enum.Enum):
    """How much a column says about a person (drives masking, erasure and serving grants)."""

    DIRECT = "direct"  # identifies a person on its own: emails, raw lines
    PSEUDONYMOUS = "pseudonymous"  # identifies a person with other data: user ids, email hashes
    NONE = "none"


class Writer(str, enum.Enum):
    """The only package that writes a table (DESIGN.md: each layer owns its tables)."""

    BRONZE = "bronze"
    SILVER = "silver"
    DBT = "dbt"
    # `medallion erase`: its own log, and the one audited rewrite of the other layers' rows
    ERASURE = "erasure"
    # `medallion serve`: the SQL endpoint's access log
    SERVING = "serving"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str  # Spark SQL type, e.g. STRING, DECIMAL(18,4), ARRAY<STRING>
    nullable: bool = True
    comment: str = ""
    personal_data: PersonalData = PersonalData.NONE
    lineage: bool = False  # ties a row to the rows/runs it came from (DESIGN.md "Lineage columns")

    def ddl(self) -> str:
        return (f"{self.name} {self.type}{'' if self.nullable else ' NOT NULL'} "
                f"COMMENT '{quote(self.comment)}'")


@dataclass(frozen=True)
class TableSpec:
    schema: str
    name: str
    writer: Writer
    comment: str
    columns: tuple[ColumnSpec, ...]
    partitioned_by: tuple[str, ...] = ()
    checks: Mapping[str, str] = field(default_factory=dict)  # name -> SQL boolean expression
    properties: Mapping[str, str] = field(default_factory=dict)
    # Columns Delta keeps min/max statistics for, as declared (None: see statistics_columns).
    stats_columns: tuple[str, ...] | None = None
    kind: str = "table"  # or "view" (dbt staging models: no storage of their own)
    # `medallion serve`: analysts may query it (never its `direct` columns). Gold: yes; the
    # Python-written tables say so in tables.yaml (`analysts: true`), Bronze and quarantine never.
    analysts: bool = False

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def location(self, config: Config) -> str:
        return join_path(config.warehouse, self.schema, self.name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.qualified_name} has no column {name}")

    @property
    def lineage_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.lineage)

    def personal_columns(self, *classes: PersonalData) -> tuple[str, ...]:
        """Columns holding personal data (of the given classes; any class but NONE by default)."""
        wanted = set(classes) or {PersonalData.DIRECT, PersonalData.PSEUDONYMOUS}
        return tuple(c.name for c in self.columns if c.personal_data in wanted)

    def statistics_columns(self) -> tuple[str, ...] | None:
        """The columns Delta keeps min/max statistics for (`delta.dataSkippingStatsColumns`).

        Statistics are stored in the Delta log, which is hard to rewrite, so never a personal-data
        column: the declared ones (the registry refuses a personal one), else, for a table holding
        personal data, every other column of a type Delta has statistics for; None (Delta's
        default, the first 32 columns) for a table without personal data."""
        if self.stats_columns is not None:
            return self.stats_columns
        if not self.personal_columns():
            return None
        return tuple(c.name for c in self.columns
                     if c.personal_data == PersonalData.NONE and c.type.upper().startswith(STATISTICS_TYPES))

    def struct_ddl(self) -> str:
        """`name TYPE, ...`: the schema string for `spark.createDataFrame` of this table's rows."""
        return ", ".join(f"{c.name} {c.type}" for c in self.columns)

    def table_properties(self, schema_version: int) -> dict[str, str]:
        """Every TBLPROPERTY of the table as created: declared properties, statistics columns,
        CHECK constraints (`delta.constraints.<name>`, one commit with the CREATE) and the layout
        version."""
        props = {"medallion.layer": self.schema, **self.properties, **self.statistics_properties()}
        props.update({f"delta.constraints.{name.lower()}": expr for name, expr in self.checks.items()})
        props[SCHEMA_VERSION_PROPERTY] = str(schema_version)
        return props


    def statistics_properties(self) -> dict[str, str]:
        """`delta.dataSkippingStatsColumns` (see statistics_columns) and, for a table holding
        personal data, checkpoints that keep statistics only as a struct of those columns: the
        checkpoint after the property changes drops the statistics older files had on other
        columns (their JSON copies go with the log retention)."""
        columns = self.statistics_columns()
        if columns is None:
            return {}
        props = {"delta.dataSkippingStatsColumns": ",".join(columns)}
        if self.personal_columns():
            props.update(PRIVATE_CHECKPOINT_PROPERTIES)
        return props


def quote(text: str) -> str:
    """A SQL string literal's body."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


# ----------------------------------------------------------------------------- Gold, from dbt

def _dbt_folder_configs() -> dict[str, dict[str, Any]]:
    """`models: medallion: <folder>: {+schema, +materialized}` and `seeds: medallion: ...`."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    name = project["name"]
    folders = {f"models/{k}": v for k, v in (project.get("models", {}).get(name) or {}).items()
               if isinstance(v, dict)}
    folders["seeds"] = (project.get("seeds", {}) or {}).get(name) or {}
    return folders


def _gold_column(entry: Mapping[str, Any], where: str) -> ColumnSpec:
    if not entry.get("data_type"):
        raise PipelineError("REGISTRY_INVALID", {"detail": f"{where}: column {entry.get('name')} has no data_type"})
    tests = [t if isinstance(t, str) else next(iter(t)) for t in entry.get("data_tests") or entry.get("tests") or []]
    constraints = [c.get("type") for c in entry.get("constraints") or []]
    meta = {**(entry.get("meta") or {}), **((entry.get("config") or {}).get("meta") or {})}
    return ColumnSpec(
        name=str(entry["name"]), type=str(entry["data_type"]).upper(),
        nullable="not_null" not in tests and "not_null" not in constraints,
        comment=" ".join(str(entry.get("description") or "").split()),
        personal_data=PersonalData(meta.get("personal_data", PersonalData.NONE.value)),
        lineage=bool(meta.get("lineage", False)),
    )


@lru_cache(maxsize=None)
def gold_tables() -> tuple[TableSpec, ...]:
    """Every relation the dbt project builds, from its YAML (models with their folder's schema and
    materialization; seeds)."""
    specs: list[TableSpec] = []
    for folder, settings in sorted(_dbt_folder_configs().items()):
        schema = settings.get("+schema")
        kind = "view" if settings.get("+materialized") == "view" else "table"
        for path in sorted((DBT_PROJECT_DIR / folder).glob("*.yml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for entry in doc.get("models" if folder.startswith("models") else "seeds") or []:
                where = f"{path.relative_to(DBT_PROJECT_DIR)}: {entry['name']}"
                if not schema:
                    raise PipelineError("REGISTRY_INVALID", {"detail": f"{where}: folder {folder} has no +schema"})
                specs.append(TableSpec(
                    schema=schema, name=entry["name"], writer=Writer.DBT, kind=kind, analysts=True,
                    comment=" ".join(str(entry.get("description") or "").split()),
                    columns=tuple(_gold_column(c, where) for c in entry.get("columns") or []),
                ))
    return tuple(specs)


# ----------------------------------------------------------------------------------- lookup

def all_tables() -> tuple[TableSpec, ...]:
    """Every table (and dbt view) the product owns, Bronze first, Gold last."""
    from pipelines.core import tables

    return (*tables.DECLARED_TABLES, *gold_tables())


def stored_tables() -> Iterator[TableSpec]:
    """The registry entries that are Delta tables in the warehouse (not views)."""
    return (t for t in all_tables() if t.kind == "table")


def table(qualified_name: str) -> TableSpec:
    for spec in all_tables():
        if spec.qualified_name == qualified_name:
            return spec
    raise PipelineError("TABLE_NOT_IN_REGISTRY", {"table": qualified_name})


def schemas(writer: Writer | None = None) -> tuple[str, ...]:
    """The warehouse schemas (layers) holding stored tables, optionally of one writer."""
    seen: dict[str, None] = {}
    for spec in stored_tables():
        if writer is None or spec.writer == writer:
            seen.setdefault(spec.schema)
    return tuple(seen)
