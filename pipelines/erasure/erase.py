"""`medallion erase`: the steps of one request, in order, resumable and idempotent per request id.

1. locate the person (pipelines/erasure/locate.py) and wait until refine has processed their
   Bronze rows (a rewritten Bronze file must never be one the refine stream still has to read);
2. landing files not cleaned up yet (pipelines/erasure/landing.py);
3. rewrite the data files holding their rows in the append-only tables (bronze.events_raw,
   silver.events_quarantine, silver.events_duplicates) as `dataChange=false` commits
   (pipelines/core/delta_rewrite.py): rows stay, identifiers become anonymous ids, emails
   `<erased>`, `raw_bytes` NULL;
4. silver.events: one MERGE on event ids (no identifier in its predicate) that gives the rows
   their anonymous ids; its change data feed drives step 5;
5. Gold: a dbt build (only dbt writes Gold), which recomputes the changed keys;
6. old file versions, deletion vectors and artifacts (pipelines/erasure/purge.py);
7. a byte scan of every file the product writes: any residue fails the request (rerun it);
8. one row in audit.erasure_log.

A rerun with the same request id resumes: what is already anonymous is no longer found, so each
step does the rest. The identifiers found by the first run are kept for the reruns in the
request's state file, encrypted with a key derived from the PII key (a rerun must still find
the person after Silver no longer names them); the file is removed when the request completes.
`MEDALLION_ERASE_CRASH_AFTER=<step>` kills the process after that step (tests of resumption).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gold.dbt_build import build_gold
from pipelines.core import delta_io, pii_key, storage
from pipelines.core.catalog import delta_table_exists
from pipelines.core.config import Config, join_path
from pipelines.core.delta_rewrite import Rewrite, rewrite_files
from pipelines.core.errors import PipelineError
from pipelines.core.migrations import check_warehouse, open_warehouse
from pipelines.core.pii_key import PiiKey
from pipelines.core.registry import TableSpec, stored_tables
from pipelines.core.runs import COMMIT_METADATA_CONF, commit_metadata, new_run_id
from pipelines.core.spark_session import build_session
from pipelines.core.tables import (AUDIT_ERASURE_LOG, BRONZE_EVENTS_RAW, SILVER_EVENTS,
                                   SILVER_EVENTS_DUPLICATES, SILVER_EVENTS_QUARANTINE)
from pipelines.erasure import purge
from pipelines.erasure.landing import LandingErasure, erase_landing
from pipelines.erasure.locate import Located, locate, user_level_gold
from pipelines.erasure.subject import (Identifiers, Redactor, Subject, check_request_id, rekeyed_hash)
from silver.refine_batch import STREAM_NAME as REFINE_STREAM
from silver.reference_data import load_property_keys

log = logging.getLogger(__name__)
STATE_DIR = "_medallion/erasures"
CRASH_AFTER = "MEDALLION_ERASE_CRASH_AFTER"
POLL_SECONDS = 2.0
VERIFY_PASSES = 3


@dataclass
class ErasureState:
    """What a request has done so far (no plain identifier: those are `sealed`)."""

    request_id: str
    subject_kind: str
    subject_fingerprint: str
    key_id: str
    requested_at: str
    attempts: int = 0
    sealed: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    versions_before: dict[str, int] = field(default_factory=dict)
    landing_removed: int = 0
    landing_redacted: int = 0
    files_deleted: int = 0
    bytes_rewritten: int = 0
    artifacts: int = 0
    gold_invocation_id: str | None = None
    finished_at: str | None = None

    def add_rows(self, table: str, n: int) -> None:
        if n:
            self.rows[table] = self.rows.get(table, 0) + n


@dataclass
class ErasureReport:
    request_id: str
    dry_run: bool
    already_done: bool = False
    planned: dict[str, int] = field(default_factory=dict)   # table -> rows (dry run) or rows redacted
    files: dict[str, int] = field(default_factory=dict)     # table -> data files rewritten
    state: ErasureState | None = None
    residue_files: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fernet(key: PiiKey) -> Any:
    from cryptography.fernet import Fernet

    derived = hmac.new(key.secret.encode("utf-8"), b"medallion-erasure-state", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(ids: Identifiers, key: PiiKey) -> str:
    plain = json.dumps({"user_ids": sorted(ids.user_ids), "emails": sorted(ids.emails),
                        "email_hashes": sorted(ids.email_hashes)}).encode("utf-8")
    return _fernet(key).encrypt(plain).decode("ascii")


def unseal(token: str | None, key: PiiKey) -> Identifiers:
    if not token:
        return Identifiers()
    data = json.loads(_fernet(key).decrypt(token.encode("ascii")))
    return Identifiers(frozenset(data["user_ids"]), frozenset(data["emails"]), frozenset(data["email_hashes"]))


def _state_path(config: Config, request_id: str) -> str:
    return join_path(config.warehouse, STATE_DIR, f"{request_id}.json")


def load_state(spark: SparkSession, config: Config, request_id: str) -> ErasureState | None:
    text = storage.read_text(spark, _state_path(config, request_id))
    return ErasureState(**json.loads(text)) if text else None


def save_state(spark: SparkSession, config: Config, state: ErasureState) -> None:
    storage.write_text(spark, _state_path(config, state.request_id), json.dumps(asdict(state), indent=1))


def _crash_point(step: str) -> None:
    if os.environ.get(CRASH_AFTER) == step:
        log.warning("erase: %s=%s: killing the process", CRASH_AFTER, step)
        os.kill(os.getpid(), signal.SIGKILL)


class _Lock:
    """One erasure at a time per warehouse; a lock left by a dead process on this host is taken over."""

    def __init__(self, spark: SparkSession, config: Config, request_id: str) -> None:
        self.spark, self.path = spark, join_path(config.warehouse, STATE_DIR, "running.lock")
        self.record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "request_id": request_id})

    def __enter__(self) -> "_Lock":
        for _ in range(3):
            if storage.create_exclusive(self.spark, self.path, self.record):
                return self
            text = storage.read_text(self.spark, self.path) or "{}"
            try:
                holder = json.loads(text)
            except ValueError:
                holder = {}
            if holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", 0))):
                storage.delete(self.spark, self.path)
                continue
            raise PipelineError("ERASE_IN_PROGRESS", {"request_id": holder.get("request_id", "?"),
                                                      "lock": self.path})
        raise PipelineError("ERASE_IN_PROGRESS", {"request_id": "?", "lock": self.path})

    def __exit__(self, *exc: object) -> None:
        storage.delete(self.spark, self.path)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _version(spark: SparkSession, location: str) -> int | None:
    if not delta_table_exists(spark, location):
        return None
    return int(spark.sql(f"DESCRIBE HISTORY delta.`{location}` LIMIT 1").first()["version"])


def _logged(spark: SparkSession, config: Config, request_id: str) -> bool:
    location = AUDIT_ERASURE_LOG.location(config)
    if not delta_table_exists(spark, location):
        return False
    requests = spark.createDataFrame([(request_id,)], "request_id string")
    return spark.read.format("delta").load(location).join(requests, "request_id", "left_semi").count() > 0


def _refine_in_flight(spark: SparkSession, config: Config) -> int | None:
    """The refine batch planned but not committed in its checkpoint, if any."""
    checkpoint = config.checkpoint(REFINE_STREAM)

    def ids(sub: str) -> list[int]:
        names = [p.rsplit("/", 1)[-1] for p, _s, _m in storage.list_files(spark, join_path(checkpoint, sub))]
        return [int(n) for n in names if n.isdigit()]

    offsets, commits = ids("offsets"), ids("commits")
    if offsets and max(offsets) > max(commits, default=-1):
        return max(offsets)
    return None


def _wait_for_refine(spark: SparkSession, config: Config, subject: Subject, key: PiiKey,
                     known: Identifiers, wait_seconds: float) -> Located:
    """Locate the person until refine has processed (and checkpointed) every Bronze row of theirs."""
    deadline = time.monotonic() + wait_seconds
    while True:
        found = locate(spark, config, subject, key, known=known)
        in_flight = _refine_in_flight(spark, config)
        batches = {r["_silver_batch_id"] for r in (*found.silver, *found.quarantine, *found.duplicates)}
        if found.pending == 0 and (in_flight is None or in_flight not in batches):
            return found
        if time.monotonic() >= deadline:
            raise PipelineError("ERASE_REFINE_BEHIND", {"pending": found.pending, "wait": wait_seconds})
        log.info("erase: waiting for refine (%d of the person's Bronze rows not refined yet)", found.pending)
        time.sleep(POLL_SECONDS)


def _tag(spark: SparkSession, run_id: str, request_id: str) -> None:
    spark.conf.set(COMMIT_METADATA_CONF, commit_metadata(run_id, "erase", erasure_request=request_id))


def _rewrite(spark: SparkSession, spec: TableSpec, config: Config, rows: list[Any], key_column: str,
             replacements: DataFrame, apply: Callable[[DataFrame], DataFrame], metadata: str) -> Rewrite | None:
    """Rewrite the files holding `rows`: their rows joined (on `key_column`) to `replacements`."""
    if not rows:
        return None
    files = {r["file"] for r in rows}

    def transform(df: DataFrame) -> DataFrame:
        joined = df.join(F.broadcast(replacements), key_column, "left")
        return apply(joined)

    return rewrite_files(spark, spec.location(config), files, transform, metadata=metadata)


def _erase_tables(spark: SparkSession, config: Config, found: Located, redactor: Redactor, key: PiiKey,
                  state: ErasureState, report: ErasureReport, metadata: str) -> None:
    """Steps 3 and 4: the append-only tables by file rewrites, silver.events by MERGE."""
    secret = key.secret
    bronze = spark.createDataFrame([(r["_bronze_id"], redactor.line(r["raw"])) for r in found.bronze],
                                   "_bronze_id string, _erased string")
    done = _rewrite(spark, BRONZE_EVENTS_RAW, config, found.bronze, "_bronze_id", bronze, lambda df: (
        df.withColumn("raw_bytes", F.when(F.col("_erased").isNotNull(), F.lit(None).cast("binary"))
                      .otherwise(F.col("raw_bytes")))
        .withColumn("raw", F.coalesce(F.col("_erased"), F.col("raw")))), metadata)
    _account(state, report, BRONZE_EVENTS_RAW, found.bronze, done)
    _crash_point("bronze")

    quarantine = spark.createDataFrame([(r["_bronze_id"], redactor.line(r["raw"])) for r in found.quarantine],
                                       "_bronze_id string, _erased string")
    done = _rewrite(spark, SILVER_EVENTS_QUARANTINE, config, found.quarantine, "_bronze_id", quarantine, lambda df: (
        df.withColumn("raw_bytes", F.when(F.col("_erased").isNotNull(), F.lit(None).cast("binary"))
                      .otherwise(F.col("raw_bytes")))
        .withColumn("raw", F.coalesce(F.col("_erased"), F.col("raw")))), metadata)
    _account(state, report, SILVER_EVENTS_QUARANTINE, found.quarantine, done)

    duplicates = spark.createDataFrame(
        [(r["_bronze_id"], rekeyed_hash(secret, state.request_id, r["payload_hash"]),
          rekeyed_hash(secret, state.request_id, r["kept_payload_hash"])) for r in found.duplicates],
        "_bronze_id string, _payload string, _kept string")
    done = _rewrite(spark, SILVER_EVENTS_DUPLICATES, config, found.duplicates, "_bronze_id", duplicates, lambda df: (
        df.withColumn("payload_hash", F.coalesce(F.col("_payload"), F.col("payload_hash")))
        .withColumn("kept_payload_hash", F.coalesce(F.col("_kept"), F.col("kept_payload_hash")))), metadata)
    _account(state, report, SILVER_EVENTS_DUPLICATES, found.duplicates, done)
    _crash_point("quarantine")

    _merge_silver(spark, config, found, redactor, state, report)
    _crash_point("silver")


def _account(state: ErasureState, report: ErasureReport, spec: TableSpec, rows: list[Any], done: Rewrite | None) -> None:
    name = spec.qualified_name
    report.planned[name] = report.planned.get(name, 0) + len(rows)
    if done is not None and done.version_after is not None:
        state.versions_before.setdefault(name, done.version_before)
        state.bytes_rewritten += done.bytes_added
        report.files[name] = report.files.get(name, 0) + done.files_removed
    state.add_rows(name, len(rows))


def _allowed_properties(text: str | None, keys: frozenset[str], redactor: Redactor) -> str | None:
    """The person's event properties: the allow-listed keys only (rows refined before layout 6
    kept every key), identifiers redacted."""
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return redactor.text(text)
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if k in keys}
    return redactor.text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))


def _merge_silver(spark: SparkSession, config: Config, found: Located, redactor: Redactor,
                  state: ErasureState, report: ErasureReport) -> None:
    from delta.tables import DeltaTable

    name = SILVER_EVENTS.qualified_name
    report.planned[name] = report.planned.get(name, 0) + len(found.silver)
    if not found.silver:
        return
    keys = load_property_keys(Path(config.refine.property_keys))
    source = spark.createDataFrame(
        [(r["event_id"], r["event_date"], redactor.user_id(r["user_id"]), redactor.email_hash(r["email_hash"]),
          r["email_hash"] is not None and redactor.email_hash(r["email_hash"]) != r["email_hash"],
          _allowed_properties(r["properties"], keys, redactor)) for r in found.silver],
        "event_id string, event_date date, user_id string, email_hash string, hash_replaced boolean, properties string")
    location = SILVER_EVENTS.location(config)
    before = _version(spark, location)
    dates = ", ".join(sorted({f"DATE'{r['event_date'].isoformat()}'" for r in found.silver}))
    (DeltaTable.forPath(spark, location).alias("t")
     .merge(source.alias("s"), f"t.event_id = s.event_id AND t.event_date = s.event_date AND t.event_date IN ({dates})")
     .whenMatchedUpdate(set={
         "user_id": "s.user_id", "email_hash": "s.email_hash", "properties": "s.properties",
         "email_hash_key_id": "CASE WHEN s.hash_replaced THEN NULL ELSE t.email_hash_key_id END"})
     .execute())
    if before is not None:
        state.versions_before.setdefault(name, before)
    state.add_rows(name, len(found.silver))
    report.files[name] = report.files.get(name, 0) + len({r["file"] for r in found.silver})


def _rebuild_gold(spark: SparkSession, config: Config, found: Located, run_id: str, state: ErasureState) -> None:
    """Step 5: dbt recomputes the changed keys from the redacted Silver (only dbt writes Gold)."""
    if not any(found.gold.values()):
        return
    for spec in user_level_gold(config):
        version = _version(spark, spec.location(config))
        if version is not None:
            state.versions_before.setdefault(spec.qualified_name, version)
    for table, n in found.gold.items():
        state.add_rows(table, n)
    outcome = build_gold(config, spark=spark, run_id=run_id)
    if not outcome.success:
        raise PipelineError("ERASE_GOLD_BUILD_FAILED", {"detail": outcome.error or "; ".join(outcome.failures[:3])})
    state.gold_invocation_id = outcome.invocation_id or state.gold_invocation_id


def _purge(spark: SparkSession, config: Config, redactor: Redactor, started_at: float, state: ErasureState,
           *, dry_run: bool) -> int:
    needles = redactor.ids.needles()
    deleted = 0
    for spec in stored_tables():
        result = purge.purge_table(spark, spec.location(config), needles, started_at=started_at, dry_run=dry_run)
        deleted += result.files_deleted
    state.artifacts += purge.scrub_artifacts(purge.artifact_dirs(config), redactor, dry_run=dry_run)
    state.files_deleted += deleted if not dry_run else 0
    return deleted


def _log_request(spark: SparkSession, config: Config, state: ErasureState, ids: Identifiers, run_id: str,
                 started: str, metadata: str) -> None:
    delta_io.create_table(spark, config, AUDIT_ERASURE_LOG)
    versions_after = {}
    for table in state.versions_before:
        spec = next((s for s in stored_tables() if s.qualified_name == table), None)
        if spec is not None:
            versions_after[table] = _version(spark, spec.location(config))
    row = {
        "request_id": state.request_id, "subject_kind": state.subject_kind,
        "subject_fingerprint": state.subject_fingerprint, "key_id": state.key_id,
        "identifiers": len(ids.user_ids) + len(ids.emails) + len(ids.email_hashes),
        "requested_at": datetime.fromisoformat(state.requested_at), "started_at": datetime.fromisoformat(started),
        "finished_at": datetime.now(timezone.utc), "attempts": state.attempts, "run_id": run_id,
        "rows_affected": {k: int(v) for k, v in state.rows.items()},
        "versions_before": {k: int(v) for k, v in state.versions_before.items()},
        "versions_after": {k: int(v) for k, v in versions_after.items() if v is not None},
        "landing_files_removed": state.landing_removed, "landing_files_redacted": state.landing_redacted,
        "files_deleted": state.files_deleted, "bytes_rewritten": state.bytes_rewritten,
        "artifacts_redacted": state.artifacts, "gold_invocation_id": state.gold_invocation_id,
    }
    schema = spark.read.format("delta").load(AUDIT_ERASURE_LOG.location(config)).schema
    (spark.createDataFrame([row], schema).write.format("delta").mode("append")
     .option("userMetadata", metadata).save(AUDIT_ERASURE_LOG.location(config)))


def erase(config: Config, subject: Subject, request_id: str, *, dry_run: bool = False,
          wait_seconds: float = 300.0, spark: SparkSession | None = None) -> ErasureReport:
    """Carry out (or, with `dry_run`, plan) one erasure request; see the module docstring."""
    check_request_id(request_id)
    key = pii_key.resolve(config, announce=False)
    spark = spark or build_session(config)
    pii_key.install(spark, key)
    (check_warehouse if dry_run else open_warehouse)(spark, config)
    report = ErasureReport(request_id=request_id, dry_run=dry_run)
    fingerprint = subject.fingerprint(key.secret)
    state = load_state(spark, config, request_id)
    if state is not None and state.subject_fingerprint != fingerprint:
        raise PipelineError("ERASE_REQUEST_MISMATCH", {"request_id": request_id})
    if _logged(spark, config, request_id):
        report.already_done, report.state = True, state
        return report
    state = state or ErasureState(request_id=request_id, subject_kind=subject.kind.value,
                                  subject_fingerprint=fingerprint, key_id=key.key_id, requested_at=_now())
    run_id = new_run_id()
    metadata = commit_metadata(run_id, "erase", erasure_request=request_id)
    if dry_run:
        clock = time.monotonic()
        found = locate(spark, config, subject, key, known=unseal(state.sealed, key))
        report.seconds["locate"] = round(time.monotonic() - clock, 3)
        return _plan(spark, config, found, Redactor.for_request(found.ids, key.secret, request_id), time.time(), report)
    with _Lock(spark, config, request_id):
        started, started_at = _now(), time.time()
        clock = time.monotonic()
        found = _wait_for_refine(spark, config, subject, key, unseal(state.sealed, key), wait_seconds)
        report.seconds["locate"] = round(time.monotonic() - clock, 3)
        redactor = Redactor.for_request(found.ids, key.secret, request_id)
        state.attempts += 1
        state.sealed = seal(found.ids, key)
        save_state(spark, config, state)
        _tag(spark, run_id, request_id)
        for attempt in range(VERIFY_PASSES):
            if attempt:
                found = _wait_for_refine(spark, config, subject, key, unseal(state.sealed, key), wait_seconds)
                redactor = Redactor.for_request(found.ids, key.secret, request_id)
                state.sealed = seal(found.ids, key)
            clock = time.monotonic()
            landing = erase_landing(spark, config, redactor, dry_run=False)
            state.landing_removed += landing.removed
            state.landing_redacted += landing.redacted
            save_state(spark, config, state)
            _crash_point("landing")
            report.seconds["landing"] = round(time.monotonic() - clock, 3)
            clock = time.monotonic()
            _erase_tables(spark, config, found, redactor, key, state, report, metadata)
            save_state(spark, config, state)
            report.seconds["tables"] = round(time.monotonic() - clock, 3)
            clock = time.monotonic()
            _rebuild_gold(spark, config, found, run_id, state)
            save_state(spark, config, state)
            _crash_point("gold")
            report.seconds["gold"] = round(time.monotonic() - clock, 3)
            clock = time.monotonic()
            _purge(spark, config, redactor, started_at, state, dry_run=False)
            save_state(spark, config, state)
            _crash_point("purge")
            report.seconds["purge"] = round(time.monotonic() - clock, 3)
            clock = time.monotonic()
            left = purge.residue(purge.scan_roots(config), redactor.ids.needles())
            report.seconds["verify"] = round(time.monotonic() - clock, 3)
            report.residue_files = len(left)
            if not left:
                break
            log.warning("erase: %d files still hold the person after pass %d: another pass", len(left), attempt + 1)
        if report.residue_files:
            raise PipelineError("ERASE_RESIDUE", {"request_id": request_id, "files": report.residue_files,
                                                  "example": left[0]})
        _log_request(spark, config, state, found.ids, run_id, started, metadata)
        _crash_point("logged")
        state.finished_at, state.sealed = _now(), None
        save_state(spark, config, state)
    report.state = state
    report.planned = dict(state.rows)
    return report


def _plan(spark: SparkSession, config: Config, found: Located, redactor: Redactor, started_at: float,
          report: ErasureReport) -> ErasureReport:
    """--dry-run: per table the rows and files that would change; nothing is written."""
    for spec, rows in ((BRONZE_EVENTS_RAW, found.bronze), (SILVER_EVENTS_QUARANTINE, found.quarantine),
                       (SILVER_EVENTS_DUPLICATES, found.duplicates), (SILVER_EVENTS, found.silver)):
        report.planned[spec.qualified_name] = len(rows)
        report.files[spec.qualified_name] = len({r["file"] for r in rows})
    for table, n in found.gold.items():
        report.planned[table] = n
    landing = erase_landing(spark, config, redactor, dry_run=True)
    report.planned["landing files (delete)"] = landing.removed
    report.planned["landing files (rewrite)"] = landing.redacted
    state = ErasureState("", "", "", "", "")
    report.planned["old file versions (delete)"] = _purge(spark, config, redactor, started_at, state, dry_run=True)
    report.planned["artifacts (redact)"] = state.artifacts
    return report


def print_report(report: ErasureReport) -> None:
    if report.already_done:
        print(f"erasure request {report.request_id}: already completed (see audit.erasure_log); nothing to do")
        return
    verb = "would change" if report.dry_run else "changed"
    print(f"erasure request {report.request_id}: {'dry run, nothing written' if report.dry_run else 'completed'}")
    for table, n in sorted(report.planned.items()):
        if "." not in table:  # landing files, old file versions, artifacts: counts of files
            print(f"  {table}: {n}")
            continue
        files = report.files.get(table)
        print(f"  {table}: {verb} {n} rows" + (f" in {files} data files" if files else ""))
    state = report.state
    if state is not None and not report.dry_run:
        print(f"  deleted {state.files_deleted} old file versions, rewrote {state.bytes_rewritten} bytes, "
              f"{state.landing_removed + state.landing_redacted} landing files; residue scan: clean")
    if report.seconds:
        print("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()))
