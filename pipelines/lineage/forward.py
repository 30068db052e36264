"""Forward trace (impact): a raw line -> what refine made of it (a Silver row, a quarantined row
with its reasons, or a duplicate of the row kept) -> every Gold row it feeds in the latest build.

Each Bronze row has exactly one fate once refined; none while it waits for refine. More than one
is an inconsistency, reported as `LINEAGE_MISMATCH`.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from pipelines.core.errors import PipelineError
from pipelines.lineage import builds as builds_mod
from pipelines.lineage.delta_reader import Filter, Warehouse, all_of, field_eq, field_in
from pipelines.lineage.grains import EVENT_COLUMNS, SilverInputs
from pipelines.lineage.provenance import BRONZE, bronze_rows, gate_runs
from pipelines.lineage.reaggregate import first_purchases

SILVER, QUARANTINE, DUPLICATES = "silver.events", "silver.events_quarantine", "silver.events_duplicates"
CAMPAIGN_TYPES = ("impression", "click", "ad_spend")


def bronze_ids_of_event(warehouse: Warehouse, event_id: str) -> list[str]:
    """Every Bronze row that carried `event_id`: the one kept, its duplicates, quarantined ones."""
    ids: list[str] = []
    for table, column in ((SILVER, "_bronze_id"), (DUPLICATES, "_bronze_id"), (QUARANTINE, "_bronze_id")):
        if warehouse.exists(table):
            ids += [r[column] for r in warehouse.snapshot(table).rows(field_eq("event_id", event_id), (column,))]
    if not ids:
        raise PipelineError("TRACE_NO_ROW", {"table": "silver.events, silver.events_duplicates, silver.events_quarantine",
                                             "keys": f"event_id={event_id}", "version": "latest"})
    return sorted(set(ids))


def fates_of(warehouse: Warehouse, bronze_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """_bronze_id -> what refine made of that Bronze row (latest versions): none yet, one, or
    (inconsistent) several."""
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in bronze_ids}
    where = field_in("_bronze_id", bronze_ids)
    for row in warehouse.snapshot(SILVER).rows(where, EVENT_COLUMNS):
        out[row["_bronze_id"]].append({"fate": "accepted", "table": SILVER, "event": row,
                                       "_gate_run_id": row["_gate_run_id"]})
    for row in warehouse.snapshot(QUARANTINE).rows(where, ("_bronze_id", "event_id", "reasons", "_silver_batch_id",
                                                           "_gate_run_id")):
        out[row["_bronze_id"]].append({
            "fate": "quarantined", "table": QUARANTINE, "event_id": row["event_id"], "reasons": list(row["reasons"]),
            "_silver_batch_id": row["_silver_batch_id"], "_gate_run_id": row["_gate_run_id"]})
    for row in warehouse.snapshot(DUPLICATES).rows(where, ("_bronze_id", "event_id", "is_conflicting", "kept_bronze_id",
                                                           "_silver_batch_id", "_gate_run_id")):
        out[row["_bronze_id"]].append({
            "fate": "duplicate", "table": DUPLICATES, "event_id": row["event_id"], "duplicate_of": row["kept_bronze_id"],
            "is_conflicting": row["is_conflicting"], "_silver_batch_id": row["_silver_batch_id"],
            "_gate_run_id": row["_gate_run_id"]})
    return out


def trace_forward(warehouse: Warehouse, lines: Filter, what: str, *, limit: int | None = 5) -> dict[str, Any]:
    """Every Bronze line matching `lines`: its fate (all of them), and for the first `limit` (all:
    None) the line itself and every Gold row it feeds."""
    ids = sorted(r["_bronze_id"] for r in warehouse.snapshot(BRONZE).rows(lines, ("_bronze_id",)))
    if not ids:
        raise PipelineError("TRACE_NO_ROW", {"table": BRONZE, "keys": what, "version": "latest"})
    found = fates_of(warehouse, ids)
    problems = [f"{i} has {len(f)} fates: " + ", ".join(x["fate"] for x in f) for i, f in found.items() if len(f) > 1]
    listed = ids if limit is None else ids[:limit]
    lines_by_id = bronze_rows(warehouse, listed)
    build = _latest_build(warehouse)
    items, gate_ids = [], {f["_gate_run_id"] for fs in found.values() for f in fs}
    for bronze_id in listed:
        these = found[bronze_id]
        fate = these[0] if len(these) == 1 else {"fate": "pending" if not these else "inconsistent",
                                                 "detail": "not refined yet" if not these else these}
        if fate["fate"] == "accepted":
            fate["gold"] = gold_impact(warehouse, fate["event"], build)
            problems += [f"{bronze_id} feeds {r['table']} {r['key']}, which the build does not have"
                         for r in fate["gold"]["rows"] if not r["present"]]
        items.append({"bronze": lines_by_id[bronze_id], "fate": fate})
    kinds = {i: ("pending" if not f else f[0]["fate"] if len(f) == 1 else "inconsistent") for i, f in found.items()}
    return {"direction": "forward", "selection": what, "summary": dict(sorted(Counter(kinds.values()).items())),
            "fates": kinds, "lines": items,
            "build": None if build is None else {"invocation_id": build.invocation_id,
                                                  "silver_version": build.silver_version},
            "gate_runs": list(gate_runs(warehouse, gate_ids, warehouse.config.refine.docs_dir).values()),
            "reconciliation": {"status": "mismatch" if problems else "ok", "differences": problems}}


def _latest_build(warehouse: Warehouse) -> builds_mod.Build | None:
    try:
        return builds_mod.resolve(warehouse, "gold.fct_campaign_performance_daily", None)
    except PipelineError as exc:
        if exc.code == "TRACE_NO_BUILD":
            return None
        raise


def _targets(warehouse: Warehouse, event: dict, build: builds_mod.Build) -> list[tuple[str, dict[str, Any], str]]:
    """(table, key, why) of every Gold row the accepted event feeds, by the models' definitions."""
    out: list[tuple[str, dict[str, Any], str]] = []
    kind, campaign, day = event["event_type"], event["campaign_id"], event["event_date"]
    if kind in CAMPAIGN_TYPES and campaign is not None:
        out += [("gold.fct_campaign_performance_daily", {"campaign_id": campaign, "date_day": day}, f"its {kind}"),
                ("gold.fct_campaign_performance", {"campaign_id": campaign}, f"its {kind}"),
                ("gold.dim_campaigns", {"campaign_id": campaign}, f"its {kind}")]
    if kind == "ad_spend":
        channel = event["channel"] or "unknown"
        out += [("gold.fct_channel_cac_monthly", {"channel": channel, "month_start": day.replace(day=1)}, "its spend"),
                ("gold.fct_channel_cac", {"channel": channel}, "its spend")]
    inputs = SilverInputs(warehouse.snapshot(SILVER, build.silver_version))
    purchases: list[dict] = []
    if kind == "purchase":
        purchases = [event]
    elif kind == "click":  # the purchases this click won
        attributed = warehouse.snapshot("gold_intermediate.int_purchases__attributed",
                                        build.versions["gold_intermediate.int_purchases__attributed"])
        won = attributed.rows(field_eq("attributed_click_id", event["event_id"]), ("purchase_id",))
        if won:
            purchases = inputs.of_type("purchase", field_in("event_id", [r["purchase_id"] for r in won]))
    for a in inputs.attribute(purchases):
        p, why = a.purchase, ("itself" if kind == "purchase" else f"purchase {a.purchase['event_id']} attributed to it")
        out.append(("gold_intermediate.int_purchases__attributed", {"purchase_id": p["event_id"]}, why))
        if a.campaign_id is not None:
            out += [("gold.fct_campaign_performance_daily", {"campaign_id": a.campaign_id, "date_day": p["event_date"]},
                     f"conversion: {why}"),
                    ("gold.fct_campaign_performance", {"campaign_id": a.campaign_id}, f"conversion: {why}")]
        if p["user_id"] is not None:
            out.append(("gold.fct_customer_ltv", {"user_id": p["user_id"]}, f"customer: {why}"))
            mine = inputs.of_type("purchase", field_eq("user_id", p["user_id"]))
            if first_purchases(mine)[p["user_id"]]["event_id"] == p["event_id"]:
                out += [("gold.fct_channel_cac_monthly", {"channel": a.channel, "month_start": p["event_date"].replace(day=1)},
                         f"new customer: {why}"),
                        ("gold.fct_channel_cac", {"channel": a.channel}, f"new customer: {why}")]
    return out


def gold_impact(warehouse: Warehouse, event: dict, build: builds_mod.Build | None) -> dict[str, Any]:
    if build is None:
        return {"status": "no Gold build yet", "rows": []}
    in_build = warehouse.snapshot(SILVER, build.silver_version).count(field_eq("event_id", event["event_id"]))
    if not in_build:
        return {"status": f"refined after the latest build {build.invocation_id} read silver.events "
                          f"version {build.silver_version}", "rows": []}
    rows, seen = [], set()
    for table, key, why in _targets(warehouse, event, build):
        marker = (table, tuple(sorted((k, str(v)) for k, v in key.items())))
        if marker in seen:
            continue
        seen.add(marker)
        at = build.versions[table]
        found = warehouse.snapshot(table, at).rows(all_of(*(field_eq(k, v) for k, v in key.items())))
        rows.append({"table": table, "version": at, "key": key, "why": why, "present": bool(found),
                     "row": found[0] if found else None})
    return {"status": f"in build {build.invocation_id}", "rows": rows}
