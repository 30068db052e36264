"""Delta helpers shared by every layer's tables: DDL creation and idempotent appends."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from pyspark.sql import DataFrame

from pipelines.core.catalog import delta_table_exists

Column = tuple[str, str, bool, str]  # name, SQL type, NOT NULL?, comment


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def create_table(spark: Any, location: str, columns: Sequence[Column], *, comment: str,
                 partitioned_by: Iterable[str] = (), checks: dict[str, str] | None = None,
                 properties: dict[str, str] | None = None) -> bool:
    """Create a Delta table by DDL (so NOT NULL holds) with its CHECK constraints; idempotent.

    CHECK constraints go in as `delta.constraints.<name>` table properties of the CREATE, which
    Delta enforces exactly like `ALTER TABLE ... ADD CONSTRAINT` (same property, same
    `checkConstraints` table feature) but in the one commit: each ALTER was its own commit plus a
    scan to validate existing rows (10.7 s for Silver's five tables here, ~1.5 s this way).
    Returns True when this call created the table.
    """
    if delta_table_exists(spark, location):
        return False
    cols = ",\n  ".join(
        f"{name} {sql_type}{' NOT NULL' if not_null else ''} COMMENT '{_quote(text)}'"
        for name, sql_type, not_null, text in columns
    )
    parts = list(partitioned_by)
    all_properties = {**(properties or {}),
                      **{f"delta.constraints.{name.lower()}": expr for name, expr in (checks or {}).items()}}
    props = ", ".join(f"'{k}' = '{_quote(v)}'" for k, v in all_properties.items())
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS delta.`{location}` (\n  {cols}\n) USING delta"
        + (f"\nPARTITIONED BY ({', '.join(parts)})" if parts else "")
        + f"\nCOMMENT '{_quote(comment)}'"
        + (f"\nTBLPROPERTIES ({props})" if props else "")
    )
    return True


def append_once(df: DataFrame, location: str, *, app_id: str, batch_id: int, metadata: str) -> None:
    """Append as one commit that Delta skips when (app_id, batch_id) was already committed."""
    (
        df.write.format("delta").mode("append")
        .option("txnAppId", app_id)
        .option("txnVersion", batch_id)
        .option("userMetadata", metadata)
        .save(location)
    )
