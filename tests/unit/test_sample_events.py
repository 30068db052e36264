"""The sample event generator: deterministic, contract-valid traffic plus each kind of bad line.

The contract checks below are written from the DESIGN.md table, independently of the generator,
so a generator bug cannot hide behind its own definitions.
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pipelines import sample_events
from pipelines.core.errors import PipelineError
from pipelines.sample_events import (
    BAD_KINDS,
    OVERSIZED_BYTES,
    GeneratedLine,
    clean_events,
    count_kinds,
    generate_lines,
    write_sample_events,
)

# ---- independent contract validator (DESIGN.md, "Event contract v1") ------------------------

CONTRACT_REQUIRED = {
    "impression": {"campaign_id", "channel"},
    "click": {"campaign_id", "channel", "user_id"},
    "session_start": {"user_id"},
    "signup": {"user_id"},
    "purchase": {"user_id", "order_id", "revenue", "currency"},
    "ad_spend": {"campaign_id", "channel", "cost", "currency"},
}
ALWAYS_REQUIRED = ("event_id", "event_type", "event_ts")
STRING_FIELDS = ("event_id", "campaign_id", "channel", "user_id", "email", "order_id", "currency",
                 "utm_source", "utm_medium", "utm_campaign")
KNOWN_CURRENCIES = {"USD", "EUR", "GBP", "JPY", "CAD"}
NUMERIC_TEXT = re.compile(r"-?\d+(\.\d+)?")
MIXED_KIND_EVENTS, MIXED_KIND_RATE = 6000, 0.24  # 120 lines of each bad kind


def parse_ts(value: Any) -> float | None:
    """Epoch seconds of a contract timestamp, or None when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value / 1000 if 946_684_800_000 <= value <= 4_102_444_800_000 else None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.timestamp() if parsed.tzinfo is not None else None
    return None


def parse_amount(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and NUMERIC_TEXT.fullmatch(value):
        return float(value)
    return None


def contract_reasons(line: bytes) -> set[str]:
    """Every way `line` breaks the contract (empty set = a valid event)."""
    reasons = {"oversized_record"} if len(line) > OVERSIZED_BYTES else set()
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return reasons | {"invalid_encoding"}
    try:
        event = json.loads(text)
    except ValueError:
        return reasons | {"malformed_json"}
    if not isinstance(event, dict):
        return reasons | {"malformed_json"}
    present = {k for k, v in event.items() if v is not None}
    reasons |= {f"missing_{f}" for f in ALWAYS_REQUIRED if f not in present}
    etype = event.get("event_type")
    if etype is not None:
        if not isinstance(etype, str) or etype.lower() not in CONTRACT_REQUIRED:
            reasons.add("invalid_event_type")
        else:
            reasons |= {f"missing_{f}" for f in CONTRACT_REQUIRED[etype.lower()] if f not in present}
    if event.get("event_ts") is not None and parse_ts(event["event_ts"]) is None:
        reasons.add("invalid_timestamp")
    for name in ("revenue", "cost"):
        if event.get(name) is not None:
            amount = parse_amount(event[name])
            if amount is None:
                reasons.add("invalid_amount")
            elif amount < 0:
                reasons.add("negative_amount")
    if event.get("currency") is not None and event["currency"] not in KNOWN_CURRENCIES:
        reasons.add("unknown_currency")
    reasons |= {f"wrong_type_{f}" for f in STRING_FIELDS if f in present and not isinstance(event[f], str)}
    if "properties" in present and not isinstance(event["properties"], dict):
        reasons.add("wrong_type_properties")
    return reasons


def event_seconds(gl: GeneratedLine) -> float:
    seconds = parse_ts(json.loads(gl.line)["event_ts"])
    assert seconds is not None
    return seconds


def event_of(gl: GeneratedLine) -> dict:
    assert gl.event is not None
    return gl.event


def utc_date(event: dict) -> dt.date:
    return dt.datetime.fromtimestamp(parse_ts(event["event_ts"]) or 0, dt.timezone.utc).date()


# ---- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mixed() -> list[GeneratedLine]:
    return generate_lines(MIXED_KIND_EVENTS, seed=11, bad_rate=MIXED_KIND_RATE)


@pytest.fixture(scope="module")
def traffic() -> list[GeneratedLine]:
    return generate_lines(20_000, seed=5)


def lines_of(mixed: list[GeneratedLine], kind: str) -> list[GeneratedLine]:
    return [gl for gl in mixed if gl.kind == kind]


def landing_files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# ---- determinism -----------------------------------------------------------------------------

def test_same_seed_gives_identical_lines() -> None:
    first = generate_lines(3000, seed=7, bad_rate=0.1)
    second = generate_lines(3000, seed=7, bad_rate=0.1)
    assert [(gl.line, gl.kind) for gl in first] == [(gl.line, gl.kind) for gl in second]


def test_different_seeds_give_different_lines() -> None:
    first = [gl.line for gl in generate_lines(500, seed=1)]
    second = [gl.line for gl in generate_lines(500, seed=2)]
    assert first != second
    assert not set(first) & set(second)


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    reports = [write_sample_events(str(tmp_path / name), events=2500, seed=7, bad_rate=0.1, files=3)
               for name in ("a", "b")]
    names = [[os.path.basename(f) for f in r.files] for r in reports]
    assert names[0] == names[1]
    for name in names[0]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_rerunning_the_same_call_rewrites_the_same_files(tmp_path: Path) -> None:
    first = write_sample_events(str(tmp_path), events=1000, seed=3, files=2)
    before = {f: Path(f).read_bytes() for f in first.files}
    second = write_sample_events(str(tmp_path), events=1000, seed=3, files=2)
    assert second.files == first.files
    assert {f: Path(f).read_bytes() for f in second.files} == before
    assert landing_files(tmp_path) == sorted(os.path.basename(f) for f in first.files)


def test_default_window_is_fixed_and_ends_on_2026_10_31(traffic: list[GeneratedLine]) -> None:
    first = dt.datetime(2026, 10, 2, tzinfo=dt.timezone.utc).timestamp()
    end = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc).timestamp()
    times = [event_seconds(gl) for gl in traffic]
    assert first <= min(times) and max(times) < end


def test_start_moves_the_window() -> None:
    lines = generate_lines(300, seed=1, days=3, start=dt.date(2025, 1, 1))
    times = [event_seconds(gl) for gl in lines]
    assert dt.datetime.fromtimestamp(min(times), dt.timezone.utc).date() >= dt.date(2025, 1, 1)
    assert dt.datetime.fromtimestamp(max(times), dt.timezone.utc).date() <= dt.date(2025, 1, 3)


# ---- files -----------------------------------------------------------------------------------

def test_files_hold_every_line_once_in_order_with_trailing_newlines(tmp_path: Path) -> None:
    report = write_sample_events(str(tmp_path), events=2500, seed=9, bad_rate=0.2, files=4)
    assert len(report.files) == 4 and report.lines == 2500
    assert all(re.fullmatch(r"events-s9-[0-9a-f]{8}-part-0000[0-3]\.jsonl", os.path.basename(f))
               for f in report.files)
    contents = [Path(f).read_bytes() for f in sorted(report.files)]
    assert all(c.endswith(b"\n") and not c.endswith(b"\n\n") for c in contents)
    written = [line for c in contents for line in c[:-1].split(b"\n")]
    assert written == [gl.line for gl in generate_lines(2500, seed=9, bad_rate=0.2)]
    assert sum(report.by_kind.values()) == 2500


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    report = write_sample_events(str(tmp_path), events=1000, seed=1, files=5)
    assert landing_files(tmp_path) == sorted(os.path.basename(f) for f in report.files)
    assert not [name for name in landing_files(tmp_path) if name.startswith(".")]


def test_a_failed_rename_leaves_neither_temporary_nor_final_files(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(src: str, dst: str) -> None:
        assert os.path.basename(src).startswith(".")  # written under a hidden name first
        raise OSError("disk full")

    monkeypatch.setattr(sample_events.os, "replace", fail)
    with pytest.raises(OSError):
        write_sample_events(str(tmp_path), events=100, seed=1)
    assert landing_files(tmp_path) == []


def test_missing_landing_folder_is_created(tmp_path: Path) -> None:
    target = tmp_path / "not" / "yet" / "there"
    report = write_sample_events(str(target), events=10, seed=1)
    assert [os.path.dirname(f) for f in report.files] == [str(target)]


def test_other_seeds_or_parameters_never_overwrite_earlier_files(tmp_path: Path) -> None:
    calls = [dict(seed=1), dict(seed=2), dict(seed=1, bad_rate=0.1), dict(seed=1, days=7),
             dict(seed=1, files=2)]
    names: list[str] = []
    for kwargs in calls:
        names += write_sample_events(str(tmp_path), events=200, **kwargs).files
    assert len(set(names)) == len(names)
    assert len(landing_files(tmp_path)) == len(names)


def test_more_files_than_events_writes_one_line_per_file(tmp_path: Path) -> None:
    report = write_sample_events(str(tmp_path), events=3, seed=1, files=10)
    assert len(report.files) == 3
    assert all(Path(f).read_bytes().count(b"\n") == 1 for f in report.files)


def test_file_uri_landing_folder_is_accepted(tmp_path: Path) -> None:
    report = write_sample_events(f"file://{tmp_path}", events=10, seed=1)
    assert report.files[0].startswith(str(tmp_path))


def test_object_store_landing_folder_is_refused() -> None:
    with pytest.raises(PipelineError) as error:
        write_sample_events("s3a://bucket/landing", events=10)
    assert error.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("kwargs", [dict(events=-1), dict(days=0), dict(bad_rate=1.5),
                                    dict(bad_rate=-0.1), dict(files=0)])
def test_invalid_arguments_raise_a_pipeline_error(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"events": 10, **kwargs}
    with pytest.raises(PipelineError) as error:
        write_sample_events(str(tmp_path), **args)
    assert error.value.code == "INVALID_ARGUMENT"


def test_summary_names_lines_files_and_kinds(tmp_path: Path) -> None:
    report = write_sample_events(str(tmp_path), events=1200, seed=4, bad_rate=0.12, files=2)
    text = report.summary()
    assert "1,200 lines" in text and "2 file" in text and str(tmp_path) in text
    assert all(kind in text for kind in BAD_KINDS)
    assert report.by_kind["valid"] == 1200 - 144 and report.bad_lines == 144


# ---- contract-valid traffic ------------------------------------------------------------------

def test_valid_lines_satisfy_the_event_contract(traffic: list[GeneratedLine],
                                                mixed: list[GeneratedLine]) -> None:
    kinds = (None, "late", "duplicate", "conflicting_duplicate")
    accepted = [gl for gl in traffic + mixed if gl.kind in kinds]
    broken = {gl.line[:200]: contract_reasons(gl.line) for gl in accepted if contract_reasons(gl.line)}
    assert broken == {}
    assert all(json.loads(gl.line) == gl.event for gl in accepted)


def test_event_ids_of_distinct_events_are_unique(traffic: list[GeneratedLine]) -> None:
    ids = [event_of(gl)["event_id"] for gl in traffic if gl.event]
    assert len(ids) == len(set(ids)) == len(traffic)


def test_traffic_has_the_whole_funnel_with_plausible_rates(traffic: list[GeneratedLine]) -> None:
    types = collections.Counter(event_of(gl)["event_type"].lower() for gl in traffic if gl.event)
    assert set(types) == set(CONTRACT_REQUIRED)
    assert 0.01 <= types["click"] / types["impression"] <= 0.10
    assert types["impression"] > types["click"] > types["signup"] > types["purchase"] > 0
    assert types["session_start"] > types["signup"]


def test_one_ad_spend_per_campaign_per_day_with_positive_cost(traffic: list[GeneratedLine]) -> None:
    spend = [e for e in map(event_of, traffic) if e["event_type"].lower() == "ad_spend"]
    campaigns = {e["campaign_id"] for e in spend}
    per_campaign_day = collections.Counter((e["campaign_id"], utc_date(e)) for e in spend)
    assert 10 <= len(campaigns) <= 15 and len({utc_date(e) for e in spend}) == 30
    assert len(per_campaign_day) == len(campaigns) * 30 and set(per_campaign_day.values()) == {1}
    assert all((parse_amount(e["cost"]) or 0) > 0 for e in spend)


def test_traffic_is_written_the_way_real_producers_write_it(traffic: list[GeneratedLine]) -> None:
    events = [gl.event for gl in traffic if gl.event]
    channels = {e["channel"] for e in events if "channel" in e}
    assert set(sample_events.CHANNEL_ALIASES) >= channels  # every spelling has a known meaning
    assert {sample_events.CHANNEL_ALIASES[c] for c in channels} == {
        "paid_search", "paid_social", "display", "email", "affiliate", "organic", "referral", "direct",
        "unknown"}
    assert {"Google Ads", "google_ads", "fb", "FACEBOOK", "Meta", "e-mail", "Email", "DV360",
            "Organic", "referral", "affiliate", "tiktok-influencer"} <= channels
    raw_types = {e["event_type"] for e in events}
    assert any(t.isupper() for t in raw_types) and any(t[0].isupper() and not t.isupper() for t in raw_types)
    stamps = [e["event_ts"] for e in events]
    assert any(isinstance(s, int) for s in stamps)
    assert any(isinstance(s, str) and s.endswith("Z") for s in stamps)
    assert any(isinstance(s, str) and re.search(r"[+-]\d\d:\d\d$", s) for s in stamps)
    purchases = [e for e in events if e["event_type"].lower() == "purchase"]
    assert {type(p["revenue"]) for p in purchases} >= {str, float}
    currencies = {p["currency"] for p in purchases}
    assert currencies <= KNOWN_CURRENCIES and len(currencies) >= 3
    assert len({p["order_id"] for p in purchases}) == len(purchases)
    emails = [e["email"] for e in events if "email" in e]
    assert any(m != m.strip() for m in emails) and any(m.strip() != m.strip().lower() for m in emails)
    assert any("utm_source" in e for e in events) and any("properties" in e for e in events)


def test_lines_are_in_time_order_and_users_sign_up_before_buying(traffic: list[GeneratedLine]) -> None:
    times = [event_seconds(gl) for gl in traffic]
    assert all(later >= earlier - 1 for earlier, later in zip(times, times[1:]))  # ISO drops millis
    signups: dict[str, float] = {}
    for gl, seconds in zip(traffic, times):
        etype = event_of(gl)["event_type"].lower()
        if etype == "signup":
            assert event_of(gl)["user_id"] not in signups
            signups[event_of(gl)["user_id"]] = seconds
        elif etype == "purchase":
            assert event_of(gl)["user_id"] in signups


# ---- bad and special lines -------------------------------------------------------------------

def test_no_bad_lines_when_bad_rate_is_zero(traffic: list[GeneratedLine]) -> None:
    assert {gl.kind for gl in traffic} == {None}


@pytest.mark.parametrize("events,rate", [(MIXED_KIND_EVENTS, MIXED_KIND_RATE), (10_000, 0.05)])
def test_each_bad_kind_gets_an_even_share_of_the_bad_rate(mixed: list[GeneratedLine], events: int,
                                                          rate: float) -> None:
    lines = mixed if events == MIXED_KIND_EVENTS else generate_lines(events, seed=2, bad_rate=rate)
    counts = count_kinds(lines)
    assert len(lines) == events
    assert counts["valid"] == events - round(events * rate)
    for kind in BAD_KINDS:
        assert abs(counts[kind] - events * rate / len(BAD_KINDS)) <= 1, kind


def test_bad_lines_are_spread_over_the_whole_stream(mixed: list[GeneratedLine]) -> None:
    halves = [mixed[: len(mixed) // 2], mixed[len(mixed) // 2:]]
    for kind in BAD_KINDS:
        assert all(any(gl.kind == kind for gl in half) for half in halves), kind


@pytest.mark.parametrize("kind", ["malformed_json", "invalid_encoding", "invalid_event_type",
                                  "invalid_timestamp", "negative_amount", "invalid_amount",
                                  "unknown_currency", "oversized_record"])
def test_each_quarantine_kind_breaks_exactly_its_own_rule(mixed: list[GeneratedLine], kind: str) -> None:
    assert {frozenset(contract_reasons(gl.line)) for gl in lines_of(mixed, kind)} == {frozenset({kind})}


def test_missing_field_lines_lack_one_required_field_of_various_names(mixed: list[GeneratedLine]) -> None:
    reasons = [contract_reasons(gl.line) for gl in lines_of(mixed, "missing_field")]
    assert all(len(r) == 1 and next(iter(r)).startswith("missing_") for r in reasons)
    assert len({next(iter(r)) for r in reasons}) >= 6


def test_invalid_encoding_lines_are_not_utf8_and_malformed_ones_are(mixed: list[GeneratedLine]) -> None:
    for gl in lines_of(mixed, "invalid_encoding"):
        with pytest.raises(UnicodeDecodeError):
            gl.line.decode("utf-8")
        assert gl.event is None
    for gl in lines_of(mixed, "malformed_json"):
        gl.line.decode("utf-8")
        assert gl.event is None


def test_no_line_contains_a_newline(mixed: list[GeneratedLine]) -> None:
    assert not [gl for gl in mixed if b"\n" in gl.line or b"\r" in gl.line]


def test_oversized_lines_exceed_64_kib_and_nothing_else_does(mixed: list[GeneratedLine]) -> None:
    assert all(len(gl.line) > OVERSIZED_BYTES for gl in lines_of(mixed, "oversized_record"))
    assert all(len(gl.line) < OVERSIZED_BYTES for gl in mixed if gl.kind != "oversized_record")


def test_duplicates_repeat_an_earlier_accepted_line_exactly(mixed: list[GeneratedLine]) -> None:
    earlier: dict[str, bytes] = {}
    for gl in mixed:
        if gl.kind == "duplicate":
            assert earlier[event_of(gl)["event_id"]] == gl.line
        elif gl.kind in (None, "late"):
            earlier.setdefault(event_of(gl)["event_id"], gl.line)


def test_conflicting_duplicates_reuse_an_earlier_event_id_with_another_payload(
        mixed: list[GeneratedLine]) -> None:
    earlier: dict[str, dict] = {}
    changed_amounts = 0
    for gl in mixed:
        if gl.kind == "conflicting_duplicate":
            event = event_of(gl)
            original = earlier[event["event_id"]]
            assert event != original
            changed_amounts += any(event.get(k) != original.get(k) for k in ("revenue", "cost"))
        elif gl.kind in (None, "late"):
            earlier.setdefault(event_of(gl)["event_id"], event_of(gl))
    assert changed_amounts > 0


def test_duplicates_land_in_the_same_file_and_in_later_files(tmp_path: Path) -> None:
    report = write_sample_events(str(tmp_path), events=MIXED_KIND_EVENTS, seed=11,
                                 bad_rate=MIXED_KIND_RATE, files=4)
    first_file: dict[str, int] = {}
    placements = collections.Counter()
    for number, path in enumerate(sorted(report.files)):
        for line in Path(path).read_bytes().splitlines():
            try:
                event_id = json.loads(line)["event_id"]
            except (ValueError, KeyError):
                continue
            if event_id in first_file:
                placements["same" if first_file[event_id] == number else "later"] += 1
            else:
                first_file[event_id] = number
    assert placements["same"] > 10 and placements["later"] > 10


def test_late_events_are_days_older_than_the_traffic_around_them(mixed: list[GeneratedLine]) -> None:
    clean = [(i, event_seconds(gl)) for i, gl in enumerate(mixed) if gl.kind is None]
    for i, gl in enumerate(mixed):
        if gl.kind == "late":
            after = [s for j, s in clean if j > i][:1] or [s for j, s in clean if j < i][-1:]
            assert event_seconds(gl) <= after[0] - 3 * 86_400 + 1


def test_clean_events_keep_the_first_of_each_event_and_nothing_rejected(mixed: list[GeneratedLine]) -> None:
    events = clean_events(mixed)
    ids = [e["event_id"] for e in events]
    counts = count_kinds(mixed)
    assert len(ids) == len(set(ids)) == counts["valid"] + counts["late"]
    accepted = {event_of(gl)["event_id"]: event_of(gl) for gl in mixed if gl.kind in (None, "late")}
    assert all(accepted[e["event_id"]] == e for e in events)
    assert all(not contract_reasons(json.dumps(e).encode()) for e in events)


@pytest.mark.parametrize("events,rate", [(1, 1.0), (2, 1.0), (5, 1.0), (13, 0.5), (0, 0.3), (40, 1.0)])
def test_tiny_or_all_bad_runs_still_give_exactly_the_requested_lines(events: int, rate: float) -> None:
    lines = generate_lines(events, seed=3, days=2, bad_rate=rate)
    assert len(lines) == events
    seen: set[str] = set()
    for gl in lines:
        if gl.kind in ("duplicate", "conflicting_duplicate"):
            assert event_of(gl)["event_id"] in seen
        elif gl.kind in (None, "late"):
            seen.add(event_of(gl)["event_id"])
