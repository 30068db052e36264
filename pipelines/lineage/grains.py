"""Per traceable table: its grain (key columns) and which Silver events one of its rows
aggregates, found by the model's own definition (DESIGN.md), then re-aggregated (reaggregate.py).

Each rule reads only what the row can depend on from silver.events as of the build (partition
and file pruning on event_date, event_type, campaign_id, user_id), so a daily row reads a day
and the clicks of that day's buyers, not the table.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import yaml

from pipelines.core.config import DBT_PROJECT_DIR
from pipelines.core.errors import PipelineError
from pipelines.lineage import reaggregate as agg
from pipelines.lineage.delta_reader import Snapshot, all_of, date_between, field_eq, field_in

# The silver.events columns a trace reads: never the `direct` ones (properties) nor email hashes.
EVENT_COLUMNS = ("event_id", "event_type", "event_ts", "event_date", "campaign_id", "channel", "user_id",
                 "order_id", "revenue_usd", "cost_usd", "_bronze_id", "_ingested_at", "_silver_batch_id",
                 "_gate_run_id")


@lru_cache(maxsize=1)
def attribution_window_days() -> int:
    """The dbt project's `attribution_window_days` var (dbt_project.yml: its one written value)."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return int((project.get("vars") or {}).get("attribution_window_days", 30))


@dataclass
class RowLineage:
    """What one row aggregates: named groups of Silver events, purchases with their attributed
    click, and the row's measures re-derived from them."""

    groups: dict[str, list[dict]]
    recomputed: dict[str, Any]
    attributions: list[agg.Attribution] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class SilverInputs:
    """silver.events as of a build, with the lookups the rules share."""

    def __init__(self, silver: Snapshot, window_days: int | None = None) -> None:
        self.silver = silver
        self.window_days = attribution_window_days() if window_days is None else window_days

    def events(self, *filters: Any) -> list[dict]:
        return self.silver.rows(all_of(*filters), EVENT_COLUMNS)

    def of_type(self, event_type: str | Sequence[str], *filters: Any) -> list[dict]:
        types = [event_type] if isinstance(event_type, str) else list(event_type)
        return self.events(field_in("event_type", types), *filters)

    def attribute(self, purchases: Sequence[dict]) -> list[agg.Attribution]:
        """Each purchase with its last click: reads the clicks of these purchases' users over the
        dates their attribution windows span."""
        buyers = {p["user_id"] for p in purchases if p["user_id"] is not None}
        if not buyers:
            return [agg.Attribution(p, None) for p in purchases]
        first = min(p["event_date"] for p in purchases) - dt.timedelta(days=self.window_days)
        last = max(p["event_date"] for p in purchases)
        clicks = agg.clicks_by_user(self.of_type("click", field_in("user_id", buyers),
                                                 date_between("event_date", first, last)))
        return [agg.attribute(p, clicks, self.window_days) for p in purchases]


Key = Mapping[str, Any]


def _campaign_daily(inputs: SilverInputs, key: Key) -> RowLineage:
    day, campaign = key["date_day"], key["campaign_id"]
    on_day = field_eq("event_date", day)
    activity = inputs.of_type(("impression", "click", "ad_spend"), on_day, field_eq("campaign_id", campaign))
    purchases = inputs.of_type("purchase", on_day)
    conversions = [a for a in inputs.attribute(purchases) if a.campaign_id == campaign]
    groups = _by_type(activity)
    groups["conversions"] = [a.purchase for a in conversions]
    return RowLineage(groups=groups, recomputed=agg.campaign_row(groups, conversions), attributions=conversions,
                      notes=[f"conversions: the {len(purchases)} purchases of {day} re-attributed; "
                             f"{len(conversions)} have their last click on {campaign}"])


def _campaign_totals(inputs: SilverInputs, key: Key) -> RowLineage:
    campaign = key["campaign_id"]
    activity = inputs.of_type(("impression", "click", "ad_spend"), field_eq("campaign_id", campaign))
    groups = _by_type(activity)
    # only a user who clicked this campaign can have a purchase attributed to it
    clickers = {c["user_id"] for c in groups.get("clicks", ()) if c["user_id"] is not None}
    purchases = inputs.of_type("purchase", field_in("user_id", clickers)) if clickers else []
    conversions = [a for a in inputs.attribute(purchases) if a.campaign_id == campaign]
    groups["conversions"] = [a.purchase for a in conversions]
    return RowLineage(groups=groups, recomputed=agg.campaign_row(groups, conversions), attributions=conversions)


def _new_customers(inputs: SilverInputs, first_day: dt.date | None, last_day: dt.date | None,
                   channel: str) -> tuple[list[agg.Attribution], int]:
    """Users whose first-ever purchase falls in [first_day, last_day] (all time when None) and is
    attributed to `channel`; also how many first purchases fell in the period."""
    if first_day is None:
        candidates = inputs.of_type("purchase")
    else:
        in_period = inputs.of_type("purchase", date_between("event_date", first_day, last_day))
        users = {p["user_id"] for p in in_period if p["user_id"] is not None}
        candidates = inputs.of_type("purchase", field_in("user_id", users)) if users else []
    firsts = [p for p in agg.first_purchases(candidates).values()
              if first_day is None or first_day <= p["event_date"] <= last_day]
    return [a for a in inputs.attribute(firsts) if a.channel == channel], len(firsts)


def _spend_of_channel(inputs: SilverInputs, channel: str, *filters: Any) -> list[dict]:
    """Ad spend counted on `channel` (the marts count spend without a channel as 'unknown')."""
    on_channel = None if channel == "unknown" else field_eq("channel", channel)
    return [e for e in inputs.of_type("ad_spend", on_channel, *filters) if (e["channel"] or "unknown") == channel]


def _cac_monthly(inputs: SilverInputs, key: Key) -> RowLineage:
    month, channel = key["month_start"], key["channel"]
    last = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    spend = _spend_of_channel(inputs, channel, date_between("event_date", month, last))
    new, firsts = _new_customers(inputs, month, last, channel)
    return RowLineage(groups={"ad_spend": spend, "first_purchases": [a.purchase for a in new]},
                      recomputed=agg.cac_row(spend, new), attributions=new,
                      notes=[f"new customers: {firsts} users made their first-ever purchase in "
                             f"{month:%Y-%m}; {len(new)} of those purchases are attributed to {channel}"])


def _cac_totals(inputs: SilverInputs, key: Key) -> RowLineage:
    channel = key["channel"]
    spend = _spend_of_channel(inputs, channel)
    new, firsts = _new_customers(inputs, None, None, channel)
    return RowLineage(groups={"ad_spend": spend, "first_purchases": [a.purchase for a in new]},
                      recomputed=agg.cac_row(spend, new), attributions=new,
                      notes=[f"new customers: {firsts} users' first-ever purchases; {len(new)} attributed to {channel}"])


def _customer_ltv(inputs: SilverInputs, key: Key) -> RowLineage:
    purchases = inputs.of_type("purchase", field_eq("user_id", key["user_id"]))
    attributed = inputs.attribute(purchases)
    recomputed = agg.ltv_row(attributed) if attributed else {}
    return RowLineage(groups={"purchases": purchases}, recomputed=recomputed, attributions=attributed)


def _attributed_purchase(inputs: SilverInputs, key: Key) -> RowLineage:
    purchases = inputs.of_type("purchase", field_eq("event_id", key["purchase_id"]))
    attributed = inputs.attribute(purchases)
    recomputed = agg.attributed_purchase_row(attributed[0]) if attributed else {}
    return RowLineage(groups={"purchases": purchases}, recomputed=recomputed, attributions=attributed)


def _campaign_dimension(inputs: SilverInputs, key: Key) -> RowLineage:
    activity = inputs.of_type(("impression", "click", "ad_spend"), field_eq("campaign_id", key["campaign_id"]))
    return RowLineage(groups=_by_type(activity),
                      recomputed=agg.campaign_dimension_row(activity) if activity else {})


GROUP_OF_TYPE = {"impression": "impressions", "click": "clicks", "ad_spend": "ad_spend", "purchase": "purchases"}


def _by_type(events: Sequence[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in sorted(events, key=lambda e: (e["event_ts"], e["event_id"])):
        out.setdefault(GROUP_OF_TYPE.get(e["event_type"], e["event_type"]), []).append(e)
    return out


@dataclass(frozen=True)
class Grain:
    """A traceable table: its key columns (one row per key) and its lineage rule."""

    table: str
    key: tuple[str, ...]
    rule: Callable[[SilverInputs, Key], RowLineage] | None  # None: built from a seed, not events
    grain: str


GRAINS: dict[str, Grain] = {g.table: g for g in (
    Grain("gold.fct_campaign_performance_daily", ("campaign_id", "date_day"), _campaign_daily,
          "one row per campaign per day"),
    Grain("gold.fct_campaign_performance", ("campaign_id",), _campaign_totals, "one row per campaign"),
    Grain("gold.fct_channel_cac_monthly", ("channel", "month_start"), _cac_monthly, "one row per channel per month"),
    Grain("gold.fct_channel_cac", ("channel",), _cac_totals, "one row per channel"),
    Grain("gold.fct_customer_ltv", ("user_id",), _customer_ltv, "one row per customer with a purchase"),
    Grain("gold.dim_campaigns", ("campaign_id",), _campaign_dimension, "one row per campaign"),
    Grain("gold.dim_channels", ("channel",), None, "one row per channel (the channels seed)"),
    Grain("gold_intermediate.int_purchases__attributed", ("purchase_id",), _attributed_purchase,
          "one row per purchase"),
)}


def grain(table: str) -> Grain:
    if table not in GRAINS:
        raise PipelineError("TRACE_TABLE_NOT_TRACEABLE", {"table": table, "traceable": ", ".join(GRAINS)})
    return GRAINS[table]
