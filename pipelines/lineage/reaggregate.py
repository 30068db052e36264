"""Pure: Gold measures re-derived in plain Python from the Silver events a trace lists.

This is deliberately a second implementation of DESIGN.md's metric definitions, next to the dbt
models (the one place that *builds* Gold): a trace reconciles a Gold row against the events it
lists by re-aggregating them here, never by re-running the model's SQL, so a wrong join, window
or filter in a model shows up as `LINEAGE_MISMATCH` instead of being repeated.

Events are dicts of silver.events columns (as delta-rs returns them).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping, Sequence

Q4 = Decimal("0.0001")
ZERO = Decimal(0)


@dataclass(frozen=True)
class Attribution:
    """A purchase and the click it is attributed to (None: unattributed, channel `direct`)."""

    purchase: Mapping[str, Any]
    click: Mapping[str, Any] | None

    @property
    def campaign_id(self) -> str | None:
        return None if self.click is None else self.click["campaign_id"]

    @property
    def channel(self) -> str:
        if self.click is None:
            return "direct"
        return self.click["channel"] or "unknown"


def clicks_by_user(clicks: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for click in clicks:
        if click["event_type"] == "click" and click["user_id"] is not None:
            out[click["user_id"]].append(click)
    return out


def attribute(purchase: Mapping[str, Any], user_clicks: Mapping[str, Sequence[Mapping[str, Any]]],
              window_days: int) -> Attribution:
    """Last click (DESIGN.md): the same user's latest click at or before the purchase and at most
    `window_days` before it; equal times go to the highest click id."""
    start = purchase["event_ts"] - dt.timedelta(days=window_days)
    candidates = [c for c in user_clicks.get(purchase["user_id"], ())
                  if start <= c["event_ts"] <= purchase["event_ts"]]
    best = max(candidates, key=lambda c: (c["event_ts"], c["event_id"]), default=None)
    return Attribution(purchase=purchase, click=best)


def first_purchases(purchases: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """user_id -> that user's first-ever purchase (earliest event_ts, then event_id)."""
    first: dict[str, Mapping[str, Any]] = {}
    for p in purchases:
        user = p["user_id"]
        if user is None:
            continue
        if user not in first or (p["event_ts"], p["event_id"]) < (first[user]["event_ts"], first[user]["event_id"]):
            first[user] = p
    return first


def money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Q4, rounding=ROUND_HALF_UP)


def total(values: Iterable[Any]) -> Decimal:
    """SQL sum over non-NULL values, 0 when there are none (the marts coalesce it)."""
    return sum((Decimal(v) for v in values if v is not None), ZERO)


def _divide(numerator: Any, denominator: Any) -> Decimal | None:
    return None if not denominator else Decimal(numerator) / Decimal(denominator)


def campaign_measures(impressions: int, clicks: int, spend_usd: Decimal, conversions: int,
                      revenue_usd: Decimal) -> dict[str, Any]:
    """The campaign marts' measures from their counts and sums (macros/campaign_ratios.sql)."""
    spend, revenue = money(spend_usd), money(revenue_usd)
    return {
        "impressions": impressions, "clicks": clicks, "spend_usd": spend, "conversions": conversions,
        "revenue_usd": revenue,
        "ctr": None if not impressions else clicks / impressions,
        "cpc_usd": money(_divide(spend, clicks)) if spend > 0 else None,
        "cpa_usd": money(_divide(spend, conversions)) if spend > 0 else None,
        "roas": None if not spend else float(revenue / spend),
        "roi": None if not spend else float((revenue - spend) / spend),
    }


def campaign_row(events: Mapping[str, Sequence[Mapping[str, Any]]],
                 conversions: Sequence[Attribution]) -> dict[str, Any]:
    """Measures of a campaign row (daily or all dates) from its impressions, clicks, ad spend and
    the purchases attributed to it."""
    return campaign_measures(
        impressions=len(events.get("impressions", ())), clicks=len(events.get("clicks", ())),
        spend_usd=total(e["cost_usd"] for e in events.get("ad_spend", ())),
        conversions=len(conversions), revenue_usd=total(a.purchase["revenue_usd"] for a in conversions))


def cac_row(spend: Sequence[Mapping[str, Any]], new_customers: Sequence[Attribution]) -> dict[str, Any]:
    """spend_usd, new_customers, cac_usd (fct_channel_cac_monthly / fct_channel_cac)."""
    spend_usd = money(total(e["cost_usd"] for e in spend))
    return {"spend_usd": spend_usd, "new_customers": len(new_customers),
            "cac_usd": money(_divide(spend_usd, len(new_customers)))}


def ltv_row(purchases: Sequence[Attribution]) -> dict[str, Any]:
    """A customer's fct_customer_ltv measures from all their attributed purchases."""
    ordered = sorted(purchases, key=lambda a: (a.purchase["event_ts"], a.purchase["event_id"]))
    revenue = total(a.purchase["revenue_usd"] for a in ordered)
    return {
        "first_purchase_date": min(a.purchase["event_date"] for a in ordered),
        "last_purchase_date": max(a.purchase["event_date"] for a in ordered),
        "orders": len(ordered), "lifetime_revenue_usd": money(revenue),
        "average_order_value_usd": money(_divide(revenue, len(ordered))),
        "acquisition_channel": ordered[0].channel, "acquisition_campaign_id": ordered[0].campaign_id,
    }


def attributed_purchase_row(a: Attribution) -> dict[str, Any]:
    """gold_intermediate.int_purchases__attributed's columns for one purchase."""
    p = a.purchase
    return {
        "order_id": p["order_id"], "user_id": p["user_id"], "purchase_ts": p["event_ts"],
        "purchase_date": p["event_date"], "revenue_usd": p["revenue_usd"],
        "attributed_click_id": None if a.click is None else a.click["event_id"],
        "attributed_click_ts": None if a.click is None else a.click["event_ts"],
        "campaign_id": a.campaign_id, "channel": a.channel, "is_attributed": a.click is not None,
    }


def campaign_dimension_row(activity: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """dim_campaigns' columns from a campaign's impressions, clicks and ad spend: the channel most
    of its events name (ties: the first channel by name), first and last activity date."""
    votes = Counter(e["channel"] for e in activity if e["channel"] is not None)
    channel = min(votes, key=lambda c: (-votes[c], c)) if votes else "unknown"
    return {"channel": channel, "first_seen_date": min(e["event_date"] for e in activity),
            "last_seen_date": max(e["event_date"] for e in activity)}


def differences(gold: Mapping[str, Any], recomputed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Pure: the columns where a Gold row and its re-aggregation differ. Sums and counts must be
    equal; a ratio stored as DECIMAL may differ by one unit of its last place (Spark rounds the
    quotient once to its own scale first); a DOUBLE ratio by a relative 1e-9."""
    out = []
    for column, expected in recomputed.items():
        actual = gold.get(column)
        if not _same(actual, expected, ratio=column in RATIOS):
            out.append({"column": column, "gold": actual, "recomputed": expected})
    return out


RATIOS = frozenset({"ctr", "cpc_usd", "cpa_usd", "roas", "roi", "cac_usd", "average_order_value_usd"})


def _same(actual: Any, expected: Any, *, ratio: bool) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(expected, float) or isinstance(actual, float):
        return abs(float(actual) - float(expected)) <= 1e-9 * max(1.0, abs(float(expected)))
    if isinstance(expected, Decimal) or isinstance(actual, Decimal):
        gap = abs(Decimal(actual) - Decimal(expected))
        return gap <= Q4 if ratio else gap == 0
    return actual == expected
