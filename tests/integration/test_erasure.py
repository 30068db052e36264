"""`medallion erase` on a copy of the session's built lakehouse: a real person of the generated data
(mixed-case email, purchases, quarantined and duplicated lines) is erased through the CLI, then every
file under the lakehouse is scanned - raw bytes and decoded Parquet - for their email (any case),
user id and email hash. Counts, conservation and the campaign marts must not move."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from pipelines.core.registry import table as registry_table
from pipelines.core.tables import (AUDIT_BATCH_LEDGER, AUDIT_ERASURE_LOG, BRONZE_EVENTS_RAW, SILVER_EVENTS,
                                   SILVER_EVENTS_DUPLICATES, SILVER_EVENTS_QUARANTINE)
from tests.conftest import Lakehouse

CAMPAIGN_MARTS = ("gold.fct_campaign_performance_daily", "gold.fct_campaign_performance",
                  "gold.fct_channel_cac_monthly", "gold.fct_channel_cac")
REQUEST = "GDPR-2026-0001"


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str  # as one of their lines spelled it (mixed case, spaces)
    email_hash: str

    def needles(self) -> list[str]:
        return [self.email.strip().lower(), self.user_id.lower(), self.email_hash.lower()]


def _table(spark: SparkSession, lake: Lakehouse, name: str):
    return spark.read.format("delta").load(registry_table(name).location(lake.config))


def pick_person(spark: SparkSession, lake: Lakehouse) -> Person:
    """The generated customer with the most purchases whose lines spell the email in mixed case."""
    events = _table(spark, lake, SILVER_EVENTS.qualified_name)
    buyers = [r["user_id"] for r in events.where("event_type = 'purchase' AND user_id IS NOT NULL")
              .groupBy("user_id").count().orderBy("count", ascending=False).limit(40).collect()]
    raw = _table(spark, lake, BRONZE_EVENTS_RAW.qualified_name).select("raw").collect()
    spellings: dict[str, set[str]] = {}
    for row in raw:
        try:
            doc = json.loads(row["raw"])
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("email"), str) and doc.get("user_id") in buyers:
            spellings.setdefault(doc["user_id"], set()).add(doc["email"])
    secret = os.environ["MEDALLION_PII_KEY"].encode()
    for user in buyers:
        mixed = sorted(e for e in spellings.get(user, ()) if e != e.strip().lower())
        if mixed:
            digest = hmac.new(secret, mixed[0].strip().lower().encode(), hashlib.sha256).hexdigest()
            return Person(user, mixed[0], digest)
    raise AssertionError("no customer with a mixed-case email in the built lakehouse")


def residue(root: Path, needles: list[str]) -> list[str]:
    """Every file under `root` holding a needle in its bytes or, for Parquet, its decoded values."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        hit = any(n.encode() in data for n in needles)
        if not hit and path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), default=repr).lower()
            hit = any(n in text for n in needles)
        if hit:
            found.append(str(path.relative_to(root)))
    return found


def _rows(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def facts(spark: SparkSession, lake: Lakehouse, person: Person) -> dict:
    """What erasure must not change, and the person's own Gold row."""
    ltv = _table(spark, lake, "gold.fct_customer_ltv")
    return {
        "counts": {s.qualified_name: _table(spark, lake, s.qualified_name).count()
                   for s in (BRONZE_EVENTS_RAW, SILVER_EVENTS, SILVER_EVENTS_QUARANTINE, SILVER_EVENTS_DUPLICATES)},
        "ledger": _rows(_table(spark, lake, AUDIT_BATCH_LEDGER.qualified_name)
                        .select("batch_id", "rows_read", "rows_inserted", "rows_quarantined", "rows_duplicate")),
        "marts": {m: _rows(_table(spark, lake, m)) for m in CAMPAIGN_MARTS},
        "ltv_rows": ltv.count(),
        "person_ltv": [tuple(r)[1:] for r in ltv.where(ltv.user_id == person.user_id).collect()],
        "person_events": _table(spark, lake, SILVER_EVENTS.qualified_name)
        .where(f"user_id = '{person.user_id}'").count(),
    }


@dataclass
class Erased:
    lake: Lakehouse
    person: Person
    before: dict
    residue_before: list[str]
    dry_run_out: str
    dry_run_versions: tuple[dict, dict]
    rc: int
    out: str


def _versions(spark: SparkSession, lake: Lakehouse) -> dict:
    return {s.qualified_name: spark.sql(f"DESCRIBE HISTORY delta.`{s.location(lake.config)}` LIMIT 1").first()["version"]
            for s in (BRONZE_EVENTS_RAW, SILVER_EVENTS, SILVER_EVENTS_QUARANTINE)}


@pytest.fixture(scope="module")
def erased(built_lakehouse, spark, tmp_path_factory) -> Erased:
    lake = built_lakehouse.lake.copy(tmp_path_factory.mktemp("erasure") / "lake")
    person = pick_person(spark, lake)
    before = facts(spark, lake, person)
    found_before = residue(lake.root, person.needles())
    versions = _versions(spark, lake)
    rc, out = _in_process(lake, "erase", "--email", person.email, "--request-id", REQUEST, "--dry-run")
    assert rc == 0, out
    dry = (out, (versions, _versions(spark, lake)))
    result = _cli_rc(lake, "erase", "--email", "-", "--request-id", REQUEST, stdin=person.email + "\n")
    return Erased(lake, person, before, found_before, dry[0], dry[1], result[0], result[1])


def _cli_rc(lake: Lakehouse, *args: str, stdin: str | None = None) -> tuple[int, str]:
    env = {**os.environ, "DBT_TARGET_PATH": str(lake.dbt_target), "DBT_LOG_PATH": str(lake.root / "dbt-logs")}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "--config", str(lake.config_file), *args],
                          capture_output=True, text=True, env=env, timeout=1200, input=stdin)
    return done.returncode, done.stdout + done.stderr


def _in_process(lake: Lakehouse, *args: str) -> tuple[int, str]:
    """The CLI in this process (no JVM start), for commands that leave the session's confs alone:
    a dry run, and requests refused or found done before anything is written."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = lake.medallion(*args)
    return rc, out.getvalue()


def _cli(lake: Lakehouse, *args: str) -> str:
    rc, out = _cli_rc(lake, *args)
    assert rc == 0, out
    return out


def test_the_scan_finds_the_person_before_erasure(erased: Erased) -> None:
    """The residue scan can fail: before erasure it finds the person in Bronze, Silver and Gold."""
    layers = {p.split("/")[2] for p in erased.residue_before if p.startswith("lakehouse/warehouse/")}
    assert {"bronze", "silver", "gold"} <= layers, erased.residue_before


def test_dry_run_lists_the_changes_and_writes_nothing(erased: Erased) -> None:
    assert "dry run, nothing written" in erased.dry_run_out
    assert "bronze.events_raw: would change" in erased.dry_run_out
    assert "silver.events: would change" in erased.dry_run_out
    before, after = erased.dry_run_versions
    assert before == after
    for needle in erased.person.needles():
        assert needle not in erased.dry_run_out.lower()


def test_no_byte_of_the_person_is_left_anywhere(erased: Erased) -> None:
    assert erased.rc == 0, erased.out
    assert residue(erased.lake.root, erased.person.needles()) == []


def test_counts_conservation_and_campaign_marts_are_unchanged(erased: Erased, spark) -> None:
    after = facts(spark, erased.lake, erased.person)
    assert after["counts"] == erased.before["counts"]
    assert after["ledger"] == erased.before["ledger"]
    assert after["marts"] == erased.before["marts"]
    assert after["ltv_rows"] == erased.before["ltv_rows"]


def test_the_persons_rows_carry_one_anonymous_id(erased: Erased, spark) -> None:
    events = _table(spark, erased.lake, SILVER_EVENTS.qualified_name)
    anonymous = [r["user_id"] for r in events.where("user_id LIKE 'erased-%'").select("user_id").distinct().collect()]
    assert len(anonymous) == 1
    assert events.where(f"user_id = '{anonymous[0]}'").count() == erased.before["person_events"] > 0
    ltv = _table(spark, erased.lake, "gold.fct_customer_ltv")
    assert [tuple(r)[1:] for r in ltv.where(ltv.user_id == anonymous[0]).collect()] == erased.before["person_ltv"]
    bronze = _table(spark, erased.lake, BRONZE_EVENTS_RAW.qualified_name)
    redacted = bronze.where(f"raw LIKE '%{anonymous[0]}%'").select("raw", "raw_bytes").collect()
    assert redacted and all(r["raw_bytes"] is None for r in redacted)
    assert any('"email":"<erased>"' in r["raw"] for r in redacted)


def test_the_request_is_audited_and_bronze_stays_append_only(erased: Erased, spark) -> None:
    log = _table(spark, erased.lake, AUDIT_ERASURE_LOG.qualified_name).collect()
    assert [r["request_id"] for r in log] == [REQUEST]
    row = log[0]
    assert row["subject_kind"] == "email" and len(row["subject_fingerprint"]) == 64
    assert row["subject_fingerprint"] not in erased.person.needles()
    assert row["rows_affected"][BRONZE_EVENTS_RAW.qualified_name] > 0
    assert row["rows_affected"][SILVER_EVENTS.qualified_name] == erased.before["person_events"]
    assert row["versions_after"][BRONZE_EVENTS_RAW.qualified_name] > row["versions_before"][BRONZE_EVENTS_RAW.qualified_name]
    assert row["finished_at"] >= row["started_at"] >= row["requested_at"]
    location = BRONZE_EVENTS_RAW.location(erased.lake.config)
    history = spark.sql(f"DESCRIBE HISTORY delta.`{location}`").collect()
    erasing = [h for h in history if h["userMetadata"] and REQUEST in h["userMetadata"]]
    assert erasing and all(h["operationParameters"].get("predicate") == "[]" for h in erasing)
    props = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{location}`").collect()}
    assert props["delta.appendOnly"] == "true"
    rc, out = _cli_rc(erased.lake, "sql", "--allow-writes", "DELETE FROM bronze.events_raw WHERE true")
    assert rc == 2 and "SQL_BRONZE_APPEND_ONLY" in out


def test_a_rerun_of_the_request_is_a_no_op_and_another_person_is_refused(erased: Erased) -> None:
    rc, out = _in_process(erased.lake, "erase", "--email", erased.person.email, "--request-id", REQUEST)
    assert rc == 0 and "already completed" in out
    rc, out = _in_process(erased.lake, "erase", "--user-id", "u-somebody-else", "--request-id", REQUEST)
    assert rc == 2 and "ERASE_REQUEST_MISMATCH" in out and "Traceback" not in out


def test_time_travel_to_before_the_erasure_shows_no_person(erased: Erased, spark) -> None:
    """Versions older than the erasure are redacted or gone, never the person."""
    log = _table(spark, erased.lake, AUDIT_ERASURE_LOG.qualified_name).first()
    location = SILVER_EVENTS.location(erased.lake.config)
    try:
        old = spark.read.format("delta").option("versionAsOf", log["versions_before"][SILVER_EVENTS.qualified_name]) \
            .load(location).where(f"user_id = '{erased.person.user_id}'").count()
    except Exception as exc:  # noqa: BLE001 - the version's files are gone: what Delta says then
        assert "FileNotFound" in type(exc).__name__ + str(exc) or "does not exist" in str(exc)
    else:
        assert old == 0


def test_traces_show_the_anonymous_id_or_say_the_versions_are_gone(erased: Erased, spark) -> None:
    """The latest build's trace of the person's purchase day shows no identifier; a build older than
    the erasure read a Silver version it rewrote: the trace says so (LINEAGE_HISTORY_REWRITTEN, or
    LINEAGE_VERSION_GONE for deleted files), or shows redacted rows."""
    events = _table(spark, erased.lake, SILVER_EVENTS.qualified_name)
    anonymous = events.where("user_id LIKE 'erased-%'").select("user_id").first()["user_id"]
    purchase = (_table(spark, erased.lake, "gold_intermediate.int_purchases__attributed")
                .where(f"user_id = '{anonymous}' AND campaign_id IS NOT NULL").first())
    assert purchase is not None
    keys = (f"campaign_id={purchase['campaign_id']}", f"date_day={purchase['purchase_date'].isoformat()}")
    rc, out = _cli_rc(erased.lake, "trace", "gold.fct_campaign_performance_daily", *keys, "--all")
    assert rc == 0, out
    assert not any(n in out.lower() for n in erased.person.needles())
    builds = _table(spark, erased.lake, "audit.gold_builds").where("resource_type = 'invocation'") \
        .orderBy("started_at").collect()
    rc, out = _cli_rc(erased.lake, "trace", "gold.fct_campaign_performance_daily", *keys, "--all",
                      "--as-of-build", builds[0]["invocation_id"])
    gone = ("LINEAGE_VERSION_GONE", "LINEAGE_HISTORY_REWRITTEN")
    assert (rc == 2 and any(code in out for code in gone)) or rc == 0, out
    assert not any(n in out.lower() for n in erased.person.needles())


@pytest.mark.slow
def test_an_erase_killed_at_each_step_and_rerun_ends_in_the_same_state(built_lakehouse, erased: Erased, spark,
                                                                       tmp_path: Path) -> None:
    lake = built_lakehouse.lake.copy(tmp_path / "lake")
    args = ("erase", "--email", erased.person.email, "--request-id", REQUEST)
    # after the append-only rewrites, after Silver's MERGE (Gold not rebuilt yet), after the purge
    for step in ("bronze", "silver", "purge"):
        env = {**os.environ, "MEDALLION_ERASE_CRASH_AFTER": step, "DBT_TARGET_PATH": str(lake.dbt_target),
               "DBT_LOG_PATH": str(lake.root / "dbt-logs")}
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "--config", str(lake.config_file), *args],
                              capture_output=True, text=True, env=env, timeout=1200)
        assert done.returncode == -signal.SIGKILL, (step, done.stdout + done.stderr)
    assert "completed" in _cli(lake, *args)
    assert residue(lake.root, erased.person.needles()) == []
    for name in (SILVER_EVENTS.qualified_name, "gold.fct_customer_ltv", *CAMPAIGN_MARTS):
        assert _rows(_table(spark, lake, name)) == _rows(_table(spark, erased.lake, name)), name
    log = _table(spark, lake, AUDIT_ERASURE_LOG.qualified_name).first()
    assert log["attempts"] == 4
    shutil.rmtree(tmp_path / "lake", ignore_errors=True)
