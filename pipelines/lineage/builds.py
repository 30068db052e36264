"""Which dbt build a trace follows, and what that build read, from the build ledger
`audit.gold_builds` (written by the dbt project's hooks, macros/gold_builds.sql).

A model's table as built is its Delta version after that build (the version the build committed,
or, when it had nothing to write, the last version an earlier build committed); every table the
model reads is taken at the version it had at that build the same way; silver.events at the
version every model of the build read (the build pins it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pipelines.core.config import DBT_PROJECT_DIR
from pipelines.core.errors import PipelineError
from pipelines.core.registry import gold_tables
from pipelines.lineage.delta_reader import Warehouse, rewrites

LEDGER = "audit.gold_builds"
SILVER_EVENTS = "silver.events"
_REF = re.compile(r"""\{\{\s*(ref|source)\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?\)\s*\}\}""")


@dataclass(frozen=True)
class Build:
    """One dbt invocation as the ledger recorded it, seen from one model."""

    invocation: dict[str, Any]  # the ledger's `invocation` row (None fields when dbt died before on-run-end)
    node: dict[str, Any]        # the model's row
    table_version: int          # the model's table as this build left it
    reads: tuple[tuple[str, int], ...]  # every table the model reads, at the version it read
    versions: dict[str, int]    # every table the ledger knows, at the version it had at this build

    @property
    def invocation_id(self) -> str:
        return self.node["invocation_id"]

    @property
    def silver_version(self) -> int:
        return int(self.node["silver_version"])


@lru_cache(maxsize=None)
def _model_sql() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in (DBT_PROJECT_DIR / "models").rglob("*.sql")}


def upstream(relation: str) -> tuple[str, ...]:
    """The stored tables a model reads (its refs; a staging view stands for the source it reads),
    from the project's SQL: the one place the dependencies are written."""
    by_name = {t.name: t for t in gold_tables()}
    out: dict[str, None] = {}
    pending = [relation.split(".", 1)[1]]
    while pending:
        for kind, first, second in _REF.findall(_model_sql().get(pending.pop(), "")):
            if kind == "source":
                out.setdefault(f"{first}.{second}")
            elif first in by_name and by_name[first].kind == "view":
                pending.append(first)
            elif first in by_name:
                out.setdefault(by_name[first].qualified_name)
    return tuple(out)


def _version_at(ledger: list[dict], relation: str, node: dict) -> int | None:
    """The last version of `relation` committed by this invocation or an earlier one."""
    versions = [r["gold_version"] for r in ledger
                if r["relation"] == relation and r["gold_version"] is not None
                and (r["invocation_id"] == node["invocation_id"] or r["started_at"] < node["started_at"])]
    return max(versions, default=None)


def resolve(warehouse: Warehouse, relation: str, invocation_id: str | None) -> Build:
    """The build of `relation` to trace: `invocation_id`'s, else the latest that built it."""
    if not warehouse.exists(LEDGER):
        raise PipelineError("TRACE_NO_BUILD", {"table": relation})
    ledger = warehouse.snapshot(LEDGER).rows()
    nodes = sorted((r for r in ledger if r["relation"] == relation and r["resource_type"] != "invocation"
                    and r["status"] == "success" and r["silver_version"] is not None),
                   key=lambda r: r["started_at"])
    if invocation_id is not None:
        nodes = [r for r in nodes if r["invocation_id"] == invocation_id]
        if not nodes:
            known = any(r["invocation_id"] == invocation_id for r in ledger)
            raise PipelineError("TRACE_BUILD_NOT_FOUND", {
                "invocation_id": invocation_id, "table": relation,
                "detail": "it did not build this table successfully" if known else "no build with that id is recorded"})
    if not nodes:
        raise PipelineError("TRACE_NO_BUILD", {"table": relation})
    node = nodes[-1]
    version = _version_at(ledger, relation, node)
    if version is None:
        raise PipelineError("TRACE_NO_BUILD", {"table": relation})
    invocation = next((r for r in ledger if r["invocation_id"] == node["invocation_id"]
                       and r["resource_type"] == "invocation"), {})
    versions = {r["relation"]: _version_at(ledger, r["relation"], node) for r in ledger if r["relation"]}
    versions = {table: int(v) for table, v in versions.items() if v is not None}
    versions[SILVER_EVENTS] = int(node["silver_version"])
    reads = tuple((table, versions[table]) for table in upstream(relation) if table in versions)
    return Build(invocation=invocation, node=node, table_version=int(version), reads=reads, versions=versions)


def check_silver_as_built(warehouse: Warehouse, build: Build) -> None:
    """silver.events as this build read it must still be what time travel returns: the same table
    (not dropped and recreated) and no commit since then that rewrote rows (an erasure)."""
    silver = warehouse.snapshot(SILVER_EVENTS, build.silver_version)
    if build.node.get("silver_table_id") and silver.table_id != build.node["silver_table_id"]:
        raise PipelineError("LINEAGE_VERSION_GONE", {
            "table": SILVER_EVENTS, "version": build.silver_version,
            "detail": "the table was replaced since (its table id differs from the build's)"})
    rewritten = rewrites(silver.commits_after(build.silver_version))
    if rewritten:
        first = min(rewritten, key=lambda c: c["version"])
        raise PipelineError("LINEAGE_HISTORY_REWRITTEN", {
            "table": SILVER_EVENTS, "version": build.silver_version, "commit": first["version"],
            "operation": first.get("operation"), "invocation_id": build.invocation_id})
