"""The pure parts of `medallion trace`: key parsing, raw-line masking, the Python re-aggregation
it reconciles Gold with, and which Delta commits count as rewriting history."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from pipelines.core.errors import PipelineError
from pipelines.core.personal_data import mask_raw_line, raw_field_classes
from pipelines.core.registry import PersonalData, table
from pipelines.lineage import reaggregate as agg
from pipelines.lineage.delta_reader import rewrites
from pipelines.lineage.keys import parse_keys

UTC = dt.timezone.utc
DAILY = table("gold.fct_campaign_performance_daily")


def ev(event_id: str, event_type: str, ts: str, **fields) -> dict:
    when = dt.datetime.fromisoformat(ts).replace(tzinfo=UTC)
    row = {"event_id": event_id, "event_type": event_type, "event_ts": when, "event_date": when.date(),
           "campaign_id": None, "channel": None, "user_id": None, "order_id": None, "revenue_usd": None,
           "cost_usd": None}
    row.update(fields)
    return row


def test_keys_are_typed_by_the_registry_column_types():
    keys = parse_keys(DAILY, ["campaign_id=cmp-1", "date_day=2026-11-03"])
    assert keys == {"campaign_id": "cmp-1", "date_day": dt.date(2026, 11, 3)}
    assert parse_keys(table("gold.fct_campaign_performance"), ["clicks=7"]) == {"clicks": 7}


@pytest.mark.parametrize(("arguments", "code"), [
    (["campaign_id"], "TRACE_KEY_INVALID"),           # no '='
    (["=cmp-1"], "TRACE_KEY_INVALID"),                # no column
    (["campaign_id="], "TRACE_KEY_INVALID"),          # no value
    (["date_day=2026-02-30"], "TRACE_KEY_INVALID"),   # not a date
    (["campaign_id=a", "campaign_id=b"], "TRACE_KEY_INVALID"),
    (["campaign=cmp-1"], "TRACE_UNKNOWN_COLUMN"),
])
def test_a_malformed_key_is_an_error_with_a_code(arguments, code):
    with pytest.raises(PipelineError) as caught:
        parse_keys(DAILY, arguments)
    assert caught.value.code == code


def test_the_raw_line_is_masked_by_the_registry_classes_of_its_fields():
    assert raw_field_classes()["email"] == PersonalData.DIRECT
    assert raw_field_classes()["properties"] == table("silver.events").column("properties").personal_data
    raw = json.dumps({"event_id": "e1", "user_id": "u-1", "email": "Jane.Doe@Example.com",
                      "properties": {"ip": "10.1.2.3"}, "utm_source": "x jane@example.org", "extra": "secret"})
    masked = json.loads(mask_raw_line(raw))
    assert masked == {"event_id": "e1", "user_id": "u-1", "email": "<direct>", "properties": "<direct>",
                      "utm_source": "x <email>", "extra": "<unknown field>"}
    assert mask_raw_line("{not json jane@example.org") == "{not json <email>"
    assert mask_raw_line(None) is None


def test_last_click_attribution_counts_a_click_exactly_thirty_days_before_and_breaks_ties_by_id():
    purchase = ev("p", "purchase", "2026-10-31 12:00:00", user_id="u", revenue_usd=Decimal("10"))
    clicks = agg.clicks_by_user([
        ev("c-old", "click", "2026-10-01 11:59:59", user_id="u", campaign_id="old"),
        ev("c-30d", "click", "2026-10-01 12:00:00", user_id="u", campaign_id="edge"),
    ])
    assert agg.attribute(purchase, clicks, 30).campaign_id == "edge"
    tied = agg.clicks_by_user([ev("c-a", "click", "2026-10-31 11:00:00", user_id="u", campaign_id="a", channel="email"),
                               ev("c-b", "click", "2026-10-31 11:00:00", user_id="u", campaign_id="b", channel=None)])
    won = agg.attribute(purchase, tied, 30)
    assert (won.click["event_id"], won.campaign_id, won.channel) == ("c-b", "b", "unknown")
    after = agg.clicks_by_user([ev("c-late", "click", "2026-10-31 12:00:01", user_id="u", campaign_id="late")])
    none = agg.attribute(purchase, after, 30)
    assert (none.click, none.campaign_id, none.channel) == (None, None, "direct")


def test_campaign_ratios_are_null_without_spend_and_their_denominators():
    free = agg.campaign_measures(impressions=0, clicks=0, spend_usd=Decimal(0), conversions=1,
                                 revenue_usd=Decimal("30"))
    assert (free["ctr"], free["cpc_usd"], free["cpa_usd"], free["roas"], free["roi"]) == (None,) * 5
    paid = agg.campaign_measures(impressions=3, clicks=1, spend_usd=Decimal("2.5"), conversions=0,
                                 revenue_usd=Decimal(0))
    assert paid["ctr"] == 1 / 3 and paid["cpc_usd"] == Decimal("2.5000") and paid["cpa_usd"] is None
    assert paid["roas"] == 0.0 and paid["roi"] == -1.0


def test_the_first_purchase_decides_a_customers_acquisition():
    a1 = agg.Attribution(ev("p2", "purchase", "2026-10-02 00:00:00", user_id="u", revenue_usd=Decimal("5")), None)
    a0 = agg.Attribution(ev("p1", "purchase", "2026-10-01 00:00:00", user_id="u", revenue_usd=Decimal("4")),
                         ev("c", "click", "2026-09-30 00:00:00", user_id="u", campaign_id="cmp", channel="email"))
    row = agg.ltv_row([a1, a0])
    assert row == {"first_purchase_date": dt.date(2026, 10, 1), "last_purchase_date": dt.date(2026, 10, 2),
                   "orders": 2, "lifetime_revenue_usd": Decimal("9.0000"), "average_order_value_usd": Decimal("4.5000"),
                   "acquisition_channel": "email", "acquisition_campaign_id": "cmp"}
    assert agg.cac_row([], [a0])["cac_usd"] == Decimal("0.0000")
    assert agg.cac_row([ev("s", "ad_spend", "2026-10-01 00:00:00", cost_usd=Decimal("3"))], [])["cac_usd"] is None


def test_reconciliation_wants_sums_exact_and_allows_a_ratio_one_unit_of_its_last_place():
    gold = {"spend_usd": Decimal("10.0000"), "cpc_usd": Decimal("3.3334"), "roas": 0.30000000000000004, "clicks": 3}
    same = {"spend_usd": Decimal("10"), "cpc_usd": Decimal("3.3333"), "roas": 0.3, "clicks": 3}
    assert agg.differences(gold, same) == []
    off = {"spend_usd": Decimal("10.0001"), "cpc_usd": Decimal("3.3336"), "roas": 0.31, "clicks": 4}
    assert [d["column"] for d in agg.differences(gold, off)] == ["spend_usd", "cpc_usd", "roas", "clicks"]
    assert agg.differences({"cac_usd": None}, {"cac_usd": Decimal(1)}) == [
        {"column": "cac_usd", "gold": None, "recomputed": Decimal(1)}]


def test_commits_that_change_committed_rows_count_as_rewriting_history():
    commits = [
        {"version": 3, "operation": "WRITE", "operationParameters": {"mode": "Append"}},
        {"version": 4, "operation": "STREAMING UPDATE", "operationParameters": {"outputMode": "Append"}},
        {"version": 5, "operation": "OPTIMIZE", "operationParameters": {}},
        {"version": 6, "operation": "SET TBLPROPERTIES", "operationParameters": {}},
        {"version": 7, "operation": "DELETE", "operationParameters": {"predicate": "[]"}},
        {"version": 8, "operation": "MERGE", "operationParameters": {}},
        {"version": 9, "operation": "WRITE", "operationParameters": {"mode": "Overwrite"}},
        {"version": 10, "operation": "RESTORE", "operationParameters": {}},
    ]
    assert [c["version"] for c in rewrites(commits)] == [7, 8, 9, 10]


def test_every_mart_and_the_attribution_table_is_traceable_by_columns_it_has():
    from pipelines.core.registry import gold_tables
    from pipelines.lineage.grains import GRAINS

    built = {t.qualified_name: t for t in gold_tables() if t.schema in ("gold", "gold_intermediate")}
    assert set(GRAINS) == set(built)  # a new mart needs its grain (pipelines/lineage/grains.py)
    for name, grain in GRAINS.items():
        assert set(grain.key) <= set(built[name].column_names), name
