"""Pure: `column=value` arguments of `medallion trace` -> typed values of a registry table's
columns (the registry says each column's type)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, Sequence

from pipelines.core.errors import PipelineError
from pipelines.core.registry import TableSpec


def typed(value: str, sql_type: str) -> Any:
    """`value` as the Python value delta-rs returns for a column of `sql_type`."""
    kind = sql_type.upper()
    if kind == "DATE":
        return dt.date.fromisoformat(value)
    if kind == "TIMESTAMP":
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    if kind in ("BIGINT", "INT", "INTEGER", "SMALLINT", "TINYINT", "LONG"):
        return int(value)
    if kind.startswith("DECIMAL"):
        return Decimal(value)
    if kind in ("DOUBLE", "FLOAT"):
        return float(value)
    if kind == "BOOLEAN":
        if value.lower() not in ("true", "false"):
            raise ValueError("expected true or false")
        return value.lower() == "true"
    return value


def parse_keys(spec: TableSpec, arguments: Sequence[str]) -> dict[str, Any]:
    """`["campaign_id=cmp-1", "date_day=2026-11-03"]` -> {"campaign_id": "cmp-1", "date_day": date(...)}."""
    out: dict[str, Any] = {}
    for argument in arguments:
        name, sep, value = argument.partition("=")
        name = name.strip()
        if not sep or not name or not value:
            raise PipelineError("TRACE_KEY_INVALID", {
                "argument": argument, "detail": "expected column=value, e.g. campaign_id=cmp-search-brand-us"})
        if name not in spec.column_names:
            raise PipelineError("TRACE_UNKNOWN_COLUMN", {
                "table": spec.qualified_name, "column": name, "columns": ", ".join(spec.column_names)})
        if name in out:
            raise PipelineError("TRACE_KEY_INVALID", {"argument": argument, "detail": f"{name} is given twice"})
        column = spec.column(name)
        try:
            out[name] = typed(value, column.type)
        except (ValueError, InvalidOperation) as exc:
            raise PipelineError("TRACE_KEY_INVALID", {
                "argument": argument, "detail": f"{name} is {column.type}: {exc}"}) from None
    return out
