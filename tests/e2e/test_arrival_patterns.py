"""Gold is right under any arrival pattern: landing files -> `run --once`, again and again.

One lakehouse, fixed-seed generated events (without conflicting redeliveries, whose winner would
depend on the order inside a batch), landed step by step as producers deliver them: a first part
in order, then, each in a run of its own, the next part in order; a part shuffled across files;
the events of one day 10+ days older than the newest landed date; a redelivered slice; a late
click that re-attributes an already-built purchase to another campaign; a future-dated event; a
backfilled file with a months-old modification time. After each run: the incremental marts were
built incrementally (change-driven, not a fallback full recomputation), every mart equals the
independent Python computation from the events landed so far (gold_testkit), and a full refresh
gives exactly the incremental marts.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
from pathlib import Path

import pytest

from pipelines.core.config import Config
from pipelines.core.tables import AUDIT_GOLD_BUILDS, SILVER_EVENTS_QUARANTINE
from tests.conftest import make_config
from tests.integration.gold_testkit import (
    assert_gold_matches, attribute, expected_campaign_daily, expected_channel_cac_monthly, expected_customer_ltv,
    expected_row_inputs, gold_rows, gold_snapshot, seed_fx_rates_usd, silver_rows_from_generated,
)

# The tests are the scenario's steps, each landing more data on the one lakehouse and checking
# what it builds: they run in file order whatever the random order of the run (`in_order`).
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.in_order]

SEED, EVENTS, BAD_RATE = 23, 4000, 0.03
INCREMENTAL = ("fct_campaign_performance_daily", "fct_customer_ltv")
FULL_REFRESH = ["--select", "+fct_campaign_performance_daily", "+fct_customer_ltv", "--exclude", "resource_type:test",
                "resource_type:unit_test", "--full-refresh"]
ACCEPTED = (None, "late", "duplicate")  # lines whose event reaches Silver (a duplicate: once)


class Lake:
    """The lakehouse, the lines landed so far, and the step runner."""

    def __init__(self, spark, root: Path) -> None:
        from pipelines.sample_events import generate_lines

        self.spark = spark
        self.root = root
        self.config: Config = make_config(root / "lakehouse", gold={"threads": 4})
        self.fx = seed_fx_rates_usd()
        self.lines = [gl for gl in generate_lines(EVENTS, seed=SEED, days=30, bad_rate=BAD_RATE)
                      if gl.kind != "conflicting_duplicate"]
        self.landed: list = []  # (line bytes, event dict or None, kind) in landing order
        self.files = 0
        self.steps: dict[str, dict] = {}

    # -- input -------------------------------------------------------------------------------

    def event_date(self, gl) -> dt.date | None:
        if gl.kind not in ACCEPTED or gl.event is None:
            return None
        return silver_rows_from_generated([gl.event], self.fx)[0]["event_date"]

    def land(self, lines: list, *, files: int = 1, shuffle: bool = False, mtime: float | None = None) -> None:
        """Land `lines` (GeneratedLine-like: .line, .kind, .event) atomically in `files` files."""
        lines = list(lines)
        if shuffle:
            random.Random(f"arrival:{SEED}:{self.files}").shuffle(lines)
        landing = Path(self.config.landing)
        landing.mkdir(parents=True, exist_ok=True)
        for part in range(files):
            chunk = lines[part * len(lines) // files:(part + 1) * len(lines) // files]
            self.files += 1
            name = f"arrivals-{self.files:03d}.jsonl"
            tmp = landing / f".{name}.tmp"
            tmp.write_bytes(b"\n".join(gl.line for gl in chunk) + b"\n")
            if mtime is not None:  # as `cp -p`, `rsync -a` or a backfill leave it
                os.utime(tmp, (mtime, mtime))
            os.replace(tmp, landing / name)
        self.landed += lines

    def expected_events(self) -> list[dict]:
        """silver.events as a correct pipeline holds it: accepted events, first occurrence of each id."""
        seen: set[str] = set()
        out = []
        for gl in self.landed:
            if gl.kind in ACCEPTED and gl.event is not None and gl.event["event_id"] not in seen:
                seen.add(gl.event["event_id"])
                out.append(gl.event)
        return silver_rows_from_generated(out, self.fx)

    # -- a step --------------------------------------------------------------------------------

    def run(self, label: str) -> dict:
        """`run --once`, then the checks' raw material: the build modes, Gold before and after a
        full refresh."""
        from gold.dbt_build import build_gold
        from pipelines.orchestration import run_stages

        started = time.monotonic()
        assert run_stages(self.config, ["ingest", "refine", "build"], continuous=False, spark=self.spark) == 0
        seconds = time.monotonic() - started
        modes, invocation_id = self.build_modes()
        incremental = gold_snapshot(self.spark, self.config, INCREMENTAL)
        daily = {(r["campaign_id"], str(r["date_day"])): r
                 for r in gold_rows(self.spark, self.config, "fct_campaign_performance_daily")}
        events = self.expected_events()
        try:
            assert_gold_matches(self.spark, self.config, events)
            matches = None
        except AssertionError as exc:  # reported by the step's test, after the full refresh below
            matches = str(exc)[:3000]
        outcome = build_gold(self.config, FULL_REFRESH, spark=self.spark)
        assert outcome.success, outcome.summary()
        step = {"modes": modes, "invocation_id": invocation_id, "incremental": incremental, "daily": daily, "python_mismatch": matches,
                "full": gold_snapshot(self.spark, self.config, INCREMENTAL), "events": events, "seconds": seconds}
        self.steps[label] = step
        print(f"\n{label}: run --once {seconds:.0f}s, modes {modes}")
        return step

    def build_modes(self) -> tuple[dict[str, tuple], str]:
        """(build_mode, changed_keys) of the incremental marts in the latest build, and its id."""
        ledger = [r.asDict() for r in self.spark.read.format("delta").load(
            AUDIT_GOLD_BUILDS.location(self.config)).collect()]
        latest = max((r for r in ledger if r["resource_type"] == "invocation"), key=lambda r: r["started_at"])
        return {r["relation"].split(".")[1]: (r["build_mode"], r["changed_keys"]) for r in ledger
                if r["invocation_id"] == latest["invocation_id"] and r["relation"]
                and r["relation"].split(".")[1] in INCREMENTAL}, latest["invocation_id"]


def _assert_step(step: dict, modes: dict[str, set[str]]) -> None:
    """The marts were built as `modes` allows, equal the Python computation and a full refresh."""
    assert all(step["modes"][t][0] in modes[t] for t in INCREMENTAL), step["modes"]
    assert step["python_mismatch"] is None, step["python_mismatch"]
    assert step["incremental"] == step["full"]


CHANGED = {"fct_campaign_performance_daily": {"incremental"}, "fct_customer_ltv": {"incremental", "unchanged"}}
NOTHING = {"fct_campaign_performance_daily": {"unchanged"}, "fct_customer_ltv": {"unchanged"}}


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory) -> Lake:
    root = tmp_path_factory.mktemp("arrivals")
    saved = {k: os.environ.get(k) for k in ("DBT_TARGET_PATH", "DBT_LOG_PATH")}
    os.environ["DBT_TARGET_PATH"] = str(root / "dbt-target")
    os.environ["DBT_LOG_PATH"] = str(root / "dbt-logs")
    state = Lake(spark, root)
    dates = sorted({d for d in map(state.event_date, state.lines) if d})
    newest = dates[-1]
    state.late_day = newest - dt.timedelta(days=12)  # landed after everything else: 12 days late
    state.backfill_day = newest - dt.timedelta(days=20)  # in a file with a 90-day-old mtime
    withheld = {state.late_day: [], state.backfill_day: []}
    rest = []
    for gl in state.lines:
        day = state.event_date(gl)
        (withheld[day] if day in withheld else rest).append(gl)
    state.late_slice, state.backfill_slice = withheld[state.late_day], withheld[state.backfill_day]
    cut1, cut2 = int(len(rest) * 0.4), int(len(rest) * 0.7)
    state.parts = rest[:cut1], rest[cut1:cut2], rest[cut2:]
    state.land(state.parts[0], files=2)
    assert run_first(state)
    yield state
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run_first(state: Lake) -> bool:
    """The first run builds Gold from nothing (every mart in full)."""
    step = state.run("first part, in order")
    assert {t: step["modes"][t][0] for t in INCREMENTAL} == {t: "full" for t in INCREMENTAL}
    assert step["python_mismatch"] is None, step["python_mismatch"]
    return True


def test_the_next_part_landed_in_order_reaches_gold_incrementally(lake):
    lake.land(lake.parts[1], files=2)
    _assert_step(lake.run("in order"), CHANGED)


def test_a_part_shuffled_across_files_reaches_gold_incrementally(lake):
    lake.land(lake.parts[2], files=3, shuffle=True)
    _assert_step(lake.run("shuffled across files"), CHANGED)


def test_the_events_of_a_day_landed_twelve_days_late_reach_their_day(lake):
    assert lake.late_slice
    lake.land(lake.late_slice)
    step = lake.run("12-day-late slice")
    _assert_step(step, CHANGED)
    assert any(day == str(lake.late_day) for _, day in step["daily"])


def test_a_redelivered_slice_changes_nothing(lake):
    before = lake.steps["12-day-late slice"]["full"]
    lake.land([gl for gl in lake.parts[1][:300] if gl.kind in ACCEPTED])
    step = lake.run("redelivered slice")
    _assert_step(step, NOTHING)
    assert step["incremental"] == before


class _Line:
    """A hand-made landing line."""

    def __init__(self, event: dict, kind: str | None = None) -> None:
        self.event, self.kind = event, kind
        self.line = json.dumps(event).encode("utf-8")


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_a_late_click_moves_an_already_built_purchase_to_its_campaign(lake):
    events = lake.expected_events()
    newest = max(e["event_date"] for e in events)
    clicks: dict[str, list[dict]] = {}
    for e in events:
        if e["event_type"] == "click" and e["user_id"]:
            clicks.setdefault(e["user_id"], []).append(e)
    candidates = []
    for p in attribute(events):
        if p["campaign_id"] is None or p["purchase_date"] > newest - dt.timedelta(days=10):
            continue
        won = max((c for c in clicks[p["user_id"]] if c["event_ts"] <= p["purchase_ts"]
                   and c["event_ts"] >= p["purchase_ts"] - dt.timedelta(days=30)),
                  key=lambda c: (c["event_ts"], c["event_id"]))
        if p["purchase_ts"] - won["event_ts"] >= dt.timedelta(minutes=2):
            candidates.append((p, won))
    purchase, won = sorted(candidates, key=lambda pw: pw[0]["purchase_id"])[0]
    other = next(c for c in ("cmp-social-prospecting", "cmp-search-eu") if c != purchase["campaign_id"])
    when = won["event_ts"] + (purchase["purchase_ts"] - won["event_ts"]) / 2
    lake.land([_Line({"event_id": "late-click-reattributing", "event_type": "click", "event_ts": _iso(when),
                      "user_id": purchase["user_id"], "campaign_id": other, "channel": "fb"})])
    before = lake.steps["redelivered slice"]["daily"]
    step = lake.run("late click re-attributing a built purchase")
    _assert_step(step, {"fct_campaign_performance_daily": {"incremental"}, "fct_customer_ltv": {"incremental"}})
    day = str(purchase["purchase_date"])

    def conversions(daily: dict, campaign: str) -> int:
        return daily[(campaign, day)]["conversions"] if (campaign, day) in daily else 0
    assert conversions(step["daily"], purchase["campaign_id"]) == conversions(before, purchase["campaign_id"]) - 1
    assert conversions(step["daily"], other) == conversions(before, other) + 1


def test_a_future_dated_event_is_quarantined_and_an_ordinary_one_beside_it_reaches_gold(spark, lake):
    campaign, day = next(iter(sorted(lake.steps["late click re-attributing a built purchase"]["daily"])))
    noon = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12))
    lake.land([_Line({"event_id": "future-dated-impression", "event_type": "impression",
                      "event_ts": "2099-01-01T00:00:00Z", "campaign_id": campaign, "channel": "Google Ads"},
                     kind="future_timestamp"),
               _Line({"event_id": "ordinary-impression", "event_type": "impression", "event_ts": _iso(noon),
                      "campaign_id": campaign, "channel": "Google Ads"})])
    before = lake.steps["late click re-attributing a built purchase"]["daily"][(campaign, day)]["impressions"]
    step = lake.run("future-dated event")
    _assert_step(step, {"fct_campaign_performance_daily": {"incremental"}, "fct_customer_ltv": {"unchanged"}})
    assert step["daily"][(campaign, day)]["impressions"] == before + 1
    assert not [key for key in step["daily"] if key[1].startswith("2099")]
    quarantined = spark.read.format("delta").load(SILVER_EVENTS_QUARANTINE.location(lake.config)) \
        .filter("event_id = 'future-dated-impression'").collect()
    assert [r["reasons"] for r in quarantined] == [["future_timestamp"]]


def test_a_backfilled_file_with_a_months_old_mtime_reaches_gold(lake):
    assert lake.backfill_slice
    lake.land(lake.backfill_slice, mtime=time.time() - 90 * 86400)
    step = lake.run("backfilled file, 90-day-old mtime")
    _assert_step(step, CHANGED)
    assert any(day == str(lake.backfill_day) for _, day in step["daily"])


def test_a_trace_of_the_first_build_after_all_these_runs_returns_exactly_what_that_build_read(lake):
    """`medallion trace --as-of-build` of the first run's build, after every later ingest, refine,
    incremental build and full refresh: each row is the row that build made, and the events listed
    are exactly those the independent computation over the first part finds behind it."""
    from pipelines.lineage.trace import trace

    first = lake.steps["first part, in order"]
    events = first["events"]
    rnd = random.Random(SEED)
    keys = {
        "gold.fct_campaign_performance_daily": [{"campaign_id": c, "date_day": d}
                                                for c, d in sorted(expected_campaign_daily(events))],
        "gold.fct_channel_cac_monthly": [{"channel": c, "month_start": m}
                                         for c, m in sorted(expected_channel_cac_monthly(events))],
        "gold.fct_customer_ltv": [{"user_id": u} for u in sorted(expected_customer_ltv(events))],
    }
    for table, candidates in keys.items():
        for key in rnd.sample(candidates, min(4, len(candidates))):
            args = [f"{k}={v}" for k, v in key.items()]
            then = trace(lake.config, table, args, invocation_id=first["invocation_id"], limit=None)
            assert then["reconciliation"]["status"] == "ok", (table, args, then["reconciliation"])
            listed = {g: {e["event_id"] for e in grp["events"]} for g, grp in then["events"].items() if grp["count"]}
            assert listed == expected_row_inputs(events, table, key), (table, args)
            now = trace(lake.config, table, args, limit=None)
            assert now["reconciliation"]["status"] == "ok", (table, args, now["reconciliation"])
            assert now["build"]["invocation_id"] != first["invocation_id"]
