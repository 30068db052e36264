"""The warehouse's Delta tables read with delta-rs (`deltalake`), at a version when asked.

A trace must not start a JVM (Spark alone takes longer than the whole trace may), so it reads
table snapshots directly: the Delta log gives partition and file statistics pruning, pyarrow
filters the rest. Every failure to open a version (log entries cleaned up past retention, data
files vacuumed, a table replaced) becomes a `LINEAGE_VERSION_GONE` the user can act on.
"""
from __future__ import annotations

import datetime as dt
import gc
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable

from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.registry import TableSpec, table as registry_table

# Operations that change or remove rows already committed (an erasure, a manual fix): a snapshot
# older than such a commit is not what the table holds any more.
REWRITING_OPERATIONS = frozenset({
    "DELETE", "UPDATE", "MERGE", "RESTORE", "TRUNCATE", "REPLACE TABLE", "REPLACE TABLE AS SELECT",
    "CREATE OR REPLACE TABLE", "CREATE OR REPLACE TABLE AS SELECT",
})

Filter = ds.Expression


def field_eq(column: str, value: Any) -> Filter:
    return ds.field(column) == pa.scalar(value) if value is not None else ds.field(column).is_null()


def field_in(column: str, values: Iterable[Any]) -> Filter:
    return ds.field(column).isin(pa.array(sorted(set(values))))


def date_between(column: str, first: dt.date, last: dt.date) -> Filter:
    return (ds.field(column) >= pa.scalar(first)) & (ds.field(column) <= pa.scalar(last))


def all_of(*filters: Filter | None) -> Filter | None:
    out: Filter | None = None
    for f in filters:
        if f is not None:
            out = f if out is None else out & f
    return out


@dataclass
class Snapshot:
    """One registry table at one version (the latest when `version` is None)."""

    spec: TableSpec
    path: str
    table: DeltaTable
    _dataset: ds.Dataset | None = field(default=None, repr=False)

    @property
    def version(self) -> int:
        return self.table.version()

    @property
    def table_id(self) -> str:
        return self.table.metadata().id

    @property
    def dataset(self) -> ds.Dataset:
        if self._dataset is None:
            self._dataset = self.table.to_pyarrow_dataset()
        return self._dataset

    def arrow(self, where: Filter | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        try:
            return self.dataset.to_table(filter=where, columns=list(columns) if columns else None)
        except (OSError, FileNotFoundError) as exc:  # a data file vacuumed away
            raise gone(self.spec.qualified_name, self.version, exc) from exc

    def rows(self, where: Filter | None = None, columns: Sequence[str] | None = None) -> list[dict]:
        return self.arrow(where, columns).to_pylist()

    def count(self, where: Filter | None = None) -> int:
        return self.dataset.count_rows(filter=where)

    def commits_after(self, version: int) -> list[dict]:
        """The table's commits after `version` (newest first), from the Delta log."""
        latest = open_table(self.spec, self.path, None).table
        newer = latest.version() - version
        return [] if newer <= 0 else [c for c in latest.history(newer) if c.get("version", -1) > version]


def gone(table: str, version: int | None, exc: BaseException) -> PipelineError:
    return PipelineError("LINEAGE_VERSION_GONE", {
        "table": table, "version": "latest" if version is None else version,
        "detail": str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__})


def open_table(spec: TableSpec, path: str, version: int | None) -> Snapshot:
    try:
        table = DeltaTable(path) if version is None else DeltaTable(path, version=version)
    except Exception as exc:  # noqa: BLE001 - deltalake raises its own types (TableNotFoundError, DeltaError)
        if version is None:
            raise PipelineError("TABLE_NOT_FOUND", {"path": path}) from exc
        raise gone(spec.qualified_name, version, exc) from exc
    return Snapshot(spec=spec, path=path, table=table)


class Warehouse:
    """The registry's tables under one config's warehouse, opened once per (table, version)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._open: dict[tuple[str, int | None], Snapshot] = {}

    def snapshot(self, qualified_name: str, version: int | None = None) -> Snapshot:
        key = (qualified_name, version)
        if key not in self._open:
            spec = registry_table(qualified_name)
            self._open[key] = open_table(spec, spec.location(self.config), version)
        return self._open[key]

    def close(self) -> None:
        """Drop every snapshot now, while the interpreter is whole: delta-rs and pyarrow objects
        left to interpreter shutdown can abort the process (delta-io/delta-rs#2184)."""
        self._open.clear()
        gc.collect()

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exists(self, qualified_name: str) -> bool:
        try:
            self.snapshot(qualified_name)
        except PipelineError:
            return False
        return True


def rewrites(commits: Iterable[dict]) -> list[dict]:
    """Pure: the commits among `commits` that changed or removed committed rows."""
    out = []
    for commit in commits:
        operation = str(commit.get("operation", "")).upper()
        mode = str((commit.get("operationParameters") or {}).get("mode", "")).lower()
        if operation in REWRITING_OPERATIONS or (operation == "WRITE" and mode == "overwrite"):
            out.append(commit)
    return out


def utc(value: Any) -> Any:
    """Timestamps from delta-rs come back tz-aware (UTC); keep them so, naive ones made UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value
