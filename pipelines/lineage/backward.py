"""Backward trace: a Gold row -> the build that made it -> the Silver events it aggregates ->
their Bronze lines and gate runs, every table read at the version that build read; then the
listed events re-aggregated in Python and compared with the row (reconciliation)."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from pipelines.core.errors import PipelineError
from pipelines.lineage import builds as builds_mod
from pipelines.lineage.delta_reader import Warehouse, all_of, field_eq
from pipelines.lineage.grains import Grain, RowLineage, SilverInputs, grain as grain_of
from pipelines.lineage.provenance import bronze_rows, gate_runs
from pipelines.lineage.reaggregate import differences
from pipelines.lineage.seed_rows import seed_lineage

log = logging.getLogger("medallion.lineage")


class Phases(dict):
    """Seconds per phase of a trace (logged at INFO: `medallion -v trace ...`, the benchmark)."""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.perf_counter() - start, 3)

    def __str__(self) -> str:
        return " ".join(f"{k}={v:.3f}" for k, v in self.items())


# What an event shows in a trace (never email hashes or free-form properties).
EVENT_FIELDS = ("event_id", "event_type", "event_ts", "campaign_id", "channel", "user_id", "order_id",
                "revenue_usd", "cost_usd", "_bronze_id", "_silver_batch_id", "_gate_run_id")
BUILD_FIELDS = ("invocation_id", "run_id", "dbt_command", "dbt_version", "target_name", "git_commit",
                "started_at", "finished_at", "status")
NODE_FIELDS = ("node_id", "materialization", "build_mode", "build_mode_reason", "compiled_sql_md5",
               "model_checksum", "gold_version", "silver_version", "started_at", "finished_at")


def find_row(warehouse: Warehouse, table: str, version: int, keys: Mapping[str, Any], grain: Grain) -> dict:
    rows = warehouse.snapshot(table, version).rows(all_of(*(field_eq(k, v) for k, v in keys.items())))
    if not rows:
        raise PipelineError("TRACE_NO_ROW", {"table": table, "keys": _keys_text(keys), "version": version})
    if len(rows) > 1:
        raise PipelineError("TRACE_KEY_AMBIGUOUS", {
            "table": table, "keys": _keys_text(keys), "rows": len(rows), "grain": ", ".join(grain.key)})
    return rows[0]


def _keys_text(keys: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in keys.items()) or "(none)"


def trace_backward(warehouse: Warehouse, table: str, keys: Mapping[str, Any], *, invocation_id: str | None = None,
                   limit: int | None = 5) -> dict[str, Any]:
    """The lineage tree of one row of `table` (a dict, JSON-ready but for dates and decimals).
    `limit`: events listed per group (None: all)."""
    grain = grain_of(table)
    clock = Phases()
    with clock("build"):
        build = builds_mod.resolve(warehouse, table, invocation_id)
    with clock("gold_row"):
        row = find_row(warehouse, table, build.table_version, keys, grain)
    key = {k: row[k] for k in grain.key}
    with clock("silver_events"):
        if grain.rule is None:
            lineage = seed_lineage(warehouse, table, row, build)
        else:
            builds_mod.check_silver_as_built(warehouse, build)
            silver = warehouse.snapshot(builds_mod.SILVER_EVENTS, build.silver_version)
            lineage = grain.rule(SilverInputs(silver), key)
    diffs = differences(row, lineage.recomputed) if lineage.recomputed else \
        [{"column": "*", "gold": "row", "recomputed": "no events found"}]
    tree: dict[str, Any] = {
        "direction": "backward", "table": table, "grain": grain.grain, "key": key, "row": row,
        "build": _build(build),
        "reconciliation": {"status": "mismatch" if diffs else "ok", "recomputed": lineage.recomputed,
                           "differences": diffs},
        "notes": lineage.notes,
    }
    tree["events"], shown = _event_groups(lineage, limit)
    with clock("provenance"):
        _add_provenance(warehouse, tree, shown, lineage)
    log.info("trace of %s: seconds per phase: %s", table, clock)
    return tree


def _build(build: builds_mod.Build) -> dict[str, Any]:
    return {
        **{k: build.invocation.get(k) for k in BUILD_FIELDS if k in build.invocation},
        "invocation_id": build.invocation_id,
        "model": {k: build.node.get(k) for k in NODE_FIELDS},
        "table_version": build.table_version,
        "reads": [{"table": t, "version": v} for t, v in build.reads],
    }


def _event_groups(lineage: RowLineage, limit: int | None) -> tuple[dict[str, Any], list[dict]]:
    clicks = {a.purchase["event_id"]: a.click for a in lineage.attributions}
    groups, shown = {}, []
    for name, events in lineage.groups.items():
        events = sorted(events, key=lambda e: (e["event_ts"], e["event_id"]))
        listed = events if limit is None else events[:limit]
        items = []
        for e in listed:
            item = {k: e.get(k) for k in EVENT_FIELDS}
            item["_ingested_at"] = e.get("_ingested_at")
            if e["event_type"] == "purchase" and e["event_id"] in clicks:
                click = clicks[e["event_id"]]
                item["attributed_click"] = None if click is None else {k: click.get(k) for k in EVENT_FIELDS}
                if click is not None:
                    click_item = dict(item["attributed_click"], _ingested_at=click.get("_ingested_at"))
                    shown.append(click_item)
                    item["attributed_click"] = click_item
            items.append(item)
            shown.append(item)
        groups[name] = {"count": len(events), "shown": len(items), "events": items}
    return groups, shown


def _add_provenance(warehouse: Warehouse, tree: dict, shown: list[dict], lineage: RowLineage) -> None:
    """Each listed event gets its Bronze row; the tree gets every gate run of the row's events
    (all of them, not only the listed ones) with its results."""
    bronze = bronze_rows(warehouse, [e["_bronze_id"] for e in shown], [e.pop("_ingested_at", None) for e in shown])
    for e in shown:
        e["bronze"] = bronze.get(e["_bronze_id"])
    counts: dict[str, int] = {}
    for events in lineage.groups.values():
        for e in events:
            counts[e["_gate_run_id"]] = counts.get(e["_gate_run_id"], 0) + 1
    runs = gate_runs(warehouse, counts, warehouse.config.refine.docs_dir)
    tree["gate_runs"] = [dict(run, events=counts[run_id]) for run_id, run in runs.items()]
