"""Errors a user can hit, as classes with a stable code and parameters.

Tests assert on `code`, never on message text; messages say what to do next.
"""
from __future__ import annotations

from typing import Any, Mapping

_MESSAGES: dict[str, str] = {
    "CONFIG_NOT_FOUND": "config file {file} does not exist",
    "CONFIG_UNREADABLE": "config file {file} is not valid YAML: {detail}",
    "UNKNOWN_CONFIG_KEY": "unknown key '{key}' in {file} (allowed here: {allowed})",
    "INVALID_CONFIG_VALUE": "invalid value for '{key}' in {file}: {detail}",
    "DELTA_JARS_UNAVAILABLE": (
        "could not start Spark with the Delta Lake jars ({packages}). They are resolved from Maven "
        "Central through spark.jars.packages and cached in {ivy_dir}. Check that Maven Central is "
        "reachable (or a proxy/mirror is configured), or warm the cache once with "
        "`mvn dependency:get -Dartifact={first_package}` (Spark also looks in ~/.m2/repository), "
        "then retry. Spark said: {detail}"
    ),
    "LOG_UNWRITABLE": (
        "cannot write the log file {path} ({detail}); make paths.root a writable folder"
    ),
    "JAVA_NOT_FOUND": "Java 17+ is required to run Spark; install a JDK and set JAVA_HOME ({detail})",
    "INVALID_ARGUMENT": "invalid {name} {value!r}: {detail}",
    "GOLD_BUILD_FAILED": "dbt build of Gold failed: {detail}",
    "UNKNOWN_STAGE": "unknown stage(s) {stage}; known: {known}",
    "STREAM_FAILED": "{stage} stream failed: {detail}",
    "CHECKPOINT_MISMATCH": "{detail}",
    "STREAM_OWNER_CONFLICT": (
        "{table} is written by the stream {owner} (checkpoint {owner_checkpoint}); a second stream "
        "(checkpoint {checkpoint}) would land its rows again. Stop the other stream, or run this one "
        "with the owner's checkpoint (the same paths.checkpoints); a table has one streaming writer"
    ),
    "SQL_FAILED": "query failed: {detail}",
    "SQL_READ_ONLY": (
        "`medallion sql` is read-only by default, and this {kind} statement writes ({targets}); "
        "add --allow-writes to run it (Bronze stays append-only either way)"
    ),
    "SQL_BRONZE_APPEND_ONLY": (
        "refused: this {kind} statement would modify Bronze ({targets}). Bronze is append-only and "
        "`medallion sql` never modifies it, with or without --allow-writes; the only path that "
        "rewrites Bronze is `medallion erase` (audited erasure)"
    ),
    "SQL_MULTIPLE_STATEMENTS": (
        "`medallion sql` runs one statement per call and this text holds {count}; run them one at a time"
    ),
    "SQL_REFUSED": "refused ({reason}): {detail}",
    "SERVE_INSECURE_BIND": (
        "refusing to serve on {host} without authentication: only a loopback address may go without "
        "it. Set {variable} (user:role pairs) and each user's password variable, or bind 127.0.0.1"
    ),
    "SERVE_BAD_USERS": "{variable}: {detail}",
    "SERVE_PASSWORD_MISSING": (
        "user {user} has no password: set {variable} (at least 8 characters; it is hashed and "
        "removed from the environment before Spark starts)"
    ),
    "SERVE_PORT_IN_USE": "{host}:{port} is already in use; stop the other server or pass --port",
    "SERVE_START_FAILED": "the SQL endpoint did not start listening on {host}:{port} within {seconds}s: {detail}",
    "SERVE_JDK_MISSING": (
        "building medallion's jar (the SQL endpoint) needs a JDK 17+ compiler ({detail}); install one (Debian: "
        "openjdk-17-jdk-headless) and set JAVA_HOME to it"
    ),
    "SERVE_JAR_BUILD_FAILED": "compiling medallion's jar failed: {detail}",
    "TABLE_NOT_IN_REGISTRY": "{table} is not a table medallion owns (see `medallion tables`)",
    "REGISTRY_INVALID": "the table registry is inconsistent: {detail}",
    "ERASE_IN_PROGRESS": (
        "another erasure (request {request_id}) is running on this warehouse; wait for it to finish "
        "(its lock is {lock}: remove it only if that process is gone)"
    ),
    "ERASE_REFINE_BEHIND": (
        "{pending} of the person's Bronze rows are not refined yet after waiting {wait}s; erasure "
        "rewrites only rows refine has processed. Start refine (`medallion refine`) or let the "
        "running stream catch up, then run the same erase again"
    ),
    "ERASE_REQUEST_MISMATCH": (
        "request {request_id} was started for another person; use a new --request-id for this one"
    ),
    "ERASE_GOLD_BUILD_FAILED": (
        "the Gold rebuild of the erasure failed ({detail}); Silver is already erased. Fix the build "
        "and run the same erase again: it resumes"
    ),
    "ERASE_RESIDUE": (
        "request {request_id}: {files} files still hold the person after erasing (e.g. {example}); "
        "run the same erase again (new data for the person may have arrived meanwhile)"
    ),
    "WAREHOUSE_TOO_NEW": (
        "the warehouse {warehouse} is at layout version {version}, written by a newer medallion; "
        "this one understands up to version {supported}. Upgrade medallion (or point "
        "paths.warehouse at another warehouse)"
    ),
    "WAREHOUSE_MARKER_INVALID": (
        "the warehouse version marker {path} is unreadable ({detail}); restore it from a backup, "
        "or delete it to have medallion treat the warehouse as built before versions were recorded"
    ),
    "TABLE_NOT_FOUND": "no Delta table at {path}; run the stage that builds it first",
    "DBT_PROJECT_NOT_FOUND": "no dbt project at {path} (expected dbt_project.yml there)",
    "GOLD_SOURCE_MISSING": (
        "the Gold build reads {table}, which does not exist yet at {path}; run `medallion run --once` "
        "(or the Silver stage) first"
    ),
    # Silver refine (silver/)
    "REFERENCE_DATA_INVALID": "reference data file {file} is invalid: {detail}",
    "PII_KEY_MISSING": (
        "the HMAC key for email hashing is not set: export {env}=<secret> (only a config that says "
        "`mode: dev` hashes with the public development key; config: {file})"
    ),
    "PII_KEY_NOT_INSTALLED": (
        "Spark cannot compute email hashes with the PII key: {detail}. On a cluster the executors "
        "get it from spark.executor.extraJavaOptions (README: PII key)"
    ),
    "EXPECTATION_SUITE_INVALID": "expectation suite {file} is invalid: {detail}",
    "QUALITY_GATE_FAILED": (
        "batch {batch_id} stopped by `fail` expectations of suite {suite}: {detail}. Nothing was "
        "committed for this batch; fix the data or the suite and restart (the batch is retried)"
    ),
    "GATE_FAILED": "Great Expectations could not evaluate suite {suite}: {detail}",
    "GATE_DISAGREEMENT": (
        "quarantine decisions disagree with Great Expectations for suite {suite}: {detail}"
    ),
    "CONSERVATION_VIOLATED": (
        "batch {batch_id}: rows read ({read}) != inserted ({inserted}) + quarantined "
        "({quarantined}) + duplicates ({duplicates}); nothing more is written for this batch"
    ),
    # Lineage (pipelines/lineage/: `medallion trace`)
    "TRACE_KEY_INVALID": "invalid trace request {argument!r}: {detail}",
    "TRACE_UNKNOWN_COLUMN": "{table} has no column {column} (its columns: {columns})",
    "TRACE_TABLE_NOT_TRACEABLE": "{table} cannot be traced backward; traceable tables: {traceable} "
                                 "(bronze.events_raw and silver.events trace forward)",
    "TRACE_NO_ROW": "no row of {table} (version {version}) matches {keys}",
    "TRACE_KEY_AMBIGUOUS": (
        "{rows} rows of {table} match {keys}; give its whole key ({grain}) to name one row"
    ),
    "TRACE_NO_BUILD": "no successful Gold build of {table} is recorded in audit.gold_builds; run `medallion build` first",
    "TRACE_BUILD_NOT_FOUND": "cannot trace {table} as of build {invocation_id}: {detail} (see audit.gold_builds)",
    "LINEAGE_VERSION_GONE": (
        "{table} version {version} can no longer be read ({detail}): it is past the table's retention "
        "(log or data files cleaned up); trace a newer build"
    ),
    "LINEAGE_HISTORY_REWRITTEN": (
        "build {invocation_id} read {table} version {version}, but commit {commit} ({operation}) rewrote rows "
        "after it (e.g. an erasure): time travel to that version would show data that was removed. Trace "
        "a build made after commit {commit}"
    ),
    "LINEAGE_MISMATCH": "{detail}",
    # Monitoring (pipelines/monitoring/)
    "REPORT_WRITE_FAILED": "could not write the report to {path}: {detail}; choose another --out",
}


class PipelineError(Exception):
    """An error with a stable `code` and its `params`, rendered into a helpful message."""

    def __init__(self, code: str, params: Mapping[str, Any] | None = None) -> None:
        self.code = code
        self.params = dict(params or {})
        template = _MESSAGES.get(code, code + ": {params}")
        try:
            message = template.format(**self.params, params=self.params)
        except (KeyError, IndexError):
            message = f"{code}: {self.params}"
        super().__init__(f"[{code}] {message}")
