"""Helpers for the Gold tests: silver.events by DDL, hand-made events, an independent Python
computation of the Gold metrics (DESIGN.md definitions), and Gold tables as comparable rows.

Deliberately no Spark/SQL in the expected-value code: it re-derives every figure with plain
Python from event dicts, so a wrong join or window in the dbt models shows up as a difference.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import itertools
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable

from pipelines.core import canonical, delta_io
from pipelines.core.config import Config, join_path
from pipelines.core.tables import SILVER_EVENTS

# silver.events as the registry declares it (the Gold tests append rows to it directly, not via refine).
COLUMNS = SILVER_EVENTS.column_names

Q4 = Decimal("0.0001")
_ids = itertools.count(1)


SEEDS_DIR = canonical.SEEDS_DIR


def seed_fx_rates_usd() -> dict[str, Decimal]:
    """currency -> USD per unit, from the FX seed (the one copy Silver and dbt both read)."""
    with (SEEDS_DIR / "fx_rates_usd.csv").open(encoding="utf-8", newline="") as handle:
        return {row["currency"]: Decimal(row["usd_per_unit"]) for row in csv.DictReader(handle)}


def silver_events_path(config: Config) -> str:
    return SILVER_EVENTS.location(config)


def create_silver_events(spark: Any, config: Config) -> str:
    path = silver_events_path(config)
    delta_io.create_table(spark, config, SILVER_EVENTS)
    return path


def event(event_type: str, ts: str | dt.datetime, *, campaign_id: str | None = None,
          channel: str | None = None, user_id: str | None = None, revenue_usd: str | float | None = None,
          cost_usd: str | float | None = None, event_id: str | None = None, batch: int = 0) -> dict:
    """One silver.events row (USD amounts; lineage columns filled with plausible values)."""
    when = ts if isinstance(ts, dt.datetime) else dt.datetime.fromisoformat(ts)
    n = next(_ids)
    revenue = None if revenue_usd is None else Decimal(str(revenue_usd)).quantize(Q4)
    cost = None if cost_usd is None else Decimal(str(cost_usd)).quantize(Q4)
    now = dt.datetime(2026, 11, 1, 12, 0, 0)
    return {
        "event_id": event_id or f"{event_type}-{n:06d}", "event_type": event_type,
        "event_ts": when, "event_date": when.date(), "campaign_id": campaign_id, "channel": channel,
        "channel_raw": channel, "user_id": user_id, "email_hash": None,
        "order_id": f"order-{n:06d}" if event_type == "purchase" else None,
        "revenue": revenue, "cost": cost,
        "currency": "USD" if (revenue is not None or cost is not None) else None,
        "fx_rate_usd": Decimal("1.00000000") if (revenue is not None or cost is not None) else None,
        "revenue_usd": revenue, "cost_usd": cost, "utm_source": None, "utm_medium": None,
        "utm_campaign": None, "properties": None, "is_late": False, "_bronze_id": f"bronze-{n:06d}",
        "_ingested_at": now, "_silver_batch_id": batch, "_processed_at": now, "_gate_run_id": "gate-test",
        "email_hash_key_id": None,
    }


def _utc(value: Any) -> Any:
    """Naive datetimes here mean UTC; make them aware so Spark does not apply the local zone."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def append_events(spark: Any, config: Config, events: Iterable[dict]) -> int:
    """Append rows to silver.events by path (as the Silver stream does)."""
    rows = [tuple(_utc(e[c]) for c in COLUMNS) for e in events]
    if not rows:
        return 0
    schema = spark.read.format("delta").load(silver_events_path(config)).schema
    spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(silver_events_path(config))
    return len(rows)


def edge_case_events() -> list[dict]:
    """Hand-made events for the DESIGN.md edge cases (ids/campaigns that the generator never uses)."""
    return [
        # zero spend, one attributed conversion -> NULL ROI/ROAS/CPC/CPA on that campaign-day
        event("impression", "2026-10-10 09:00:00", campaign_id="cmp-t-free", channel="organic", user_id="u-t-1"),
        event("click", "2026-10-10 09:01:00", campaign_id="cmp-t-free", channel="organic", user_id="u-t-1"),
        event("purchase", "2026-10-10 10:00:00", user_id="u-t-1", revenue_usd="30.00"),
        # purchase with no click at all -> unattributed, channel direct
        event("purchase", "2026-10-11 10:00:00", user_id="u-t-2", revenue_usd="12.34"),
        # click after the purchase is not counted
        event("purchase", "2026-10-12 10:00:00", user_id="u-t-3", revenue_usd="5.00"),
        event("click", "2026-10-12 10:00:01", campaign_id="cmp-t-late-click", channel="email", user_id="u-t-3"),
        # click 31 days before is not counted; 30 days before (exactly) is
        event("click", "2026-09-19 11:59:59", campaign_id="cmp-t-old", channel="display", user_id="u-t-4"),
        event("purchase", "2026-10-20 12:00:00", user_id="u-t-4", revenue_usd="9.99"),
        event("click", "2026-09-20 12:00:00", campaign_id="cmp-t-30d", channel="affiliate", user_id="u-t-5"),
        event("purchase", "2026-10-20 12:00:00", user_id="u-t-5", revenue_usd="19.99"),
        # spend in a month without any new customer on that channel -> NULL CAC
        event("ad_spend", "2026-09-15 00:00:00", campaign_id="cmp-t-sept", channel="referral", cost_usd="100.00"),
        # a campaign-day whose only row is an attributed conversion; re-attributed later (see
        # test_gold_build's incremental story)
        event("click", "2026-10-29 08:00:00", campaign_id="cmp-t-a", channel="paid_social", user_id="u-t-6"),
        event("purchase", "2026-10-30 08:00:00", user_id="u-t-6", revenue_usd="50.00"),
    ]


def landing_line(row: dict) -> str:
    """A row made by `event` (USD amounts, canonical channel, naive UTC time) as the contract-v1
    JSON line a producer lands; Silver standardizes it back into the same event."""
    amount = row["revenue_usd"] if row["event_type"] == "purchase" else row["cost_usd"]
    fields = {"event_id": row["event_id"], "event_type": row["event_type"],
              "event_ts": row["event_ts"].isoformat() + "Z", "campaign_id": row["campaign_id"],
              "channel": row["channel"], "user_id": row["user_id"], "order_id": row["order_id"]}
    if amount is not None:
        fields["revenue" if row["event_type"] == "purchase" else "cost"] = str(amount)
        fields["currency"] = "USD"
    return json.dumps({k: v for k, v in fields.items() if v is not None})


@functools.lru_cache(maxsize=4)
def _generated_silver_rows(events: int, seed: int, days: int, bad_rate: float) -> tuple[dict, ...]:
    from pipelines.sample_events import clean_events, generate_lines

    lines = generate_lines(events, seed=seed, days=days, bad_rate=bad_rate)
    return tuple(silver_rows_from_generated(clean_events(lines), seed_fx_rates_usd()))


def generated_silver_rows(*, events: int, seed: int, days: int, bad_rate: float) -> list[dict]:
    """The silver.events rows a correct pipeline keeps from `generate_lines(...)` with these
    arguments (`clean_events`, standardized in plain Python), as fresh dicts on every call."""
    return [dict(row) for row in _generated_silver_rows(events, seed, days, bad_rate)]


def silver_rows_from_generated(events: Iterable[dict], fx_rates_usd: dict[str, Decimal]) -> list[dict]:
    """Generator events (contract v1, raw spellings) -> silver.events rows, in plain Python.

    Standardization per DESIGN.md: event_type lower-cased, timestamps (ISO with offset or epoch
    ms) to UTC, channel aliases mapped with the generator's own CHANNEL_ALIASES, amounts to USD.
    """
    from pipelines.sample_events import CHANNEL_ALIASES

    out = []
    for raw in events:
        ts_raw = raw["event_ts"]
        if isinstance(ts_raw, (int, float)):
            when = dt.datetime.fromtimestamp(ts_raw / 1000, tz=dt.timezone.utc)
        else:
            when = dt.datetime.fromisoformat(str(ts_raw).replace("Z", "+00:00")).astimezone(dt.timezone.utc)
        when = when.replace(tzinfo=None)
        etype = raw["event_type"].lower()
        channel_raw = raw.get("channel")
        channel = None if channel_raw is None else CHANNEL_ALIASES.get(channel_raw, "unknown")
        currency = raw.get("currency")
        fx = fx_rates_usd[currency] if currency else None
        amount = raw.get("revenue" if etype == "purchase" else "cost")
        amount_dec = None if amount is None else Decimal(str(amount))
        usd = None if amount_dec is None else (amount_dec * fx).quantize(Q4, rounding=ROUND_HALF_UP)
        row = event(etype, when, campaign_id=raw.get("campaign_id"), channel=channel,
                    user_id=raw.get("user_id"), event_id=raw["event_id"])
        row.update(channel_raw=channel_raw, order_id=raw.get("order_id"), currency=currency,
                   fx_rate_usd=fx, revenue=amount_dec if etype == "purchase" else None,
                   cost=amount_dec if etype == "ad_spend" else None,
                   revenue_usd=usd if etype == "purchase" else None,
                   cost_usd=usd if etype == "ad_spend" else None,
                   utm_source=raw.get("utm_source"), utm_medium=raw.get("utm_medium"),
                   utm_campaign=raw.get("utm_campaign"))
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------
# Independent computation (DESIGN.md "Gold metric definitions (v1)")
# --------------------------------------------------------------------------------------------

def _ratio(num: Decimal | int, den: Decimal | int) -> Decimal | None:
    return None if not den else Decimal(num) / Decimal(den)


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Q4, rounding=ROUND_HALF_UP)


def attribute(events: list[dict], window_days: int = 30) -> list[dict]:
    """Last click at or before the purchase, same user, within `window_days`; else direct."""
    clicks_by_user: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        if e["event_type"] == "click" and e["user_id"] is not None:
            clicks_by_user[e["user_id"]].append(e)
    out = []
    for p in (e for e in events if e["event_type"] == "purchase"):
        window_start = p["event_ts"] - dt.timedelta(days=window_days)
        candidates = [c for c in clicks_by_user.get(p["user_id"], [])
                      if window_start <= c["event_ts"] <= p["event_ts"]]
        best = max(candidates, key=lambda c: (c["event_ts"], c["event_id"]), default=None)
        out.append({
            "purchase_id": p["event_id"], "user_id": p["user_id"], "purchase_ts": p["event_ts"],
            "purchase_date": p["event_date"], "revenue_usd": p["revenue_usd"] or Decimal(0),
            "campaign_id": best["campaign_id"] if best else None,
            "channel": (best["channel"] or "unknown") if best else "direct",
            "click_id": best["event_id"] if best else None,
        })
    return out


def _campaign_counts(events: list[dict], key: Any) -> dict[Any, dict]:
    """Impressions, clicks, spend and attributed conversions/revenue per `key(campaign_id, date)`."""
    acc: dict[Any, dict] = defaultdict(lambda: {"impressions": 0, "clicks": 0, "spend_usd": Decimal(0),
                                                 "conversions": 0, "revenue_usd": Decimal(0)})
    for e in events:
        if e["campaign_id"] is None:
            continue
        k = key(e["campaign_id"], e["event_date"])
        if e["event_type"] == "impression":
            acc[k]["impressions"] += 1
        elif e["event_type"] == "click":
            acc[k]["clicks"] += 1
        elif e["event_type"] == "ad_spend":
            acc[k]["spend_usd"] += e["cost_usd"] or Decimal(0)
    for p in attribute(events):
        if p["campaign_id"] is not None:
            k = key(p["campaign_id"], p["purchase_date"])
            acc[k]["conversions"] += 1
            acc[k]["revenue_usd"] += p["revenue_usd"]
    return acc


def _campaign_metrics(m: dict) -> dict:
    """Counts and amounts -> the campaign marts' columns (DESIGN.md ratio definitions)."""
    spend, revenue = m["spend_usd"], m["revenue_usd"]
    ctr = _ratio(m["clicks"], m["impressions"])
    return {
        **m, "spend_usd": _money(spend), "revenue_usd": _money(revenue),
        "ctr": None if ctr is None else float(ctr),
        "cpc_usd": _money(_ratio(spend, m["clicks"])) if spend > 0 else None,
        "cpa_usd": _money(_ratio(spend, m["conversions"])) if spend > 0 else None,
        "roas": None if not spend else float(revenue / spend),
        "roi": None if not spend else float((revenue - spend) / spend),
    }


def expected_campaign_daily(events: list[dict]) -> dict[tuple, dict]:
    """(campaign_id, date) -> metrics of fct_campaign_performance_daily."""
    counts = _campaign_counts(events, lambda campaign, day: (campaign, day))
    return {key: _campaign_metrics(m) for key, m in counts.items()}


def expected_campaign_totals(events: list[dict]) -> dict[str, dict]:
    """campaign_id -> metrics of fct_campaign_performance: the events of all dates counted per
    campaign (not a sum of the daily figures), ratios of those totals."""
    counts = _campaign_counts(events, lambda campaign, day: campaign)
    return {key: _campaign_metrics(m) for key, m in counts.items()}


def _first_purchases(events: list[dict]) -> list[dict]:
    """Each user's first-ever purchase (earliest purchase_ts, then purchase_id), attributed."""
    first: dict[str, dict] = {}
    for p in attribute(events):
        if p["user_id"] is None:
            continue
        current = first.get(p["user_id"])
        if current is None or (p["purchase_ts"], p["purchase_id"]) < (current["purchase_ts"], current["purchase_id"]):
            first[p["user_id"]] = p
    return list(first.values())


def _cac_counts(events: list[dict], key: Any) -> dict[Any, dict]:
    """Spend and new customers per `key(channel, date)`."""
    acc: dict[Any, dict] = defaultdict(lambda: {"spend_usd": Decimal(0), "new_customers": 0})
    for e in events:
        if e["event_type"] == "ad_spend":
            acc[key(e["channel"] or "unknown", e["event_date"])]["spend_usd"] += e["cost_usd"] or 0
    for p in _first_purchases(events):
        acc[key(p["channel"], p["purchase_date"])]["new_customers"] += 1
    return acc


def _cac_metrics(m: dict) -> dict:
    return {"spend_usd": _money(m["spend_usd"]), "new_customers": m["new_customers"],
            "cac_usd": _money(_ratio(m["spend_usd"], m["new_customers"]))}


def expected_channel_cac_monthly(events: list[dict]) -> dict[tuple, dict]:
    """(channel, month_start) -> spend_usd, new_customers, cac_usd."""
    counts = _cac_counts(events, lambda channel, day: (channel, day.replace(day=1)))
    return {key: _cac_metrics(m) for key, m in counts.items()}


def expected_channel_cac_totals(events: list[dict]) -> dict[str, dict]:
    """channel -> spend_usd, new_customers, cac_usd of fct_channel_cac: all months' spend and
    first purchases counted per channel from the events (not a sum of the monthly figures)."""
    counts = _cac_counts(events, lambda channel, day: channel)
    return {key: _cac_metrics(m) for key, m in counts.items()}


def expected_customer_ltv(events: list[dict]) -> dict[str, dict]:
    by_user: dict[str, list[dict]] = defaultdict(list)
    for p in attribute(events):
        if p["user_id"] is not None:
            by_user[p["user_id"]].append(p)
    out = {}
    for user, purchases in by_user.items():
        purchases.sort(key=lambda p: (p["purchase_ts"], p["purchase_id"]))
        revenue = sum((p["revenue_usd"] for p in purchases), Decimal(0))
        out[user] = {
            "first_purchase_date": min(p["purchase_date"] for p in purchases),
            "last_purchase_date": max(p["purchase_date"] for p in purchases),
            "orders": len(purchases), "lifetime_revenue_usd": _money(revenue),
            "acquisition_channel": purchases[0]["channel"],
            "acquisition_campaign_id": purchases[0]["campaign_id"],
        }
    return out


# --------------------------------------------------------------------------------------------
# The inputs of one Gold row (what `medallion trace` must list)
# --------------------------------------------------------------------------------------------

def _event_ids(events) -> set[str]:
    return {e["event_id"] for e in events}


def expected_row_inputs(events: list[dict], table: str, key: dict) -> dict[str, set[str]]:
    """The event ids, per group, one row of `table` aggregates (DESIGN.md definitions)."""
    attributed = attribute(events)
    by_type = lambda *types: [e for e in events if e["event_type"] in types]  # noqa: E731
    activity = lambda match: {  # noqa: E731
        group: _event_ids(e for e in by_type(kind) if match(e))
        for group, kind in (("impressions", "impression"), ("clicks", "click"), ("ad_spend", "ad_spend"))}
    if table == "gold.fct_campaign_performance_daily":
        out = activity(lambda e: e["campaign_id"] == key["campaign_id"] and e["event_date"] == key["date_day"])
        out["conversions"] = {p["purchase_id"] for p in attributed if p["campaign_id"] == key["campaign_id"]
                              and p["purchase_date"] == key["date_day"]}
    elif table == "gold.fct_campaign_performance":
        out = activity(lambda e: e["campaign_id"] == key["campaign_id"])
        out["conversions"] = {p["purchase_id"] for p in attributed if p["campaign_id"] == key["campaign_id"]}
    elif table == "gold.dim_campaigns":
        out = activity(lambda e: e["campaign_id"] == key["campaign_id"])
    elif table in ("gold.fct_channel_cac_monthly", "gold.fct_channel_cac"):
        in_month = (lambda day: day.replace(day=1) == key["month_start"]) if "month_start" in key else (lambda day: True)
        out = {"ad_spend": _event_ids(e for e in by_type("ad_spend")
                                if (e["channel"] or "unknown") == key["channel"] and in_month(e["event_date"])),
               "first_purchases": {p["purchase_id"] for p in _first_purchases(events)
                                   if p["channel"] == key["channel"] and in_month(p["purchase_date"])}}
    elif table == "gold.fct_customer_ltv":
        out = {"purchases": _event_ids(e for e in by_type("purchase") if e["user_id"] == key["user_id"])}
    elif table == "gold_intermediate.int_purchases__attributed":
        out = {"purchases": {key["purchase_id"]}}
    else:
        out = {}
    return {group: ids for group, ids in out.items() if ids}



# --------------------------------------------------------------------------------------------
# Reading Gold back
# --------------------------------------------------------------------------------------------

def gold_rows(spark: Any, config: Config, table: str, version: int | None = None) -> list[dict]:
    """Rows of a Gold table read by path (timestamps come back as naive UTC: session zone UTC),
    as of Delta `version` when given (time travel), else the latest."""
    path = join_path(config.warehouse, "gold", table)
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return [r.asDict() for r in reader.load(path).collect()]


def gold_versions(spark: Any, config: Config, tables: Iterable[str]) -> dict[str, int]:
    """The latest Delta version of each Gold table: what `versions=` reads back later."""
    return {table: spark.sql(f"DESCRIBE HISTORY delta.`{join_path(config.warehouse, 'gold', table)}` LIMIT 1")
            .first()["version"] for table in tables}


def gold_snapshot(spark: Any, config: Config, tables: Iterable[str],
                  versions: dict[str, int] | None = None) -> dict[str, list[tuple]]:
    """Sorted row tuples per table (as of `versions[table]` when given): equal snapshots = equal
    contents."""
    out = {}
    for table in tables:
        rows = [tuple(sorted(r.items())) for r in gold_rows(spark, config, table, (versions or {}).get(table))]
        out[table] = sorted(rows, key=repr)
    return out


def assert_close(actual: Any, expected: Any, what: str, tol: float = 1e-6) -> None:
    if expected is None or actual is None:
        assert actual is None and expected is None, f"{what}: got {actual!r}, expected {expected!r}"
    elif isinstance(expected, float):
        assert abs(float(actual) - expected) <= tol * max(1.0, abs(expected)), \
            f"{what}: got {actual!r}, expected {expected!r}"
    elif isinstance(expected, Decimal):
        assert abs(Decimal(actual) - expected) <= Decimal("0.0001"), f"{what}: got {actual!r}, expected {expected!r}"
    else:
        assert actual == expected, f"{what}: got {actual!r}, expected {expected!r}"


def assert_gold_equals(spark: Any, config: Config, model: str, key: Any, expected: dict,
                       version: int | None = None) -> dict:
    """The Gold model's rows (as of `version` when given), keyed by `key(row)`, are exactly
    `expected`'s keys, and every expected column matches. Returns the model's rows by key."""
    actual = {key(r): r for r in gold_rows(spark, config, model, version)}
    assert set(actual) == set(expected)
    for k, exp in expected.items():
        for column, value in exp.items():
            assert_close(actual[k][column], value, f"{model}[{k}].{column}")
    return actual


def assert_gold_matches(spark: Any, config: Config, events: list[dict],
                        versions: dict[str, int] | None = None) -> None:
    """Every mart computed from Silver rows (as of `versions[mart]` when given) equals the
    independent computation from `events`."""
    v = versions or {}
    assert_gold_equals(spark, config, "fct_campaign_performance_daily",
                       lambda r: (r["campaign_id"], r["date_day"]), expected_campaign_daily(events),
                       v.get("fct_campaign_performance_daily"))
    assert_gold_equals(spark, config, "fct_campaign_performance", lambda r: r["campaign_id"],
                       expected_campaign_totals(events), v.get("fct_campaign_performance"))
    assert_gold_equals(spark, config, "fct_channel_cac_monthly",
                       lambda r: (r["channel"], r["month_start"]), expected_channel_cac_monthly(events),
                       v.get("fct_channel_cac_monthly"))
    assert_gold_equals(spark, config, "fct_channel_cac", lambda r: r["channel"],
                       expected_channel_cac_totals(events), v.get("fct_channel_cac"))
    assert_gold_equals(spark, config, "fct_customer_ltv", lambda r: r["user_id"],
                       expected_customer_ltv(events), v.get("fct_customer_ltv"))
