"""Delta helpers shared by every layer: tables created from their registry spec, idempotent appends."""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from pipelines.core.catalog import delta_table_exists
from pipelines.core.config import Config
from pipelines.core.registry import TableSpec, Writer, quote

# The warehouse layout version this code creates tables at (see pipelines.core.migrations).
SCHEMA_VERSION = 6


def create_table(spark: SparkSession, config: Config, spec: TableSpec) -> bool:
    """Create `spec`'s Delta table by DDL (so NOT NULL holds) if it does not exist; True when this
    call created it.

    CHECK constraints go in as `delta.constraints.<name>` table properties of the CREATE, which
    Delta enforces exactly like `ALTER TABLE ... ADD CONSTRAINT` (same property, same
    `checkConstraints` table feature) but in the one commit: each ALTER is its own commit plus a
    scan to validate existing rows.
    """
    if spec.writer == Writer.DBT:
        raise ValueError(f"{spec.qualified_name} is built by dbt, not created from Python")
    location = spec.location(config)
    if delta_table_exists(spark, location):
        return False
    props = ", ".join(f"'{k}' = '{quote(v)}'" for k, v in spec.table_properties(SCHEMA_VERSION).items())
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS delta.`{location}` (\n  "
        + ",\n  ".join(c.ddl() for c in spec.columns) + "\n) USING delta"
        + (f"\nPARTITIONED BY ({', '.join(spec.partitioned_by)})" if spec.partitioned_by else "")
        + f"\nCOMMENT '{quote(spec.comment)}'"
        + f"\nTBLPROPERTIES ({props})"
    )
    return True


def read_table(spark: SparkSession, config: Config, spec: TableSpec) -> DataFrame:
    """The table's current version, by location (no catalog needed)."""
    return spark.read.format("delta").load(spec.location(config))


def append(df: DataFrame, location: str, *, metadata: str) -> None:
    """A plain (blind) Delta append as one commit, tagged with `userMetadata`.

    No `txnAppId`/`txnVersion`: Delta's SetTransaction lookup rebuilds the table's state on every
    write, which was most of a small micro-batch's commit time. The streams detect a replayed
    batch themselves, once per start (see pipelines.core.replay)."""
    df.write.format("delta").mode("append").option("userMetadata", metadata).save(location)


def set_properties(spark: SparkSession, location: str, props: dict[str, str]) -> None:
    """`ALTER TABLE ... SET TBLPROPERTIES` (one commit)."""
    assignments = ", ".join(f"'{k}' = '{quote(v)}'" for k, v in props.items())
    spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ({assignments})")


def checkpoint(spark: SparkSession, location: str) -> None:
    """Write a checkpoint of the table's current version now (Delta writes one every
    `delta.checkpointInterval` commits by itself). Statistics and expired log files are dropped
    at checkpoints (see registry.TableSpec.statistics_properties), so a change of either takes
    effect here rather than some commits later. Delta has no SQL for it: its JVM API."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, location).checkpoint()
