"""Where the person's data is: rows per table, and the data files holding them.

Every lookup is a join against a small in-memory relation of the identifiers, never a predicate
with a literal: query plans reach logs and Spark's event logs, and a Delta command's predicate is
kept in the table's log. The identifiers come back to the driver only as far as the closure needs
them (the ids on the person's own rows).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from pipelines.core.catalog import delta_table_exists
from pipelines.core.config import Config
from pipelines.core.delta_rewrite import FILE_PATH, normalize_path
from pipelines.core.pii_key import PiiKey
from pipelines.core.registry import PersonalData, TableSpec, gold_tables
from pipelines.core.tables import (BRONZE_EVENTS_RAW, SILVER_EVENTS, SILVER_EVENTS_DUPLICATES,
                                   SILVER_EVENTS_QUARANTINE)
from pipelines.erasure.subject import Identifiers, Subject, SubjectKind, found_in, normalize_email

log = logging.getLogger(__name__)
MAX_ROUNDS = 6
EMAIL_FIELDS = ("email", "e-mail")


@dataclass
class Located:
    """The person's rows (plain values in memory only) and the files holding them."""

    ids: Identifiers
    bronze: list[Row] = field(default_factory=list)       # _bronze_id, raw, file
    silver: list[Row] = field(default_factory=list)       # event_id, event_date, user_id, email_hash, properties, file
    quarantine: list[Row] = field(default_factory=list)   # _bronze_id, raw, file
    duplicates: list[Row] = field(default_factory=list)   # _bronze_id, payload_hash, kept_payload_hash, file
    gold: dict[str, int] = field(default_factory=dict)    # user-level Gold table -> rows of the person
    pending: int = 0  # the person's Bronze rows refine has not processed yet

    def files(self, rows: list[Row]) -> set[str]:
        return {normalize_path(r["file"]) for r in rows}

    @property
    def empty(self) -> bool:
        return not (self.bronze or self.silver or self.quarantine or self.duplicates or any(self.gold.values()))


def _values(spark: SparkSession, values: set[str] | frozenset[str] | list[str]) -> DataFrame:
    return spark.createDataFrame([(v,) for v in sorted(values)], "v string")


def _read(spark: SparkSession, config: Config, spec: TableSpec) -> DataFrame | None:
    location = spec.location(config)
    if not delta_table_exists(spark, location):
        return None
    return spark.read.format("delta").load(location).withColumn("file", F.col(FILE_PATH))


def _in(df: DataFrame, column: str, values: DataFrame) -> DataFrame:
    return df.join(F.broadcast(values.withColumnRenamed("v", "_v")), F.col(column) == F.col("_v"), "left_semi")


def _containing(df: DataFrame, column: str, needles: list[str]) -> DataFrame:
    """Rows whose `column` contains a needle in any letter case (a substring join)."""
    spark = df.sparkSession
    found = df.join(F.broadcast(_values(spark, needles).withColumnRenamed("v", "_needle")),
                    F.instr(F.lower(F.col(column)), F.col("_needle")) > 0, "left_semi")
    return found


def seed(subject: Subject, key: PiiKey) -> Identifiers:
    if subject.kind == SubjectKind.EMAIL:
        email = subject.normalized
        return Identifiers(emails=frozenset({email}), email_hashes=frozenset({key.hash(email)}))
    return Identifiers(user_ids=frozenset({subject.normalized}))


def _silver_closure(spark: SparkSession, events: DataFrame, ids: Identifiers, searched: Identifiers) -> Identifiers:
    """`ids` plus the ids on Silver rows with an id not searched for yet."""
    parts = []
    if ids.user_ids - searched.user_ids:
        parts.append(_in(events, "user_id", _values(spark, ids.user_ids - searched.user_ids)))
    if ids.email_hashes - searched.email_hashes:
        parts.append(_in(events, "email_hash", _values(spark, ids.email_hashes - searched.email_hashes)))
    if not parts:
        return ids
    rows = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    found = rows.select("user_id", "email_hash").distinct().collect()
    return ids.union(Identifiers(user_ids=frozenset(r["user_id"] for r in found if r["user_id"]),
                                 email_hashes=frozenset(r["email_hash"] for r in found if r["email_hash"])))


def _line_fields(raw: str) -> tuple[str | None, str | None]:
    """(user_id, normalized email) of a JSON event line, else (None, None)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    user = doc.get("user_id")
    email = next((doc[k] for k in doc if k.lower() in EMAIL_FIELDS and isinstance(doc[k], str)), None)
    return (user if isinstance(user, str) else None), (normalize_email(email) if email else None)


def _bronze_closure(lines: list[Row], ids: Identifiers, key: PiiKey) -> Identifiers:
    """The ids on the person's own lines: the user id of a line with their email, the email of a
    line with their user id."""
    users, emails = set(ids.user_ids), set(ids.emails)
    for row in lines:
        user, email = _line_fields(row["raw"])
        if email is not None and (email in ids.emails or key.hash(email) in ids.email_hashes) and user:
            users.add(user)
        if user is not None and user in ids.user_ids and email:
            emails.add(email)
    return ids.union(Identifiers(user_ids=frozenset(users), emails=frozenset(emails),
                                 email_hashes=frozenset(key.hash(e) for e in emails)))


def _bronze_lines(bronze: DataFrame, ids: Identifiers, searched: Identifiers) -> list[Row]:
    """The lines holding a needle not searched for yet (the others were found before)."""
    needles = sorted(set(ids.needles()) - set(searched.needles()))
    if not needles:
        return []
    rows = (_containing(bronze, "raw", needles)
            .select("_bronze_id", "raw", (F.col("raw_bytes").isNotNull()).alias("has_bytes"), "file").collect())
    return [r for r in rows if found_in(r["raw"], needles)]


def locate(spark: SparkSession, config: Config, subject: Subject, key: PiiKey,
           known: Identifiers = Identifiers()) -> Located:
    """Find the person: the closure of their identifiers (the request's, plus `known` from an
    earlier run of the request) over Silver and Bronze, then their rows."""
    ids = seed(subject, key).union(known)
    bronze = _read(spark, config, BRONZE_EVENTS_RAW)
    events = _read(spark, config, SILVER_EVENTS)
    lines: dict[str, Row] = {}
    silver_searched = bronze_searched = Identifiers()
    for round_ in range(MAX_ROUNDS):  # each round searches only for the ids the last one found
        before = ids
        if events is not None:
            ids, silver_searched = _silver_closure(spark, events, ids, silver_searched), ids
        if bronze is not None:
            lines |= {r["_bronze_id"]: r for r in _bronze_lines(bronze, ids, bronze_searched)}
            ids, bronze_searched = _bronze_closure(list(lines.values()), ids, key), ids
        log.info("erase: identifier closure round %d: %r", round_ + 1, ids)
        if ids == before:
            break
    lines = list(lines.values())
    found = Located(ids=ids, bronze=lines)
    bronze_ids = _values(spark, {r["_bronze_id"] for r in lines})
    if events is not None:
        parts = [_in(events, "_bronze_id", bronze_ids)]
        if ids.user_ids:
            parts.append(_in(events, "user_id", _values(spark, ids.user_ids)))
        if ids.email_hashes:
            parts.append(_in(events, "email_hash", _values(spark, ids.email_hashes)))
        rows = parts[0]
        for part in parts[1:]:
            rows = rows.unionByName(part)
        found.silver = (rows.select("event_id", "event_date", "user_id", "email_hash", "properties", "_bronze_id",
                                     "_silver_batch_id", "file")
                        .dropDuplicates(["event_id"]).collect())
    quarantine = _read(spark, config, SILVER_EVENTS_QUARANTINE)
    if quarantine is not None:
        rows = _in(quarantine, "_bronze_id", bronze_ids)
        if ids.needles():
            rows = rows.unionByName(_containing(quarantine, "raw", ids.needles()))
        found.quarantine = rows.select("_bronze_id", "raw", "_silver_batch_id", "file").dropDuplicates(["_bronze_id"]).collect()
    duplicates = _read(spark, config, SILVER_EVENTS_DUPLICATES)
    if duplicates is not None:
        event_ids = _values(spark, {r["event_id"] for r in found.silver})
        rows = (_in(duplicates, "_bronze_id", bronze_ids).unionByName(_in(duplicates, "kept_bronze_id", bronze_ids))
                .unionByName(_in(duplicates, "event_id", event_ids)))
        found.duplicates = (rows.select("_bronze_id", "payload_hash", "kept_payload_hash", "_silver_batch_id", "file")
                            .dropDuplicates(["_bronze_id"]).collect())
    found.gold = _gold_rows(spark, config, ids)
    refined = {r["_bronze_id"] for r in found.silver} | {r["_bronze_id"] for r in found.quarantine} \
        | {r["_bronze_id"] for r in found.duplicates}
    found.pending = _unrefined(spark, config, {r["_bronze_id"] for r in lines} - refined)
    return found


def _unrefined(spark: SparkSession, config: Config, candidates: set[str]) -> int:
    """How many of these Bronze rows are in none of refine's three outputs (not refined yet; a
    line of the person's that Silver knows under another id is found here)."""
    if not candidates:
        return 0
    left = _values(spark, candidates).withColumnRenamed("v", "_bronze_id")
    for spec in (SILVER_EVENTS, SILVER_EVENTS_QUARANTINE, SILVER_EVENTS_DUPLICATES):
        table = _read(spark, config, spec)
        if table is not None:
            left = left.join(table.select("_bronze_id"), "_bronze_id", "left_anti")
    return left.count()


def user_level_gold(config: Config) -> list[TableSpec]:
    """Gold tables with a personal-data column (user-level rows), per the registry."""
    return [s for s in gold_tables() if s.kind == "table"
            and any(c.personal_data != PersonalData.NONE for c in s.columns)]


def _gold_rows(spark: SparkSession, config: Config, ids: Identifiers) -> dict[str, int]:
    counts: dict[str, int] = {}
    for spec in user_level_gold(config):
        table = _read(spark, config, spec)
        if table is None or not ids.user_ids:
            continue
        columns = [c.name for c in spec.columns if c.personal_data != PersonalData.NONE]
        total = 0
        for column in columns:
            if column in table.columns:
                total += _in(table, column, _values(spark, ids.user_ids)).count()
        counts[spec.qualified_name] = total
    return counts
